"""An idle worker waits for work only when there is none: no wake-up is lost."""

from __future__ import annotations

import asyncio
import time

from taskloom.queue import JobQueue, JobStatus, Worker
from taskloom.queue.storage.memory import MemoryQueueStorage


class CountingWaits(MemoryQueueStorage):
    """Memory storage that counts the worker's waits begun while a job was ready."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0
        self.waits_with_work_ready = 0

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        self.waits += 1
        now = time.time()
        if any(job.queue == queue and job.status is JobStatus.PENDING and job.run_after <= now
               for job in self._jobs.values()):
            self.waits_with_work_ready += 1
        await super().wait_for_work(queue, timeout)


async def echo(job, ctx):
    return {"echo": job.input}


async def test_jobs_added_one_after_another_never_find_the_worker_waiting_idle():
    storage = CountingWaits()
    queue = JobQueue("q", storage)
    # A long idle wait: a lost wake-up would leave each job waiting that long.
    worker = Worker(queue, echo, concurrency=4, lease=5, idle_wait=60)
    serving = asyncio.create_task(worker.run())
    try:
        for n in range(30):
            job = await queue.add({"n": n})
            assert await queue.wait(job.id, timeout=120) == {"echo": {"n": n}}
            await asyncio.sleep(0)  # let the worker settle back to waiting
    finally:
        worker.stop()
        await serving
    assert storage.waits >= 30  # it did go idle between the jobs
    assert storage.waits_with_work_ready == 0
