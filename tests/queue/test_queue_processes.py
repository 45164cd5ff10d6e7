"""Several real processes on one database: a shared rate limit, and workers killed at random.

Every child is bounded in time and killed in a ``finally``; none outlives its test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from taskloom.queue import JobQueue, JobStatus, open_queue_storage

HELPER = str(Path(__file__).with_name("queue_procs.py"))


def spawn(*args: str, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, HELPER, *args], stdout=stdout, stderr=stderr,
                            start_new_session=True)


def kill_all(processes: list[subprocess.Popen]) -> None:
    for proc in processes:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
    for proc in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("postgres_url")


async def test_three_processes_never_exceed_a_shared_rate_limit(shared_url, tmp_path):
    max_requests, window, per_process = 4, 0.5, 12
    storage = await open_queue_storage(shared_url)  # creates the tables once, up front
    await storage.close()
    out = tmp_path / "grants.txt"
    children = [spawn("ratelimit", shared_url, "shared", str(per_process), str(max_requests),
                      str(window), str(out)) for _ in range(3)]
    try:
        for child in children:
            assert child.wait(timeout=120) == 0
    finally:
        kill_all(children)
    grants = sorted(float(line) for line in out.read_text().split())
    assert len(grants) == 3 * per_process
    # A grant is allowed only once the grant `max_requests` before it has left the window.
    for earlier, later in zip(grants, grants[max_requests:], strict=False):
        assert later - earlier >= window - 1e-9, (earlier, later)


class Chaos:
    """Runs worker processes and kills, restarts and pauses them."""

    def __init__(self, url: str, tmp_path: Path, workers: int, lease: float, seed: int) -> None:
        self.url, self.tmp, self.lease = url, tmp_path, lease
        self.rng = random.Random(seed)
        self.exec_log = tmp_path / "executions.txt"
        self.procs: list[subprocess.Popen] = []
        self.all_procs: list[subprocess.Popen] = []
        self.logs: dict[int, Path] = {}
        self.kills = 0
        self.takeovers = 0
        for _ in range(workers):
            self.start()

    def start(self) -> subprocess.Popen:
        log = self.tmp / f"worker-{len(self.all_procs)}.log"
        with open(log, "w") as err:
            proc = spawn("worker", self.url, "chaos", str(self.lease), str(self.exec_log),
                         stderr=err)
        self.logs[proc.pid] = log
        self.procs.append(proc)
        self.all_procs.append(proc)
        return proc

    def kill_one(self) -> None:
        victim = self.rng.choice(self.procs)
        victim.kill()
        victim.wait(timeout=10)
        self.procs.remove(victim)
        self.kills += 1
        self.start()

    def refusals(self, pid: int) -> int:
        text = self.logs[pid].read_text()
        return text.count("is stale") + text.count("lost the lease")

    async def pause_one_holding_a_job(self, queue: JobQueue) -> bool:
        """SIGSTOP a worker that holds a job until another worker takes the job over."""
        by_pid = {str(p.pid): p for p in self.procs}
        holders = [(j, by_pid[j.worker_id.split(":")[1]])
                   for j in await queue.list(status=JobStatus.PROCESSING, limit=50)
                   if j.worker_id and j.worker_id.split(":")[1] in by_pid]
        if not holders:
            return False
        job, proc = self.rng.choice(holders)
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            # What it holds now that it is frozen (it may have moved on meanwhile).
            held = [j for j in await queue.list(status=JobStatus.PROCESSING, limit=50)
                    if j.worker_id == job.worker_id]
            if not held:
                return False
            job = held[0]
            give_up = time.monotonic() + 30
            while time.monotonic() < give_up:
                now = await queue.get(job.id)
                if now.deliveries > job.deliveries or now.status is not JobStatus.PROCESSING:
                    break
                await asyncio.sleep(0.05)
            took_over = now.deliveries > job.deliveries or now.attempts > job.attempts
            if not took_over:
                return False
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        self.takeovers += 1
        # The paused worker wakes up to a stale lease and must be refused.
        give_up = time.monotonic() + 15
        while self.refusals(proc.pid) == 0 and time.monotonic() < give_up:
            await asyncio.sleep(0.05)
        return True

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=15)
        kill_all(self.all_procs)


async def run_chaos(url: str, tmp_path: Path, *, jobs: int, workers: int, kills: int,
                    pauses: int, seed: int) -> None:
    storage = await open_queue_storage(url)
    queue = JobQueue("chaos", storage, max_attempts=50, max_deliveries=50)
    added = [await queue.add({"n": i}) for i in range(jobs)]
    chaos = Chaos(url, tmp_path, workers, lease=1.0, seed=seed)
    try:
        give_up = time.monotonic() + 150
        # Popped from the end: pauses (which need a busy worker) come early.
        plan = ["kill"] * kills + ["pause"] * pauses
        chaos.rng.shuffle(plan)
        plan.sort(key=lambda action: action == "pause")
        while time.monotonic() < give_up:
            stats = await queue.stats()
            if stats["completed"] + stats["failed"] + stats["aborted"] == jobs:
                break
            await asyncio.sleep(chaos.rng.uniform(0.1, 0.3))
            if plan:
                action = plan.pop()
                if action == "kill":
                    chaos.kill_one()
                elif not await chaos.pause_one_holding_a_job(queue):
                    plan.append(action)  # nobody held a job just then: try again later
    finally:
        chaos.stop()
    stats = await queue.stats()
    # Every job ended, and none was lost: each completed with its own output.
    assert stats["completed"] == jobs, stats
    for job in added:
        done = await queue.get(job.id)
        assert done.output["n"] == job.input["n"]
    executions = chaos.exec_log.read_text().split("\n")[:-1]
    executed_jobs = {line.split()[0] for line in executions}
    assert executed_jobs == {job.id for job in added}
    duplicates = len(executions) - len(executed_jobs)
    assert duplicates <= chaos.kills + chaos.takeovers, (duplicates, chaos.kills, chaos.takeovers)
    refusals = sum(chaos.refusals(pid) for pid in chaos.logs)
    print(f"chaos: {jobs} jobs, {chaos.kills} kills, {chaos.takeovers} takeovers, "
          f"{duplicates} duplicate executions, {refusals} refused stale reports")
    assert refusals >= chaos.takeovers, (refusals, chaos.takeovers)
    assert (chaos.kills, chaos.takeovers) == (kills, pauses)
    await storage.close()


@pytest.mark.postgres
async def test_chaos_four_postgres_workers_killed_at_random(postgres_url, tmp_path):
    await run_chaos(postgres_url, tmp_path, jobs=500, workers=4, kills=8, pauses=2, seed=4)


async def test_chaos_sqlite_workers_killed_at_random(tmp_path):
    await run_chaos(f"sqlite:///{tmp_path / 'chaos.db'}", tmp_path, jobs=200, workers=3,
                    kills=4, pauses=1, seed=3)
