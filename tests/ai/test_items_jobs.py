"""An array expansion of an AI task that streams nothing: its items travel in items jobs."""

from __future__ import annotations

import asyncio

import pytest

from taskloom import TaskGraph, TaskGraphRunner
from taskloom.ai import catalog, local, onnx_cpython, onnx_local, providers
from taskloom.ai.onnx_cpython import OnnxCPython
from taskloom.ai.providers import ModelCall
from taskloom.ai.tasks import TextEmbedding, TextLanguageDetection, TextTranslation
from taskloom.cache import MemoryOutputRepository
from taskloom.errors import ContextLengthError, ModelInputError, ModelTaskError, RunAbortedError
from taskloom.events import EventKind
from taskloom.queue import JobStatus, queues
from taskloom.storage.models import ModelRecord

MINILM = "onnx:all-MiniLM-L6-v2:q8"
TOY = "toy:items:v1"


@pytest.fixture
def toy(local_models):
    """A provider that records every text it embeds (and can be told to fail or wait)."""
    seen: list[str] = []
    state = {"fail": None, "hold": None}

    async def embed(call: ModelCall) -> dict:
        text = call.input.text
        seen.append(text)
        if text == state["fail"]:
            raise ModelInputError(f"cannot embed {text!r}")
        if state["hold"] is not None:
            await state["hold"].wait()
        return {"vector": [float(len(text)), 1.0]}

    providers.register("TextEmbedding", "toy", embed)
    catalog.add(ModelRecord(TOY, tasks=("TextEmbedding",)))
    yield seen, state
    providers.unregister("TextEmbedding", "toy")
    catalog.remove(TOY)


async def run_task(task, **options):
    graph = TaskGraph()
    graph.add_task(task)
    runner = TaskGraphRunner(graph, **options)
    return runner, await runner.run()


async def jobs_on(name: str) -> list:
    return await queues.get(name).list(limit=1000)


async def test_items_travel_items_per_job_to_a_job(toy):
    seen, _ = toy
    texts = [f"text number {i}" for i in range(130)]
    _, result = await run_task(TextEmbedding("e", {"model": TOY, "text": texts}))
    assert result["e"]["vector"] == [[float(len(t)), 1.0] for t in texts]
    assert sorted(seen) == sorted(texts)
    jobs = await jobs_on("ai:toy")
    assert sorted(len(j.input["items"]) for j in jobs) == [2, 64, 64]
    assert all(j.status is JobStatus.COMPLETED for j in jobs)
    assert sorted(item["text"] for j in jobs for item in j.input["items"]) == sorted(texts)


