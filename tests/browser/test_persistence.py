"""What survives a reload of the page: graphs, cached outputs, runs, queue and limit state.

One page (one browser context, so one IndexedDB) serves the module; each
journey reloads it, as a person would, and checks what the engine still has.
"""

from __future__ import annotations

import json

import pytest

from .conftest import reload_app
from .graphs import report_graph, slow_graph
from .site import RUN_MS, run_code, set_code

pytestmark = pytest.mark.browser

# "first", then "slow": 80 steps of progress, enough to reload in the middle of.
TWO_STEPS = slow_graph(80)

QUEUE_BEFORE = report_graph('''
from taskloom.queue import RateLimiter, queues

queue = queues.get("ai:openai")  # the page registers its provider queues on IndexedDB
job = await queue.add({"prompt": "kept across a reload"}, task_type="PersistenceProbe")
limiter = RateLimiter(2, 3600, name="persistence-probe", storage=queue.storage)
waits = [await limiter.try_acquire() for _ in range(3)]
checks = {"job_id": job.id, "status": str(job.status), "waits": waits,
          "storage": type(queue.storage).__name__}
''')

QUEUE_AFTER = report_graph('''
from taskloom.queue import RateLimiter, queues

queue = queues.get("ai:openai")
job = await queue.get(JOB_ID)
limiter = RateLimiter(2, 3600, name="persistence-probe", storage=queue.storage)
checks = {"status": str(job.status), "input": job.input, "wait": await limiter.try_acquire(),
          "pending": (await queue.stats())["pending"]}
''')

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


def event_kinds(page, task_id: str) -> list[str]:
    return [e["kind"] for e in page.evaluate("window.taskloom.events")
            if e.get("task_id") == task_id]


def test_saved_graphs_live_in_the_task_graph_repository(app):
    page = app
    set_code(page, TWO_STEPS)
    page.fill("#graph-name", "two steps")
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name='two steps']", state="attached")
    reload_app(page)
    assert page.eval_on_selector_all("#graphs li", "l => l.map(i => i.dataset.name)") \
        == ["two steps"]
    stored = json.loads(page.evaluate(READ_PAGE_DATABASE, ["graphs", "two steps"]))
    assert stored["name"] == "two steps" and stored["code"].strip() == TWO_STEPS.strip()


def test_cached_outputs_hit_after_a_reload(app):
    page = app
    example = page.evaluate("window.taskloom.example")
    first = run_code(page, example)
    assert first["ok"], first
    assert "task_progress" in event_kinds(page, "count")  # really ran

    reload_app(page)
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


def test_a_run_interrupted_by_a_reload_resumes_and_finishes(app):
    page = app
    set_code(page, TWO_STEPS)
    page.click("#run")
    page.wait_for_selector("tr[data-task-id=slow][data-status=processing][data-progress]",
                           state="attached", timeout=RUN_MS)
    assert page.get_attribute("tr[data-task-id=first]", "data-status") == "completed"

    reload_app(page)  # the worker, and the run in it, are gone
    assert page.get_attribute("body", "data-unfinished-runs") == "1"
    assert page.is_visible("#resume")
    page.click("#resume-runs li button.resume")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"], report
    assert report["statuses"] == {"first": "completed", "slow": "completed"}
    assert report["outputs"] == {"first": {"value": 5}, "slow": {"total": 85}}
    # The task that had finished before the reload kept its output and did not run again.
    assert "task_start" not in event_kinds(page, "first")
    assert "task_complete" in event_kinds(page, "slow")

    reload_app(page)
    assert page.get_attribute("body", "data-unfinished-runs") == "0"
    assert page.is_hidden("#resume")


def test_queue_and_rate_limit_state_survive_a_reload(app):
    page = app
    before = run_code(page, QUEUE_BEFORE)
    assert before["ok"], before.get("traceback")
    checks = before["outputs"]["report"]["checks"]
    # IndexedDB jobs whose leases the page judges by Web Locks (browser/page_queue.py).
    assert checks["storage"] == "PageQueueStorage"
    assert checks["status"] == "pending"
    assert checks["waits"][:2] == [0.0, 0.0] and checks["waits"][2] > 0

    reload_app(page)
    after = run_code(page, QUEUE_AFTER.replace("JOB_ID", repr(checks["job_id"])))
    assert after["ok"], after.get("traceback")
    found = after["outputs"]["report"]["checks"]
    assert found["status"] == "pending"
    assert found["input"] == {"prompt": "kept across a reload"}
    assert found["pending"] >= 1
    assert found["wait"] > 0  # the two slots taken before the reload are still taken
