"""Generation, streaming, the prompt templates and embeddings, through the real SDKs."""

from __future__ import annotations

import asyncio

import pytest

from taskloom.ai.cloud import AnthropicProvider, OpenAIProvider
from taskloom.errors import ModelInputError
from taskloom.task import AbortSignal

from .conftest import TEST_KEY, make_provider
from .fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, OPENAI_EMBEDDINGS, Reply, fake_vector


def route(vendor: str) -> str:
    return OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES


async def test_generation_returns_the_servers_text(provider, vendor, api):
    result = await provider.generate("tell me a story", model="fake-model", max_tokens=50)
    assert result.text == "echo: tell me a story"
    assert result.provider == vendor and result.model == "fake-model"
    assert result.finish_reason in ("stop", "end_turn")
    assert result.output_tokens == 5
    [request] = api.requests_to(route(vendor))
    assert request.body["model"] == "fake-model"
    assert request.body["messages"][-1] == {"role": "user", "content": "tell me a story"}
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"  # read from the env


async def test_streaming_delivers_text_before_the_server_has_sent_it_all(provider, vendor, api):
    api.script(route(vendor), Reply(text="one two three four five", hold_after=1))
    sent_when_first_text_arrived: list[int] = []
    deltas: list[str] = []

    def on_text(delta: str, text: str) -> None:
        if not deltas:
            sent_when_first_text_arrived.append(api.streams[-1].chunks_sent)
            api.release()  # the server now sends the rest
        deltas.append(delta)
        assert text == "".join(deltas)

    result = await provider.generate("hi", model="fake-model", stream=True, on_text=on_text)
    # The server held the stream after one chunk until the client had shown it.
    assert sent_when_first_text_arrived == [1]
    assert deltas == ["one ", "two ", "three ", "four ", "five"]
    assert result.text == "one two three four five"
    assert result.finish_reason in ("stop", "end_turn")
    assert await api.until(lambda: api.streams[-1].finished)  # the server thread's bookkeeping
    assert api.requests_to(route(vendor))[0].body["stream"] is True


async def test_an_async_on_text_is_awaited(provider):
    seen: list[str] = []

    async def on_text(delta: str, text: str) -> None:
        await asyncio.sleep(0)
        seen.append(text)

    result = await provider.generate("a b", model="m", stream=True, on_text=on_text)
    assert seen[-1] == result.text == "echo: a b"


async def test_without_streaming_on_text_gets_the_whole_text_once(provider):
    seen: list[tuple[str, str]] = []
    result = await provider.generate("a b c", model="m", on_text=lambda d, t: seen.append((d, t)))
    assert seen == [(result.text, result.text)]


@pytest.mark.parametrize(("method", "args", "expect_system", "expect_user"), [
    ("rewrite", {"text": "the cat sat", "instruction": "Make it formal"},
     ["Rewrite", "Make it formal"], "the cat sat"),
    ("summarize", {"text": "Long text. More text.", "sentences": 2},
     ["Summarise", "at most 2 sentences"], "Long text. More text."),
    ("answer", {"question": "Who sat?", "context": "The cat sat."},
     ["Answer the question from the context"], "Context:\nThe cat sat.\n\nQuestion: Who sat?"),
    ("translate", {"text": "bonjour", "target_language": "English", "source_language": "French"},
     ["Translate", "from French into English"], "bonjour"),
])
async def test_templates_send_an_instruction_and_the_text(provider, vendor, api, method, args,
                                                          expect_system, expect_user):
    result = await getattr(provider, method)(model="m", **args)
    assert result.text == f"echo: {expect_user}"
    [request] = api.requests_to(route(vendor))
    if vendor == "openai":
        system = request.body["messages"][0]
        assert system["role"] == "system"
        system_text = system["content"]
    else:
        system_text = request.body["system"]
    for phrase in expect_system:
        assert phrase in system_text
    assert request.body["messages"][-1] == {"role": "user", "content": expect_user}


async def test_bad_input_is_refused_before_any_request(provider, api):
    with pytest.raises(ModelInputError, match="empty"):
        await provider.generate("   ", model="m")
    with pytest.raises(ModelInputError, match="model name"):
        await provider.generate("hi", model="")
    with pytest.raises(ModelInputError, match="temperature"):
        await provider.generate("hi", model="m", temperature=5)
    with pytest.raises(ModelInputError, match="target language"):
        await provider.translate("hi", model="m", target_language="")
    assert api.requests == []


