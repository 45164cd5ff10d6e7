"""The worker's engine glue under CPython: the same code the page runs in Pyodide."""

from __future__ import annotations

import json
import re

from taskloom.browser.engine import BrowserEngine

from .site import ROOT

EXAMPLE = re.search(r"const EXAMPLE = `(.*?)`;", (ROOT / "web" / "app.js").read_text(),
                    re.S).group(1)


def make_engine():
    events: list[dict] = []
    engine = BrowserEngine(emit=lambda text: events.append(json.loads(text)))
    return engine, events


async def test_the_page_example_runs_and_streams_events():
    engine, events = make_engine()
    report = json.loads(await engine.run_code(EXAMPLE))
    assert report["ok"], report
    assert report["outputs"] == {"count": {"total": 210}, "describe": {"text": "the sum is 210"}}
    assert report["statuses"] == {"count": "completed", "describe": "completed"}
    kinds = [event["kind"] for event in events]
    assert kinds[0] == "graph_start" and kinds[-1] == "graph_complete"
    progress = [e["progress"] for e in events
                if e["kind"] == "task_progress" and e["task_id"] == "count"]
    assert len(progress) == 20 and progress == sorted(progress)


async def test_the_same_code_runs_twice():
    engine, _events = make_engine()
    first = json.loads(await engine.run_code(EXAMPLE))
    second = json.loads(await engine.run_code(EXAMPLE))
    assert first["ok"] and second["ok"], second
    assert first["run_id"] != second["run_id"]


async def test_top_level_await_in_the_code_box():
    engine, _events = make_engine()
    code = "import asyncio\nawait asyncio.sleep(0)\n" + EXAMPLE
    assert json.loads(await engine.run_code(code))["ok"]


async def test_code_without_a_workflow_is_a_workflow_error():
    engine, _events = make_engine()
    report = json.loads(await engine.run_code("x = 1"))
    assert report["ok"] is False
    assert report["error"].startswith("WorkflowError: the code defines no Workflow")


async def test_two_workflows_without_wf_are_ambiguous():
    engine, _events = make_engine()
    report = json.loads(await engine.run_code("a = Workflow()\nb = Workflow()\n"))
    assert "several Workflows" in report["error"]


async def test_a_syntax_error_is_reported_not_raised():
    engine, _events = make_engine()
    report = json.loads(await engine.run_code("def broken(:\n"))
    assert report["ok"] is False and report["error"].startswith("SyntaxError")
    assert "<code box>" in report["traceback"]


def test_abort_with_nothing_running():
    engine, _events = make_engine()
    assert json.loads(engine.abort()) == {"ok": False, "error": "nothing is running"}


def test_info_names_the_interpreter():
    engine, _events = make_engine()
    info = json.loads(engine.info())
    assert info["workflow"] is True and info["python"].count(".") == 2


def test_import_taskloom_leaves_the_browser_package_alone():
    import subprocess
    import sys

    code = ("import sys, taskloom; "
            "print([m for m in sys.modules if m.startswith('taskloom.browser')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
