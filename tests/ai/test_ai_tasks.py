"""The AI tasks on the local ONNX provider under CPython, through the graph runner and its queue."""

from __future__ import annotations

import asyncio

import pytest

from taskloom.ai import (
    ModelRecord,
    Similarity,
    TextEmbedding,
    TextGeneration,
    onnx_local,
    set_in_process_workers,
    stop_in_process_workers,
)
from taskloom.ai.local import rewrite_prompt
from taskloom.errors import (
    ContextLengthError,
    ModelInputError,
    ModelTaskError,
    RunAbortedError,
    TaskInputError,
    UnknownModelError,
)
from taskloom.graph import TaskGraph
from taskloom.queue import JobQueue, JobStatus, Worker, queues
from taskloom.queue.storage import MemoryQueueStorage
from taskloom.queue.task import task_type_handler
from taskloom.runner import TaskGraphRunner
from taskloom.storage import open_store
from taskloom.workflow import Workflow

MINILM = "onnx:all-MiniLM-L6-v2:q8"
GLASS = "onnx:glassllm:q8"
GLASS_FP32 = "onnx:glassllm:fp32"


async def run_one(task, **runner_options):
    graph = TaskGraph()
    graph.add_task(task)
    result = await TaskGraphRunner(graph, **runner_options).run()
    return result[task.id]


async def jobs_on(queue_name: str = "ai:onnx") -> list:
    return await queues.get(queue_name).list(limit=1000)


# -- each task -----------------------------------------------------------------------------


async def test_embedding_task_gives_the_providers_vectors(local_models, minilm_dir):
    texts = ["A man is eating food.", "A man is eating a piece of bread.", "Stocks fell."]
    out = await run_one(TextEmbedding("e", {"model": MINILM, "text": texts}))
    expected = onnx_local.embed(texts, minilm_dir)
    assert len(out["vector"]) == 3
    for got, want in zip(out["vector"], expected, strict=True):
        assert len(got) == 384
        assert max(abs(a - b) for a, b in zip(got, want, strict=True)) < 1e-5
    (job,) = await jobs_on()  # the expanded texts travel in one items job
    assert [item["text"] for item in job.input["items"]] == texts


async def test_similar_pair_scores_higher_than_dissimilar(local_models):
    wf = Workflow().text_embedding(model=MINILM, text=[
        "A man is eating food.", "A man is eating a piece of bread.",
        "The stock market fell sharply today."]).similarity()
    out = (await wf.run()).output
    matrix = out["matrix"]
    assert out["score"] == pytest.approx(matrix[0][1])
    assert matrix[0][1] > 0.5 > matrix[0][2]
    assert matrix[0][0] == pytest.approx(1.0)


async def test_greedy_generation_is_deterministic(local_models, glassllm_dir):
    task = {"model": GLASS, "prompt": "Alice was beginning to get very tired",
            "max_new_tokens": 12}
    first = await run_one(TextGeneration("g", task))
    assert [j.status for j in await jobs_on()] == [JobStatus.COMPLETED]
    await stop_in_process_workers()  # a fresh queue: the second run is a new job, not a replay
    second = await run_one(TextGeneration("g", task))
    assert [j.status for j in await jobs_on()] == [JobStatus.COMPLETED]
    assert first == second
    assert first["text"] == onnx_local.generate(task["prompt"], glassllm_dir, 12)
    assert first["text"].strip()


async def test_two_models_times_two_prompts_run_four_times(local_models, glassllm_dir):
    prompts = ["Alice was", "The Queen said"]
    wf = Workflow().text_generation(model=[GLASS, GLASS_FP32], prompt=prompts, max_new_tokens=6)
    texts = (await wf.run()).output["text"]
    jobs = await jobs_on()
    assert len(jobs) == 4 and all(j.status is JobStatus.COMPLETED for j in jobs)
    expected = [onnx_local.generate(p, glassllm_dir, 6, dtype=d)
                for d in ("q8", "fp32") for p in prompts]
    assert texts == expected


