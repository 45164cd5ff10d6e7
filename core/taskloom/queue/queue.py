"""JobQueue: the producer's side of a named queue — add, look at, wait for, abort.

    queue = JobQueue("embeddings", await open_queue_storage("sqlite:///jobs.db"))
    job = await queue.add({"text": "hello"}, task_type="TextEmbedding", run_id=run.id)
    output = await queue.wait(job.id)

Adding an input that an active or completed job of the queue already has
returns that job (de-duplication by fingerprint), which is also how a resumed
run finds the job it enqueued before a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from ..cache import canonical_json
from ..errors import (
    JobFailedError,
    JobInputError,
    JobNotFoundError,
    SerializationError,
    UnknownQueueError,
)
from .job import Job, JobStatus
from .limiters import Limiter
from .retry import RetryPolicy
from .storage.base import QueueStorage

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


class JobQueue:
    def __init__(self, name: str, storage: QueueStorage, *, limiter: Limiter | None = None,
                 retry: RetryPolicy | None = None, max_attempts: int = 3,
                 max_deliveries: int | None = None) -> None:
        check_queue_name(name)
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.name = name
        self.storage = storage
        self.limiter = limiter
        self.retry = retry or RetryPolicy()
        self.max_attempts = max_attempts
        #: Claims allowed before a job that keeps killing its worker is failed.
        self.max_deliveries = max_deliveries or max_attempts + 2

    # -- producing ---------------------------------------------------------------

    async def add(self, input: dict[str, Any], *, task_type: str = "", run_id: str | None = None,
                  fingerprint: str | None = None, delay: float = 0.0,
                  timeout: float | None = None, max_attempts: int | None = None) -> Job:
        """Enqueue ``input``, or return the active job that already has its fingerprint.

        ``delay`` holds the job back that many seconds; ``timeout`` sets its
        deadline that many seconds from now. Raises JobInputError (and stores
        nothing) when the input is not a JSON object.
        """
        job = self._new_job(input, task_type, run_id, fingerprint, max_attempts)
        return await self.storage.add(job, delay=delay, timeout=timeout)

    def _new_job(self, input: dict[str, Any], task_type: str, run_id: str | None,
                 fingerprint: str | None, max_attempts: int | None) -> Job:
        if not isinstance(input, dict):
            raise JobInputError(f"job input for queue {self.name!r} must be a dict of JSON values, "
                                f"not {type(input).__name__}")
        try:
            text = canonical_json(input)
        except SerializationError as exc:
            raise JobInputError(f"job input for queue {self.name!r} cannot be stored: {exc}") \
                from None
        if fingerprint is None:
            fingerprint = _fingerprint_of_text(task_type, text)
        attempts = max_attempts or self.max_attempts
        return Job(id=uuid.uuid4().hex, queue=self.name, task_type=task_type, input=input,
                   fingerprint=fingerprint, max_attempts=attempts,
                   max_deliveries=max(self.max_deliveries, attempts), run_id=run_id)

    async def add_many(self, inputs: list[dict[str, Any]], *, task_type: str = "",
                       run_id: str | None = None) -> list[Job]:
        """``add`` for many inputs in one transaction (no delay or timeout); same order.
        Any input that is not JSON refuses the whole batch and nothing is stored."""
        jobs = [self._new_job(input, task_type, run_id, None, None) for input in inputs]
        return await self.storage.add_many(jobs)

    # -- looking -------------------------------------------------------------------

    async def get(self, job_id: str) -> Job:
        job = await self.storage.get(job_id)
        if job is None or job.queue != self.name:
            raise JobNotFoundError(f"queue {self.name!r} has no job {job_id!r}")
        return job

    async def wait(self, job_id: str, *, timeout: float | None = None,
                   on_progress: Callable[[Job], Any] | None = None,
                   poll_interval: float = 0.25) -> dict[str, Any]:
        """The output of the job once it completes. Raises JobFailedError if it fails or
        is aborted, TimeoutError after ``timeout`` seconds (the job keeps going)."""
        give_up = None if timeout is None else time.monotonic() + timeout
        nap, seen = 0.002, (-1.0, None)
        while True:
            job = await self.get(job_id)
            if on_progress is not None and (job.progress, job.progress_message) != seen:
                seen = (job.progress, job.progress_message)
                result = on_progress(job)
                if asyncio.iscoroutine(result):
                    await result
            if job.status is JobStatus.COMPLETED:
                return job.output or {}
            if job.status in (JobStatus.FAILED, JobStatus.ABORTED):
                error = JobFailedError(f"job {job_id!r} on queue {self.name!r} ended "
                                       f"{job.status}: {job.error}")
                error.job = job  # type: ignore[attr-defined]
                raise error
            if give_up is not None and time.monotonic() >= give_up:
                raise TimeoutError(f"job {job_id!r} still {job.status} after {timeout} s")
            # Fast at first (short jobs), then settle at poll_interval.
            await asyncio.sleep(nap)
            nap = min(nap * 2, poll_interval)

    async def list(self, *, status: JobStatus | str | None = None, run_id: str | None = None,
                   limit: int = 100) -> list[Job]:
        return await self.storage.list(self.name, status=None if status is None
                                       else JobStatus(status), run_id=run_id, limit=limit)

    async def stats(self) -> dict[str, int]:
        """Job count per status, plus ``total``."""
        counts = await self.storage.stats(self.name)
        counts["total"] = sum(counts.values())
        return counts

    async def output_for(self, input: dict[str, Any], *, task_type: str = "") -> dict | None:
        """The output a completed job produced for this input, if there is one."""
        return await self.storage.output_for(self.name, job_fingerprint(task_type, input))

    # -- stopping --------------------------------------------------------------------

    async def abort(self, job_id: str) -> Job:
        """Abort one job: a pending one at once, a running one through its worker.
        JobStateError if it already finished."""
        await self.get(job_id)
        return await self.storage.abort(job_id)

    async def abort_run(self, run_id: str) -> int:
        """Abort every unfinished job of ``run_id`` on this queue; return how many."""
        return await self.storage.abort_run(run_id, self.name)

    async def clear(self) -> int:
        """Delete every job of this queue, whatever its status; return how many."""
        return await self.storage.clear(self.name)

    def __repr__(self) -> str:
        return f"<JobQueue {self.name!r} on {type(self.storage).__name__}>"


def job_fingerprint(task_type: str, input: dict[str, Any]) -> str:
    """What de-duplication compares: sha256 of the task type and the canonical input."""
    return _fingerprint_of_text(task_type, canonical_json(input))


def _fingerprint_of_text(task_type: str, canonical_input: str) -> str:
    return hashlib.sha256(f"{task_type}\n{canonical_input}".encode()).hexdigest()


def check_queue_name(name: Any) -> None:
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise ValueError(f"bad queue name {name!r}: use 1-200 letters, digits and _ . : -")


class QueueRegistry:
    """The queues this process knows by name (what a JobQueueTask's ``queue`` names)."""

    def __init__(self) -> None:
        self._queues: dict[str, JobQueue] = {}

    def register(self, queue: JobQueue) -> JobQueue:
        self._queues[queue.name] = queue
        return queue

    def unregister(self, name: str) -> None:
        self._queues.pop(name, None)

    def get(self, name: str) -> JobQueue:
        try:
            return self._queues[name]
        except KeyError:
            known = ", ".join(sorted(self._queues)) or "none"
            raise UnknownQueueError(
                f"no job queue named {name!r} is registered (known: {known}); "
                "create it with JobQueue(name, storage) and queues.register(queue)") from None

    def __contains__(self, name: str) -> bool:
        return name in self._queues

    def names(self) -> list[str]:
        return sorted(self._queues)


queues = QueueRegistry()