async def test_openai_embeddings_keep_the_order_of_the_texts(api, keys_in_env):
    provider = OpenAIProvider(base_url=api.openai_url)
    result = await provider.embed(["first", "second", "third"], model="fake-embedding")
    assert result.vectors == [pytest.approx(fake_vector(t)) for t in ("first", "second", "third")]
    assert result.dimensions == 8 and result.provider == "openai"
    [request] = api.requests_to(OPENAI_EMBEDDINGS)
    assert request.body["encoding_format"] == "float"  # what compatible servers understand
    assert (await provider.embed("solo", model="e")).vectors == [pytest.approx(fake_vector("solo"))]
    with pytest.raises(ModelInputError):
        await provider.embed(["ok", ""], model="e")


async def test_an_explicit_key_is_used_instead_of_the_environment(api, vendor, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-wrong-wrong-wrong")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-wrong-wrong-wrong-wrong")
    provider = make_provider(vendor, api, api_key=TEST_KEY)
    assert TEST_KEY not in repr(provider)
    assert (await provider.generate("hi", model="m")).text == "echo: hi"


async def test_a_compatible_server_without_a_key_gets_a_placeholder(monkeypatch):
    from .fake_api import FakeApi

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with FakeApi() as open_server:  # a local LLM server that checks no key
        provider = OpenAIProvider(base_url=open_server.openai_url)
        assert (await provider.generate("hi", model="llama")).text == "echo: hi"


async def test_anthropic_sends_max_tokens_even_when_not_asked(api, keys_in_env):
    provider = AnthropicProvider(base_url=api.anthropic_url, default_max_tokens=77)
    await provider.generate("hi", model="m", temperature=0.0)
    body = api.requests_to(ANTHROPIC_MESSAGES)[0].body
    assert body["max_tokens"] == 77
    assert "temperature" not in body  # not a parameter of the current Messages API


async def test_openai_sends_the_temperature(api, keys_in_env):
    await OpenAIProvider(base_url=api.openai_url).generate("hi", model="m", temperature=0.0)
    assert api.requests_to(OPENAI_CHAT)[0].body["temperature"] == 0.0


async def test_abort_signal_ends_a_pending_read(provider, vendor, api):
    api.script(route(vendor), Reply(text="one two three", hold_after=1))
    signal = AbortSignal()
    first = asyncio.Event()
    seen: list[str] = []

    def on_text(delta: str, text: str) -> None:
        seen.append(delta)
        first.set()

    call = asyncio.create_task(provider.generate("hi", model="m", stream=True,
                                                 on_text=on_text, signal=signal))
    await asyncio.wait_for(first.wait(), timeout=10)
    signal.abort("user pressed stop")  # the client is now waiting for chunk two
    with pytest.raises(asyncio.CancelledError):
        await call
    assert seen == ["one "]
    assert await api.until(lambda: api.streams[-1].client_closed)
    assert api.streams[-1].chunks_sent == 1


async def test_on_openais_own_endpoint_the_current_parameters_are_sent(api, keys_in_env,
                                                                      monkeypatch):
    # Pretend the fake server is api.openai.com: reasoning models there refuse "max_tokens",
    # and streamed usage must be asked for.
    monkeypatch.setattr(OpenAIProvider, "default_base_url", api.openai_url)
    provider = OpenAIProvider(base_url=api.openai_url)
    result = await provider.generate("count the words", model="m", max_tokens=9, stream=True)
    [request] = api.requests_to(OPENAI_CHAT)
    assert request.body["max_completion_tokens"] == 9 and "max_tokens" not in request.body
    assert request.body["stream_options"] == {"include_usage": True}
    assert (result.input_tokens, result.output_tokens) == (5, 4)


async def test_a_compatible_server_gets_max_tokens(provider, vendor, api):
    await provider.generate("hi", model="m", max_tokens=9)
    assert api.requests_to(route(vendor))[0].body["max_tokens"] == 9


async def test_calls_on_one_loop_share_a_connection(provider, api):
    for prompt in ("a", "b", "c"):
        await provider.generate(prompt, model="m")
    assert len({r.client_port for r in api.requests}) == 1  # kept alive, not reconnected


def test_each_loop_gets_its_own_pool_closed_when_the_loop_ends(api, keys_in_env):
    provider = OpenAIProvider(base_url=api.openai_url)
    pools = []

    async def call() -> None:
        await provider.generate("a", model="m")
        pools.append(provider.connection_pool())

    asyncio.run(call())
    asyncio.run(call())
    assert pools[0] is not pools[1]
    assert pools[0].is_closed and pools[1].is_closed