async def test_rewriter_text_auto_connects_into_embedding(local_models, glassllm_dir):
    wf = Workflow().text_rewriter(id="rewrite", model=GLASS, prompt="Say it again:",
                                  text="The cat sat on the mat.", max_new_tokens=10)
    wf.text_embedding(id="embed", model=MINILM)
    flows = [(d.source_task_id, d.source_port, d.target_task_id, d.target_port)
             for d in wf.graph.dataflows]
    assert flows == [("rewrite", "text", "embed", "text")]
    result = await wf.run()
    rewritten = result["rewrite"]["text"]
    assert rewritten == onnx_local.generate(
        rewrite_prompt("Say it again:", "The cat sat on the mat."), glassllm_dir, 10)
    assert len(result["embed"]["vector"]) == 384


async def test_summary_keeps_the_most_central_sentences(local_models):
    text = ("Cats are small domesticated carnivores. Many people keep cats as pets. "
            "Cats sleep for most of the day. The tax office closes at five. "
            "A cat purrs when it is content.")
    out = (await Workflow().text_summary(model=MINILM, text=text, sentences=2).run()).output
    chosen = out["text"]
    assert "tax office" not in chosen
    assert chosen.count(".") == 2 and all(s.strip() in text for s in chosen.split(". ") if s)


async def test_question_answering_finds_the_sentence_and_its_score(local_models):
    context = ("The Eiffel Tower is in Paris. Bananas are rich in potassium. "
               "The Amazon is the largest rainforest on Earth.")
    out = (await Workflow().text_question_answer(
        model=MINILM, question=["Which fruit has potassium?", "Where is the Eiffel Tower?"],
        context=context).run()).output
    assert out["answer"] == ["Bananas are rich in potassium.", "The Eiffel Tower is in Paris."]
    assert all(0 < score <= 1 for score in out["score"])


async def test_translation_with_a_model_that_does_not_translate_is_a_clear_error(local_models):
    for model in (GLASS, MINILM):
        wf = Workflow().text_translation(model=model, text="Hello", source="en", target="fr")
        with pytest.raises(ModelTaskError, match="does not serve TextTranslation") as caught:
            await wf.run()
        assert "bergamot:en-pt:tiny" in str(caught.value)  # the offline model that does
    assert "ai:onnx" not in queues or not await jobs_on()  # refused before queueing


# -- bad input -------------------------------------------------------------------------------


async def test_unknown_model_names_the_known_ones(local_models):
    with pytest.raises(UnknownModelError, match="onnx:nope:q8") as caught:
        await run_one(TextEmbedding("e", {"model": "onnx:nope:q8", "text": "hi"}))
    assert MINILM in str(caught.value)
    with pytest.raises(ModelInputError, match="provider:name:variant"):
        await run_one(TextEmbedding("e", {"model": "all-MiniLM-L6-v2", "text": "hi"}))


async def test_a_model_that_does_not_serve_the_task(local_models):
    with pytest.raises(ModelTaskError, match=f"{GLASS!r} does not serve TextEmbedding") as caught:
        await run_one(TextEmbedding("e", {"model": GLASS, "text": "hi"}))
    assert MINILM in str(caught.value)  # it says which models do


async def test_empty_text_is_refused_before_queueing(local_models):
    with pytest.raises(ModelInputError, match="'text' is empty"):
        await run_one(TextEmbedding("e", {"model": MINILM, "text": "   "}))
    with pytest.raises(ModelInputError, match="'prompt' is empty"):
        await run_one(TextGeneration("g", {"model": GLASS, "prompt": ""}))
    assert "ai:onnx" not in queues or not await jobs_on()


@pytest.mark.parametrize("bad", [{"temperature": float("inf")}, {"temperature": -0.5},
                                 {"top_k": 0}, {"max_new_tokens": 0}])
