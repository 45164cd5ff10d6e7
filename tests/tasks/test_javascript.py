"""The JavaScript task in a real QuickJS sandbox: input in as variables, result out as JSON."""

from __future__ import annotations

import json

import pytest

from prerequisites import need_module
from taskloom import GraphAsTask, Lambda, TaskGraph, TaskGraphRunner, from_code, to_code
from taskloom.errors import (
    JavaScriptError,
    JavaScriptMemoryError,
    JavaScriptTimeoutError,
    TaskInputError,
)
from taskloom.tasks.javascript import JavaScript, code_tasks

need_module("quickjs", "quickjs-ng is missing: pip install 'taskloom[javascript]'")


async def js(code, **defaults):
    task = JavaScript(id="js", defaults={"code": code, **defaults})
    return (await TaskGraphRunner(TaskGraph([task])).run())["js"]["result"]


async def test_the_input_reaches_the_code_and_the_result_comes_back_as_json():
    result = await js("({total: input.a + input.b.length, seen: input, nothing: null})",
                      input={"a": 2, "b": [1, 2, 3]})
    assert result == {"total": 5, "seen": {"a": 2, "b": [1, 2, 3]}, "nothing": None}
    assert await js("input") is None


async def test_other_ports_become_variables_and_the_last_value_is_the_result():
    assert await js("const words = text.split(' '); words.map(w => w.toUpperCase())",
                    text="ada lovelace") == ["ADA", "LOVELACE"]
    assert await js("n * 2", n=21) == 42
    assert await js("typeof text", text="x") == "string"


async def test_values_from_an_upstream_task_arrive_as_variables():
    graph = TaskGraph([Lambda(lambda v: {"text": "hello world"}, id="src"),
                       JavaScript(id="js", defaults={"code": "text.length"})])
    graph.add_dataflow(("src", "text", "js", "text"))
    result = await TaskGraphRunner(graph).run()
    assert result["js"]["result"] == 11


async def test_a_promise_result_is_awaited():
    assert await js("Promise.resolve(input).then(x => x + 1)", input=1) == 2
    with pytest.raises(JavaScriptError, match="rejected: Error: nope"):
        await js("Promise.reject(new Error('nope'))")


async def test_a_thrown_error_names_the_javascript_error():
    with pytest.raises(JavaScriptError, match="threw TypeError") as caught:
        await js("null.x")
    assert caught.value.task_id == "js"
    with pytest.raises(JavaScriptError, match="Error: custom"):
        await js("throw new Error('custom')")
    with pytest.raises(JavaScriptError, match="SyntaxError"):
        await js("let = = 1")


async def test_an_endless_loop_stops_at_the_time_limit():
    with pytest.raises(JavaScriptTimeoutError, match=r"time limit \(0.2 s\)"):
        await js("while (true) {}", time_limit=0.2)


async def test_an_endless_loop_in_a_promise_job_stops_too():
    with pytest.raises(JavaScriptTimeoutError):
        await js("Promise.resolve().then(() => { while (true) {} })", time_limit=0.2)


async def test_a_memory_blow_up_stops_at_the_memory_limit():
    with pytest.raises(JavaScriptMemoryError, match="memory limit"):
        await js("const a = []; while (true) a.push(new Array(100000).fill(1))",
                 memory_limit=8 * 1024 * 1024, time_limit=60)


async def test_the_sandbox_reaches_nothing_of_the_host():
    assert await js("[typeof require, typeof process, typeof fetch, typeof std, typeof os]") \
        == ["undefined"] * 5


async def test_each_run_gets_a_fresh_context():
    await js("globalThis.leak = 1; 0")
    assert await js("typeof leak") == "undefined"


async def test_a_port_that_is_no_identifier_is_refused():
    with pytest.raises(TaskInputError, match="cannot be a JavaScript variable"):
        await js("1", **{"if": 1})


def test_javascript_round_trips_through_json_and_code():
    task = JavaScript(id="js", defaults={"code": "input.a * 2 // a comment\n", "input": {"a": 1},
                                         "time_limit": 0.5, "text": "extra"})
    graph = TaskGraph([task])
    doc = graph.to_json()
    assert TaskGraph.from_json(json.loads(json.dumps(doc))).to_json() == doc
    assert from_code(to_code(graph)).to_json() == doc


def test_code_tasks_finds_javascript_and_lambdas_in_subgraphs():
    inner = TaskGraph([JavaScript(id="inner-js", defaults={"code": "1"})])
    graph = TaskGraph([Lambda(lambda v: v, id="fn"), GraphAsTask(inner, id="sub"),
                       JavaScript(id="js", defaults={"code": "2"})])
    assert code_tasks(graph) == ["fn", "inner-js", "js"]
    assert code_tasks(TaskGraph([])) == []


def test_taskloom_run_needs_allow_code_for_a_graph_with_code(tmp_path, capsys):
    need_module("rich", "the CLI needs its extra: pip install 'taskloom[cli]'")
    from taskloom.cli import main

    graph = tmp_path / "code.json"
    graph.write_text(json.dumps(TaskGraph([JavaScript(id="js", defaults={
        "code": "input * 2", "input": 21})]).to_json()), encoding="utf-8")
    out = tmp_path / "out.json"
    assert main(["run", str(graph), "--no-store", "--quiet", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--allow-code" in err and "'js'" in err
    assert not out.exists()
    assert main(["run", str(graph), "--no-store", "--quiet", "--allow-code",
                 "-o", str(out)]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["outputs"]["js"] == {"result": 42}
