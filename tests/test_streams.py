"""Streaming ports (streams.py): task_stream events, consumers that read a stream as it
arrives, consumers that get the whole text, caches and resumed runs that never re-stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from taskloom import (
    EventKind,
    Fallback,
    GraphAsTask,
    Map,
    MemoryOutputRepository,
    PortError,
    Task,
    TaskGraph,
    TaskGraphRunner,
    TaskStatus,
    While,
    registry,
)
from taskloom.codegen import from_code, to_code
from taskloom.errors import StreamClosedError
from taskloom.streams import StreamingText, TextStream

WORDS = ["Once ", "upon ", "a ", "time"]
#: Released by a consumer once it has read the first delta; the producer waits for it.
GATES: dict[str, asyncio.Event] = {}
#: Body runs, by task type: caching and resume must keep these down.
RUNS: list[str] = []


class StrmWords(Task):
    """Streams its words one delta each, then returns them joined."""

    class Input(BaseModel):
        words: list[str]
        gate: str | None = None
        fail_after: int | None = None

    class Output(BaseModel):
        text: StreamingText

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        RUNS.append("StrmWords")
        for i, word in enumerate(input.words):
            if input.fail_after is not None and i == input.fail_after:
                raise RuntimeError("the model fell over")
            ctx.stream("text", word)
            if i == 0 and input.gate:
                # Finishing needs the consumer to have read the first delta: a consumer
                # that only started after this task ended would deadlock here.
                await asyncio.wait_for(GATES[input.gate].wait(), 30)
            await asyncio.sleep(0)
        return {"text": "".join(input.words)}


class StrmUpper(Task):
    """Reads a stream as it arrives: uppercases each delta."""

    class Input(BaseModel):
        text: TextStream
        gate: str | None = None

    class Output(BaseModel):
        text: str
        deltas: list[str]

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        RUNS.append("StrmUpper")
        seen = []
        async for delta in input.text:
            ctx.progress(0.5, f"read {delta!r}")
            seen.append(delta)
            if input.gate:
                GATES[input.gate].set()
        return {"text": "".join(seen).upper(), "deltas": seen}


class StrmLength(Task):
    """Takes plain text: gets the whole of it."""

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        length: int
        text: str

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        return {"length": len(input.text), "text": input.text}


class StrmWrongPort(Task):
    class Output(BaseModel):
        text: StreamingText
        plain: str

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        ctx.stream("plain", "nope")
        return {"text": "", "plain": ""}


class StrmSpell(Task):
    """Streams its word a letter at a time."""

    class Input(BaseModel):
        word: str

    class Output(BaseModel):
        text: StreamingText

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        for letter in input.word:
            ctx.stream("text", letter)
            await asyncio.sleep(0)  # let the other items interleave
        return {"text": input.word}


class StrmCount(Task):
    """One step of a loop: streams the number it counts, and counts one up."""

    class Input(BaseModel):
        n: int

    class Output(BaseModel):
        n: int
        said: StreamingText

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        ctx.stream("said", f"{input.n}")
        ctx.stream("said", "!")
        return {"n": input.n + 1, "said": f"{input.n}!"}


class StrmBroken(Task):
    """Streams a little, then fails."""

    class Input(BaseModel):
        word: str

    class Output(BaseModel):
        text: StreamingText

    async def run(self, input: Any, ctx: Any) -> dict[str, Any]:
        ctx.stream("text", "half")
        raise RuntimeError("gave up")


@pytest.fixture(autouse=True)
def _fresh():
    GATES.clear()
    RUNS.clear()
    yield


def chain(*, gate: str | None = None, **producer: Any) -> TaskGraph:
    graph = TaskGraph()
    graph.add_task(StrmWords("gen", {"words": WORDS, "gate": gate, **producer}))
    graph.add_task(StrmUpper("upper", {"gate": gate}))
    graph.add_task(StrmLength("length"))
    graph.connect("gen", "text", "upper", "text")
    graph.connect("gen", "text", "length", "text")
    return graph


async def run(graph: TaskGraph, **options: Any) -> tuple[Any, list[Any]]:
    runner = TaskGraphRunner(graph, **options)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    return await runner.run(), events


def streamed(events: list[Any], task_id: str) -> list[dict[str, Any]]:
    return [e.to_dict() for e in events
            if e.kind is EventKind.TASK_STREAM and e.task_id == task_id]


def position(events: list[Any], kind: EventKind, task_id: str) -> int:
    return next(i for i, e in enumerate(events) if e.kind is kind and e.task_id == task_id)


async def test_deltas_arrive_in_order_and_join_to_the_output():
    result, events = await run(chain())
    deltas = streamed(events, "gen")
    assert [d["index"] for d in deltas] == list(range(len(WORDS)))
    assert [d["delta"] for d in deltas] == WORDS
    assert "".join(d["delta"] for d in deltas) == result["gen"]["text"] == "".join(WORDS)
    first = deltas[0]
    assert {k: first[k] for k in ("kind", "task_id", "port", "delta", "index")} == {
        "kind": "task_stream", "task_id": "gen", "port": "text", "delta": "Once ", "index": 0}
    # Every delta goes out while its task runs, before it completes.
    complete = position(events, EventKind.TASK_COMPLETE, "gen")
    assert all(i < complete for i, e in enumerate(events) if e.kind is EventKind.TASK_STREAM)


async def test_a_streaming_consumer_starts_before_its_producer_finishes():
    GATES["g"] = asyncio.Event()
    result, events = await run(chain(gate="g"))
    assert result["upper"] == {"text": "".join(WORDS).upper(), "deltas": WORDS}
    started = position(events, EventKind.TASK_START, "upper")
    first_read = next(i for i, e in enumerate(events) if e.kind is EventKind.TASK_PROGRESS
                      and e.task_id == "upper")
    second_delta = next(i for i, e in enumerate(events) if e.kind is EventKind.TASK_STREAM
                        and e.details["index"] == 1)
    done = position(events, EventKind.TASK_COMPLETE, "gen")
    # The consumer started and read the first delta while the producer still ran.
    assert started < first_read < second_delta < done


async def test_a_consumer_that_does_not_stream_gets_the_whole_text_after_the_producer():
    result, events = await run(chain())
    assert result["length"] == {"length": len("".join(WORDS)), "text": "".join(WORDS)}
    assert position(events, EventKind.TASK_COMPLETE, "gen") < \
        position(events, EventKind.TASK_START, "length")


async def test_a_stream_input_given_plain_text_is_a_finished_stream():
    graph = TaskGraph()
    graph.add_task(StrmUpper("upper", {"text": "whole"}))
    result, _ = await run(graph)
    assert result["upper"] == {"text": "WHOLE", "deltas": ["whole"]}
    assert graph.get_task("upper").defaults == {"text": "whole"}  # graph JSON keeps a string


async def test_a_cached_run_does_not_restream_and_consumers_get_the_text():
    cache = MemoryOutputRepository()
    await run(chain(), output_repository=cache)
    RUNS.clear()
    result, events = await run(chain(), output_repository=cache)
    assert streamed(events, "gen") == []
    assert result["upper"]["text"] == "".join(WORDS).upper()
    assert result["length"]["text"] == "".join(WORDS)
    assert "StrmWords" not in RUNS
    assert "gen" in result.cache_hits


async def test_a_reader_of_a_live_stream_is_cached_under_the_whole_text():
    cache = MemoryOutputRepository()
    GATES["g"] = asyncio.Event()
    await run(chain(gate="g"), output_repository=cache)  # upper read the stream live
    RUNS.clear()
    graph = TaskGraph()
    graph.add_task(StrmUpper("upper", {"text": "".join(WORDS), "gate": "g"}))
    result, _ = await run(graph, output_repository=cache)
    assert "upper" in result.cache_hits and RUNS == []
    assert result["upper"]["deltas"] == WORDS  # what the live run read


async def test_a_resumed_run_holds_the_accumulated_text_and_does_not_restream():
    graph = chain()
    runner = TaskGraphRunner(graph)
    events: list[Any] = []
    runner.events.subscribe(events.append)
    result = await runner.run(outputs={"gen": {"text": "".join(WORDS)}})
    assert streamed(events, "gen") == []
    assert result["upper"]["deltas"] == ["".join(WORDS)]
    assert result["length"]["text"] == "".join(WORDS)


async def test_a_producer_failing_mid_stream_fails_its_streaming_reader():
    result, events = await run(chain(fail_after=2), continue_on_error=True)
    assert result.statuses["gen"] is TaskStatus.FAILED
    assert result.statuses["length"] is TaskStatus.SKIPPED  # never started: skipped
    # The reader had started and read two deltas; then its stream broke off.
    assert result.statuses["upper"] is TaskStatus.FAILED
    error = result.errors["upper"]
    assert isinstance(error, StreamClosedError) and error.task_id == "upper"
    assert "gen.text ended early" in str(error) and "fell over" in str(error)
    assert [d["delta"] for d in streamed(events, "gen")] == WORDS[:2]


async def test_streaming_to_a_port_that_does_not_stream_fails_clearly():
    graph = TaskGraph()
    graph.add_task(StrmWrongPort("wrong"))
    with pytest.raises(PortError, match="'plain', which is not a streaming output port"):
        await run(graph)


def test_describe_says_which_ports_stream():
    described = {d["name"]: d for d in registry.describe()}
    assert described["StrmWords"]["stream_ports"] == {"inputs": [], "outputs": ["text"]}
    assert described["StrmUpper"]["stream_ports"] == {"inputs": ["text"], "outputs": []}
    assert described["StrmUpper"]["input_schema"]["properties"]["text"]["stream"] is True
    assert described["StrmLength"]["stream_ports"] == {"inputs": [], "outputs": []}
    for name in ("TextGeneration", "TextRewriter", "TextSummary"):
        assert described[name]["stream_ports"]["outputs"] == ["text"]


def test_a_streaming_graph_round_trips_through_json_and_code():
    graph = chain()
    assert TaskGraph.from_json(graph.to_json()) == graph
    assert from_code(to_code(graph)) == graph
    assert "stream" not in graph.to_json_string()  # nothing new in graph JSON


def test_text_stream_validates_and_serialises_as_text():
    model = StrmUpper.Input(text="abc")
    assert isinstance(model.text, TextStream) and model.text == "abc"
    assert model.model_dump(mode="json")["text"] == "abc"
    with pytest.raises(ValueError):
        StrmUpper.Input(text=3)


# -- expanded tasks and inner runs ------------------------------------------------------


def by_stream(deltas: list[dict[str, Any]], *keys: str) -> dict[tuple, list[dict[str, Any]]]:
    """The deltas grouped by the details that name their stream."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for d in deltas:
        out.setdefault(tuple(d.get(k) for k in keys), []).append(d)
    return out


