"""Acceptance: a Map or a While SIGKILLed midway resumes from its last recorded item or
iteration. The body appends what it ran to a side-effect file; an item or iteration
whose checkpoint reached the run record never runs again (the one in flight may:
at-least-once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from pydantic import BaseModel

from taskloom import Map, Task, TaskGraph, TaskGraphRunner, While
from taskloom.runner import CHECKPOINT_SEPARATOR
from taskloom.storage import open_store

HERE = os.path.dirname(os.path.abspath(__file__))
ITEMS, LOOPS = 24, 20


class ResumeItem(Task):
    type = "StorageResumeItem"
    cacheable = False  # every body run must show in the side-effect file

    class Input(BaseModel):
        n: int
        log: str

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        with open(input.log, "a") as side_effects:
            side_effects.write(f"{input.n}\n")
        await asyncio.sleep(0.03)
        return {"n": input.n + 1}


def build(kind: str, log: str) -> TaskGraph:
    body = TaskGraph([ResumeItem("step", {"log": log})])
    if kind == "map":
        return TaskGraph([Map(body, "loop", {"n": list(range(ITEMS)), "concurrency": 2})])
    return TaskGraph([While(body, "loop", {"n": 0, "condition": f"n < {LOOPS}"})])


# The child imports this very module for build().
CHILD = """
import asyncio, sys
sys.path.insert(0, sys.argv[5])
from test_resume_control_after_kill import build
from taskloom import TaskGraphRunner
from taskloom.storage import open_store

async def main(url, run_id, kind, log):
    async with open_store(url) as store:
        await TaskGraphRunner(build(kind, log), store=store, run_id=run_id).run()

asyncio.run(main(*sys.argv[1:5]))
"""


def lines(path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres), "file"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    if request.param == "file":
        return (tmp_path / "store").as_uri()
    return request.getfixturevalue("postgres_url")


async def kill_midway(url: str, run_id: str, kind: str, log, after: int) -> None:
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, run_id, kind, str(log), HERE],
                             stderr=subprocess.PIPE, text=True)
    try:
        while len(lines(log)) < after:
            if child.poll() is not None:
                pytest.fail(f"the run ended before it was killed: {child.stderr.read()}")
            await asyncio.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    assert child.returncode == -signal.SIGKILL


def checkpoints(record) -> dict[str, dict]:
    prefix = "loop" + CHECKPOINT_SEPARATOR
    return {tid[len(prefix):]: t.output for tid, t in record.tasks.items()
            if tid.startswith(prefix) and t.status == "completed"}


@pytest.mark.slow
async def test_a_killed_map_resumes_from_its_last_recorded_item(url, tmp_path):
    log = tmp_path / "side_effects.txt"
    await kill_midway(url, "killed-map", "map", log, ITEMS // 2)
    async with open_store(url) as store:
        interrupted = await store.runs.get("killed-map")
        assert interrupted.status == "processing"
        assert interrupted.task_status("loop") == "processing"
        done = {int(k) for k in checkpoints(interrupted)}
        assert 0 < len(done) < ITEMS
        result = await TaskGraphRunner.resume("killed-map", store=store)
        assert result.ok
        assert result.outputs["loop"] == {"n": [n + 1 for n in range(ITEMS)]}  # order kept
        assert (await store.runs.get("killed-map")).task_status("loop") == "completed"
    runs = Counter(lines(log))
    assert set(runs) == set(range(ITEMS))
    assert {n: runs[n] for n in done} == dict.fromkeys(done, 1)  # recorded: never again
    assert all(runs[n] <= 2 for n in runs)  # in flight at the kill: at most once more


@pytest.mark.slow
async def test_a_killed_while_resumes_from_its_last_recorded_iteration(url, tmp_path):
    log = tmp_path / "side_effects.txt"
    await kill_midway(url, "killed-while", "while", log, LOOPS // 2)
    async with open_store(url) as store:
        interrupted = await store.runs.get("killed-while")
        saved = checkpoints(interrupted)["state"]
        iteration = saved["iteration"]
        assert 0 < iteration < LOOPS and saved["state"]["n"] == iteration
        before = len(lines(log))
        result = await TaskGraphRunner.resume("killed-while", store=store)
        assert result.ok
        assert result.outputs["loop"] == {"n": LOOPS, "iterations": LOOPS}
    after = lines(log)[before:]
    # The resumed run starts at the recorded state: no earlier iteration runs again.
    assert after == list(range(iteration, LOOPS))
    assert lines(log)[:before] == list(range(before))
