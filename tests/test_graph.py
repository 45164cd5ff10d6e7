import itertools
import json
import math

import pytest

from support import TAdd, TCount, TEcho, TJoin, TUpper
from taskloom import (
    CycleError,
    Dataflow,
    DataflowError,
    DuplicateTaskError,
    PortError,
    PortTypeError,
    SchemaVersionError,
    SerializationError,
    TaskGraph,
    TaskNotFoundError,
    UnknownTaskTypeError,
)


def chain(*tasks):
    g = TaskGraph(tasks)
    for a, b in itertools.pairwise(tasks):
        g.add_dataflow(Dataflow(a.id, "text", b.id, "text"))
    return g


def test_queries():
    a, b, c = TEcho("a"), TUpper("b"), TCount("c")
    g = chain(a, b)
    g.add_task(c)
    g.add_dataflow(("b", "text", "c", "text"))
    assert g.task_ids() == ["a", "b", "c"]
    assert g.dataflows_into("b") == [Dataflow("a", "text", "b", "text")]
    assert g.dataflows_out_of("b") == [Dataflow("b", "text", "c", "text")]
    assert g.upstream("c") == ["b"]
    assert g.upstream("c", transitive=True) == ["a", "b"]
    assert g.downstream("a", transitive=True) == ["b", "c"]
    assert g.sources() == ["a"] and g.sinks() == ["c"]
    assert g.topological_order() == ["a", "b", "c"]
    assert g.layers() == [["a"], ["b"], ["c"]]


def test_layers_group_independent_tasks():
    g = TaskGraph([TEcho("a"), TEcho("b"), TJoin("j")])
    g.add_dataflow(("a", "text", "j", "texts"))
    g.add_dataflow(("b", "text", "j", "texts"))
    assert g.layers() == [["a", "b"], ["j"]]


def test_remove_task_drops_its_dataflows():
    g = chain(TEcho("a"), TUpper("b"), TUpper("c"))
    g.remove_task("b")
    assert g.task_ids() == ["a", "c"] and g.dataflows == []
    with pytest.raises(TaskNotFoundError):
        g.remove_task("b")


def test_remove_dataflow():
    g = chain(TEcho("a"), TUpper("b"))
    g.remove_dataflow(("a", "text", "b", "text"))
    assert g.dataflows == []
    with pytest.raises(DataflowError):
        g.remove_dataflow(("a", "text", "b", "text"))


def unchanged(g: TaskGraph):
    """Snapshot to compare before/after a refused change."""
    return json.dumps(g.to_json(), sort_keys=True)


@pytest.mark.parametrize("dataflow, error, words", [
    (("b", "text", "a", "text"), CycleError, "cycle"),
    (("a", "text", "a", "text"), CycleError, "itself"),
    (("a", "text", "ghost", "text"), TaskNotFoundError, "dangling"),
    (("a", "nope", "b", "text"), PortError, "no output port 'nope'"),
    (("a", "text", "b", "nope"), PortError, "no input port 'nope'"),
    (("a", "text", "b", "text"), DataflowError, "already"),
])
def test_refused_dataflows_leave_the_graph_unchanged(dataflow, error, words):
    g = chain(TEcho("a"), TUpper("b"))
    before = unchanged(g)
    with pytest.raises(error, match=words):
        g.add_dataflow(dataflow)
    assert unchanged(g) == before


def test_longer_cycle_is_named():
    g = chain(TEcho("a"), TUpper("b"), TUpper("c"))
    with pytest.raises(CycleError) as info:
        g.add_dataflow(("c", "text", "a", "text"))
    assert str(info.value) == "dataflow c[text]->a[text] would close a cycle: a -> b -> c -> a"
    assert info.value.cycle == ["a", "b", "c"]


def test_second_edge_into_single_valued_input():
    g = TaskGraph([TEcho("a"), TEcho("b"), TUpper("c")])
    g.add_dataflow(("a", "text", "c", "text"))
    before = unchanged(g)
    with pytest.raises(DataflowError, match="takes one value"):
        g.add_dataflow(("b", "text", "c", "text"))
    assert unchanged(g) == before


def test_type_mismatch():
    g = TaskGraph([TCount("n"), TEcho("e")])
    with pytest.raises(PortTypeError, match="integer"):
        g.add_dataflow(("n", "length", "e", "text"))
    assert g.dataflows == []


def test_int_feeds_float_but_not_the_reverse():
    from support import TNorm

    g = TaskGraph([TCount("n"), TAdd("add"), TNorm("norm")])
    g.add_dataflow(("n", "length", "add", "a"))  # integer -> integer
    with pytest.raises(PortTypeError):
        g.add_dataflow(("norm", "norm", "add", "b"))  # number -> integer