async def test_each_item_of_an_expanded_task_streams_in_its_own_order():
    graph = TaskGraph([StrmSpell("spell", {"word": ["ab", "cde", "f"]})])
    result, events = await run(graph)
    deltas = streamed(events, "spell")
    items = by_stream(deltas, "port", "item")
    assert sorted(items) == [("text", 0), ("text", 1), ("text", 2)]
    for (_, item), mine in items.items():
        assert [d["index"] for d in mine] == list(range(len(mine)))
        assert "".join(d["delta"] for d in mine) == result["spell"]["text"][item]
    # The items ran at once: their deltas interleave, each stream still in order.
    assert [d["item"] for d in deltas[:2]] == [0, 1]
    assert result["spell"]["text"] == ["ab", "cde", "f"]


async def test_a_graph_as_task_streams_its_inner_tasks_naming_them():
    body = TaskGraph([StrmSpell("first"), StrmSpell("second")])
    body.connect("first", "text", "second", "word")
    graph = TaskGraph([GraphAsTask(body, "inner", {"word": "hey"})])
    result, events = await run(graph)
    deltas = streamed(events, "inner")
    # Not a port of its own ("first" feeds "second"): named by its inner task.
    assert [(d["inner"], d["port"], d["delta"], d["index"]) for d in deltas
            if "inner" in d] == [("first", "text", c, i) for i, c in enumerate("hey")]
    # The sink's stream is the GraphAsTask's own output "text".
    own = [d for d in deltas if "inner" not in d]
    assert [(d["port"], d["delta"], d["index"]) for d in own] == \
        [("text", c, i) for i, c in enumerate("hey")]
    assert result["inner"]["text"] == "hey"
    complete = position(events, EventKind.TASK_COMPLETE, "inner")
    assert all(i < complete for i, e in enumerate(events) if e.kind is EventKind.TASK_STREAM)
    assert {e.task_id for e in events if e.kind is EventKind.TASK_STREAM} == {"inner"}


