"""``taskloom worker --lease SECONDS``: a killed worker's jobs wait that long, not 30 s."""

import asyncio
import subprocess
import sys
import time

from taskloom.cli import main
from taskloom.queue import JobQueue, JobStatus, open_queue_storage

HANGS_ONCE = '''
import asyncio
import os
from pathlib import Path
from pydantic import BaseModel
from taskloom import Task

class CliHangsOnce(Task):
    """The first delivery marks the flag file and hangs; the next one finishes."""
    cacheable = False
    class Input(BaseModel):
        n: int
    class Output(BaseModel):
        n: int
    async def run(self, input, ctx):
        flag = Path(os.environ["HANG_FLAG"])
        if not flag.exists():
            flag.write_text("claimed")
            await asyncio.sleep(3600)
        return {"n": input.n + 1}
'''


async def wait_until(predicate, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        await asyncio.sleep(0.05)


async def test_a_killed_workers_job_is_taken_over_after_the_given_lease(tmp_path):
    (tmp_path / "cli_hangs_once.py").write_text(HANGS_ONCE)
    flag = tmp_path / "hang.flag"
    url = f"sqlite:///{tmp_path}/jobs.db"
    storage = await open_queue_storage(url)
    queue = JobQueue("slow", storage)
    job = await queue.add({"n": 1}, task_type="CliHangsOnce")
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "HANG_FLAG": str(flag)}

    def start_worker():
        return subprocess.Popen(
            [sys.executable, "-m", "taskloom.cli", "worker", "--store", url, "--queue", "slow",
             "--lease", "2", "--import", "cli_hangs_once"],
            env=env, stderr=subprocess.DEVNULL)

    first = start_worker()
    second = None
    try:
        async def claimed():
            return flag.exists() and (await queue.get(job.id)).status is JobStatus.PROCESSING
        await wait_until(claimed, "the first worker to claim the job")
        held = await queue.get(job.id)
        # The lease the worker took is the one given, not the 30 s default.
        assert 0 < held.lease_expires_at - time.time() <= 2.5
        first.kill()
        first.wait(30)

        second = start_worker()
        assert await asyncio.wait_for(queue.wait(job.id), 60) == {"n": 2}
        done = await queue.get(job.id)
        assert done.deliveries == 2 and done.attempts == 1  # the lost lease cost one attempt
    finally:
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(30)
        await storage.close()


def test_a_lease_that_is_not_positive_is_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/jobs.db"
    assert main(["worker", "--store", url, "--queue", "q", "--lease", "0"]) == 2
    assert capsys.readouterr().err == "taskloom: --lease must be a positive number of " \
                                      "seconds, not 0.0\n"
    assert not (tmp_path / "jobs.db").exists()
