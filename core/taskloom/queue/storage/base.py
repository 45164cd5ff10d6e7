"""The two protocols every queue backend implements: job storage and limiter state,
and the one a backend may add to save a busy worker round trips (``complete_and_claim``).

Each method is one atomic step on the storage. Methods that act for a worker
on a claimed job carry the job's ``delivery`` (the claim number); if the job
has been claimed again since, or is no longer being processed, they raise
StaleJobError and change nothing — that is the fencing that keeps a worker
which lost its lease from overwriting the work of the one that took over.

Every backend here also mixes in ``JobWatchers`` (``queue/watch.py``): it
announces the jobs each write changed, which is what ``JobQueue.wait`` sleeps
on. A storage without it still works; its waiters poll.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol, runtime_checkable

from ...errors import StoreUnavailableError
from ..job import Job, JobFailure, JobStatus


@runtime_checkable
class QueueStorage(Protocol):
    async def setup(self) -> None:
        """Create tables and indexes if missing; idempotent."""
        ...

    async def close(self) -> None: ...

    async def now(self) -> float:
        """The storage's clock, in epoch seconds."""
        ...

    # -- producers ---------------------------------------------------------------

    async def add(self, job: Job, *, delay: float = 0.0, timeout: float | None = None) -> Job:
        """Store ``job`` (run_after = now + delay, deadline = now + timeout) unless an
        active job of the same queue has the same fingerprint: then return that one."""
        ...

    async def add_many(self, jobs: list[Job]) -> list[Job]:
        """``add`` for each job (no delay, no timeout) in one transaction; same order."""
        ...

    async def get(self, job_id: str) -> Job | None: ...

    async def abort(self, job_id: str) -> Job:
        """pending → aborted; processing → aborting (the worker stops it).
        JobNotFoundError if missing, JobStateError if already finished."""
        ...

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        """Abort every unfinished job of ``run_id``; return how many."""
        ...

    async def list(self, queue: str, *, status: JobStatus | None = None,
                   run_id: str | None = None, limit: int = 100) -> list[Job]: ...

    async def stats(self, queue: str) -> dict[str, int]:
        """Job count per status (every status present, zeros included)."""
        ...

    async def clear(self, queue: str) -> int: ...

    async def output_for(self, queue: str, fingerprint: str) -> dict[str, Any] | None:
        """The output of the completed job with this fingerprint, if any."""
        ...

    # -- workers -----------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due pending jobs: processing, deliveries + 1, lease from now."""
        ...

    async def heartbeat(self, job_id: str, delivery: int, lease: float) -> JobStatus:
        """Extend the lease; return the status (ABORTING asks the worker to stop)."""
        ...

    async def set_progress(self, job_id: str, delivery: int, fraction: float,
                           message: str | None) -> None: ...

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any]) -> None: ...

    async def complete_many(self, items: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
        """``complete`` for many (job_id, delivery, output) in one transaction; returns the
        ids refused as stale instead of raising."""
        ...

    async def fail(self, job_id: str, delivery: int, error: str | JobFailure) -> None:
        """Failed for good. A JobFailure is stored as data (``job.error_data``) and as text
        (``job.error``); a str as text only."""
        ...

    async def retry(self, job_id: str, delivery: int, error: str | JobFailure,
                    delay: float) -> None:
        """Back to pending with attempts + 1, due ``delay`` seconds from now; ``error`` is
        stored as ``fail`` stores it."""
        ...

    async def release(self, job_id: str, delivery: int) -> None:
        """Back to pending untouched (graceful shutdown): no attempt is counted."""
        ...

    async def mark_aborted(self, job_id: str, delivery: int, reason: str) -> None: ...

    async def reap_expired(self, queue: str) -> int:
        """Settle jobs whose lease expired (pending with attempts + 1, or failed when the
        attempts or the delivery cap are used up; aborting → aborted) and pending jobs
        past their deadline (failed). Return how many changed."""
        ...

    async def seconds_until_due(self, queue: str) -> float | None:
        """Seconds until the earliest pending job is due (<= 0: now), None if none is pending."""
        ...

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        """Return when new work may be due on ``queue``, or after ``timeout`` seconds."""
        ...


@runtime_checkable
class RateLimitStorage(Protocol):
    """Sliding-window state shared by every process that uses the same storage."""

    async def rate_acquire(self, limiter: str, max_requests: int,
                           window: float) -> tuple[float, float]:
        """Take a slot if fewer than ``max_requests`` were taken in the last ``window``
        seconds and no block is in force. Return (wait, now): wait 0 means granted
        at ``now``; otherwise the seconds until a slot may free up."""
        ...

    async def rate_block(self, limiter: str, seconds: float) -> None:
        """Grant nothing for ``seconds`` from now (a Retry-After)."""
        ...

    async def rate_clear(self, limiter: str) -> None: ...


@runtime_checkable
class CompleteAndClaimStorage(Protocol):
    """What a storage may add so that a busy worker pays one round trip (and one commit)
    per batch instead of two: its completions and its next claim in one transaction."""

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        """``complete_many(items)`` then ``claim(queue, worker_id, lease, limit)``, atomically.
        Returns (the ids refused as stale, the jobs claimed)."""
        ...


async def complete_and_claim(storage: QueueStorage, items: list[tuple[str, int, dict[str, Any]]],
                             queue: str, worker_id: str, lease: float,
                             limit: int) -> tuple[set[str], list[Job]]:
    """The storage's own ``complete_and_claim`` if it has one, else the two steps apart.
    Apart, a claim that fails after the completions were stored claims nothing (the
    worker's claim loop tries again) rather than have them reported twice."""
    combined = getattr(storage, "complete_and_claim", None)
    if combined is not None:
        return await combined(items, queue, worker_id, lease, limit)
    stale = await storage.complete_many(items) if items else set()
    jobs: list[Job] = []
    if limit > 0:
        with contextlib.suppress(StoreUnavailableError):
            jobs = await storage.claim(queue, worker_id, lease, limit)
    return stale, jobs


def job_statuses_zeroed() -> dict[str, int]:
    return {str(status): 0 for status in JobStatus}