async def test_a_reader_gets_a_graph_as_tasks_stream_live():
    GATES["g"] = asyncio.Event()
    body = TaskGraph([StrmWords("gen", {"words": WORDS, "gate": "g"})])
    graph = TaskGraph([GraphAsTask(body, "inner"), StrmUpper("upper", {"gate": "g"})])
    graph.connect("inner", "text", "upper", "text")
    # The inner producer waits until the outer reader has read its first delta: this
    # completes only if the delta crossed out of the inner run while it ran.
    result, events = await run(graph)
    assert result["upper"] == {"text": "".join(WORDS).upper(), "deltas": WORDS}
    assert position(events, EventKind.TASK_START, "upper") < \
        position(events, EventKind.TASK_COMPLETE, "inner")


async def test_map_items_stream_their_own_text_tagged_with_the_item():
    inner = TaskGraph([StrmSpell("spell")])
    outer_body = TaskGraph([GraphAsTask(inner, "nest")])
    graph = TaskGraph([Map(TaskGraph([StrmSpell("spell")]), "each",
                           {"word": ["ab", "cd", "efg"], "concurrency": 3}),
                       Map(outer_body, "nested", {"word": ["xy", "z"]})])
    result, events = await run(graph)
    each = by_stream(streamed(events, "each"), "inner", "port", "item")
    assert sorted(each) == [("spell", "text", n) for n in range(3)]
    for (_, _, item), mine in each.items():
        assert [d["index"] for d in mine] == list(range(len(mine)))
        assert "".join(d["delta"] for d in mine) == result["each"]["text"][item]
    # Through a GraphAsTask in the body: the inner path names both.
    nested = by_stream(streamed(events, "nested"), "inner", "item")
    assert {k: "".join(d["delta"] for d in v) for k, v in nested.items()} == {
        ("nest", 0): "xy", ("nest", 1): "z"}