def test_duplicate_task_id():
    g = TaskGraph([TEcho("a")])
    with pytest.raises(DuplicateTaskError):
        g.add_task(TUpper("a"))
    with pytest.raises(DuplicateTaskError):
        g.add_tasks([TUpper("x"), TUpper("x")])
    assert g.task_ids() == ["a"]


def test_json_round_trip():
    g = chain(TEcho("a", {"text": "hi"}), TUpper("b", title="Shout", timeout=3))
    doc = g.to_json()
    assert doc["schema_version"] == 1
    again = TaskGraph.from_json(json.dumps(doc))
    assert again.to_json() == doc
    assert again.get_task("b").timeout == 3
    assert again.get_task("b").display_title == "Shout"


def test_dependency_json_round_trip_keeps_fan_in_order():
    g = TaskGraph([TEcho("a"), TEcho("b"), TEcho("c"), TJoin("j")])
    for src in ("c", "a", "b"):
        g.add_dataflow((src, "text", "j", "texts"))
    deps = g.to_dependency_json()
    join = deps[-1]
    assert join["dependencies"] == {"texts": [{"id": "c", "output": "text"},
                                              {"id": "a", "output": "text"},
                                              {"id": "b", "output": "text"}]}
    again = TaskGraph.from_dependency_json(json.dumps(deps))
    assert again.dataflows_into("j") == g.dataflows_into("j")


@pytest.mark.parametrize("text, error, words", [
    ("{not json", SerializationError, r"^malformed graph JSON: "),
    ("[1, 2]", SerializationError, r"^not a taskloom graph: "),
    ('{"schema_version": 99, "tasks": []}', SchemaVersionError,
     r"^graph JSON has schema_version 99; this taskloom reads version 1$"),
    ('{"tasks": []}', SerializationError, r"^not a taskloom graph: .*schema_version"),
    ('{"schema_version": 1, "tasks": [{"id": "a"}]}', SerializationError,
     r"^not a taskloom graph: .*tasks.*type"),
    ('{"schema_version": 1, "tasks": [{"id": "a", "type": "NoSuchType"}]}',
     UnknownTaskTypeError, r"^unknown task type 'NoSuchType': .*--import MODULE"),
    ('{"schema_version": 1, "tasks": [{"id": "a", "type": "TEcho", '
     '"defaults": {"text": NaN}}]}', SerializationError, r"contains NaN, which is not valid JSON"),
    ('{"schema_version": 1, "tasks": [{"id": "a", "type": "TEcho", '
     '"defaults": {"text": Infinity}}]}', SerializationError,
     r"contains Infinity, which is not valid JSON"),
])
def test_bad_json_is_refused_clearly(text, error, words):
    with pytest.raises(error, match=words):
        TaskGraph.from_json(text)


def test_cycle_only_visible_in_loaded_json():
    doc = {"schema_version": 1,
           "tasks": [{"id": "a", "type": "TUpper"}, {"id": "b", "type": "TUpper"}],
           "dataflows": [{"source_task_id": "a", "source_port": "text",
                          "target_task_id": "b", "target_port": "text"},
                         {"source_task_id": "b", "source_port": "text",
                          "target_task_id": "a", "target_port": "text"}]}
    with pytest.raises(CycleError, match=r"would close a cycle: a -> b -> a$") as info:
        TaskGraph.from_json(doc)
    assert info.value.cycle == ["a", "b"]


def test_loading_json_never_imports_what_it_names(monkeypatch):
    import sys

    doc = {"schema_version": 1, "tasks": [{"id": "a", "type": "os.system"}]}
    before = set(sys.modules)
    with pytest.raises(UnknownTaskTypeError, match=r"os\.system"):
        TaskGraph.from_json(doc)
    assert set(sys.modules) == before


def test_nan_defaults_cannot_be_written():
    from support import TNorm

    g = TaskGraph([TNorm("n", {"values": [math.nan]})])
    with pytest.raises(SerializationError, match="NaN"):
        g.to_json()


def test_bad_default_is_refused_at_construction():
    from taskloom import TaskInputError

    with pytest.raises(TaskInputError, match="'a'"):
        TAdd("x", {"a": "not a number"})
    with pytest.raises(PortError, match="no input port 'zzz'"):
        TAdd("x", {"zzz": 1})


def test_hundred_thousand_chain_builds_and_serialises():
    n = 100_000
    g = TaskGraph(TAdd(f"t{i}") for i in range(n))
    for i in range(1, n):
        g.add_dataflow((f"t{i - 1}", "a", f"t{i}", "a"))
    assert len(g.topological_order()) == n
    assert len(g.layers()) == n
    doc = g.to_json()
    assert len(TaskGraph.from_json(doc).dataflows) == n - 1
    assert len(g.to_dependency_json()) == n
