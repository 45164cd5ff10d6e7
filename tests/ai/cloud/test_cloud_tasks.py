"""The AI tasks on cloud models, end to end: graph runner → AiTask → the provider's queue →
in-process worker → run function → the real SDK → the fake server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from taskloom.ai import (
    AiTask,
    ModelCatalog,
    ProviderRegistry,
    TextEmbedding,
    TextGeneration,
    TextQuestionAnswer,
    TextRewriter,
    TextSummary,
    TextTranslation,
    stop_in_process_workers,
)
from taskloom.ai.cloud import cloud_model, provider_queue, register
from taskloom.ai.cloud.run_functions import EMBEDDING_TASKS
from taskloom.errors import JobPermanentError, ModelTaskError, TaskloomError
from taskloom.graph import TaskGraph
from taskloom.queue import JobStatus, queues
from taskloom.queue.storage import MemoryQueueStorage
from taskloom.runner import TaskGraphRunner
from taskloom.storage import open_store

from .conftest import TEST_KEY
from .fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, Reply, fake_vector

GPT = "openai:fake-gpt:local"
EMBED = "openai:fake-embed:local"
CLAUDE = "anthropic:fake-claude:local"
MODELS = {"openai": GPT, "anthropic": CLAUDE}


@pytest.fixture
async def cloud(api, keys_in_env, monkeypatch):
    """A registry and catalog of their own, so that nothing leaks into other tests."""
    registry = ProviderRegistry()
    catalog = ModelCatalog(records=())
    register(registry, catalog, models=[
        cloud_model(GPT, base_url=api.openai_url),
        cloud_model(EMBED, tasks=EMBEDDING_TASKS, base_url=api.openai_url),
        cloud_model(CLAUDE, base_url=api.anthropic_url),
    ])
    monkeypatch.setattr(AiTask, "providers", registry)
    monkeypatch.setattr(AiTask, "catalog", catalog)
    yield registry
    await stop_in_process_workers()


async def run_one(task, **runner_options):
    graph = TaskGraph()
    graph.add_task(task)
    runner = TaskGraphRunner(graph, **runner_options)
    result = await runner.run()
    # The graph names the model, never a key (there is no port to put one in).
    assert TEST_KEY not in graph.to_json_string()
    return result[task.id]


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
async def test_every_text_task_runs_on_both_vendors(cloud, api, vendor):
    model = MODELS[vendor]
    generated = await run_one(TextGeneration("g", {"model": model, "prompt": "hello"}))
    assert generated == {"text": "echo: hello"}
    rewritten = await run_one(TextRewriter("r", {"model": model, "prompt": "Shout",
                                                 "text": "quiet words"}))
    assert rewritten == {"text": "echo: quiet words"}
    summary = await run_one(TextSummary("s", {"model": model, "text": "A. B. C.",
                                              "sentences": 1}))
    assert summary == {"text": "echo: A. B. C."}
    answer = await run_one(TextQuestionAnswer("q", {"model": model, "question": "Who?",
                                                    "context": "Ann."}))
    assert answer == {"answer": "echo: Context:\nAnn.\n\nQuestion: Who?", "score": 1.0}
    translated = await run_one(TextTranslation("t", {"model": model, "text": "bonjour",
                                                     "source": "fr", "target": "en"}))
    assert translated == {"text": "echo: bonjour"}
    requests = api.requests_to(OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES)
    assert len(requests) == 5 and all(r.body["stream"] is True for r in requests)
    assert all(r.body["model"] == "fake-gpt" if vendor == "openai" else "fake-claude"
               for r in requests)


async def test_embedding_task_gives_the_servers_vector(cloud, api):
    out = await run_one(TextEmbedding("e", {"model": EMBED, "text": "hello"}))
    assert out["vector"] == pytest.approx(fake_vector("hello"))


async def test_anthropic_has_no_embeddings(cloud):
    assert "openai" in cloud.providers_for("TextEmbedding")
    with pytest.raises(ModelTaskError):
        cloud.get("TextEmbedding", "anthropic")


async def test_streamed_text_reaches_task_progress_events(cloud, api):
    api.script(OPENAI_CHAT, Reply(text="alpha beta gamma delta", chunk_delay=0.15))
    graph = TaskGraph()
    graph.add_task(TextGeneration("g", {"model": GPT, "prompt": "go", "max_new_tokens": 64}))
    runner = TaskGraphRunner(graph)
    messages: list[str] = []
    runner.on("task_progress", lambda e: e.message and messages.append(e.message))
    result = await runner.run()
    assert result["g"] == {"text": "alpha beta gamma delta"}
    # Partial texts, each a prefix of the next, arrived before the whole.
    partial = [m for m in messages if m != "alpha beta gamma delta"]
    assert partial and all("alpha beta gamma delta".startswith(m) for m in partial)


async def test_a_429_is_retried_after_retry_after_inside_a_graph(cloud, api):
    api.script(OPENAI_CHAT, Reply(429, headers={"Retry-After": "1"}))
    out = await run_one(TextGeneration("g", {"model": GPT, "prompt": "patience"}))
    assert out == {"text": "echo: patience"}
    refused, accepted = api.requests_to(OPENAI_CHAT)
    assert accepted.at - refused.at >= 0.99


async def test_a_rejected_key_fails_the_task_clearly_and_nowhere_stores_it(
        cloud, api, monkeypatch, tmp_path: Path):
    wrong = TEST_KEY + "-revoked"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    async with open_store(f"sqlite:///{tmp_path}/runs.db") as store:
        with pytest.raises(TaskloomError) as caught:
            await run_one(TextGeneration("g", {"model": GPT, "prompt": "hi"}), store=store)
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
        ok = await run_one(TextGeneration("g2", {"model": GPT, "prompt": "fine"}), store=store)
    assert ok == {"text": "echo: fine"}
    shown = f"{caught.value} {caught.value.__cause__} {caught.value.__context__}"
    assert "HTTP 401" in shown and "OPENAI_API_KEY" in shown
    assert wrong not in shown and TEST_KEY not in shown
    assert wrong in api.requests_to(OPENAI_CHAT)[0].headers["authorization"]
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"echo: fine" in written  # the run's records and outputs are in there
    assert TEST_KEY.encode() not in written and wrong.encode() not in written


def test_a_record_that_holds_a_key_is_refused():
    with pytest.raises(JobPermanentError, match="keys go in the environment"):
        cloud_model("openai:x:api", api_key=TEST_KEY)


async def test_a_record_can_name_its_own_key_variable(api, cloud, monkeypatch):
    monkeypatch.setenv("LOCAL_LLM_KEY", TEST_KEY)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-some-other-key-000000000000")
    AiTask.catalog.add(cloud_model("openai:fake-local:v1", base_url=api.openai_url,
                                   api_key_env="LOCAL_LLM_KEY"))
    out = await run_one(TextGeneration("g", {"model": "openai:fake-local:v1", "prompt": "x"}))
    assert out == {"text": "echo: x"}


async def test_abort_of_the_run_stops_the_stream(cloud, api):
    api.script(OPENAI_CHAT, Reply(text="one two three four", hold_after=1))
    graph = TaskGraph()
    graph.add_task(TextGeneration("g", {"model": GPT, "prompt": "go"}))
    runner = TaskGraphRunner(graph)
    started = asyncio.Event()
    runner.on("task_progress", lambda e: e.message and started.set())
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), timeout=10)
    runner.abort("enough")
    with pytest.raises(TaskloomError):
        await run
    assert await api.until(lambda: api.streams[-1].client_closed)
    assert api.streams[-1].chunks_sent == 1


async def test_a_registered_provider_queue_is_the_one_the_tasks_use(cloud, api):
    queue = queues.register(provider_queue("openai", MemoryQueueStorage(), max_concurrent=1))
    try:
        api.script(OPENAI_CHAT, Reply(429, headers={"Retry-After": "1"}))
        graph = TaskGraph()
        graph.add_task(TextGeneration("a", {"model": GPT, "prompt": "first"}))
        graph.add_task(TextGeneration("b", {"model": GPT, "prompt": "second"}))
        result = await TaskGraphRunner(graph).run()
        assert result["a"] == {"text": "echo: first"} and result["b"] == {"text": "echo: second"}
        jobs = await queue.list()
        assert len(jobs) == 2 and all(j.status is JobStatus.COMPLETED for j in jobs)
        refused = api.requests_to(OPENAI_CHAT)[0]
        retried = [r for r in api.requests_to(OPENAI_CHAT)[1:]
                   if r.body["messages"][-1] == refused.body["messages"][-1]]
        assert len(retried) == 1 and retried[0].at - refused.at >= 0.99
    finally:
        await stop_in_process_workers()
        queues.unregister("ai:openai")
