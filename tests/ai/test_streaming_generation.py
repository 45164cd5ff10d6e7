"""Local generation streams: glassllm under CPython, token by token, through the job queue
(an in-process worker), into task_stream events and a downstream task that reads them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from taskloom import EventKind, Task, TaskGraph, TaskGraphRunner
from taskloom.ai import TextGeneration, TextRewriter, TextSummary, onnx_local
from taskloom.ai.local import rewrite_prompt
from taskloom.streams import TextStream

GLASSLLM = "onnx:glassllm:q8"
MINILM = "onnx:all-MiniLM-L6-v2:q8"


class StrmCollect(Task, register=False):
    """Reads a stream delta by delta."""

    class Input(BaseModel):
        text: TextStream

    class Output(BaseModel):
        deltas: list[str]

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        return {"deltas": [delta async for delta in input.text]}


async def run(graph: TaskGraph) -> tuple[Any, list[Any]]:
    runner = TaskGraphRunner(graph)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    return await runner.run(), events


def deltas(events: list[Any], task_id: str) -> list[str]:
    out = [e.to_dict() for e in events
           if e.kind is EventKind.TASK_STREAM and e.task_id == task_id]
    assert [d["index"] for d in out] == list(range(len(out)))
    return [d["delta"] for d in out]


async def test_local_generation_streams_each_token(local_models, glassllm_dir):
    graph = TaskGraph()
    graph.add_task(TextGeneration("gen", {"model": GLASSLLM, "prompt": "Alice was beginning to",
                                          "max_new_tokens": 24}))
    result, events = await run(graph)
    text = result["gen"]["text"]
    assert text == onnx_local.generate("Alice was beginning to", glassllm_dir, 24)
    streamed = deltas(events, "gen")
    # A delta per token that adds text (the in-process worker hands them over directly).
    assert len(streamed) >= 12
    assert "".join(streamed) == text


async def test_a_rewrite_streams_into_a_task_that_reads_it(local_models, glassllm_dir):
    graph = TaskGraph()
    graph.add_task(TextRewriter("rewrite", {"model": GLASSLLM, "prompt": "Tell it simply:",
                                            "text": "The cat sat.", "max_new_tokens": 16}))
    graph.add_task(StrmCollect("collect"))
    graph.connect("rewrite", "text", "collect", "text")
    result, events = await run(graph)
    expected = onnx_local.generate(rewrite_prompt("Tell it simply:", "The cat sat."),
                                   glassllm_dir, 16)
    assert result["rewrite"]["text"] == expected
    assert result["collect"]["deltas"] == deltas(events, "rewrite")
    assert "".join(result["collect"]["deltas"]) == expected
    kinds = [(e.kind, e.task_id) for e in events]
    assert kinds.index((EventKind.TASK_START, "collect")) < \
        kinds.index((EventKind.TASK_COMPLETE, "rewrite"))


async def test_an_extractive_summary_streams_its_whole_text_once(local_models):
    graph = TaskGraph()
    graph.add_task(TextSummary("sum", {"model": MINILM, "sentences": 1,
                                       "text": "Alice sat by the river. The Rabbit ran by."}))
    result, events = await run(graph)
    assert deltas(events, "sum") == [result["sum"]["text"]]
