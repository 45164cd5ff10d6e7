"""An expanded generation task (a list of prompts, expansion.py) streams each item's tokens
as its own stream — tagged with the item, indexed from 0 — on glassllm under CPython, and a
Map whose body generates streams them tagged with the item and the inner task."""

from __future__ import annotations

from typing import Any

from taskloom import EventKind, Map, TaskGraph, TaskGraphRunner
from taskloom.ai import TextGeneration, onnx_local

GLASSLLM = "onnx:glassllm:q8"
PROMPTS = ["Alice was beginning to", "The Queen said"]


async def streams_of(graph: TaskGraph, task_id: str) -> tuple[Any, dict[Any, list[dict]]]:
    runner = TaskGraphRunner(graph)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    result = await runner.run()
    out: dict[Any, list[dict]] = {}
    for e in events:
        if e.kind is EventKind.TASK_STREAM and e.task_id == task_id:
            out.setdefault(e.details.get("item"), []).append(e.to_dict())
    return result, out


async def test_each_prompt_of_an_expanded_generation_streams_its_own_tokens(
        local_models, glassllm_dir):
    graph = TaskGraph([TextGeneration("gen", {"model": GLASSLLM, "prompt": PROMPTS,
                                              "max_new_tokens": 12})])
    result, streams = await streams_of(graph, "gen")
    texts = result["gen"]["text"]
    assert texts == [onnx_local.generate(p, glassllm_dir, 12) for p in PROMPTS]
    assert sorted(streams) == [0, 1]
    for item, deltas in streams.items():
        assert [d["index"] for d in deltas] == list(range(len(deltas)))
        assert len(deltas) >= 6  # token by token, not the whole text at the end
        assert "".join(d["delta"] for d in deltas) == texts[item]


async def test_a_map_over_prompts_streams_each_items_generation(local_models, glassllm_dir):
    body = TaskGraph([TextGeneration("gen", {"model": GLASSLLM, "max_new_tokens": 12})])
    graph = TaskGraph([Map(body, "each", {"prompt": PROMPTS, "concurrency": 2})])
    result, streams = await streams_of(graph, "each")
    assert sorted(streams) == [0, 1]
    for item, deltas in streams.items():
        assert {d["inner"] for d in deltas} == {"gen"}
        assert [d["index"] for d in deltas] == list(range(len(deltas)))
        assert "".join(d["delta"] for d in deltas) == result["each"]["text"][item]
