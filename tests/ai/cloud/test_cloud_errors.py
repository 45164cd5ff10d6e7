"""How SDK failures come out: retryable with the server's delay, or permanent and clear."""

from __future__ import annotations

import email.utils
import socket
import time

import pytest

from taskloom.ai.cloud import AnthropicProvider, OpenAIProvider, redact
from taskloom.ai.cloud.failures import retry_after_from_headers
from taskloom.errors import JobPermanentError, JobRetryableError

from .conftest import TEST_KEY, make_provider
from .fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, Reply


def route(vendor: str) -> str:
    return OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES


def assert_clean(error: BaseException) -> None:
    """Neither the message, nor anything chained to it, holds the key."""
    assert TEST_KEY not in str(error) and TEST_KEY not in repr(error)
    assert error.__cause__ is None and error.__context__ is None


@pytest.mark.parametrize("stream", [False, True])
async def test_429_is_retryable_after_the_servers_retry_after(provider, vendor, api, stream):
    api.script(route(vendor), Reply(429, headers={"Retry-After": "7"},
                                    message="Rate limit reached"))
    with pytest.raises(JobRetryableError) as caught:
        await provider.generate("hi", model="m", stream=stream)
    assert caught.value.retry_after == 7.0
    assert "HTTP 429" in str(caught.value) and "Rate limit reached" in str(caught.value)
    assert_clean(caught.value)


async def test_429_without_retry_after_uses_the_rate_limit_reset_headers(provider, vendor, api):
    if vendor == "openai":
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1m30s",
                   "x-ratelimit-remaining-tokens": "900", "x-ratelimit-reset-tokens": "20ms"}
    else:
        reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 90))
        headers = {"anthropic-ratelimit-requests-remaining": "0",
                   "anthropic-ratelimit-requests-reset": reset}
    api.script(route(vendor), Reply(429, headers=headers))
    with pytest.raises(JobRetryableError) as caught:
        await provider.generate("hi", model="m")
    assert 80 <= caught.value.retry_after <= 90  # the exhausted limit's reset, not the other


async def test_a_429_for_an_exhausted_quota_is_permanent(api, keys_in_env):
    provider = OpenAIProvider(base_url=api.openai_url)
    api.script(OPENAI_CHAT, Reply(429, body={"error": {
        "message": "You exceeded your current quota, please check your plan and billing "
                   "details.", "type": "insufficient_quota", "param": None,
        "code": "insufficient_quota"}}))
    with pytest.raises(JobPermanentError, match=r"no quota left.*exceeded your current quota"):
        await provider.generate("hi", model="m")


@pytest.mark.parametrize("status", [500, 502, 503, 529, 408])
async def test_server_errors_are_retryable(provider, vendor, api, status):
    api.script(route(vendor), Reply(status, message="upstream trouble"))
    with pytest.raises(JobRetryableError, match=f"HTTP {status}.*upstream trouble") as caught:
        await provider.generate("hi", model="m")
    assert caught.value.retry_after is None  # the queue's own backoff applies
    assert caught.value.status_code == status


@pytest.mark.parametrize(("kind", "retryable"), [("overloaded_error", True),
                                                  ("server_error", True),
                                                  ("invalid_request_error", False)])
async def test_an_error_event_mid_stream(provider, vendor, api, kind, retryable):
    api.script(route(vendor), Reply(text="one two three", error_after=2, error_type=kind))
    seen: list[str] = []
    expected = JobRetryableError if retryable else JobPermanentError
    with pytest.raises(expected, match=f"stream .*{kind}") as caught:
        await provider.generate("hi", model="m", stream=True,
                                on_text=lambda delta, text: seen.append(delta))
    assert seen == ["one ", "two "]
    assert_clean(caught.value)


