"""A connection failure names the URL actually used, what set it, and the cause."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from taskloom.ai.cloud import AnthropicProvider, OpenAIProvider
from taskloom.errors import JobPermanentError, JobRetryableError

from .conftest import TEST_KEY

PROVIDERS = {"openai": OpenAIProvider, "anthropic": AnthropicProvider}
ENV = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL"}
DEFAULT_HOSTS = ("api.openai.com", "api.anthropic.com")


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:  # bound, never listening: connections are refused
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


def assert_names_only(message: str, url: str) -> None:
    assert url in message
    assert not any(host in message for host in DEFAULT_HOSTS)
    assert "TaskGroup" not in message and "Connection error." not in message


@pytest.mark.parametrize("stream", [False, True])
async def test_the_sdks_base_url_variable_is_the_url_named(vendor, keys_in_env, monkeypatch,
                                                          closed_port, stream):
    url = f"http://127.0.0.1:{closed_port}/v1"
    monkeypatch.setenv(ENV[vendor], url)
    with pytest.raises(JobRetryableError) as caught:
        await PROVIDERS[vendor]().generate("hi", model="m", stream=stream)
    message = str(caught.value)
    assert_names_only(message, f"{url} (set by ${ENV[vendor]})")
    assert "Connection refused" in message


async def test_the_variable_is_where_the_request_goes(vendor, api, keys_in_env, monkeypatch):
    url = api.openai_url if vendor == "openai" else api.anthropic_url
    monkeypatch.setenv(ENV[vendor], url)
    result = await PROVIDERS[vendor]().generate("hello", model="m")
    assert result.text == "echo: hello"
    assert repr(PROVIDERS[vendor]()).startswith(
        f"{PROVIDERS[vendor].__name__}(base_url={url.rstrip('/')!r}")


async def test_an_explicit_base_url_wins_over_the_variable(vendor, keys_in_env, monkeypatch,
                                                           closed_port):
    monkeypatch.setenv(ENV[vendor], "http://127.0.0.1:1/v1")
    url = f"http://127.0.0.1:{closed_port}/v1"
    with pytest.raises(JobRetryableError) as caught:
        await PROVIDERS[vendor](base_url=url).generate("hi", model="m")
    assert_names_only(str(caught.value), f"{url} (set by base_url)")
    assert "127.0.0.1:1/" not in str(caught.value)


@pytest.mark.parametrize(("url", "cause"), [
    ("http://127.0.0.1:99999/v1", "port must be 0-65535"),
    ("http://127.0.0.1:abc/v1", "Invalid port: 'abc'"),
    ("127.0.0.1:8000/v1", "missing an 'http://' or 'https://' protocol"),
])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_url_that_cannot_work_is_permanent_and_says_why(vendor, keys_in_env, url,
                                                                cause, stream):
    with pytest.raises(JobPermanentError) as caught:
        await PROVIDERS[vendor](base_url=url).generate("hi", model="m", stream=stream)
    message = str(caught.value)
    assert_names_only(message, f"{url} (set by base_url)")
    assert cause in message and message.endswith("check base_url")
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_the_cli_names_the_bad_port_and_the_cause(tmp_path):
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"schema_version": 1, "tasks": [
        {"id": "g", "type": "TextGeneration",
         "defaults": {"model": "openai:gpt-4o-mini:api", "prompt": "hi"}}]}))
    env = {**os.environ, "OPENAI_API_KEY": TEST_KEY,
           "OPENAI_BASE_URL": "http://127.0.0.1:99999/v1"}
    proc = subprocess.run([sys.executable, "-m", "taskloom.cli", "run", str(graph), "--quiet",
                           "--no-store"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "TaskGroup" not in proc.stderr
    assert ("cannot connect to http://127.0.0.1:99999/v1 (set by $OPENAI_BASE_URL): "
            "connect(): port must be 0-65535; check $OPENAI_BASE_URL") in proc.stderr