async def test_equal_items_are_asked_once_and_answered_each(toy):
    seen, _ = toy
    _, result = await run_task(TextEmbedding("e", {"model": TOY, "text": ["ab", "c", "ab"]}))
    assert result["e"]["vector"] == [[2.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    assert sorted(seen) == ["ab", "c"]


async def test_a_task_with_side_effects_asks_every_item(toy):
    seen, _ = toy
    await run_task(TextEmbedding("e", {"model": TOY, "text": ["ab", "ab"]}, cacheable=False))
    assert seen == ["ab", "ab"]


async def test_a_repeated_expansion_is_answered_by_the_queue(toy):
    seen, _ = toy
    texts = ["one", "two", "three"]
    await run_task(TextEmbedding("e", {"model": TOY, "text": texts}))
    _, again = await run_task(TextEmbedding("e", {"model": TOY, "text": texts}))
    assert again["e"]["vector"] == [[3.0, 1.0], [3.0, 1.0], [5.0, 1.0]]
    assert len(seen) == 3  # the completed items job replayed, no model call
    assert len(await jobs_on("ai:toy")) == 1


async def test_one_failing_item_fails_the_task_with_its_own_error(toy):
    _, state = toy
    state["fail"] = "bad"
    with pytest.raises(ModelInputError, match="cannot embed 'bad'"):
        await run_task(TextEmbedding("e", {"model": TOY, "text": ["good", "bad", "fine"]}))
    (job,) = await jobs_on("ai:toy")
    assert job.status is JobStatus.FAILED and job.deliveries == 1  # an input error: no retry


async def test_a_model_error_keeps_its_details_through_an_items_job(local_models):
    texts = ["A man is eating food.", "word " * 600]  # MiniLM reads 512 tokens
    with pytest.raises(ContextLengthError) as caught:
        await run_task(TextEmbedding("e", {"model": MINILM, "text": texts}))
    assert (caught.value.n_tokens, caught.value.limit) == (602, 512)


async def test_every_item_is_checked_before_anything_is_queued(toy):
    seen, _ = toy
    with pytest.raises(ModelInputError, match="'text' is empty"):
        await run_task(TextEmbedding("e", {"model": TOY, "text": ["fine", "  "]}))
    assert seen == [] and ("ai:toy" not in queues or not await jobs_on("ai:toy"))


async def test_an_untranslatable_pair_fails_before_queueing(local_models):
    task = TextTranslation("t", {"model": "bergamot:en-pt:tiny", "text": ["a cat", "a dog"],
                                 "source": "en", "target": "fr"})
    with pytest.raises(ModelTaskError, match="translates en→pt, pt→en"):
        await run_task(task)
    assert "ai:bergamot" not in queues or not await jobs_on("ai:bergamot")


async def test_progress_rises_to_one_as_items_complete(toy):
    texts = [f"t{i}" for i in range(150)]
    graph = TaskGraph()
    graph.add_task(TextEmbedding("e", {"model": TOY, "text": texts}))
    runner = TaskGraphRunner(graph)
    fractions: list[float] = []
    items: list[int] = []

    def on_progress(event):
        fractions.append(event.progress)
        if event.details and "item" in event.details:
            items.append(event.details["item"])

    runner.on(EventKind.TASK_PROGRESS, on_progress)
    await runner.run()
    assert fractions and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(0 < f < 1 for f in fractions)  # partway, not only at the end
    assert sorted(items) == list(range(150))  # each item said done, as one by one


async def test_aborting_the_run_aborts_its_items_jobs(toy):
    _, state = toy
    state["hold"] = asyncio.Event()  # every model call waits: the job stays running
    graph = TaskGraph()
    graph.add_task(TextEmbedding("e", {"model": TOY, "text": ["a", "b", "c"]}))
    runner = TaskGraphRunner(graph)
    running = asyncio.create_task(runner.run())
    for _ in range(200):
        if "ai:toy" in queues and any(j.status is JobStatus.PROCESSING
                                      for j in await jobs_on("ai:toy")):
            break
        await asyncio.sleep(0.01)
    runner.abort("enough")
    with pytest.raises(RunAbortedError):
        await running
    for _ in range(600):  # the worker learns of the abort at its next heartbeat
        (job,) = await jobs_on("ai:toy")
        if job.status is JobStatus.ABORTED:
            break
        await asyncio.sleep(0.01)
    assert job.status is JobStatus.ABORTED


async def test_language_detection_over_a_list_matches_one_by_one(local_models):
    texts = ["the cat sleeps on the warm window sill", "o gato dorme no parapeito quente",
             "le chat dort sur le rebord chaud de la fenêtre"]
    _, together = await run_task(TextLanguageDetection(
        "d", {"model": "fasttext:lid.176:ftz", "text": texts}))
    alone = [(await run_task(TextLanguageDetection(
        "d", {"model": "fasttext:lid.176:ftz", "text": text})))[1]["d"] for text in texts]
    assert together["d"]["language"] == [one["language"] for one in alone] == ["en", "pt", "fr"]
    assert together["d"]["score"] == [one["score"] for one in alone]


async def test_cached_items_are_answered_from_the_cache_and_only_new_ones_run(toy):
    seen, _ = toy
    outputs = MemoryOutputRepository()
    first = ["one", "two", "three"]
    await run_task(TextEmbedding("e", {"model": TOY, "text": first}),
                   output_repository=outputs)
    assert await outputs.count() == 3  # one cached output per item
    seen.clear()
    _, result = await run_task(TextEmbedding("e", {"model": TOY, "text": [
        "two", "four", "one"]}), output_repository=outputs)
    assert seen == ["four"]
    assert result["e"]["vector"] == [[3.0, 1.0], [4.0, 1.0], [3.0, 1.0]]
    assert "e" in result.cache_hits


async def test_an_items_job_embeds_its_texts_in_batches_not_one_by_one(local_models,
                                                                      minilm_dir, monkeypatch):
    class CountingAdapter(OnnxCPython):
        def __init__(self) -> None:
            self.calls: list[int] = []

        async def embed(self, model, texts, truncate):
            self.calls.append(len(texts))
            return await super().embed(model, texts, truncate)

    async def one_by_one(self, input, ctx):
        raise AssertionError("an items job ran an item on its own")

    monkeypatch.setattr(TextEmbedding, "execute", one_by_one)
    adapter = CountingAdapter()
    local.register(adapter)
    try:
        texts = [f"sentence number {i} about cats" for i in range(70)]
        _, result = await run_task(TextEmbedding("e", {"model": MINILM, "text": texts}))
    finally:
        onnx_cpython.register()
    # Two items jobs (64 + 6), each in the adapter's batches of at most 32.
    assert sorted(adapter.calls) == [6, 32, 32]
    expected = onnx_local.embed(texts, minilm_dir)
    assert max(abs(a - b) for got, want in zip(result["e"]["vector"], expected, strict=True)
               for a, b in zip(got, want, strict=True)) < 1e-5
