"""TaskGraph.check_dataflow answers what add_dataflow would do, without doing it."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from taskloom import GraphError, Task, TaskGraph


class CdText(Task):
    class Input(BaseModel):
        text: str = ""

    class Output(BaseModel):
        text: str
        count: int


class CdJoin(Task):
    class Input(BaseModel):
        parts: list[str]

    class Output(BaseModel):
        text: str


@pytest.fixture
def graph():
    g = TaskGraph([CdText(id="a"), CdText(id="b"), CdJoin(id="j")])
    g.connect("a", "text", "b", "text")
    return g


def test_an_edge_add_dataflow_accepts_is_ok_with_its_mode(graph):
    check = graph.check_dataflow("a", "text", "j", "parts")
    assert check.ok and bool(check)
    assert check.mode == "item"
    assert check.reason is None and check.error is None
    assert json.loads(json.dumps(check.to_json())) == {
        "ok": True, "mode": "item", "reason": None, "error": None}
    assert graph.check_dataflow("b", "text", "j", "parts").ok  # fan-in: a list input


@pytest.mark.parametrize(("edge", "error"), [
    (("a", "text", "nope", "text"), "TaskNotFoundError"),
    (("a", "missing", "b", "text"), "PortError"),
    (("a", "text", "b", "missing"), "PortError"),
    (("a", "count", "j", "parts"), "PortTypeError"),
    (("a", "text", "b", "text"), "DataflowError"),      # already in the graph
    (("b", "count", "b", "text"), "PortTypeError"),
    (("b", "text", "a", "text"), "CycleError"),
    (("a", "text", "a", "text"), "CycleError"),         # to itself
])
def test_a_refused_edge_gives_add_dataflows_own_reason(graph, edge, error):
    before = graph.to_json()
    check = graph.check_dataflow(*edge)
    assert not check.ok and not check
    assert check.error == error
    assert check.mode is None
    with pytest.raises(GraphError) as raised:
        graph.connect(*edge)
    assert type(raised.value).__name__ == error
    assert check.reason == str(raised.value)
    assert graph.to_json() == before  # neither the check nor the refusal changed it


def test_a_second_edge_into_a_single_valued_input_is_refused(graph):
    graph.add_task(CdText(id="c"))
    check = graph.check_dataflow("c", "text", "b", "text")
    assert check.error == "DataflowError"
    assert "takes one value and is already fed" in check.reason


def test_checking_does_not_add(graph):
    assert graph.check_dataflow("a", "text", "j", "parts").ok
    assert [d.target_task_id for d in graph.dataflows] == ["b"]
