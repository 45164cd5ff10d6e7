"""Acceptance: two `taskloom resume` of one run started at the same time. Exactly one
executes the unfinished tasks; the other exits 2 naming the owner and its lease's expiry.

The tasks log each body run to a side-effect file and then wait for a gate file
that the test creates only once one process has exited: so the winner is still
running (and holding the run) whenever the loser looks, however slow the machine.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections import Counter

import pytest

from taskloom.storage import open_store

MODULE = '''
import asyncio, os
from pydantic import BaseModel
from taskloom import Task

class GatedStep(Task):
    type = "ConcurrentResumeStep"
    cacheable = False

    class Input(BaseModel):
        x: int = 0
        log: str
        gate: str

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        with open(input.log, "a") as side_effects:
            side_effects.write(f"{ctx.task_id} {os.getpid()}\\n")
        while not os.path.exists(input.gate):
            await asyncio.sleep(0.01)
        return {"x": input.x + 1}
'''

WAIT = 120.0  # seconds: only a hang (both processes running the run) gets near it


def graph_json(log: str, gate: str) -> dict:
    defaults = {"log": log, "gate": gate}
    step = "ConcurrentResumeStep"
    return {
        "schema_version": 1,
        "tasks": [{"id": t, "type": step, "defaults": dict(defaults)} for t in "abcd"],
        "dataflows": [
            {"source_task_id": "a", "source_port": "x", "target_task_id": "b",
             "target_port": "x"},
            {"source_task_id": "b", "source_port": "x", "target_task_id": "c",
             "target_port": "x"},
        ],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.slow
async def test_two_concurrent_resumes_run_the_unfinished_tasks_once(url, tmp_path):
    (tmp_path / "gated_tasks.py").write_text(MODULE)
    log, gate = tmp_path / "side_effects.txt", tmp_path / "gate"
    async with open_store(url) as store:
        # A run that stopped after "a" completed and while "d" was running.
        await store.runs.create(graph_json(str(log), str(gate)), run_id="shared",
                                task_ids=list("abcd"), status="processing")
        await store.runs.update_task("shared", "a", status="completed", output={"x": 1})
        await store.runs.update_task("shared", "d", status="processing")

    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    command = [sys.executable, "-m", "taskloom.cli", "resume", "shared", "--store", url,
               "--import", "gated_tasks", "--quiet"]
    both = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    try:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + WAIT
        while all(p.poll() is None for p in both):
            assert loop.time() < give_up, "neither resume gave way: both are running the run"
            await asyncio.sleep(0.01)
        [loser] = [p for p in both if p.poll() is not None]
        [winner] = [p for p in both if p is not loser]
        loser_err = loser.stderr.read()
        assert loser.returncode == 2, loser_err
        gate.touch()  # now the winner may finish
        _, winner_err = winner.communicate(timeout=WAIT)
    finally:
        for p in both:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert winner.returncode == 0, winner_err

    # One line, naming the owner (the winner's host and pid) and when its lease expires.
    [line] = loser_err.strip().splitlines()
    assert f"is being run by {socket.gethostname()}:{winner.pid}" in line
    assert "owner lease expires at" in line and "--take-over" in line

    bodies = Counter(entry.split()[0] for entry in log.read_text().splitlines())
    pids = {entry.split()[1] for entry in log.read_text().splitlines()}
    assert bodies == Counter({"b": 1, "c": 1, "d": 1})  # "a" was done; the rest ran once
    assert pids == {str(winner.pid)}
    async with open_store(url) as store:
        record = await store.runs.get("shared")
        assert record.status == "completed"
        assert record.tasks["c"].output == {"x": 3}
        assert record.owner is None  # released at the end
