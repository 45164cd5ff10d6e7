"""Building and loading a graph in bulk: the constructor, ``from_json`` and
``to_json_string`` take faster paths for big graphs, and must say and build
exactly what the one-at-a-time paths do."""

from __future__ import annotations

import copy
import gc
import json

import pytest
from pydantic import BaseModel, ConfigDict, Field

from support import TCount, TEcho, TJoin, TNorm, TUpper
from taskloom import (
    Dataflow,
    GraphAsTask,
    SerializationError,
    TaskGraph,
    TaskloomError,
)
from taskloom.ports import json_native


def one_by_one(tasks, flows):
    graph = TaskGraph()
    for task in tasks:
        graph.add_task(task)
    for flow in flows:
        graph.add_dataflow(flow)
    return graph


def refusal(build):
    with pytest.raises(TaskloomError) as info:
        build()
    return type(info.value), str(info.value), getattr(info.value, "cycle", None)


def tasks():
    return [TEcho("a"), TUpper("b"), TCount("c"), TJoin("j")]


BAD = {
    "a dangling task": [("a", "text", "b", "text"), ("b", "text", "nope", "text")],
    "no such port": [("a", "text", "b", "nope")],
    "types that do not fit": [("c", "length", "b", "text")],
    "the same dataflow twice": [("a", "text", "j", "texts"), ("a", "text", "j", "texts")],
    "a single input fed twice": [("a", "text", "b", "text"), ("j", "text", "b", "text")],
    "a task to itself": [("b", "text", "b", "text")],
    "a cycle": [("a", "text", "b", "text"), ("b", "text", "j", "texts"),
                ("j", "text", "a", "text")],
    "a cycle after a good edge listed backwards": [
        ("b", "text", "c", "text"), ("a", "text", "b", "text"), ("b", "text", "a", "text")],
}


@pytest.mark.parametrize("flows", BAD.values(), ids=BAD.keys())
def test_the_constructor_refuses_what_adding_one_by_one_refuses_in_its_words(flows):
    bulk = refusal(lambda: TaskGraph(tasks(), [Dataflow(*f) for f in flows]))
    assert bulk == refusal(lambda: one_by_one(tasks(), [Dataflow(*f) for f in flows]))


@pytest.mark.parametrize("flows", BAD.values(), ids=BAD.keys())
def test_loading_refuses_what_adding_one_by_one_refuses_in_its_words(flows):
    doc = {"schema_version": 1,
           "tasks": [{"id": t.id, "type": t.type, "defaults": {}} for t in tasks()],
           "dataflows": [Dataflow(*f).to_json() for f in flows]}
    expected = refusal(lambda: one_by_one(tasks(), [Dataflow(*f) for f in flows]))
    assert refusal(lambda: TaskGraph.from_json(json.dumps(doc))) == expected
    assert refusal(lambda: TaskGraph.from_json(doc)) == expected


def test_a_graph_whose_dataflows_go_backwards_in_task_order_still_loads():
    graph = TaskGraph([TUpper("b"), TEcho("a"), TCount("c")])
    graph.connect("a", "text", "b", "text")
    graph.connect("b", "text", "c", "text")
    again = TaskGraph.from_json(graph.to_json_string())
    assert again == graph
    assert again.topological_order() == ["a", "b", "c"]


def test_the_constructor_builds_what_adding_one_by_one_builds():
    flows = [Dataflow("a", "text", "b", "text"), Dataflow("b", "text", "j", "texts"),
             Dataflow("a", "text", "j", "texts"), Dataflow("b", "text", "c", "text")]
    bulk, single = TaskGraph(tasks(), flows), one_by_one(tasks(), flows)
    assert bulk == single
    assert bulk.dataflows == single.dataflows
    assert bulk.layers() == single.layers()
    for t in bulk.task_ids():
        assert bulk.dataflows_out_of(t) == single.dataflows_out_of(t)
        assert bulk.dataflows_into(t) == single.dataflows_into(t)
        assert [bulk.connection_mode(d) for d in bulk.dataflows_into(t)] == \
            [single.connection_mode(d) for d in single.dataflows_into(t)]
    # The networkx graph it writes directly is the one add_dataflow builds, in order too.
    for graph in (bulk, single):
        graph.remove_dataflow(Dataflow("b", "text", "c", "text"))
        graph.connect("a", "text", "c", "text")
    assert {t: list(s) for t, s in bulk.successor_map().items()} == \
        {t: list(s) for t, s in single.successor_map().items()}
    assert bulk.predecessor_counts() == single.predecessor_counts()
    assert (bulk.sources(), bulk.sinks()) == (single.sources(), single.sinks())
    for t in bulk.task_ids():
        assert bulk.upstream(t, transitive=True) == single.upstream(t, transitive=True)
        assert bulk.downstream(t, transitive=True) == single.downstream(t, transitive=True)


def rich_graph() -> TaskGraph:
    graph = TaskGraph(metadata={"ui": {"zoom": 1.5, "é": [1, None, True]}})
    graph.add_task(TEcho("a", {"text": "héllo \u2603"}, metadata={"ui": {"x": 1}}))
    graph.add_task(TUpper("b", title="Up", timeout=3.0))
    graph.add_task(TCount("ü"))
    graph.add_task(TNorm("n", {"values": [3.0, 4.0]}))
    graph.connect("a", "text", "b", "text")
    graph.connect("b", "text", "ü", "text", transform=[{"cast": "str"}])
    body = TaskGraph([TUpper("inner")])
    graph.add_task(GraphAsTask(body, id="g"))
    return graph


