"""Graph traversals, loading and event sending, held to what they must not change.

Layers, topological order and cycle paths are checked against networkx run on
an independent copy of the edges; a loaded graph shares nothing with the
document it came from; off-shape documents keep pydantic's words; and the
runner's fast ``EventEmitter.send`` builds the same events as the constructor.
"""

from __future__ import annotations

import random

import networkx as nx
import pytest
from pydantic import BaseModel

import taskloom as tl
from taskloom.errors import CycleError, DataflowError, SerializationError
from taskloom.events import Event, EventEmitter, EventKind


class FanIn(tl.Task, register=False):
    class Input(BaseModel):
        xs: list[int] = []

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        return {"x": sum(input.xs)}


def random_graph(seed: int) -> tuple[tl.TaskGraph, nx.MultiDiGraph]:
    """The same random edits applied to a TaskGraph and to a networkx MultiDiGraph."""
    rng = random.Random(seed)
    n = rng.randint(1, 10)
    graph = tl.TaskGraph([FanIn(id=f"n{i}") for i in range(n)])
    mirror = nx.MultiDiGraph()
    mirror.add_nodes_from(graph.task_ids())
    for _ in range(rng.randint(0, 25)):
        a, b = rng.randrange(n), rng.randrange(n)
        try:
            flow = graph.add_dataflow((f"n{a}", "x", f"n{b}", "xs"))
        except CycleError:
            assert a == b or nx.has_path(mirror, f"n{b}", f"n{a}")
            continue
        except DataflowError:
            continue  # the very same dataflow twice
        assert a != b and not nx.has_path(mirror, f"n{b}", f"n{a}")
        mirror.add_edge(f"n{a}", f"n{b}", key=flow)
    return graph, mirror


@pytest.mark.parametrize("seed", range(60))
def test_traversals_match_networkx(seed):
    graph, mirror = random_graph(seed)
    assert graph.topological_order() == list(nx.topological_sort(mirror))
    assert graph.layers() == [list(layer) for layer in nx.topological_generations(mirror)]
    assert graph.sources() == [t for t in mirror if mirror.in_degree(t) == 0]
    assert graph.sinks() == [t for t in mirror if mirror.out_degree(t) == 0]
    for t in graph.task_ids():
        assert graph.dataflows_out_of(t) == [k for _, _, k in mirror.out_edges(t, keys=True)]
        assert graph.successors_of(t) == list(mirror.succ[t])
        assert graph.downstream(t) == list(mirror.succ[t])
        assert graph.upstream(t) == list(mirror.pred[t])
        assert set(graph.upstream(t, transitive=True)) == nx.ancestors(mirror, t)
        assert set(graph.downstream(t, transitive=True)) == nx.descendants(mirror, t)


class Pair(tl.Task, register=False):
    class Input(BaseModel):
        xs: list[int] = []

    class Output(BaseModel):
        x: int
        y: int

    async def run(self, input, ctx):
        return {"x": 1, "y": 2}


def test_parallel_dataflows_order_a_layer_by_first_connection():
    # a feeds b twice, around c. networkx ordered the next layer by the first
    # dataflow to each target ([b, c]), not by the last one ([c, b]).
    graph = tl.TaskGraph([Pair(id=i) for i in "abc"])
    graph.connect("a", "x", "b", "xs")
    graph.connect("a", "x", "c", "xs")
    graph.connect("a", "y", "b", "xs")
    assert graph.layers() == [["a"], ["b", "c"]]
    assert graph.topological_order() == ["a", "b", "c"]
    assert [(d.source_port, d.target_task_id) for d in graph.dataflows_out_of("a")] == [
        ("x", "b"), ("y", "b"), ("x", "c")]
    assert graph.successors_of("a") == ["b", "c"]


