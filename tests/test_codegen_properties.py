"""Graph ↔ code round trips over random graphs (hypothesis).

Random DAGs of the task types below — fan-in into list inputs, renamed edges,
edges from older tasks, open (pass-through) inputs, GraphAsTask bodies,
Lambdas, array-valued and nested JSON defaults, unicode, big ints, config and
metadata, the control-flow constructs (If, Fallback over data or alternatives,
Map, While, Reduce), edge transforms and edges from error ports — must come
back equal from code, from JSON and from dependency JSON.
Edges are drawn at random and kept when ``check_dataflow`` allows them, so the
graphs are every shape add_dataflow accepts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from taskloom import (
    DebugLog,
    Fallback,
    GraphAsTask,
    GraphError,
    If,
    Lambda,
    Map,
    Reduce,
    Task,
    TaskGraph,
    While,
    register_function,
)
from taskloom.codegen import from_code, to_code


class CgSource(Task):
    class Input(BaseModel):
        seed: str = "s"

    class Output(BaseModel):
        text: str


class CgUpper(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str


class CgPair(Task):
    class Input(BaseModel):
        a: str
        b: str = ""

    class Output(BaseModel):
        out: str


class CgJoin(Task):
    class Input(BaseModel):
        text: list[str]
        sep: str = " "

    class Output(BaseModel):
        text: str


class CgNumbers(Task):
    class Input(BaseModel):
        values: list[int] = []
        scale: float = 1.0
        data: dict = {}

    class Output(BaseModel):
        total: float
        text: str


class CgFold(Task):
    class Input(BaseModel):
        accumulator: str
        item: str

    class Output(BaseModel):
        accumulator: str


@register_function("tests.cg_identity")
def cg_identity(values):
    return values


SIMPLE_TYPES = [CgSource, CgUpper, CgPair, CgJoin, CgNumbers, DebugLog, "lambda", "if",
                "fallback", "reduce"]
#: Types with a body, drawn above depth 2 only.
BODY_TYPES = ["compound", "map", "while", "alternatives", "reduce_body"]
RUFF = Path(sys.executable).with_name("ruff")

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
big_ints = st.integers(min_value=-(2**130), max_value=2**130)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | big_ints | finite | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8)
metadata = st.dictionaries(text, json_values, max_size=2)
# Not starting with "_": a GraphAsTask whose inner task id does so cannot be built
# today (its derived port "_x__seed" is a pydantic field with a leading underscore);
# that is compound.py's to fix, not the round trip's.
ids = st.text(st.characters(exclude_categories=("Cs",)), min_size=1,
              max_size=6).filter(lambda s: not s.startswith("_"))

DEFAULTS = {
    "seed": text | st.lists(text, min_size=1, max_size=3),  # a list: array expansion
    "text": text,
    "a": text,
    "b": text,
    "sep": text,
    "values": st.lists(big_ints, max_size=4),
    "scale": finite,
    "data": st.dictionaries(text, json_values, max_size=3),
    "log_level": st.sampled_from(["debug", "info", "warning", "error"]),
}
conditions = st.sampled_from(["value > 1", "len(text) == 0 or not value.a",
                              "'x' in value and n <= -2.5", "value is None",
                              {"function": "tests.cg_identity"}])
transforms = st.lists(st.one_of(
    st.fixed_dictionaries({"field": text.filter(bool)}),
    st.fixed_dictionaries({"index": st.integers(-3, 3)}),
    st.fixed_dictionaries({"cast": st.sampled_from(["str", "int", "float", "bool", "json"])})),
    min_size=1, max_size=3)


@st.composite
def tasks_of(draw, task_id: str, depth: int):
    kind = draw(st.sampled_from(SIMPLE_TYPES + (BODY_TYPES if depth < 2 else [])))
    config = draw(st.fixed_dictionaries({}, optional={
        "title": text, "cacheable": st.booleans(),
        "timeout": st.floats(min_value=0.001, max_value=1e6)}))
    meta = draw(metadata)
    if kind == "compound":
        task: Task = GraphAsTask(draw(graphs(depth + 1, max_tasks=3)), id=task_id, **config)
    elif kind == "map":
        task = with_body(Map, draw(graphs(depth + 1, max_tasks=3)), task_id, config, draw)
    elif kind == "while":
        task = with_body(While, draw(graphs(depth + 1, max_tasks=3)), task_id, config, draw)
        task.set_defaults({"condition": draw(conditions)})
    elif kind == "if":
        task = If(id=task_id, defaults={"condition": draw(conditions)}, **config)
    elif kind == "fallback":
        task = Fallback(id=task_id, **config)
    elif kind == "alternatives":
        try:
            task = Fallback([draw(graphs(depth + 1, max_tasks=2)) for _ in range(draw(
                st.integers(1, 2)))], id=task_id, **config)
        except GraphError:  # a body port named like the Fallback's own
            task = Fallback([TaskGraph([CgUpper(id=draw(ids))])], id=task_id, **config)
    elif kind == "reduce":
        task = Reduce(id=task_id, defaults={"function": "tests.cg_identity"}, **config)
    elif kind == "reduce_body":
        task = Reduce(TaskGraph([CgFold(id=draw(ids))]), id=task_id, **config)
    elif kind == "lambda":
        task = Lambda("tests.cg_identity", id=task_id, **config)
    else:
        task = kind(id=task_id, **config)
    task.metadata = meta
    names = task.input_ports.names()
    for name in draw(st.lists(st.sampled_from(names), unique=True)) if names else []:
        port = task.input_ports.get(name)
        if name in DEFAULTS and not isinstance(task, GraphAsTask | Fallback) \
                and not (port.is_list and name == "text"):
            task.set_defaults({name: draw(DEFAULTS[name])})
        elif port.is_list and port.item_types == {"string"}:
            task.set_defaults({name: draw(st.lists(text, max_size=3))})
        elif port.types <= {"string", "null"} and "string" in port.types \
                and "enum" not in str(port.schema) and name != "function":
            task.set_defaults({name: draw(text)})
    if task.input_ports.open:  # pass-through ports: any name, any JSON
        extra = draw(st.dictionaries(text.filter(lambda k: k not in names), json_values,
                                     max_size=2))
        task.set_defaults(extra)
    return task


def with_body(cls, body: TaskGraph, task_id: str, config: dict, draw) -> Task:
    try:
        return cls(body, id=task_id, **config)
    except GraphError:  # a body port named like one of cls's own, or a While that cannot loop
        return cls(TaskGraph([CgUpper(id=draw(ids))]), id=task_id, **config)


@st.composite
def graphs(draw, depth: int = 0, max_tasks: int = 7):
    task_ids = draw(st.lists(ids, min_size=1, max_size=max_tasks, unique=True))
    graph = TaskGraph(metadata=draw(metadata))
    for n, task_id in enumerate(task_ids):
        task = draw(tasks_of(task_id, depth))
        graph.add_task(task)
        if n == 0:
            continue
        earlier = task_ids[:n]
        inputs = task.input_ports.names() + (draw(st.lists(text, max_size=2))
                                             if task.input_ports.open else [])
        for _ in range(draw(st.integers(0, 4))):
            if not inputs:
                break
            source = graph.get_task(draw(st.sampled_from(earlier)))
            outputs = [*source.output_ports.names(), "error"]  # every task has an error port
            edge = (source.id, draw(st.sampled_from(outputs)), task.id,
                    draw(st.sampled_from(inputs)))
            transform = draw(st.none() | transforms)
            if graph.check_dataflow(*edge, transform=transform):
                graph.connect(*edge, transform=transform)
    return graph


@st.composite
def fork_joins(draw):
    """A source, k branches, and a join fed from them in any order: parallel(...)."""
    graph = draw(graphs(max_tasks=3))
    start = draw(st.sampled_from(graph.task_ids()))
    out = draw(st.sampled_from(graph.get_task(start).output_ports.names() or ["text"]))
    k = draw(st.integers(2, 4))
    branches = [f"b{n}" for n in range(k)]
    for branch in branches:
        graph.add_task(CgUpper(id=branch))
        if graph.check_dataflow(start, out, branch, "text"):
            graph.connect(start, out, branch, "text")
    graph.add_task(CgJoin(id="join"))
    for branch in draw(st.permutations(branches)):
        graph.connect(branch, "text", "join", "text")
    return graph


all_graphs = st.one_of(graphs(), fork_joins())

# How many examples, and which, is the profile's (tests/conftest.py): the same ones on
# every run; a failure prints its example and the blob that reproduces it.
PROPERTY = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(all_graphs)
def test_code_round_trip_gives_the_same_graph(graph):
    code = to_code(graph)
    again = from_code(code)
    assert again == graph, code
    assert to_code(again) == code


@PROPERTY
@given(all_graphs)
def test_json_round_trips_give_the_same_graph(graph):
    assert TaskGraph.from_json(graph.to_json()) == graph
    assert TaskGraph.from_json(graph.to_json_string()) == graph
    from_deps = TaskGraph.from_dependency_json(graph.to_dependency_json())
    # Dependency JSON is a list of tasks: it has no place for the graph's own
    # metadata, and everything else must survive.
    assert from_deps.metadata == {}
    from_deps.metadata = graph.metadata
    assert from_deps == graph


# Half the profile's examples: each one runs ruff twice, in a process of its own.
@settings(max_examples=max(1, settings().max_examples // 2),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(all_graphs)
def test_ruff_format_leaves_generated_code_unchanged(graph):
    ruff = str(RUFF) if RUFF.exists() else shutil.which("ruff")
    assert ruff, "ruff is part of the dev extra"
    code = to_code(graph)
    # ruff's defaults (line length 88), and this project's own line length.
    for options in (["--isolated"], ["--isolated", "--line-length", "100"]):
        formatted = subprocess.run([ruff, "format", *options, "-"], input=code.encode(),
                                   capture_output=True, check=True).stdout.decode()
        assert formatted == code
