"""to_code / from_code: readable Workflow code both ways, and code read as data only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from taskloom import GraphAsTask, Lambda, Task, TaskGraph, Workflow, open_store
from taskloom.cli import main
from taskloom.codegen import from_code, to_code
from taskloom.errors import CodeError, RefusedCodeError, SerializationError, WorkflowError

RUFF = Path(sys.executable).with_name("ruff")


class CgGreet(Task):
    class Input(BaseModel):
        name: str

    class Output(BaseModel):
        text: str


class CgShout(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str
        length: int


class CgAdd(Task):
    class Input(BaseModel):
        a: int
        b: int = 0

    class Output(BaseModel):
        total: int


class CgConcat(Task):
    class Input(BaseModel):
        text: list[str]

    class Output(BaseModel):
        text: str


class CgFromPath(Task):
    """A type whose constructor takes more than graph JSON can hold."""

    class Input(BaseModel):
        text: str = ""

    class Output(BaseModel):
        text: str

    def __init__(self, path: str | None = None, **config):
        super().__init__(**config)
        self.path = path


def ruff_format(code: str) -> str:
    return subprocess.run([str(RUFF), "format", "--isolated", "-"], input=code.encode(),
                          capture_output=True, check=True).stdout.decode()


def round_trip(graph: TaskGraph) -> str:
    code = to_code(graph)
    again = from_code(code)
    assert again == graph, code
    assert to_code(again) == code
    if sys.platform != "emscripten":  # no ruff binary inside Pyodide; the round trip runs there
        assert ruff_format(code) == code
    return code


# -- to_code ---------------------------------------------------------------------------


def test_a_chain_is_one_chained_call_per_task():
    wf = Workflow()
    wf.cg_greet(id="greet", name=["Ada", "Alan"]).cg_shout(id="shout").debug_log(id="log")
    code = round_trip(wf.graph)
    assert code == (
        "from taskloom import Workflow\n"
        "\n"
        "wf = Workflow()\n"
        'wf.cg_greet(id="greet", name=["Ada", "Alan"]).cg_shout(id="shout").debug_log(id="log")\n'
    )


def test_rename_where_auto_connect_would_not_find_the_edge():
    wf = Workflow()
    wf.cg_greet(id="g", name="x").cg_shout(id="s").rename("length", "a").cg_add(id="n")
    code = round_trip(wf.graph)
    assert '.rename("length", "a").cg_add(id="n")' in code


def test_edges_from_older_tasks_and_fan_in_order_are_explicit_connects():
    graph = TaskGraph([CgGreet(id="g1", defaults={"name": "a"}),
                       CgGreet(id="g2", defaults={"name": "b"}),
                       CgConcat(id="c")])
    # Fan-in in the order g2, g1: a list input keeps it.
    graph.connect("g2", "text", "c", "text")
    graph.connect("g1", "text", "c", "text")
    code = round_trip(graph)
    again = from_code(code)
    assert [d.source_task_id for d in again.dataflows_into("c")] == ["g2", "g1"]
    assert code.index('id="g2"') < code.index('id="g1"') < code.index('id="c"')
    # Edges from a task that is not the previous one.
    wf = Workflow()
    wf.cg_greet(id="g", name="x").cg_shout(id="s").rename("length", "a").cg_add(id="n")
    wf.connect("g", "text", "text").cg_shout(id="s2")
    code = round_trip(wf.graph)
    assert 'wf.after("g").cg_shout(id="s2")' in code
    wf.connect("s", "text", "text").connect("g", "text", "text").cg_concat(id="c")
    code = round_trip(wf.graph)
    assert [d.source_task_id for d in from_code(code).dataflows_into("c")] == ["s", "g"]


def test_fork_and_join_is_parallel():
    wf = Workflow()
    wf.cg_greet(id="g", name="x")
    wf.parallel(lambda w: w.cg_shout(id="s1"), lambda w: w.cg_shout(id="s2")).cg_concat(id="c")
    code = round_trip(wf.graph)
    assert 'parallel(lambda w: w.cg_shout(id="s1"), lambda w: w.cg_shout(id="s2"))' in code


def test_graph_as_task_bodies_are_nested_builders():
    inner = Workflow(require_inputs=False)
    inner.cg_shout(id="up").rename("length", "a").cg_add(id="count")
    innermost = Workflow(require_inputs=False)
    innermost.cg_shout(id="deep")
    inner.graph.add_task(GraphAsTask(innermost.graph, id="nested"))
    wf = Workflow(require_inputs=False)
    wf.cg_greet(id="g", name="x").add_task(GraphAsTask(inner.graph, id="body"))
    code = round_trip(wf.graph)
    assert "body_body = Workflow(require_inputs=False)" in code
    assert "nested_body = Workflow(require_inputs=False)" in code
    assert code.index("nested_body =") < code.index("subgraph=nested_body")
    assert 'wf.graph_as_task(id="body", subgraph=body_body)' in code


def test_defaults_are_literals_unicode_nested_json_and_big_ints():
    values = {"text": "naïve — 東京 \u2028 \"quoted\" 'single' \\ \x00",
              "nested": {"a": [1, -2.5, None, True, {"deep": ["x", 1e300, -0.0]}]},
              "big": 2**200, "negative": -(2**70), "empty": [[], {}]}
    wf = Workflow()
    # "ª" would read back as "a": Python normalises identifiers (NFKC).
    wf.debug_log(id="log", **{"from": 1, "with space": "x", "ª": 2}, **values)
    code = round_trip(wf.graph)
    task = from_code(code).get_task("log")
    assert task.defaults["big"] == 2**200
    assert task.defaults["text"] == values["text"]
    assert task.defaults["from"] == 1 and task.defaults["with space"] == "x"
    assert task.defaults["ª"] == 2 and "a" not in task.defaults
    assert '**{"from": 1, "with space": "x", "ª": 2}' in code


def test_config_and_lambda_functions_are_kept():
    from taskloom import register_function

    @register_function("tests.codegen.double")
    def double(values):
        return values

    graph = TaskGraph([Lambda("tests.codegen.double", id="fn", title="Double it",
                              cacheable=False, timeout=2.5)])
    code = round_trip(graph)
    assert 'fn="tests.codegen.double"' in code and "timeout=2.5" in code


def test_an_unregistered_lambda_cannot_be_written_as_code():
    graph = TaskGraph([Lambda(lambda values: values, id="anon")])
    with pytest.raises(SerializationError, match="register it with"):
        to_code(graph)


def test_output_depends_on_the_graph_not_on_insertion_order():
    a = TaskGraph([CgGreet(id="g1", defaults={"name": "a"}), CgGreet(id="g2",
                   defaults={"name": "b"}), CgShout(id="s")])
    a.connect("g2", "text", "s", "text")
    b = TaskGraph([CgShout(id="s"), CgGreet(id="g2", defaults={"name": "b"}),
                   CgGreet(id="g1", defaults={"name": "a"})])
    b.connect("g2", "text", "s", "text")
    assert a == b
    assert to_code(a) == to_code(b)


def test_required_inputs_nothing_feeds_yet_are_allowed_when_the_graph_has_them():
    graph = TaskGraph([CgShout(id="s")])  # a canvas mid-edit: text unset
    code = round_trip(graph)
    assert "Workflow(require_inputs=False)" in code
    with pytest.raises(CodeError, match="required input 'text'"):
        from_code(code.replace("require_inputs=False", "require_inputs=True"))


# -- metadata --------------------------------------------------------------------------


def metadata_graph() -> TaskGraph:
    wf = Workflow(metadata={"ui": {"zoom": 1.5}, "name": "démo"})
    wf.cg_greet(id="g", name="x", metadata={"ui": {"x": 120, "y": 40}}).cg_shout(id="s")
    return wf.graph


def test_metadata_survives_json_and_code():
    graph = metadata_graph()
    doc = graph.to_json()
    assert doc["metadata"] == {"ui": {"zoom": 1.5}, "name": "démo"}
    assert doc["tasks"][0]["metadata"] == {"ui": {"x": 120, "y": 40}}
    again = TaskGraph.from_json(graph.to_json_string())
    assert again.get_task("g").metadata == {"ui": {"x": 120, "y": 40}}
    assert again.metadata == graph.metadata
    assert from_code(round_trip(graph)).get_task("g").metadata == {"ui": {"x": 120, "y": 40}}
    assert again.copy().get_task("g").metadata == {"ui": {"x": 120, "y": 40}}


def test_metadata_is_part_of_equality():
    graph, other = metadata_graph(), metadata_graph()
    assert graph == other
    other.get_task("g").metadata["ui"]["x"] = 121
    assert graph != other


@pytest.mark.parametrize("backend", ["memory", "file", "sqlite",
                                     pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_metadata_survives_every_store(backend, tmp_path, request):
    url = {"memory": "memory://", "file": (tmp_path / "store").as_uri(),
           "sqlite": f"sqlite:///{tmp_path / 'store.db'}"}.get(backend)
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
    graph = metadata_graph()
    async with open_store(url) as store:
        await store.graphs.save("demo", graph)
        loaded = await store.graphs.load_graph("demo")
    assert loaded == graph
    assert loaded.get_task("g").metadata == {"ui": {"x": 120, "y": 40}}
    assert loaded.metadata == {"ui": {"zoom": 1.5}, "name": "démo"}
    if backend != "memory":  # durable: a second connection reads the same
        async with open_store(url) as store:
            assert await store.graphs.load_graph("demo") == graph


# -- from_code refuses everything but the builder -------------------------------------


@pytest.mark.parametrize(("code", "line", "column", "words"), [
    ("import os", 1, 1, "imports are not allowed"),
    ("from os import path", 1, 1, "imports are not allowed"),
    ("from taskloom import TaskGraph", 1, 22, "may import only Workflow"),
    ("wf = Workflow()\n__import__('os')", 2, 1, "the only calls allowed"),
    ("__builtins__ = 1", 1, 1, "dunder"),
    ("wf = Workflow()\nopen('/tmp/x', 'w')", 2, 1, "the only calls allowed"),
    ("wf = Workflow()\nwf.run()", 2, 1, "is not a builder call"),
    ("wf = Workflow()\nx = wf.graph", 2, 5, "attribute access"),
    ("wf = Workflow()\nwf.__class__", 2, 1, "attribute access"),
    ("wf = Workflow()\nwf._connections()", 2, 1, "private or dunder"),
    ("wf = Workflow()\nwf.cg_greet(id='a', name='x').__class__.__bases__", 2, 1, "attribute"),
    ("wf = Workflow()\nfor i in [1]:\n    pass", 2, 1, "a for loop"),
    ("wf = Workflow()\nx = 1 + 2", 2, 5, "an operator expression"),
    ("wf = Workflow()\nwf.cg_greet(id='a', name=f'{wf}')", 2, 26, "f-string"),
    ("wf = Workflow()\nf = lambda: 1", 2, 5, "lambda is allowed only"),
    ("wf = Workflow()\nwf.cg_greet(id='a', name=secret)", 2, 26, "not bound in this code"),
    ("wf = Workflow()\nwf.no_such_type()", 2, 1, "names no registered task type"),
    ("wf = Workflow()\nexec('1')", 2, 1, "the only calls allowed"),
    ("wf = Workflow()\nwf.cg_greet(id='a', name=b'x')", 2, 26, "bytes"),
    ("wf = Workflow()\nasync def f():\n    pass", 2, 1, "a function definition"),
    ("wf = Workflow()\nclass T:\n    pass", 2, 1, "a class definition"),
    ("wf = Workflow(registry=1)", 1, 6, "takes only metadata="),
    ("wf = Workflow()\nwf.cg_from_path(id='p', path='/etc/passwd')", 2, 1,
     "argument path= cannot be set from workflow code"),
    ("wf = Workflow()\nwf.add_task('CgFromPath', path='/etc/passwd')", 2, 1,
     "argument path= cannot be set"),
    ("wf = Workflow()\nwf.lambda_(id='f', fn=1)", 2, 1, "argument fn= cannot be set"),
    ("wf = Workflow()\nwf.parallel(print)", 2, 13, "must be `lambda w"),
    ("wf = Workflow()\nwf.cg_greet(id='a', name='x', other=wf)", 2, 1, "only as subgraph="),
    ("é = 1; wf = Workflow()\nwf.cg_greet(id='é', name=[x for x in 'ab'])", 2, 26,
     "a comprehension"),
])
def test_refused_constructs_name_line_and_column(code, line, column, words):
    with pytest.raises(RefusedCodeError) as refused:
        from_code(code)
    error = refused.value
    assert (error.line, error.column) == (line, column), str(error)
    assert words in str(error)
    assert str(error).startswith(f"line {line}, column {column}: ")


def test_refused_code_has_no_effect(tmp_path):
    target = tmp_path / "written"
    with pytest.raises(RefusedCodeError):
        from_code(f"wf = Workflow()\nopen({str(target)!r}, 'w').write('x')")
    assert not target.exists()


def test_builder_errors_point_at_the_method():
    code = "wf = Workflow()\nwf.cg_greet(id='a', name='x').cg_add(id='b')"
    with pytest.raises(CodeError) as failed:
        from_code(code)
    assert not isinstance(failed.value, RefusedCodeError)
    assert (failed.value.line, failed.value.column) == (2, 31)
    assert "required input 'a'" in str(failed.value)


def test_syntax_errors_are_code_errors_with_a_place():
    with pytest.raises(CodeError) as failed:
        from_code("wf = Workflow(\n")
    assert failed.value.line == 1


def test_code_without_a_workflow_is_refused():
    with pytest.raises(CodeError, match="builds no Workflow"):
        from_code("x = 1")


def test_a_long_chain_reads_without_recursion():
    code = "wf = Workflow()\nwf.cg_greet(id='t0', name='x')" + "".join(
        f".cg_shout(id='t{n}')" for n in range(1, 400))
    graph = from_code(code)
    assert len(graph) == 400 and len(graph.dataflows) == 399


# -- the command line -----------------------------------------------------------------


def test_cli_code_and_graph_round_trip(tmp_path, capsys):
    graph = metadata_graph()
    (tmp_path / "graph.json").write_text(graph.to_json_string(), encoding="utf-8")
    assert main(["code", str(tmp_path / "graph.json")]) == 0
    code = capsys.readouterr().out
    assert code == to_code(graph)
    (tmp_path / "code.py").write_text(code, encoding="utf-8")
    assert main(["graph", str(tmp_path / "code.py")]) == 0
    assert TaskGraph.from_json(capsys.readouterr().out) == graph


def test_cli_graph_refuses_unsafe_code_with_exit_2_and_one_line(tmp_path, capsys):
    (tmp_path / "evil.py").write_text("import os\nos.system('true')\n", encoding="utf-8")
    assert main(["graph", str(tmp_path / "evil.py")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert "line 1, column 1: imports are not allowed" in lines[0]


def test_parallel_nested_past_the_recursion_limit_is_a_code_error():
    depth = 190
    code = "wf = Workflow()\nwf" + ".parallel(lambda w: w" * depth + ".debug_log(id='x')" + \
        ")" * depth
    with pytest.raises(CodeError, match="nested too deeply"):
        from_code(code)


# -- the builder calls generated code relies on ----------------------------------------


def test_after_continues_from_named_tasks_or_from_none():
    wf = Workflow()
    wf.cg_greet(id="g", name="x").cg_shout(id="s")
    wf.after("g").cg_shout(id="s2")
    assert [d.source_task_id for d in wf.graph.dataflows_into("s2")] == ["g"]
    wf.after().cg_greet(id="g2", name="y")
    assert wf.graph.dataflows_into("g2") == []
    with pytest.raises(WorkflowError, match="no task 'nope'"):
        wf.after("nope")


def test_connect_feeds_the_next_task_from_an_older_one_in_call_order():
    wf = Workflow()
    wf.cg_greet(id="a", name="x").cg_greet(id="b", name="y")
    wf.after().connect("b", "text", "text").connect("a", "text", "text").cg_concat(id="c")
    assert [d.source_task_id for d in wf.graph.dataflows_into("c")] == ["b", "a"]
    with pytest.raises(WorkflowError, match="no task 'zz' yet"):
        wf.connect("zz", "text", "text")
    with pytest.raises(WorkflowError, match="task 'a' has no output 'nope'"):
        wf.connect("a", "nope", "text").cg_concat(id="d")


def test_add_task_by_type_name_metadata_and_require_inputs():
    wf = Workflow(metadata={"ui": {"zoom": 2}}, require_inputs=False)
    wf.add_task("CgShout", id="s", metadata={"ui": {"x": 1}})
    assert wf.graph.metadata == {"ui": {"zoom": 2}}
    assert wf.graph.get_task("s").metadata == {"ui": {"x": 1}}
    assert wf.graph.get_task("s").defaults == {}  # text is required, and unset: allowed
    with pytest.raises(WorkflowError, match="required input 'text'"):
        Workflow().cg_shout(id="s")
