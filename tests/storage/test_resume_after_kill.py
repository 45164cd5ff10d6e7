"""Acceptance: a run SIGKILLed midway resumes to completion, and no task that
was recorded as completed runs its body again (the body appends its task id
to a side-effect file; in-flight tasks may run twice: at-least-once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from pydantic import BaseModel

from taskloom import Task, TaskGraph, TaskGraphRunner
from taskloom.errors import RecordNotFoundError
from taskloom.storage import open_store

HERE = os.path.dirname(os.path.abspath(__file__))
CHAINS, DEPTH = 5, 10  # 50 tasks: five chains of ten, run five at a time


class ResumeStep(Task):
    type = "StorageResumeStep"
    cacheable = False  # every body run must show in the side-effect file

    class Input(BaseModel):
        x: int = 0
        log: str

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        with open(input.log, "a") as side_effects:
            side_effects.write(ctx.task_id + "\n")
        await asyncio.sleep(0.03)
        return {"x": input.x + 1}


def build(log: str, chains: int, depth: int) -> TaskGraph:
    graph = TaskGraph()
    for c in range(chains):
        for d in range(depth):
            graph.add_task(ResumeStep(id=f"c{c}d{d}", defaults={"log": log}))
            if d:
                graph.connect(f"c{c}d{d - 1}", "x", f"c{c}d{d}", "x")
    return graph


# The child imports this very module for ResumeStep and build().
CHILD = """
import asyncio, sys
sys.path.insert(0, sys.argv[6])
from test_resume_after_kill import build
from taskloom import TaskGraphRunner
from taskloom.storage import open_store

async def main(url, run_id, log, chains, depth):
    async with open_store(url) as store:
        runner = TaskGraphRunner(build(log, chains, depth), store=store, run_id=run_id,
                                 concurrency=chains)
        await runner.run()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
"""


async def recorded_completed(store, run_id: str) -> int:
    try:
        record = await store.runs.get(run_id)
    except RecordNotFoundError:  # not created yet
        return 0
    return sum(t.status == "completed" for t in record.tasks.values())


def lines(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "file"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    return request.getfixturevalue("postgres_url")


@pytest.mark.slow
async def test_a_killed_run_resumes_without_rerunning_completed_tasks(url, tmp_path):
    log = tmp_path / "side_effects.txt"
    run_id = "killed-run"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, run_id, str(log), str(CHAINS), str(DEPTH), HERE],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with open_store(url) as watcher:
            # Midway, and once the store holds a completed task: record writes are batched,
            # so on a loaded machine the side-effect file can run ahead of the record.
            while len(lines(log)) < CHAINS * DEPTH // 2 or not await recorded_completed(
                    watcher, run_id):
                if child.poll() is not None:
                    pytest.fail(f"the run ended before it was killed: {child.stderr.read()}")
                await asyncio.sleep(0.005)
            os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL

    async with open_store(url) as store:
        interrupted = await store.runs.get(run_id)
        assert interrupted.status == "processing"
        completed = {tid for tid, t in interrupted.tasks.items() if t.status == "completed"}
        assert 0 < len(completed) < CHAINS * DEPTH
        before_resume = Counter(lines(log))

        result = await TaskGraphRunner.resume(run_id, store=store, concurrency=CHAINS)

        assert result.ok
        assert {result.outputs[f"c{c}d{DEPTH - 1}"]["x"] for c in range(CHAINS)} == {DEPTH}
        finished = await store.runs.get(run_id)
        assert finished.status == "completed"
        assert {t.status for t in finished.tasks.values()} == {"completed"}
        assert len(finished.tasks) == CHAINS * DEPTH

    runs = Counter(lines(log))
    assert set(runs) == set(finished.tasks)  # every task's body ran
    assert {tid: runs[tid] for tid in completed} == dict.fromkeys(completed, 1)
    # The rest ran at most once before the kill and once after it.
    assert all(runs[tid] - before_resume[tid] == 1 for tid in set(runs) - completed)
