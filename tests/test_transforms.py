"""Edge transforms (transforms.py): a dataflow picks a field, indexes a list or casts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from taskloom import (
    DataflowError,
    Task,
    TaskGraph,
    TaskGraphRunner,
    TransformError,
    Workflow,
)
from taskloom.codegen import from_code, to_code
from taskloom.transforms import apply_transform, check_transform


class TfRecord(Task):
    class Input(BaseModel):
        record: dict[str, Any] = {"user": {"name": "ada", "tags": ["x", "y"]},
                                  "count": "41", "ok": "yes", "doc": "{\"a\": [1, 2]}"}

    class Output(BaseModel):
        record: dict[str, Any]

    async def run(self, input, ctx):
        return {"record": input.record}


class TfText(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": input.text}


class TfNumber(Task):
    class Input(BaseModel):
        n: int

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        return {"n": input.n + 1}


class TfAny(Task):
    class Input(BaseModel):
        value: Any = None
        values: list[Any] = []

    class Output(BaseModel):
        value: Any = None
        values: list[Any] = []

    async def run(self, input, ctx):
        return {"value": input.value, "values": input.values}


def graph_with(target: Task, port: str, transform: list[dict[str, Any]]) -> TaskGraph:
    graph = TaskGraph([TfRecord("src"), target])
    graph.connect("src", "record", target.id, port, transform=transform)
    return graph


@pytest.mark.parametrize(("target", "port", "transform", "expected"), [
    (TfText("t"), "text", [{"field": "user"}, {"field": "name"}], {"text": "ada"}),
    (TfText("t"), "text", [{"field": "user"}, {"field": "tags"}, {"index": -1}],
     {"text": "y"}),
    (TfNumber("t"), "n", [{"field": "count"}, {"cast": "int"}], {"n": 42}),
    (TfAny("t"), "value", [{"field": "count"}, {"cast": "float"}],
     {"value": 41.0, "values": []}),
    (TfAny("t"), "value", [{"field": "ok"}, {"cast": "bool"}], {"value": True, "values": []}),
    (TfAny("t"), "value", [{"field": "doc"}, {"cast": "json"}, {"field": "a"}],
     {"value": [1, 2], "values": []}),
    (TfText("t"), "text", [{"field": "user"}, {"cast": "str"}],
     {"text": '{"name": "ada", "tags": ["x", "y"]}'}),
    (TfAny("t"), "values", [{"field": "user"}, {"field": "name"}],  # one item of a list input
     {"value": None, "values": ["ada"]}),
])
async def test_transforms_change_the_value_on_the_way(target, port, transform, expected):
    graph = graph_with(target, port, transform)
    result = await TaskGraphRunner(graph).run()
    assert result.outputs["t"] == expected
    assert graph.transform_of(graph.dataflows[0]) == tuple(transform)
    # JSON, dependency JSON and code carry the transform.
    doc = graph.to_json()
    assert doc["dataflows"][0]["transform"] == transform
    assert TaskGraph.from_json(doc) == graph
    assert TaskGraph.from_dependency_json(graph.to_dependency_json()) == graph
    code = to_code(graph)
    assert "transform=" in code
    assert from_code(code) == graph, code


def test_the_same_edge_with_another_transform_is_another_graph():
    a = graph_with(TfText("t"), "text", [{"field": "count"}])
    b = graph_with(TfText("t"), "text", [{"field": "ok"}])
    assert a != b


@pytest.mark.parametrize(("transform", "message"), [
    ({"field": "a"}, "must be a list of steps"),
    ([{"field": ""}], "step 0 picks field ''"),
    ([{"index": "0"}], "step 0 indexes with '0'"),
    ([{"index": True}], "indexes with True"),
    ([{"field": "a"}, {"cast": "date"}], "step 1 casts to 'date'; the casts are str, int"),
    ([{"upper": True}], "unknown operation 'upper'"),
    ([{"field": "a", "index": 0}], "step 0 must be one of"),
    (["a"], "step 0 must be one of"),
])
def test_a_bad_transform_is_refused_when_the_graph_loads(transform, message):
    graph = TaskGraph([TfRecord("src"), TfText("t")])
    with pytest.raises(DataflowError, match=message):
        graph.connect("src", "record", "t", "text", transform=transform)
    assert graph.dataflows == []  # nothing was added
    check = graph.check_dataflow("src", "record", "t", "text", transform=transform)
    assert not check.ok and message.split(" ")[0] in check.reason
    doc = graph.to_json()
    doc["dataflows"] = [{"source_task_id": "src", "source_port": "record",
                         "target_task_id": "t", "target_port": "text", "transform": transform}]
    with pytest.raises(DataflowError, match=message):
        TaskGraph.from_json(doc)


@pytest.mark.parametrize(("transform", "message"), [
    ([{"field": "missing"}], "picks field 'missing' of a dict without it"),
    ([{"field": "user"}, {"field": "tags"}, {"index": 5}], "takes item 5 of a list of 2"),
    ([{"field": "count"}, {"field": "x"}], "picks field 'x' of a str"),
])
async def test_a_transform_that_does_not_fit_the_value_fails_the_target_naming_the_edge(
        transform, message):
    graph = graph_with(TfText("t"), "text", transform)
    with pytest.raises(TransformError, match=message) as caught:
        await TaskGraphRunner(graph).run()
    assert "dataflow src[record]->t[text]" in str(caught.value)
    assert caught.value.task_id == "t"


@pytest.mark.parametrize(("value", "to", "message"), [
    ("4.5", "int", "cannot cast '4.5' to int"),
    (4.5, "int", "not a whole number"),
    ("maybe", "bool", "not true/false"),
    ([1], "float", "a list is not a number"),
    ("nan", "float", "not a finite number"),
    ("{", "json", "cannot cast '{' to json"),
])
def test_casts_refuse_what_does_not_convert(value, to, message):
    with pytest.raises(TransformError, match=message):
        apply_transform(value, check_transform([{"cast": to}], "here"), "here")


def test_casts_that_convert():
    def cast(value, to):
        return apply_transform(value, ({"cast": to},), "here")

    assert cast(3, "str") == "3" and cast(True, "str") == "true" and cast(None, "str") == "null"
    assert cast(" 12 ", "int") == 12 and cast(3.0, "int") == 3 and cast("2.5", "float") == 2.5
    assert cast("No", "bool") is False and cast(0, "bool") is False
    assert cast({"a": 1}, "json") == '{"a": 1}' and cast("[1]", "json") == [1]


def test_workflow_rename_and_connect_take_a_transform():
    wf = Workflow()
    wf.add_task(TfRecord, id="src").rename("record", "text", transform=[{"field": "ok"}])
    wf.add_task(TfText, id="t").connect("src", "record", "n", transform=[
        {"field": "count"}, {"cast": "int"}]).add_task(TfNumber, id="n")
    steps = {d.target_task_id: wf.graph.transform_of(d) for d in wf.graph.dataflows}
    assert steps == {"t": ({"field": "ok"},), "n": ({"field": "count"}, {"cast": "int"})}
