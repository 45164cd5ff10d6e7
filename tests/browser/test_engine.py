"""The worker's engine glue under CPython: the same code the page runs in Pyodide."""

from __future__ import annotations

import json
import re
import signal

import pytest

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
    assert json.loads(engine.abort_run()) == {"ok": False, "error": "nothing is running"}


def test_info_names_the_interpreter():
    import platform
    import sys

    import taskloom

    engine, _events = make_engine()
    info = json.loads(engine.engine_info())
    # Not info["workflow"]: it is hasattr(taskloom, "Workflow"), true of every taskloom.
    # What the page shows is which taskloom and which Python run the engine.
    assert info["taskloom"] == taskloom.__version__
    assert (info["python"], info["platform"]) == (platform.python_version(), sys.platform)


def test_import_taskloom_leaves_the_browser_package_alone():
    import subprocess
    import sys

    code = ("import sys, taskloom; "
            "print([m for m in sys.modules if m.startswith('taskloom.browser')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# A task that never awaits; the page's Abort reaches it as SIGINT (Pyodide's
# interrupt buffer), raised here by the task itself at the start of its loop.
SPIN_UNTIL_INTERRUPTED = '''
import signal
import time

from pydantic import BaseModel
from taskloom import Task, Workflow


class Spin(Task):
    class Input(BaseModel):
        seconds: float = 30.0

    class Output(BaseModel):
        loops: int

    async def run(self, input, ctx):
        loops, end = 0, time.monotonic() + input.seconds
        signal.raise_signal(signal.SIGINT)
        while time.monotonic() < end:
            loops += 1
        return {"loops": loops}


wf = Workflow()
wf.add_task(Spin, id="spin")
'''


@pytest.fixture
def interruptible():
    engine, events = make_engine()
    previous = signal.signal(signal.SIGINT, engine.on_interrupt)
    yield engine, events
    signal.signal(signal.SIGINT, previous)


async def test_an_interrupt_aborts_a_task_that_never_awaits(interruptible):
    engine, events = interruptible
    report = json.loads(await engine.run_code(SPIN_UNTIL_INTERRUPTED))
    assert report["aborted"] is True and report["ok"] is False
    assert "traceback" not in report  # the user asked for it: no traceback to show
    assert report["statuses"] == {"spin": "aborted"}
    assert [e["kind"] for e in events if e.get("task_id") == "spin"][-1] == "task_abort"
    listed = json.loads(await engine.unfinished_runs())["runs"]
    assert [(run["run_id"], run["status"]) for run in listed] == [(report["run_id"], "aborted")]
    assert listed[0]["owner"] is None  # nobody runs it: Resume is offered


async def test_an_interrupt_in_the_code_box_top_level_is_an_abort(interruptible):
    engine, _events = interruptible
    report = json.loads(await engine.run_code(
        "import signal\nsignal.raise_signal(signal.SIGINT)\nwhile True:\n    pass\n"))
    assert report["aborted"] is True
    assert report["error"].startswith("RunAbortedError: aborted from the page")


async def test_an_interrupt_with_nothing_running_is_ignored(interruptible):
    engine, _events = interruptible
    signal.raise_signal(signal.SIGINT)  # a late interrupt after the run had ended
    assert json.loads(await engine.run_code(EXAMPLE))["ok"]


async def test_a_failed_run_stays_listed_with_its_error_until_discarded():
    engine, _events = make_engine()
    report = json.loads(await engine.run_code(EXAMPLE.replace(
        'return {"text": f"the sum is {input.total}"}', 'raise RuntimeError("no sum today")')))
    assert report["ok"] is False
    listed = json.loads(await engine.unfinished_runs())["runs"]
    assert [run["status"] for run in listed] == ["failed"]
    assert "no sum today" in listed[0]["error"]
    assert json.loads(await engine.discard_run(listed[0]["run_id"])) == {"ok": True}
    assert json.loads(await engine.unfinished_runs())["runs"] == []
    again = json.loads(await engine.resume_run(listed[0]["run_id"]))
    assert again["ok"] is False and "RecordNotFoundError" in again["error"]


async def test_record_abort_marks_only_a_run_that_was_cut_short():
    """The page restarted the engine mid-run: the new engine records that run as aborted."""
    from taskloom.browser.page_store import RUN_CODE
    from taskloom.graph import TaskGraph

    engine, _events = make_engine()
    assert json.loads(await engine.record_abort("no-such-run", "gone")) == {"ok": False}
    done = json.loads(await engine.run_code(EXAMPLE))
    assert json.loads(await engine.record_abort(done["run_id"], "late")) == {"ok": False}

    store = engine._runs.page.store  # a run whose engine died while it was processing
    await store.runs.create(TaskGraph(), run_id="cut-short", task_ids=[], status="processing")
    await store.backend.put(RUN_CODE, "cut-short", {"code": EXAMPLE, "started_at": 0})
    assert json.loads(await engine.record_abort("cut-short", "the engine was restarted")) \
        == {"ok": True}
    listed = json.loads(await engine.unfinished_runs())["runs"]
    assert [(r["run_id"], r["status"], r["error"]) for r in listed] == [
        ("cut-short", "aborted", "the engine was restarted")]