@pytest.mark.parametrize("indent", [None, 0, 2, 4, "\t", "%s"])
def test_json_text_is_json_dumps_of_to_json(indent):
    for graph in (rich_graph(), TaskGraph(), TaskGraph([TEcho("only")])):
        text = graph.to_json_string(indent)
        assert text == json.dumps(graph.to_json(), indent=indent, allow_nan=False)
        if indent != "%s":  # (json.dumps writes that text too, but it is not JSON)
            assert TaskGraph.from_json(text) == graph


def test_json_text_refuses_nan_as_to_json_does():
    graph = TaskGraph([TNorm("n", {"values": [float("nan")]})])
    with pytest.raises(SerializationError, match="NaN"):
        graph.to_json_string()
    with pytest.raises(SerializationError, match="NaN"):
        graph.to_json()


def test_loading_a_dict_leaves_it_as_it_was_and_shares_nothing_with_it():
    doc = rich_graph().to_json()
    before = copy.deepcopy(doc)
    graph = TaskGraph.from_json(doc)
    assert doc == before
    doc["tasks"][0]["metadata"]["ui"]["x"] = 99
    doc["metadata"]["ui"]["zoom"] = 7
    assert graph.get_task("a").metadata == {"ui": {"x": 1}}
    assert graph.metadata["ui"]["zoom"] == 1.5


def test_a_loaded_graph_keeps_one_string_per_task_id():
    graph = TaskGraph.from_json(json.dumps({
        "schema_version": 1,
        "tasks": [{"id": "first", "type": "TEcho"}, {"id": "second", "type": "TUpper"}],
        "dataflows": [{"source_task_id": "first", "source_port": "text",
                       "target_task_id": "second", "target_port": "text"}]}))
    (flow,) = graph.dataflows
    assert flow.source_task_id is graph.get_task("first").id
    assert flow.target_task_id is graph.get_task("second").id


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_leaves_the_garbage_collector_as_it_found_it(enabled):
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        TaskGraph.from_json(rich_graph().to_json_string())
        TaskGraph(tasks(), [Dataflow("a", "text", "b", "text")])
        with pytest.raises(TaskloomError):
            TaskGraph(tasks(), [Dataflow("a", "text", "nope", "text")])
        assert gc.isenabled() is enabled
    finally:
        gc.enable() if was else gc.disable()


def test_a_tasks_metadata_and_defaults_are_its_own():
    a, b = TEcho("a"), TEcho("b")
    a.metadata["ui"] = {"x": 3}
    a.defaults["text"] = "mine"
    assert b.metadata == {} and b.defaults == {}
    assert a.to_json() == {"id": "a", "type": "TEcho", "defaults": {"text": "mine"},
                           "metadata": {"ui": {"x": 3}}}
    b.metadata = {"ui": {"y": 1}}
    assert b.to_json()["metadata"] == {"ui": {"y": 1}}
    assert TaskGraph([a, b]).to_json_string(None) == json.dumps(TaskGraph([a, b]).to_json())


class Plain(BaseModel):
    s: str
    i: int
    f: float
    b: bool
    o: str | None = None
    xs: list[float] = []


class Nested(BaseModel):
    inner: Plain


class Loose(BaseModel):
    value: dict


@pytest.mark.parametrize("model, native", [(Plain, True), (Nested, False), (Loose, False),
                                           (TEcho.Output, True), (TCount.Output, True)])
def test_json_native_models_dump_as_their_dict(model, native):
    assert json_native(model) is native


@pytest.mark.parametrize("raw", [
    {"s": "x", "i": 1, "f": 1.5, "b": True},
    {"s": "x", "i": "3", "f": 2, "b": "yes", "o": "y", "xs": [1, "2.5"]},
    {"s": "x", "i": True, "f": "1e3", "b": 0, "xs": []},
])
def test_a_json_native_instance_dict_is_its_json_dump(raw):
    checked = Plain.model_validate(raw)
    assert dict(checked.__dict__) == Plain.__pydantic_serializer__.to_python(checked,
                                                                             mode="json")


class IntDefault(BaseModel):
    x: float = 1  # pydantic leaves a default unvalidated: the int 1, dumped as 1.0
    xs: list[float] = Field(default_factory=lambda: [2])


class ValidatedIntDefault(IntDefault):
    model_config = ConfigDict(validate_default=True)


@pytest.mark.parametrize("model, native", [(IntDefault, False), (ValidatedIntDefault, True),
                                           (Plain, True)])
def test_json_native_reads_defaults_as_pydantic_leaves_them(model, native):
    """Its verdict is the truth for an instance made of defaults: the dict's JSON text is
    the dump's exactly when it says so (1 == 1.0, but "1" is not "1.0")."""
    from taskloom.cache import canonical_json

    assert json_native(model) is native
    checked = model.model_validate({"s": "x", "i": 1, "f": 2.0, "b": True}
                                   if model is Plain else {})
    dumped = model.__pydantic_serializer__.to_python(checked, mode="json")
    assert (canonical_json(dict(checked.__dict__)) == canonical_json(dumped)) is native