async def test_while_iterations_and_fallback_alternatives_stream_tagged():
    graph = TaskGraph([
        While(TaskGraph([StrmCount("count")]), "loop", {"n": 0, "condition": "n < 3"}),
        Fallback([TaskGraph([StrmBroken("broken")]), TaskGraph([StrmSpell("spell")])],
                 "answer", {"word": "ok"}),
    ])
    result, events = await run(graph)
    loop = by_stream(streamed(events, "loop"), "inner", "port", "iteration")
    assert {k: "".join(d["delta"] for d in v) for k, v in loop.items()} == {
        ("count", "said", 0): "0!", ("count", "said", 1): "1!", ("count", "said", 2): "2!"}
    assert all([d["index"] for d in v] == [0, 1] for v in loop.values())
    answer = by_stream(streamed(events, "answer"), "inner", "alternative")
    # The failed alternative's half text and the one that answered: two streams.
    assert {k: "".join(d["delta"] for d in v) for k, v in answer.items()} == {
        ("broken", 0): "half", ("spell", 1): "ok"}
    assert result["answer"] == {"text": "ok", "alternative": 1}
    assert result["loop"]["iterations"] == 3


async def test_an_expanded_graph_as_task_tags_both_the_item_and_the_inner_task():
    body = TaskGraph([StrmSpell("first"), StrmSpell("second")])
    body.connect("first", "text", "second", "word")
    graph = TaskGraph([GraphAsTask(body, "inner", {"word": ["ab", "c"]})])
    result, events = await run(graph)
    streams = by_stream(streamed(events, "inner"), "inner", "port", "item")
    assert {k: "".join(d["delta"] for d in v) for k, v in streams.items()} == {
        ("first", "text", 0): "ab", ("first", "text", 1): "c",
        (None, "text", 0): "ab", (None, "text", 1): "c"}
    assert all([d["index"] for d in v] == list(range(len(v))) for v in streams.values())
    assert result["inner"]["text"] == ["ab", "c"]


async def test_a_cached_body_does_not_stream_again():
    cache = MemoryOutputRepository()
    graph = TaskGraph([Map(TaskGraph([StrmSpell("spell")]), "each", {"word": ["ab"]})])
    _, first = await run(graph, output_repository=cache)
    assert streamed(first, "each")
    result, again = await run(graph, output_repository=cache)
    assert streamed(again, "each") == [] and result["each"]["text"] == ["ab"]
