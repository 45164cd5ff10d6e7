"""JobQueue: the producer's side of a named queue — add, look at, wait for, abort.

    queue = JobQueue("embeddings", await open_queue_storage("sqlite:///jobs.db"))
    job = await queue.add({"text": "hello"}, task_type="TextEmbedding", run_id=run.id)
    output = await queue.wait(job.id)

Adding an input that an active or completed job of the queue already has
returns that job (de-duplication by fingerprint), which is also how a resumed
run finds the job it enqueued before a crash.

Waiting sleeps until the storage announces that the job changed (see
``watch.py``), so a short job is not followed by a polling nap and a thousand
waiting jobs do not poll at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
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
                   poll_interval: float | None = None) -> dict[str, Any]:
        """The output of the job once it completes. Raises JobFailedError if it fails or
        is aborted, TimeoutError after ``timeout`` seconds (the job keeps going).

        ``on_progress(job)`` (a function or a coroutine function) sees each progress
        the waiter reads, the final one included. The waiter wakes when the storage
        announces a change; ``poll_interval`` is the longest it sleeps without one
        (default: the storage's ``change_poll``, 0.25 s for a storage that announces
        nothing, no limit for one that announces everything)."""
        give_up = None if timeout is None else time.monotonic() + timeout
        seen: tuple[float, str | None] | None = None
        async with self._watching(job_id) as announced:
            if announced is not None:
                changed = announced
                nap = cap = poll_interval if poll_interval is not None \
                    else getattr(self.storage, "change_poll", None)
            else:  # a storage that announces nothing: an event nobody sets, and naps
                changed = asyncio.Event()
                cap = poll_interval if poll_interval is not None else 0.25
                nap = min(0.002, cap)  # fast at first (short jobs), then every ``cap``
            while True:
                changed.clear()  # before reading: a change after the read wakes us
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
                left = None if give_up is None else give_up - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"job {job_id!r} still {job.status} after {timeout} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), _shortest(nap, left))
                if nap is not None and cap is not None:
                    nap = min(nap * 2, cap)

    @contextlib.asynccontextmanager
    async def _watching(self, job_id: str) -> AsyncIterator[asyncio.Event | None]:
        """The event the storage sets when the job changes; None if it announces nothing."""
        watching = getattr(self.storage, "watching", None)
        if watching is None:
            yield None
            return
        async with watching(job_id) as changed:
            yield changed

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


def _shortest(*seconds: float | None) -> float | None:
    """The shortest of the given waits; None (no limit) if none is given."""
    return min((s for s in seconds if s is not None), default=None)


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
