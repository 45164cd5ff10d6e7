import asyncio

import pytest

from support import TAdd, TEcho, TJoin, TSleep, TUpper
from taskloom import (
    GraphAsTask,
    MemoryOutputRepository,
    RunAbortedError,
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
    assert "boom" in str(result.errors["sub"])


async def test_abort_reaches_the_inner_run():
    TSleep.finished.clear()
    outer = TaskGraph([GraphAsTask(TaskGraph([TSleep("inner", {"seconds": 5})]), id="sub")])
    runner = TaskGraphRunner(outer)
    asyncio.get_running_loop().call_later(0.05, runner.abort)
    with pytest.raises(RunAbortedError):
        await runner.run()
    await asyncio.sleep(0.01)
    assert "inner" not in TSleep.finished


async def test_cache_key_changes_with_the_subgraph():
    repo = MemoryOutputRepository()
    a = GraphAsTask(TaskGraph([TEcho("e", {"text": "x"})]), id="sub")
    b = GraphAsTask(TaskGraph([TUpper("e", {"text": "x"})]), id="sub")
    assert a.version != b.version
    r1 = await TaskGraphRunner(TaskGraph([a]), output_repository=repo).run()
    r2 = await TaskGraphRunner(TaskGraph([b]), output_repository=repo).run()
    assert r1["sub"] == {"text": "x"} and r2["sub"] == {"text": "X"}


async def test_fan_in_inside_a_subgraph():
    inner = TaskGraph([TEcho("a", {"text": "1"}), TEcho("b", {"text": "2"}), TJoin("j")])
    inner.add_dataflow(("a", "text", "j", "texts"))
    inner.add_dataflow(("b", "text", "j", "texts"))
    result = await TaskGraphRunner(TaskGraph([GraphAsTask(inner, id="s")])).run()
    assert result["s"] == {"text": "1 2"}
