"""Cloud generation streams: the official SDKs read the fake server's SSE chunk by chunk,
and each chunk is a task_stream event (and a delta for a task that reads the stream)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from taskloom import EventKind, Task, TaskGraph, TaskGraphRunner
from taskloom.ai import (
    AiTask,
    ModelCatalog,
    ProviderRegistry,
    TextGeneration,
    TextRewriter,
    stop_in_process_workers,
)
from taskloom.ai.cloud import cloud_model, register
from taskloom.streams import TextStream

GPT = "openai:fake-gpt:local"
CLAUDE = "anthropic:fake-claude:local"
MODELS = {"openai": GPT, "anthropic": CLAUDE}


@pytest.fixture
async def cloud(api, keys_in_env, monkeypatch):
    registry = ProviderRegistry()
    catalog = ModelCatalog(records=())
    register(registry, catalog, models=[cloud_model(GPT, base_url=api.openai_url),
                                        cloud_model(CLAUDE, base_url=api.anthropic_url)])
    monkeypatch.setattr(AiTask, "providers", registry)
    monkeypatch.setattr(AiTask, "catalog", catalog)
    yield registry
    await stop_in_process_workers()


class StrmCloudCollect(Task, register=False):
    class Input(BaseModel):
        text: TextStream

    class Output(BaseModel):
        deltas: list[str]

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        return {"deltas": [delta async for delta in input.text]}


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
async def test_cloud_generation_streams_chunk_by_chunk(cloud, api, vendor):
    graph = TaskGraph()
    graph.add_task(TextGeneration("gen", {"model": MODELS[vendor],
                                          "prompt": "the quick brown fox"}))
    graph.add_task(StrmCloudCollect("collect"))
    graph.connect("gen", "text", "collect", "text")
    runner = TaskGraphRunner(graph)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    result = await runner.run()
    assert result["gen"]["text"] == "echo: the quick brown fox"
    streamed = [e.to_dict() for e in events if e.kind is EventKind.TASK_STREAM]
    assert [d["index"] for d in streamed] == list(range(len(streamed)))
    # The fake server sends a word per SSE chunk: five chunks, five deltas.
    assert len(streamed) == 5
    assert "".join(d["delta"] for d in streamed) == result["gen"]["text"]
    assert result["collect"]["deltas"] == [d["delta"] for d in streamed]
    # It was one SSE response, read to its end.
    assert len(api.streams) == 1 and api.streams[0].finished
    assert api.streams[0].chunks_sent == api.streams[0].total_chunks


async def test_a_cloud_rewrite_streams_its_rest_when_no_delta_reached_the_task(
        cloud, api, monkeypatch):
    # A worker in another process hands over no deltas: the task streams the whole
    # output when the job completes, so the events still join to the output.
    from taskloom.queue import streams

    monkeypatch.setattr(streams, "publish", lambda job_id, port, delta: None)
    graph = TaskGraph()
    graph.add_task(TextRewriter("r", {"model": GPT, "prompt": "Shout", "text": "quiet words"}))
    runner = TaskGraphRunner(graph)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    result = await runner.run()
    streamed = [e.details["delta"] for e in events if e.kind is EventKind.TASK_STREAM]
    assert streamed == [result["r"]["text"]] == ["echo: quiet words"]