@pytest.mark.parametrize(("status", "hint"), [
    (400, "check the model name and the options"),
    (403, "may not use this model"),
    (404, "no such model or endpoint"),
])
async def test_client_errors_are_permanent(provider, vendor, api, status, hint):
    api.script(route(vendor), Reply(status, message="nope"))
    with pytest.raises(JobPermanentError, match=f"HTTP {status}, .*{hint}.*nope"):
        await provider.generate("hi", model="m")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_rejected_key_is_permanent_and_never_quoted(api, vendor, stream, monkeypatch):
    wrong = "sk-user-typo-0123456789abcdef0123456789abcdef"
    env_var = "OPENAI_API_KEY" if vendor == "openai" else "ANTHROPIC_API_KEY"
    monkeypatch.setenv(env_var, wrong)
    provider = make_provider(vendor, api)
    with pytest.raises(JobPermanentError) as caught:
        await provider.generate("hi", model="m", stream=stream)
    message = str(caught.value)
    assert "HTTP 401" in message and "API key was rejected" in message and env_var in message
    # The server echoed the key it got ("Incorrect API key provided: sk-…"): scrubbed.
    assert wrong in api_401_body(api, vendor)
    assert wrong not in message and "[redacted]" in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def api_401_body(api, vendor: str) -> str:
    """What the fake server said, rebuilt the way it builds it (it echoes the sent key)."""
    [request] = api.requests_to(route(vendor))
    auth = request.headers.get("authorization", "")
    return f"Incorrect API key provided: {auth.removeprefix('Bearer ')}"


async def test_a_missing_key_names_the_variable_to_set(vendor, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = OpenAIProvider() if vendor == "openai" else AnthropicProvider()  # vendor's URL
    env_var = "OPENAI_API_KEY" if vendor == "openai" else "ANTHROPIC_API_KEY"
    with pytest.raises(JobPermanentError, match=f"no {vendor} API key: set the {env_var}"):
        await provider.generate("hi", model="m")


async def test_a_timeout_is_retryable(vendor, api, keys_in_env):
    api.script(route(vendor), Reply(delay=3.0))
    provider = make_provider(vendor, api, timeout=0.3)
    with pytest.raises(JobRetryableError, match="timed out"):
        await provider.generate("hi", model="m")


async def test_an_unreachable_server_is_retryable(vendor, keys_in_env):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    provider = OpenAIProvider(base_url=f"http://127.0.0.1:{port}/v1") if vendor == "openai" \
        else AnthropicProvider(base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(JobRetryableError, match="cannot reach"):
        await provider.generate("hi", model="m")


# -- the header arithmetic, on its own ----------------------------------------------------------


def test_retry_after_forms():
    now = 1_800_000_000.0
    assert retry_after_from_headers({"Retry-After": "3"}, now) == 3.0
    assert retry_after_from_headers({"retry-after-ms": "250", "Retry-After": "3"}, now) == 0.25
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert retry_after_from_headers({"Retry-After": date}, now) == pytest.approx(12, abs=1)
    assert retry_after_from_headers({"x-ratelimit-remaining-requests": "0",
                                     "x-ratelimit-reset-requests": "6m0s"}, now) == 360.0
    # Nothing used up: the resets say nothing about this refusal (the queue backs off).
    assert retry_after_from_headers({"x-ratelimit-remaining-requests": "3",
                                     "x-ratelimit-reset-requests": "2s"}, now) is None
    assert retry_after_from_headers({"Retry-After": "86400"}, now) == 3600.0  # capped
    assert retry_after_from_headers({}, now) is None
    assert retry_after_from_headers({"Retry-After": "soon"}, now) is None


def test_redact_scrubs_the_key_and_key_shaped_strings():
    text = (f"key {TEST_KEY} and Authorization: Bearer abc.def and x-api-key: zzz "
            "and sk-ant-api03-AAAAAAAAAAAAAAAAAAAA")
    clean = redact(text, [TEST_KEY])
    assert TEST_KEY not in clean and "abc.def" not in clean and "zzz" not in clean
    assert "sk-ant-api03" not in clean
    assert clean.count("[redacted]") == 4
