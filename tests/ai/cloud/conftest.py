"""The fake OpenAI/Anthropic server, and providers pointed at it through the real SDKs."""

from __future__ import annotations

import pytest

from prerequisites import need_module
from taskloom.ai.cloud import AnthropicProvider, OpenAIProvider

from .fake_api import FakeApi

need_module("openai", "the openai SDK is missing: pip install 'taskloom[openai]'")
need_module("anthropic", "the anthropic SDK is missing: pip install 'taskloom[anthropic]'")

#: The key the fake server accepts. Long and unusual, so that a grep for it cannot
#: match anything by accident.
TEST_KEY = "sk-taskloom-test-9f8e7d6c5b4a3928171605f4e3d2c1b0"
VENDORS = ("openai", "anthropic")


@pytest.fixture
def api():
    with FakeApi(expected_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def keys_in_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)


def make_provider(vendor: str, api: FakeApi, **options):
    if vendor == "openai":
        return OpenAIProvider(base_url=api.openai_url, **options)
    return AnthropicProvider(base_url=api.anthropic_url, **options)


@pytest.fixture(params=VENDORS)
def vendor(request) -> str:
    return request.param


@pytest.fixture
def provider(vendor, api, keys_in_env):
    """A provider of each vendor that reads its key from the environment."""
    return make_provider(vendor, api)