async def test_generation_options_are_checked_once_before_queueing(local_models, bad):
    with pytest.raises(TaskInputError, match=next(iter(bad))):
        await run_one(TextGeneration("g", {"model": GLASS, "prompt": "Alice", **bad}))
    assert "ai:onnx" not in queues or not await jobs_on()


async def test_over_long_text_is_an_error_unless_truncate(local_models, minilm_dir):
    long_text = "word " * 600  # MiniLM reads 512 tokens
    with pytest.raises(ContextLengthError, match="512") as caught:
        await run_one(TextEmbedding("e", {"model": MINILM, "text": long_text}))
    assert (caught.value.n_tokens, caught.value.limit) == (602, 512)
    [job] = await jobs_on()
    assert job.status is JobStatus.FAILED and job.deliveries == 1  # not retried: it cannot help
    with pytest.warns(onnx_local.ContextTruncatedWarning, match="512"):
        out = await run_one(TextEmbedding("e", {"model": MINILM, "text": long_text,
                                                "truncate": True}))
    with pytest.warns(onnx_local.ContextTruncatedWarning):
        expected = onnx_local.embed([long_text], minilm_dir, truncate=True)[0]
    assert max(abs(a - b) for a, b in zip(out["vector"], expected, strict=True)) < 1e-5


async def test_an_over_long_text_fails_only_its_own_task(local_models, minilm_dir):
    # The three jobs reach the worker together; whether they share a model call or not,
    # the over-long text's task fails and the others get their vectors.
    texts = {"a": "A man is eating food.", "long": "word " * 600, "b": "Stocks fell."}
    graph = TaskGraph()
    for task_id, text in texts.items():
        graph.add_task(TextEmbedding(task_id, {"model": MINILM, "text": text}))
    result = await TaskGraphRunner(graph, continue_on_error=True).run()
    assert set(result.errors) == {"long"}
    assert isinstance(result.errors["long"], ContextLengthError)
    expected = onnx_local.embed([texts["a"], texts["b"]], minilm_dir)
    for task_id, want in zip(("a", "b"), expected, strict=True):
        got = result.outputs[task_id]["vector"]
        assert max(abs(x - y) for x, y in zip(got, want, strict=True)) < 1e-5
    statuses = sorted(j.status for j in await jobs_on())
    assert statuses == sorted([JobStatus.COMPLETED, JobStatus.COMPLETED, JobStatus.FAILED])


async def test_over_long_prompt_is_an_error_for_the_generator(local_models):
    with pytest.raises(ContextLengthError, match="128"):
        await run_one(TextGeneration("g", {"model": GLASS, "prompt": "Alice " * 300}))


async def test_similarity_refuses_what_it_cannot_compare():
    with pytest.raises(ModelInputError, match="at least two"):
        await run_one(Similarity("s", {"vectors": [[1.0, 0.0]]}))
    with pytest.raises(ModelInputError, match="different lengths"):
        await run_one(Similarity("s", {"vectors": [[1.0, 0.0], [1.0, 0.0, 0.0]]}))


# -- progress, abort -------------------------------------------------------------------------


async def test_generation_reports_progress_per_token(local_models):
    runner_graph = TaskGraph()
    runner_graph.add_task(TextGeneration("g", {"model": GLASS, "prompt": "Alice was",
                                               "max_new_tokens": 40}))
    runner = TaskGraphRunner(runner_graph)
    seen: list[float] = []
    runner.on("task_progress", lambda e: seen.append(e.progress))
    await runner.run()
    assert seen and all(0 <= p <= 1 for p in seen)
    assert seen == sorted(seen)
    assert any(0 < p < 1 for p in seen)  # reported while it generated, not only at the end