def test_a_cycle_is_named_by_a_shortest_path():
    graph = tl.TaskGraph([FanIn(id=i) for i in "abcde"])
    for src, tgt in [("a", "b"), ("b", "c"), ("c", "d"), ("d", "e"), ("a", "e")]:
        graph.connect(src, "x", tgt, "xs")
    with pytest.raises(CycleError) as info:
        graph.connect("e", "x", "a", "xs")
    assert info.value.cycle == ["a", "e"]
    assert str(info.value).endswith("would close a cycle: a -> e -> a")
    assert len(graph.dataflows) == 5, "a refused dataflow leaves the graph as it was"


def test_a_loaded_graph_shares_nothing_with_the_document():
    doc = {"schema_version": 1, "metadata": {"ui": {"zoom": 1}},
           "tasks": [{"id": "a", "type": "DebugLog", "defaults": {"value": {"k": [1]}},
                      "metadata": {"ui": {"x": 1}}}]}
    graph = tl.TaskGraph.from_json(doc)
    doc["tasks"][0]["defaults"]["value"]["k"].append(2)
    doc["tasks"][0]["metadata"]["ui"]["x"] = 99
    doc["metadata"]["ui"]["zoom"] = 5
    assert graph.get_task("a").defaults == {"value": {"k": [1]}}
    assert graph.get_task("a").metadata == {"ui": {"x": 1}}
    assert graph.metadata == {"ui": {"zoom": 1}}


@pytest.mark.parametrize("doc, words", [
    ({"schema_version": 1, "tasks": [{"id": "", "type": "DebugLog"}]}, "tasks[0].id"),
    ({"schema_version": 1, "tasks": [{"id": "a"}]}, "tasks[0].type"),
    ({"schema_version": 1, "tasks": [{"id": "a", "type": "DebugLog", "defaults": []}]},
     "tasks[0].defaults"),
    ({"schema_version": 1, "tasks": [], "dataflows": [{"source_task_id": "a"}]},
     "dataflows[0].source_port"),
    ({"tasks": []}, "schema_version"),
])
def test_a_document_off_the_plain_shape_is_refused_by_pydantic_in_its_words(doc, words):
    with pytest.raises(SerializationError, match="not a taskloom graph") as info:
        tl.TaskGraph.from_json(doc)
    assert words in str(info.value)


def test_text_and_dict_load_to_equal_graphs():
    graph = tl.TaskGraph([FanIn(id="a"), FanIn(id="b")], metadata={"note": "é"})
    graph.connect("a", "x", "b", "xs")
    graph.get_task("a").metadata = {"ui": {"x": 3}}
    registry = tl.TaskRegistry()
    registry.register(FanIn)
    from_text = tl.TaskGraph.from_json(graph.to_json_string(), registry)
    from_dict = tl.TaskGraph.from_json(graph.to_json(), registry)
    assert from_text == from_dict == graph


def test_a_sent_event_equals_the_constructed_one():
    seen = []
    emitter = EventEmitter()
    emitter.subscribe(seen.append)
    emitter.send(EventKind.TASK_COMPLETE, "run", "t", 1.0, None, {"x": 1})
    [event] = seen
    expected = Event(EventKind.TASK_COMPLETE, "run", "t", progress=1.0, output={"x": 1},
                     time=event.time)
    assert event == expected
    assert event.to_dict() == expected.to_dict()


def test_send_reaches_kind_listeners_first_and_skips_kinds_nobody_wants():
    order = []
    emitter = EventEmitter()
    emitter.send(EventKind.TASK_START, "run", "t")  # nobody listens: nothing happens
    emitter.on(EventKind.TASK_START, lambda e: order.append(("kind", e.kind)))
    emitter.subscribe(lambda e: order.append(("all", e.kind)))
    emitter.send(EventKind.TASK_START, "run", "t")
    emitter.send(EventKind.TASK_COMPLETE, "run", "t")
    assert order == [("kind", EventKind.TASK_START), ("all", EventKind.TASK_START),
                     ("all", EventKind.TASK_COMPLETE)]
