"""The top bar's run controls: Ctrl+Enter and Esc, the Cache switch, Preview, run to here
and the overall progress bar."""

from __future__ import annotations

import pytest

from .site import RUN_MS, set_code

pytestmark = pytest.mark.browser

CHAIN = '''
import asyncio
from pydantic import BaseModel
from taskloom import Task, Workflow


class Step(Task):
    """Adds one, slowly enough to watch, and previews the sum it would give."""

    class Input(BaseModel):
        n: int = 1

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        for i in range(STEPS):
            await asyncio.sleep(0.05)
            ctx.progress((i + 1) / STEPS)
        return {"n": input.n + 1}

    async def run_reactive(self, input, ctx):
        return {"n": -input.n}


STEPS = 4
wf = Workflow()
wf.add_task(Step, id="a", n=1)
wf.add_task(Step, id="b")  # fed a.n: the builder connects matching ports
wf.after()  # the next task depends on nothing
wf.add_task(Step, id="side", n=10)
'''

FINISHED = "body[data-run-state=completed], body[data-run-state=failed]"


def finished_run(page) -> dict:
    page.wait_for_selector(FINISHED, state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def start(page, code: str) -> None:
    set_code(page, code)
    page.evaluate("document.body.removeAttribute('data-run-state')")


def kinds(page, kind: str) -> list[str]:
    return page.evaluate("k => window.taskloom.events.filter(e => e.kind === k)"
                         ".map(e => e.task_id)", kind)


def test_ctrl_enter_runs_from_the_code_editor_and_the_progress_bar_fills(app):
    start(app, CHAIN)
    app.focus("#code")
    app.keyboard.press("Control+Enter")
    report = finished_run(app)
    assert report["ok"], report
    assert report["outputs"]["b"] == {"n": 3}
    assert app.evaluate("document.getElementById('run-progress').value") == 1
    # The shortcut ran the graph; it did not type a line into the code.
    assert app.evaluate("window.taskloom.codeText()") == CHAIN


def test_escape_aborts_a_run_and_it_is_shown_as_aborted(app):
    start(app, CHAIN.replace("STEPS = 4", "STEPS = 400"))
    app.click("#run")
    app.wait_for_function("window.taskloom.events.some(e => e.kind === 'task_progress')",
                          timeout=RUN_MS)
    app.keyboard.press("Escape")
    app.wait_for_selector("body[data-run-state=aborted]", state="attached", timeout=RUN_MS)
    assert app.evaluate("window.taskloom.lastRun.aborted") is True
    assert app.text_content("#run-status").startswith("aborted")
    assert app.is_hidden("#error")  # an abort is not a failure with a traceback


def test_the_cache_switch_decides_whether_outputs_are_reused(app):
    code = CHAIN.replace("n=10", "n=20")  # its own cache keys, whatever ran before
    start(app, code)
    app.click("#run")
    assert finished_run(app)["ok"]
    start(app, code)
    app.click("#run")
    assert finished_run(app)["ok"]
    assert sorted(kinds(app, "task_cache_hit")) == ["a", "b", "side"]

    app.uncheck("#cache-enabled")
    start(app, code.replace("n=20", "n=30"))
    app.click("#run")
    assert finished_run(app)["ok"]
    start(app, code.replace("n=20", "n=30"))
    app.click("#run")
    assert finished_run(app)["ok"]
    assert kinds(app, "task_cache_hit") == []  # nothing was kept, so nothing is reused


def test_preview_runs_the_reactive_previews_and_records_nothing(app):
    start(app, CHAIN)
    before = app.evaluate("window.taskloom.engine.unfinishedRuns()")
    app.click("#preview")
    report = finished_run(app)
    assert report["ok"], report
    assert report["outputs"]["a"] == {"n": -1}
    assert report["outputs"]["side"] == {"n": -10}
    assert app.evaluate("window.taskloom.engine.unfinishedRuns()") == before


def test_run_to_here_runs_only_what_the_task_needs(app):
    start(app, CHAIN.replace("n=10", "n=11"))
    app.evaluate("""() => new Promise((resolve) => {
        const wait = setInterval(() => {
            if (document.body.dataset.documentMode) { clearInterval(wait); resolve(); }
        }, 20);
    })""")
    app.evaluate("import('./page.js').then(({ page }) => page.emit('run-to-here', 'b'))")
    report = finished_run(app)
    assert report["ok"], report
    assert sorted(report["statuses"]) == ["a", "b"]
    assert report["outputs"]["b"] == {"n": 3}
