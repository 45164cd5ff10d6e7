"""What survives a reload of the page: graphs, cached outputs, runs, queue and limit state.

One page (one browser context, so one IndexedDB) serves the module; each
journey reloads it, as a person would, and checks what the engine still has.
"""

from __future__ import annotations

import json

import pytest

from .conftest import open_app
from .site import RUN_MS, set_code
from .test_journeys import run_code

pytestmark = pytest.mark.browser

TWO_STEPS = '''
import asyncio
from pydantic import BaseModel
from taskloom import Task, Workflow


class Quick(Task):
    class Input(BaseModel):
        n: int = 5

    class Output(BaseModel):
        value: int

    async def run(self, input, ctx):
        return {"value": input.n * 2}


class Slow(Task):
    class Input(BaseModel):
        value: int
        steps: int = 80

    class Output(BaseModel):
        total: int

    async def run(self, input, ctx):
        for i in range(1, input.steps + 1):
            await asyncio.sleep(0.05)
            ctx.progress(i / input.steps, f"step {i}")
        return {"total": input.value + input.steps}


wf = Workflow()
wf.add_task(Quick, id="quick")
wf.add_task(Slow, id="slow")
'''

# Code-box code that reports what it found through a one-task graph.
REPORT_TASK = '''
class Report(Task):
    class Input(BaseModel):
        checks: dict

    class Output(BaseModel):
        checks: dict

    async def run(self, input, ctx):
        return {"checks": input.checks}


wf = Workflow()
wf.add_task(Report, id="report", checks=checks)
'''

QUEUE_BEFORE = '''
from pydantic import BaseModel
from taskloom import Task, Workflow
from taskloom.queue import RateLimiter, queues

queue = queues.get("ai:openai")  # the page registers its provider queues on IndexedDB
job = await queue.add({"prompt": "kept across a reload"}, task_type="PersistenceProbe")
limiter = RateLimiter(2, 3600, name="persistence-probe", storage=queue.storage)
waits = [await limiter.try_acquire() for _ in range(3)]
checks = {"job_id": job.id, "status": str(job.status), "waits": waits,
          "storage": type(queue.storage).__name__}
''' + REPORT_TASK

QUEUE_AFTER = '''
from pydantic import BaseModel
from taskloom import Task, Workflow
from taskloom.queue import RateLimiter, queues

queue = queues.get("ai:openai")
job = await queue.get(JOB_ID)
limiter = RateLimiter(2, 3600, name="persistence-probe", storage=queue.storage)
checks = {"status": str(job.status), "input": job.input, "wait": await limiter.try_acquire(),
          "pending": (await queue.stats())["pending"]}
''' + REPORT_TASK

READ_PAGE_DATABASE = """async ([collection, key]) => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("taskloom");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const record = await new Promise((resolve, reject) => {
    const request = db.transaction("records").objectStore("records").get([collection, key]);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  db.close();
  return record ? record.text : null;
}"""


def reload(page, server):
    page.reload()
    return open_app(page, server.url)


def event_kinds(page, task_id: str) -> list[str]:
    return [e["kind"] for e in page.evaluate("window.taskloom.events")
            if e.get("task_id") == task_id]


def test_saved_graphs_live_in_the_task_graph_repository(app, server):
    page = app
    set_code(page, TWO_STEPS)
    page.fill("#graph-name", "two steps")
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name='two steps']", state="attached")
    reload(page, server)
    assert page.eval_on_selector_all("#graphs li", "l => l.map(i => i.dataset.name)") \
        == ["two steps"]
    stored = json.loads(page.evaluate(READ_PAGE_DATABASE, ["graphs", "two steps"]))
    assert stored["name"] == "two steps" and stored["code"].strip() == TWO_STEPS.strip()


def test_cached_outputs_hit_after_a_reload(app, server):
    page = app
    example = page.evaluate("window.taskloom.example")
    first = run_code(page, example)
    assert first["ok"], first
    assert "task_progress" in event_kinds(page, "count")  # really ran

    reload(page, server)
    second = run_code(page, example)
    assert second["ok"], second
    assert second["outputs"] == first["outputs"]
    for task_id in ("count", "describe"):
        kinds = event_kinds(page, task_id)
        assert "task_cache_hit" in kinds, (task_id, kinds)
        assert "task_progress" not in kinds

    # An edited body of a task the code box defines is never answered from the cache.
    edited = run_code(page, example.replace("the sum is", "the total is"))
    assert edited["outputs"]["describe"] == {"text": "the total is 210"}
    assert "task_cache_hit" not in event_kinds(page, "describe")


def test_a_run_interrupted_by_a_reload_resumes_and_finishes(app, server):
    page = app
    set_code(page, TWO_STEPS)
    page.click("#run")
    page.wait_for_selector("tr[data-task-id=slow][data-status=processing][data-progress]",
                           state="attached", timeout=RUN_MS)
    assert page.get_attribute("tr[data-task-id=quick]", "data-status") == "completed"

    reload(page, server)  # the worker, and the run in it, are gone
    assert page.get_attribute("body", "data-unfinished-runs") == "1"
    assert page.is_visible("#resume")
    page.click("#resume-runs li button.resume")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"], report
    assert report["statuses"] == {"quick": "completed", "slow": "completed"}
    assert report["outputs"] == {"quick": {"value": 10}, "slow": {"total": 90}}
    # The task that had finished before the reload kept its output and did not run again.
    assert "task_start" not in event_kinds(page, "quick")
    assert "task_complete" in event_kinds(page, "slow")

    reload(page, server)
    assert page.get_attribute("body", "data-unfinished-runs") == "0"
    assert page.is_hidden("#resume")


def test_queue_and_rate_limit_state_survive_a_reload(app, server):
    page = app
    before = run_code(page, QUEUE_BEFORE)
    assert before["ok"], before.get("traceback")
    checks = before["outputs"]["report"]["checks"]
    # IndexedDB jobs whose leases the page judges by Web Locks (browser/page_queue.py).
    assert checks["storage"] == "PageQueueStorage"
    assert checks["status"] == "pending"
    assert checks["waits"][:2] == [0.0, 0.0] and checks["waits"][2] > 0

    reload(page, server)
    after = run_code(page, QUEUE_AFTER.replace("JOB_ID", repr(checks["job_id"])))
    assert after["ok"], after.get("traceback")
    found = after["outputs"]["report"]["checks"]
    assert found["status"] == "pending"
    assert found["input"] == {"prompt": "kept across a reload"}
    assert found["pending"] >= 1
    assert found["wait"] > 0  # the two slots taken before the reload are still taken
