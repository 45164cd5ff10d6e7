"""The Queue, Cache and Logs panels' endpoints, under CPython: BrowserEngine on its
memory page store, as tests/browser/test_engine.py drives it."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

from taskloom.browser.engine import BrowserEngine
from taskloom.queue import JobQueue, queues
from taskloom.queue.storage.memory import MemoryQueueStorage

from .test_engine import EXAMPLE

QUEUE = "panels-test"

#: A task whose body runs as a job of QUEUE; no worker serves that queue, so the
#: job waits until someone aborts it.
QUEUED = f'''
from pydantic import BaseModel
from taskloom import Workflow
from taskloom.queue.task import JobQueueTask


class Queued(JobQueueTask):
    queue_name = {QUEUE!r}

    class Input(BaseModel):
        n: int = 1

    class Output(BaseModel):
        n: int

    async def execute(self, input, ctx):
        return {{"n": input.n}}


wf = Workflow()
wf.add_task(Queued, id="queued")
'''

PRINTS = '''
import logging
import sys
import warnings

from pydantic import BaseModel
from taskloom import Task, Workflow
from taskloom.tasks.utility import DebugLog

print("from the code box itself")


class Talk(Task):
    cacheable = False

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        said: str

    async def run(self, input, ctx):
        print("hello from a task")
        print("two", "parts", end="")
        print(" and the rest")
        print("to stderr", file=sys.stderr)
        warnings.warn("careful now")
        ctx.logger.warning("the task's own logger")
        return {"said": "hi"}


wf = Workflow()
wf.add_task(Talk, id="talk")
wf.add_task(DebugLog, id="debug", note="noted")
'''


def make_engine():
    events: list[dict] = []
    engine = BrowserEngine(emit=lambda text: events.append(json.loads(text)))
    return engine, events


async def acall(engine, method: str, *args) -> dict:
    return json.loads(await engine.call(method, json.dumps(list(args))))


@pytest.fixture
def queue():
    queue = queues.register(JobQueue(QUEUE, MemoryQueueStorage(), max_attempts=4))
    yield queue
    queues.unregister(QUEUE)


def jobs_of(answer: dict, name: str) -> list[dict]:
    return next(q for q in answer["queues"] if q["name"] == name)["jobs"]


async def test_list_jobs_shows_state_attempts_and_run_after(queue):
    engine, _events = make_engine()
    waiting = await queue.add({"text": "a"}, task_type="Echo", run_id="run-1")
    await queue.add({"text": "b"}, task_type="Echo", run_id="run-1")
    # What a 429 does: the worker puts the job back with a delay and one more attempt.
    [claimed] = await queue.storage.claim(QUEUE, "worker-1", lease=30)
    assert claimed.id == waiting.id
    await queue.storage.retry(claimed.id, claimed.deliveries, "RateLimitError: HTTP 429",
                              delay=30)
    answer = await acall(engine, "list_jobs")
    assert answer["ok"]
    rows = {row["id"]: row for row in jobs_of(answer, QUEUE)}
    row = rows[waiting.id]
    assert row["state"] == "pending" and row["attempts"] == 1 and row["max_attempts"] == 4
    assert row["run_id"] == "run-1" and row["error"] == "RateLimitError: HTTP 429"
    assert 29 < row["run_after"] - answer["now"] <= 30  # the wait left, on the engine's clock
    assert row["progress"] == 0.0 and row["task_type"] == "Echo"
    # The one still due comes first: active jobs are ordered by when they may run.
    assert [r["id"] for r in jobs_of(answer, QUEUE)][-1] == waiting.id


async def test_abort_a_waiting_job_and_refuse_what_cannot_be_aborted(queue):
    engine, _events = make_engine()
    job = await queue.add({"text": "a"}, task_type="Echo", run_id="elsewhere")
    answer = await acall(engine, "abort_job", QUEUE, job.id)
    assert answer["ok"] and answer["job"]["state"] == "aborted"
    assert answer["run_aborted"] is False  # no run of this engine owns it
    again = await acall(engine, "abort_job", QUEUE, job.id)
    assert again == {"ok": False, "error": f"job {job.id[:8]} already aborted: there is "
                                           "nothing to abort"}
    missing = await acall(engine, "abort_job", "no-such-queue", job.id)
    assert not missing["ok"] and missing["error"].startswith("UnknownQueueError")
    unknown = await acall(engine, "abort_job", QUEUE, "no-such-job")
    assert not unknown["ok"] and unknown["error"].startswith("JobNotFoundError")


async def _wait_for_job(engine) -> dict:
    for _ in range(500):
        jobs = jobs_of(await acall(engine, "list_jobs"), QUEUE)
        if jobs:
            return jobs[0]
        await asyncio.sleep(0.01)
    raise AssertionError("the run never queued its job")


async def test_aborting_a_job_of_the_running_run_aborts_the_run(queue):
    engine, _events = make_engine()
    running = asyncio.create_task(engine.run_code(QUEUED))
    job = await _wait_for_job(engine)
    assert job["state"] == "pending" and job["run_id"]
    answer = await acall(engine, "abort_job", QUEUE, job["id"])
    assert answer["ok"] and answer["run_aborted"] is True
    report = json.loads(await asyncio.wait_for(running, 10))
    assert report["ok"] is False and report["aborted"] is True, report
    assert "traceback" not in report  # shown as aborted, not as a failure
    assert report["statuses"]["queued"] == "aborted"
    assert report["run_id"] == job["run_id"]
    assert (await queue.get(job["id"])).status == "aborted"
    assert "Queue panel" in report["error"]


async def test_aborting_a_run_from_the_queue_panel(queue):
    engine, _events = make_engine()
    running = asyncio.create_task(engine.run_code(QUEUED))
    job = await _wait_for_job(engine)
    stale = await queue.add({"n": 9}, task_type="Queued", run_id="an-old-run")
    answer = await acall(engine, "abort_run_jobs", job["run_id"])
    assert answer["ok"] and answer["run_aborted"] is True
    report = json.loads(await asyncio.wait_for(running, 10))
    assert report["aborted"] is True, report
    # Another run's jobs: aborted on the queue; no run of this engine is touched.
    assert await acall(engine, "abort_run_jobs", "an-old-run") == {
        "ok": True, "aborted": 1, "run_aborted": False}
    assert (await queue.get(stale.id)).status == "aborted"
    assert not (await acall(engine, "abort_run_jobs", ""))["ok"]


async def test_cache_lists_entries_and_clear_empties_it():
    engine, events = make_engine()
    assert (await acall(engine, "cache_stats")) == {"ok": True, "count": 0, "size": 0,
                                                   "entries": []}
    before = time.time()
    assert json.loads(await engine.run_code(EXAMPLE))["ok"]
    stats = await acall(engine, "cache_stats")
    assert stats["count"] == 2 and stats["size"] > 0
    assert sorted(e["task_type"] for e in stats["entries"]) == ["CountTo", "Describe"]
    assert all(e["code_box"] for e in stats["entries"])  # keyed by the code box's code
    assert sum(e["size"] for e in stats["entries"]) == stats["size"]
    assert all(e["stored_at"] >= before - 1 for e in stats["entries"])
    # The same code again is a cache hit: what clearing must undo.
    events.clear()
    assert json.loads(await engine.run_code(EXAMPLE))["ok"]
    assert {e["task_id"] for e in events if e["kind"] == "task_cache_hit"} == {"count",
                                                                              "describe"}
    assert await acall(engine, "clear_cache") == {"ok": True, "cleared": 2}
    assert (await acall(engine, "cache_stats"))["count"] == 0
    events.clear()
    assert json.loads(await engine.run_code(EXAMPLE))["ok"]
    assert not [e for e in events if e["kind"] == "task_cache_hit"]


async def test_clear_cache_older_than():
    engine, _events = make_engine()
    assert json.loads(await engine.run_code(EXAMPLE))["ok"]
    assert await acall(engine, "clear_cache", 3600) == {"ok": True, "cleared": 0}
    assert await acall(engine, "clear_cache", 0) == {"ok": True, "cleared": 2}
    bad = await acall(engine, "clear_cache", "soon")
    assert not bad["ok"] and "older_than must be a number of seconds" in bad["error"]


async def test_print_logging_and_warnings_become_log_events_of_their_task():
    engine, events = make_engine()
    stdout, stderr = sys.stdout, sys.stderr
    report = json.loads(await engine.run_code(PRINTS))
    assert report["ok"], report
    assert (sys.stdout, sys.stderr) == (stdout, stderr)  # the streams are put back
    logs = [(e["task_id"], e["level"], e["text"]) for e in events if e["kind"] == "log"]
    assert (None, "stdout", "from the code box itself") in logs
    assert ("talk", "stdout", "hello from a task") in logs
    assert ("talk", "stdout", "two parts and the rest") in logs  # whole lines
    assert ("talk", "stderr", "to stderr") in logs
    assert ("talk", "warning", "UserWarning: careful now") in logs
    assert ("talk", "warning", "the task's own logger") in logs
    # DebugLog's record (it also passes on what Talk, before it, returned).
    assert ("debug", "info", "[debug] {'note': 'noted', 'said': 'hi'}") in logs
    run_ids = {e["run_id"] for e in events if e["kind"] == "log" and e["task_id"]}
    assert run_ids == {report["run_id"]}
    # After the run nothing is captured any more.
    count = len(events)
    print("after the run")
    assert len(events) == count


async def test_a_failing_run_still_puts_the_streams_back():
    engine, events = make_engine()
    stdout = sys.stdout
    report = json.loads(await engine.run_code('print("before the error")\nraise ValueError("no")'))
    assert report["ok"] is False and "ValueError" in report["error"]
    assert sys.stdout is stdout
    assert [e["text"] for e in events if e["kind"] == "log"] == ["before the error"]


TWO_AT_ONCE = '''
import asyncio

from pydantic import BaseModel
from taskloom import Task, Workflow


class Halves(Task):
    cacheable = False

    class Input(BaseModel):
        name: str

    class Output(BaseModel):
        name: str

    async def run(self, input, ctx):
        print(input.name, "starts", end="")
        await asyncio.sleep(0.01)  # the other task writes meanwhile
        print(" and ends")
        return {"name": input.name}


wf = Workflow()
wf.add_task(Halves, id="a", name="a")
wf.add_task(Halves, id="b", name="b")
wf.after()  # both at once: neither waits for the other
'''


async def test_tasks_printing_at_once_keep_their_lines_apart():
    engine, events = make_engine()
    report = json.loads(await engine.run_code(TWO_AT_ONCE))
    assert report["ok"], report
    order = [(e["kind"], e.get("task_id")) for e in events]
    assert order.index(("task_start", "b")) < order.index(("task_complete", "a"))  # at once
    logs = sorted((e["task_id"], e["text"]) for e in events if e["kind"] == "log")
    assert logs == [("a", "a starts and ends"), ("b", "b starts and ends")]


PRINTING_JOB = QUEUED.replace('        return {"n": input.n}',
                              '        print("from the job")\n        return {"n": input.n}')


async def test_a_jobs_print_carries_its_job_not_a_stand_in_task(queue):
    from taskloom.queue.task import task_type_handler
    from taskloom.queue.worker import Worker

    engine, events = make_engine()
    worker = Worker(queue, task_type_handler())
    serving = asyncio.create_task(worker.run())
    try:
        report = json.loads(await asyncio.wait_for(engine.run_code(PRINTING_JOB), 10))
    finally:
        worker.stop()
        await asyncio.wait_for(serving, 10)
    assert report["ok"], report
    [line] = [e for e in events if e["kind"] == "log"]
    [job] = await queue.list()
    assert (line["text"], line["task_id"], line["job_id"]) == ("from the job", None, job.id)
    assert line["run_id"] == report["run_id"]