async def test_abort_mid_generation_stops_the_job(local_models):
    graph = TaskGraph()
    graph.add_task(TextGeneration("g", {"model": GLASS, "prompt": "Alice was",
                                        "max_new_tokens": 100_000}))
    runner = TaskGraphRunner(graph)
    started = asyncio.Event()

    def on_progress(event):
        if event.progress and event.progress > 0:
            started.set()

    runner.on("task_progress", on_progress)
    run = asyncio.create_task(runner.run())
    generating = asyncio.create_task(started.wait())
    await asyncio.wait({run, generating}, return_when=asyncio.FIRST_COMPLETED)
    assert not run.done(), run  # it reports progress long before 100,000 tokens
    runner.abort("enough")
    with pytest.raises(RunAbortedError):
        await run
    for _ in range(600):  # the worker learns of the abort at its next heartbeat (~1 s)
        [job] = await jobs_on()
        if job.status is JobStatus.ABORTED:
            break
        await asyncio.sleep(0.05)
    assert job.status is JobStatus.ABORTED
    assert job.progress < 1.0


# -- records, queues, workers ----------------------------------------------------------------


async def test_a_stored_model_record_is_resolved(local_models, minilm_dir, tmp_path):
    async with open_store(f"sqlite:///{tmp_path}/models.db") as store:
        record = ModelRecord("onnx:my-minilm:q8", tasks=("TextEmbedding",),
                             location=str(minilm_dir), dtype="q8", metadata={"mine": True})
        await store.models.save(record)
        assert await store.models.get("onnx:my-minilm:q8") == record
        assert [r.id for r in await store.models.list(task="TextEmbedding")] == [record.id]
        assert await store.models.list(task="TextGeneration") == []
        out = await run_one(TextEmbedding("e", {"model": record.id, "text": "hello"}),
                            services={"store": store})
        assert len(out["vector"]) == 384
        with pytest.raises(UnknownModelError):  # not known without the store
            await run_one(TextEmbedding("e", {"model": record.id, "text": "hello"}))
        assert await store.models.delete(record.id)
        with pytest.raises(UnknownModelError):
            await store.models.get(record.id)


async def test_an_explicit_worker_serves_a_user_registered_queue(local_models):
    set_in_process_workers(False)
    queue = queues.register(JobQueue("ai:onnx", MemoryQueueStorage()))
    worker = Worker(queue, task_type_handler(), concurrency=4, lease=3.0)
    serving = asyncio.create_task(worker.run())
    try:
        out = await run_one(TextEmbedding("e", {"model": MINILM, "text": ["one", "two"]}))
        assert len(out["vector"]) == 2
        assert worker.stats.completed == 1  # both texts in one items job
    finally:
        set_in_process_workers(True)
        worker.stop()
        await serving
        queues.unregister("ai:onnx")


# -- the same numbers as the browser's Transformers.js -------------------------------------


async def test_tasks_give_what_transformers_js_gives(local_models, transformers_js):
    references = transformers_js["embeddings"]
    texts = list(references)
    out = await run_one(TextEmbedding("e", {"model": MINILM, "text": texts}))
    for vector, text in zip(out["vector"], texts, strict=True):
        head = references[text]  # the reference keeps the first dimensions
        assert max(abs(a - b) for a, b in zip(vector, head, strict=False)) < 1e-4
    for dtype, model in (("q8", GLASS), ("fp32", GLASS_FP32)):
        generations = transformers_js["generations"][dtype]
        prompts = list(generations)
        wf = Workflow().text_generation(model=model, prompt=prompts, max_new_tokens=48)
        assert (await wf.run()).output["text"] == [generations[p] for p in prompts]


async def test_outputs_are_cached_in_a_store(local_models, tmp_path):
    async with open_store(f"sqlite:///{tmp_path}/runs.db") as store:
        first = await run_one(TextEmbedding("e", {"model": MINILM, "text": "cached words"}),
                              store=store)
        await stop_in_process_workers()  # no queue left to replay a job from
        graph = TaskGraph()
        graph.add_task(TextEmbedding("e", {"model": MINILM, "text": "cached words"}))
        second = await TaskGraphRunner(graph, store=store).run()
        assert second.cache_hits == {"e"} and second["e"] == first
        assert "ai:onnx" not in queues  # nothing was queued the second time
