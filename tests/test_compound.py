import asyncio

import pytest

from support import TAdd, TEcho, TGate, TJoin, TUpper
from taskloom import (
    GraphAsTask,
    MemoryOutputRepository,
    RunAbortedError,
    TaskFailedError,
    TaskGraph,
    TaskGraphRunner,
    TaskStatus,
    Workflow,
)


def inner_graph():
    g = TaskGraph([TUpper("up"), TAdd("add", {"b": 1})])
    return g


def test_ports_derive_from_open_ports():
    inner = TaskGraph([TEcho("e"), TUpper("u")])
    inner.add_dataflow(("e", "text", "u", "text"))
    task = GraphAsTask(inner, id="sub")
    assert task.input_ports.names() == ["text"]          # only e.text is open
    assert task.output_ports.names() == ["text"]         # the leaf u's output
    assert task.input_ports.by_name["text"].required


def test_clashing_open_ports_are_prefixed_with_the_task_id():
    inner = TaskGraph([TEcho("a"), TEcho("b")])
    task = GraphAsTask(inner, id="sub")
    assert task.input_ports.names() == ["a__text", "b__text"]
    assert task.output_ports.names() == ["a__text", "b__text"]


def test_inner_defaults_make_outer_ports_optional():
    task = GraphAsTask(inner_graph(), id="sub")
    assert not task.input_ports.by_name["b"].required
    assert task.input_ports.by_name["a"].required


async def test_runs_as_one_task_in_an_outer_graph():
    inner = TaskGraph([TEcho("e"), TUpper("u")])
    inner.add_dataflow(("e", "text", "u", "text"))
    wf = Workflow().t_echo(id="start", text="hi").add_task(GraphAsTask(inner, id="sub"))
    wf.t_join(id="j", texts=["x"])  # explicit: not connected
    result = await Workflow(wf.graph).run()
    assert result["sub"] == {"text": "HI"}
    progress = []
    wf.on("task_progress", lambda e: progress.append((e.task_id, e.progress)))
    await wf.run()
    assert ("sub", 1.0) in progress


async def test_json_round_trip_and_run():
    inner = TaskGraph([TEcho("e"), TUpper("u")])
    inner.add_dataflow(("e", "text", "u", "text"))
    outer = TaskGraph([GraphAsTask(inner, id="sub", defaults={"text": "abc"})])
    doc = outer.to_json()
    assert doc["tasks"][0]["subgraph"]["tasks"][0]["id"] == "e"
    again = TaskGraph.from_json(doc)
    assert again.to_json() == doc
    assert (await TaskGraphRunner(again).run())["sub"] == {"text": "ABC"}


async def test_inner_failure_fails_the_outer_task():
    from support import TFail

    outer = TaskGraph([GraphAsTask(TaskGraph([TFail("f")]), id="sub")])
    result = await TaskGraphRunner(outer, continue_on_error=True).run()
    assert result.statuses["sub"] is TaskStatus.FAILED
    error = result.errors["sub"]
    assert isinstance(error, TaskFailedError)
    assert str(error) == "task 'f' (TFail) failed: RuntimeError: boom"  # names the inner task


async def test_abort_reaches_the_inner_run(gates):
    outer = TaskGraph([GraphAsTask(TaskGraph([TGate("inner")]), id="sub")])
    runner = TaskGraphRunner(outer)

    async def abort_once_inner_runs():
        await gates.wait_started("inner")
        runner.abort("stop")

    aborter = asyncio.create_task(abort_once_inner_runs())
    with pytest.raises(RunAbortedError, match="stop") as info:
        await asyncio.wait_for(runner.run(), 60)  # a bound for a hang, not a speed check
    await aborter
    assert info.value.result.statuses["sub"] is TaskStatus.ABORTED
    # The outer run ends only after the inner one has: the abort reached "inner".
    assert gates.cancelled == ["inner"] and gates.finished == []


async def test_cache_key_changes_with_the_subgraph():
    repo = MemoryOutputRepository()
    a = GraphAsTask(TaskGraph([TEcho("e", {"text": "x"})]), id="sub")
    b = GraphAsTask(TaskGraph([TUpper("e", {"text": "x"})]), id="sub")
    assert a.version != b.version
    r1 = await TaskGraphRunner(TaskGraph([a]), output_repository=repo).run()
    r2 = await TaskGraphRunner(TaskGraph([b]), output_repository=repo).run()
    assert r1["sub"] == {"text": "x"} and r2["sub"] == {"text": "X"}


def test_cache_key_ignores_inner_metadata_and_build_order():
    def build(order, x):
        tasks = {"e": TEcho("e", {"text": "x"}, metadata={"ui": {"x": x}}),
                 "u": TUpper("u")}
        inner = TaskGraph([tasks[i] for i in order])
        inner.add_dataflow(("e", "text", "u", "text"))
        return GraphAsTask(inner, id="sub")

    moved = build(["e", "u"], 10).version
    assert moved == build(["e", "u"], 400).version          # a canvas moved a node
    assert moved == build(["u", "e"], 10).version           # built in another order
    changed = GraphAsTask(TaskGraph([TEcho("e", {"text": "y"})]), id="sub")
    assert changed.version != GraphAsTask(TaskGraph([TEcho("e", {"text": "x"})]),
                                          id="sub").version


def test_a_clashing_port_that_would_start_with_underscore_is_refused_clearly():
    from taskloom import GraphError

    with pytest.raises(GraphError) as info:
        GraphAsTask(TaskGraph([TEcho("_a"), TEcho("b")]), id="sub")
    assert str(info.value) == (
        "inner task '_a' shares port 'text' with another inner task, so the GraphAsTask "
        "port would be '_a__text'; a port name cannot start with '_': rename task '_a'")


async def test_fan_in_inside_a_subgraph():
    inner = TaskGraph([TEcho("a", {"text": "1"}), TEcho("b", {"text": "2"}), TJoin("j")])
    inner.add_dataflow(("a", "text", "j", "texts"))
    inner.add_dataflow(("b", "text", "j", "texts"))
    result = await TaskGraphRunner(TaskGraph([GraphAsTask(inner, id="s")])).run()
    assert result["s"] == {"text": "1 2"}
