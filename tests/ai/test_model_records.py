"""Model records: ids, the ModelRepository on every storage backend, the provider
registry, and AI graphs through JSON."""

from __future__ import annotations

import pytest

from taskloom.ai import (
    BUILTIN_MODELS,
    ModelCall,
    ModelRecord,
    ProviderRegistry,
    catalog,
    providers,
)
from taskloom.ai.tasks import TextEmbedding
from taskloom.errors import (
    CorruptRecordError,
    ModelInputError,
    ModelTaskError,
    UnknownModelError,
)
from taskloom.graph import TaskGraph
from taskloom.registry import registry
from taskloom.runner import TaskGraphRunner
from taskloom.storage import open_store
from taskloom.storage.models import split_model_id
from taskloom.workflow import Workflow


@pytest.fixture(params=["memory", "file", "sqlite",
                        pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request, tmp_path):
    if request.param == "memory":
        url = "memory://"
    elif request.param == "file":
        url = (tmp_path / "store").as_uri()
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")  # tests/postgres_server.py
    async with open_store(url) as opened:
        yield opened


def test_model_ids_split_at_the_first_and_last_colon():
    assert split_model_id("onnx:all-MiniLM-L6-v2:q8") == ("onnx", "all-MiniLM-L6-v2", "q8")
    assert split_model_id("onnx:Xenova/a:b:fp32") == ("onnx", "Xenova/a:b", "fp32")
    for bad in ("onnx", "onnx:q8", "::q8", "onnx::q8", 42):
        with pytest.raises(ModelInputError, match=r"provider:name:variant|non-empty"):
            split_model_id(bad)
    record = ModelRecord("onnx:glassllm:q8", tasks=["TextGeneration"])
    assert (record.provider, record.name, record.variant) == ("onnx", "glassllm", "q8")
    assert ModelRecord.from_json(record.to_json()) == record


def test_built_in_records_name_the_local_models():
    by_id = {r.id: r for r in BUILTIN_MODELS}
    assert by_id["onnx:all-MiniLM-L6-v2:q8"].tasks == (
        "TextEmbedding", "TextSummary", "TextQuestionAnswer", "TextClassification")
    assert by_id["onnx:glassllm:q8"].tasks == ("TextGeneration", "TextRewriter")
    assert [r.id for r in BUILTIN_MODELS if r.serves("TextTranslation")] == [
        "bergamot:en-pt:tiny"]
    assert [r.id for r in BUILTIN_MODELS if r.serves("TextLanguageDetection")] == [
        "fasttext:lid.176:ftz"]


async def test_repository_round_trip(store):
    a = ModelRecord("onnx:a:q8", tasks=("TextEmbedding",), location="a", dtype="q8",
                    metadata={"dimensions": 384})
    b = ModelRecord("openai:gpt-x:default", tasks=("TextGeneration",))
    await store.models.save(a)
    await store.models.save(b)
    assert await store.models.get("onnx:a:q8") == a
    assert [r.id for r in await store.models.list()] == ["onnx:a:q8", "openai:gpt-x:default"]
    assert await store.models.list(task="TextGeneration") == [b]
    assert await store.models.list(provider="onnx") == [a]
    assert await store.models.find("onnx:none:q8") is None
    with pytest.raises(UnknownModelError, match="onnx:none:q8"):
        await store.models.get("onnx:none:q8")
    assert await store.models.delete("onnx:a:q8")
    assert not await store.models.delete("onnx:a:q8")
    assert await store.models.list() == [b]


async def test_a_corrupt_record_names_its_key(store):
    await store.backend.put("models", "onnx:bad:q8", {"id": "onnx:bad:q8", "tasks": "oops"})
    with pytest.raises(CorruptRecordError, match="onnx:bad:q8") as caught:
        await store.models.get("onnx:bad:q8")
    assert caught.value.key == "onnx:bad:q8"


async def test_a_stored_record_overrides_a_built_in_one(store):
    model = "onnx:all-MiniLM-L6-v2:q8"
    await store.models.save(ModelRecord(model, tasks=("TextEmbedding",), location="elsewhere"))
    assert (await catalog.resolve(model, store.models)).location == "elsewhere"
    assert (await catalog.resolve(model)).location == "all-MiniLM-L6-v2"


async def test_a_new_provider_is_one_registration(local_models):
    """A provider (a browser one, a cloud one) plugs in with a single register call."""
    calls: list[ModelCall] = []

    async def fake_embed(call: ModelCall) -> dict:
        calls.append(call)
        call.progress(1.0, "done")
        return {"vector": [1.0, 0.0]}

    providers.register("TextEmbedding", "toy", fake_embed)
    catalog.add(ModelRecord("toy:unit:v1", tasks=("TextEmbedding",)))
    try:
        graph = TaskGraph()
        graph.add_task(TextEmbedding("e", {"model": "toy:unit:v1", "text": "hi"}))
        result = await TaskGraphRunner(graph).run()
        assert result["e"] == {"vector": [1.0, 0.0]}
        [call] = calls
        assert call.record.id == "toy:unit:v1" and call.path is None
        assert call.input == TextEmbedding.Input(model="toy:unit:v1", text="hi")  # validated
    finally:
        providers.unregister("TextEmbedding", "toy")
        catalog.remove("toy:unit:v1")


async def test_a_record_whose_provider_cannot_run_here(local_models):
    catalog.add(ModelRecord("elsewhere:m:v1", tasks=("TextEmbedding",)))
    try:
        graph = TaskGraph()
        graph.add_task(TextEmbedding("e", {"model": "elsewhere:m:v1", "text": "hi"}))
        with pytest.raises(ModelTaskError, match="provider 'elsewhere' cannot run TextEmbedding"):
            await TaskGraphRunner(graph).run()
    finally:
        catalog.remove("elsewhere:m:v1")


def test_provider_registry_lists_providers_per_task():
    own = ProviderRegistry()
    own.register("TextGeneration", "a", lambda call: None)
    own.register("TextGeneration", "b")(lambda call: None)
    assert own.providers_for("TextGeneration") == ["a", "b"]
    assert ("TextGeneration", "a") in own
    with pytest.raises(ModelTaskError, match="providers that can: a, b"):
        own.get("TextGeneration", "c")


def test_ai_ports_carry_semantic_formats():
    schema = TextEmbedding.Input.model_json_schema()
    assert schema["properties"]["model"]["format"] == "model"
    assert TextEmbedding.Output.model_json_schema()["properties"]["vector"]["format"] == "vector"
    for name in ("DownloadModel", "TextEmbedding", "TextGeneration", "TextRewriter",
                 "TextSummary", "TextQuestionAnswer", "TextTranslation", "Similarity"):
        assert name in registry


async def test_an_ai_graph_survives_json(local_models):
    wf = Workflow().text_embedding(id="e", model="onnx:all-MiniLM-L6-v2:q8",
                                   text=["cats purr", "kittens purr", "taxes rise"])
    wf.similarity(id="s")
    graph = TaskGraph.from_json(wf.to_json())
    result = await TaskGraphRunner(graph).run()
    matrix = result["s"]["matrix"]
    assert matrix[0][1] > matrix[0][2]


async def test_retries_and_limits_of_the_queue_apply_to_model_calls(local_models):
    """A flaky call is retried by the queue; a user's queue limiter paces the calls."""
    import asyncio

    from taskloom.errors import JobRetryableError
    from taskloom.queue import ConcurrencyLimiter, JobQueue, queues
    from taskloom.queue.storage import MemoryQueueStorage

    attempts: dict[str, int] = {}
    running, most = 0, 0

    async def flaky(call: ModelCall) -> dict:
        nonlocal running, most
        text = call.input.text
        attempts[text] = attempts.get(text, 0) + 1
        if attempts[text] == 1:
            raise JobRetryableError("busy, try again", retry_after=0.01)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        return {"vector": [float(len(text)), 1.0]}

    providers.register("TextEmbedding", "flaky", flaky)
    catalog.add(ModelRecord("flaky:m:v1", tasks=("TextEmbedding",)))
    queues.register(JobQueue("ai:flaky", MemoryQueueStorage(),
                             limiter=ConcurrencyLimiter(1)))
    try:
        graph = TaskGraph()
        graph.add_task(TextEmbedding("e", {"model": "flaky:m:v1", "text": ["a", "bb", "ccc"]}))
        result = await TaskGraphRunner(graph).run()
        assert result["e"]["vector"] == [[1.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
        assert attempts == {"a": 2, "bb": 2, "ccc": 2}
        assert most == 1  # the queue's ConcurrencyLimiter(1), not the worker's 32 slots
        jobs = await queues.get("ai:flaky").list()
        assert sorted(j.attempts for j in jobs) == [1, 1, 1]
    finally:
        providers.unregister("TextEmbedding", "flaky")
        catalog.remove("flaky:m:v1")
        from taskloom.ai import stop_in_process_workers

        await stop_in_process_workers()
        queues.unregister("ai:flaky")
