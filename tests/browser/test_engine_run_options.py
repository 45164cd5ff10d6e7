"""run_code's toolbar options under CPython: cache off, preview, run to here."""

from __future__ import annotations

import json

from taskloom.browser.engine import BrowserEngine

CODE = '''
from pydantic import BaseModel
from taskloom import Task, Workflow


class Inc(Task):
    class Input(BaseModel):
        n: int = 0

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        return {"n": input.n + 1}

    async def run_reactive(self, input, ctx):
        return {"n": -input.n}


wf = Workflow()
wf.add_task(Inc, id="a", n=SEED)
wf.add_task(Inc, id="b")  # fed a.n: the builder connects matching ports
wf.after()  # the next task depends on nothing
wf.add_task(Inc, id="side", n=100)
'''


def make_engine():
    events: list[dict] = []
    engine = BrowserEngine(emit=lambda text: events.append(json.loads(text)))
    return engine, events


def hits(events):
    return sorted(e["task_id"] for e in events if e["kind"] == "task_cache_hit")


async def test_cache_on_reuses_outputs_and_cache_off_neither_reuses_nor_keeps():
    engine, events = make_engine()
    code = CODE.replace("SEED", "1")
    assert json.loads(await engine.run_code(code))["ok"]
    events.clear()
    assert json.loads(await engine.run_code(code))["ok"]
    assert hits(events) == ["a", "b", "side"]

    fresh = CODE.replace("SEED", "2").replace("n=100", "n=200")
    for _ in range(2):
        events.clear()
        report = json.loads(await engine.run_code(fresh, None, {"cache": False}))
        assert report["ok"] and report["outputs"]["b"] == {"n": 4}
        assert hits(events) == []
    events.clear()
    assert json.loads(await engine.run_code(fresh))["ok"]
    assert hits(events) == []  # the cache-off runs kept nothing


async def test_run_to_here_runs_the_target_and_what_it_needs_only():
    engine, _ = make_engine()
    report = json.loads(await engine.run_code(CODE.replace("SEED", "5"), None, {"target": "b"}))
    assert report["ok"], report
    assert report["statuses"] == {"a": "completed", "b": "completed"}
    assert report["outputs"]["b"] == {"n": 7}


async def test_run_to_an_unknown_task_is_a_clear_error():
    engine, _ = make_engine()
    report = json.loads(await engine.run_code(CODE.replace("SEED", "5"), None,
                                              {"target": "nope"}))
    assert not report["ok"]
    assert report["error"] == ("WorkflowError: cannot run to 'nope': the graph has no task "
                               "with that id")


async def test_preview_runs_the_reactive_previews_unrecorded():
    engine, _ = make_engine()
    before = json.loads(await engine.unfinished_runs())["runs"]
    report = json.loads(await engine.run_code(CODE.replace("SEED", "3"), None,
                                              {"preview": True}))
    assert report["ok"], report
    assert report["outputs"]["a"] == {"n": -3} and report["outputs"]["side"] == {"n": -100}
    assert json.loads(await engine.unfinished_runs())["runs"] == before
