"""Worker: claims jobs from one queue and runs them through a handler.

A handler is ``async (job, ctx) -> dict``. The worker keeps each claimed job's
lease alive by heartbeat; a heartbeat that finds the job ``aborting`` sets
``ctx.signal`` and cancels the handler; one that finds the delivery stale
(the lease expired and someone else took over) cancels it without reporting.
Results are reported with the job's delivery number, retried while the
database is unreachable, and refused by the storage if they come too late.
A job's slot is not given back when its handler returns: the write that stores
the output also claims the job that takes the slot over, in one transaction
where the storage can (``complete_and_claim``), so a busy worker pays one
round trip and one commit per job — or per batch, since the outputs of jobs
that finish while a write is in flight share the next one.

Stopping is graceful: no new claims, running jobs get ``shutdown_timeout``
seconds to finish, and what is left is released back to pending without
counting an attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..cache import canonical_json
from ..errors import (
    JobPermanentError,
    SerializationError,
    StaleJobError,
    StoreUnavailableError,
)
from ..task import AbortSignal
from .job import Job, JobFailure, JobStatus
from .queue import JobQueue
from .retry import Backoff, is_retryable, jitter
from .storage.base import complete_and_claim

log = logging.getLogger("taskloom.queue.worker")

Handler = Callable[[Job, "JobContext"], Awaitable[dict[str, Any]]]

#: A deadline that cuts a job short is final: retrying cannot give it more time.
DEADLINE_EXCEEDED = "deadline exceeded while the job ran"
#: Claims larger than this gain little (a round trip is shared by 50 jobs) and let one
#: worker hoard what others could start.
MAX_DEFAULT_CLAIM_BATCH = 50


class JobContext:
    """What a handler gets besides the job: progress, the abort signal, a logger."""

    def __init__(self, job: Job, worker: Worker, signal: AbortSignal) -> None:
        self.job = job
        self.signal = signal
        self.worker_id = worker.worker_id
        self._worker = worker
        #: The newest progress the handler reported, and the newest one stored.
        self._latest: tuple[float, str | None] | None = None
        self._stored: tuple[float, str | None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        #: Set once the handler returned: the flusher stops pausing between writes.
        self._hurry = asyncio.Event()

    @functools.cached_property
    def logger(self) -> logging.Logger:
        # Looked up when first used: getLogger takes a lock, and most jobs never log.
        return logging.getLogger(f"taskloom.queue.{self.job.queue}")

    @property
    def run_id(self) -> str | None:
        return self.job.run_id

    @property
    def attempt(self) -> int:
        """0 on the first attempt, 1 on the first retry, …"""
        return self.job.attempts

    def progress(self, fraction: float, message: str | None = None, **_details: Any) -> None:
        """Record progress (0..1). Writes are coalesced: at most one in flight, and at
        most one per ``progress_interval``; the last one is always stored."""
        fraction = 0.0 if fraction < 0 else 1.0 if fraction > 1 else float(fraction)
        self._latest = (fraction, message)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        while self._latest != self._stored:
            await self._store_latest()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hurry.wait(), self._worker.progress_interval)

    async def _store_latest(self) -> None:
        latest = self._latest
        if latest is None:
            return
        with contextlib.suppress(StaleJobError, StoreUnavailableError):
            await self._worker.queue.storage.set_progress(self.job.id, self.job.deliveries,
                                                          *latest)
        self._stored = latest

    async def settle_progress(self) -> None:
        """Store the progress the coalescing has not written yet. Called before the job's
        completion is reported: a waiter must see the last step (a download's "N/N
        bytes"), and once the job completed its progress can no longer be written."""
        self._hurry.set()
        try:
            if self._flusher is not None and not self._flusher.done():
                await self._flusher  # lets a write in flight finish rather than cut it off
            if self._latest != self._stored:
                await self._store_latest()
        except Exception:  # progress is a courtesy: it must never keep the output back
            log.warning("job %s: its last progress could not be stored", self.job.id,
                        exc_info=True)


@dataclass
class WorkerStats:
    claimed: int = 0
    completed: int = 0
    failed: int = 0
    retried: int = 0
    aborted: int = 0
    released: int = 0
    #: Reports the storage refused because the delivery was no longer current.
    stale_refusals: int = 0
    store_errors: int = 0


class _Execution:
    __slots__ = ("body", "job", "reason", "signal")

    def __init__(self, job: Job, signal: AbortSignal) -> None:
        self.job = job
        self.signal = signal
        #: The task running the job; the heartbeat and shutdown cancel it.
        self.body: asyncio.Task[Any] | None = None
        #: Why the body was cancelled: "abort", "lost" (stale lease) or "shutdown".
        self.reason: str | None = None


class _Completion:
    __slots__ = ("delivery", "done", "job_id", "output", "slot")

    def __init__(self, job_id: str, delivery: int, output: dict[str, Any], slot: bool) -> None:
        self.job_id = job_id
        self.delivery = delivery
        self.output = output
        #: The job's worker slot is still taken: the write passes it on or frees it.
        self.slot = slot
        #: True once stored, False if refused as stale.
        self.done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()


class _CompletionBatcher:
    """Group commit for completions, and the claim that refills their slots.

    Whatever finishes while one write is in flight goes into the next write. Each
    write also claims jobs for the slots its completions give back, in the same
    transaction where the storage can (``complete_and_claim``): a busy worker pays
    one round trip and one commit per batch instead of one to report and one to
    claim. Adds no delay when idle beyond one turn of the event loop, which lets
    the jobs that finish in the same turn share the write."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.pending: list[_Completion] = []
        self.writing = False

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any], *,
                       slot: bool = False) -> None:
        """Store the completion; StaleJobError if the storage refused it. With ``slot``
        the job's worker slot is still taken, and this write hands it on."""
        item = _Completion(job_id, delivery, output, slot)
        self.pending.append(item)
        if not self.writing:  # write now, then whatever queued up meanwhile
            try:
                await self._write_all()
            except BaseException:
                if item.done.done() and not item.done.cancelled():
                    item.done.exception()  # (retrieved: what stopped this task wins)
                raise
        if not await item.done:
            raise StaleJobError(f"job {job_id!r}: delivery {delivery} is no longer current")

    async def _write_all(self) -> None:
        self.writing = True
        try:
            # Other slots are taken: the jobs in them that end this very turn join in.
            if self.worker._busy > sum(item.slot for item in self.pending):
                await asyncio.sleep(0)
            while self.pending:
                batch, self.pending = self.pending, []
                await self._write(batch)
        finally:
            self.writing = False
            # If this writer was stopped, whoever rode along retries on its own.
            leftover, self.pending = self.pending, []
            self._settle(leftover, [], 0, StoreUnavailableError(
                "the shared completion write was interrupted"))

    async def _write(self, batch: list[_Completion]) -> None:
        worker = self.worker
        slots = sum(item.slot for item in batch)
        limit = 0 if worker.stopping else min(slots, worker.claim_batch)
        outcome: set[str] | BaseException = StoreUnavailableError(
            "the shared completion write was interrupted")
        jobs: list[Job] = []
        try:
            outcome, jobs = await complete_and_claim(
                worker.queue.storage, [(i.job_id, i.delivery, i.output) for i in batch],
                worker.queue.name, worker.worker_id, worker.lease, limit)
        except Exception as exc:
            outcome = exc
        finally:
            self._settle(batch, jobs, limit, outcome)

    def _settle(self, batch: list[_Completion], jobs: list[Job], asked: int,
                outcome: set[str] | BaseException) -> None:
        self.worker._refill(jobs, sum(item.slot for item in batch), asked)
        for item in batch:
            if item.done.done():
                continue
            if isinstance(outcome, BaseException):
                item.done.set_exception(outcome)
            else:
                item.done.set_result(item.job_id not in outcome)


class Worker:
    """Runs the jobs of ``queue`` through ``handler``.

    concurrency      jobs run at once by this worker
    lease            seconds a claim lasts without a heartbeat (on the storage's clock)
    heartbeat        seconds between lease renewals (default: lease / 3, at most 5)
    claim_batch      most jobs taken per claim (default: every free slot, at most 50)
    shutdown_timeout seconds running jobs get to finish after stop()
    idle_wait        longest sleep while the queue is empty (a wake-up ends it sooner)
    """

    def __init__(self, queue: JobQueue, handler: Handler, *, concurrency: int = 1,
                 lease: float = 30.0, heartbeat: float | None = None,
                 claim_batch: int | None = None,
                 shutdown_timeout: float = 10.0, idle_wait: float = 5.0,
                 reap_interval: float | None = None, progress_interval: float = 0.1,
                 worker_id: str | None = None) -> None:
        if concurrency < 1:
            raise ValueError("a worker needs concurrency >= 1")
        if lease <= 0:
            raise ValueError("lease must be positive seconds")
        self.queue = queue
        self.handler = handler
        self.concurrency = concurrency
        self.lease = float(lease)
        # Often enough to survive two missed beats, and to notice an abort soon.
        self.heartbeat = heartbeat if heartbeat is not None else min(self.lease / 3, 5.0)
        self.claim_batch = max(1, claim_batch if claim_batch is not None
                               else min(concurrency, MAX_DEFAULT_CLAIM_BATCH))
        self.shutdown_timeout = shutdown_timeout
        self.idle_wait = idle_wait
        self.reap_interval = reap_interval if reap_interval is not None \
            else min(max(self.lease / 4, 0.05), 5.0)
        self.progress_interval = progress_interval
        self.worker_id = worker_id or f"{_hostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.stats = WorkerStats()
        self._stop = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._executions: dict[str, _Execution] = {}
        #: Slots taken: by a running handler, or by a completion on its way to the
        #: storage, whose write claims the job that takes the slot over.
        self._busy = 0
        self._running: set[asyncio.Task[None]] = set()
        #: The latest claim came back short: no more work is due until a wake-up.
        self._drained = False
        self._completions = _CompletionBatcher(self)
        self._due_checked_at = float("-inf")
        self._next_due = float("inf")

    def stop(self) -> None:
        """Ask the worker to finish gracefully (safe from a signal handler)."""
        self._stop.set()
        self._slot_freed.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- the claim loop ----------------------------------------------------------------

    async def run(self, *, until_idle: bool = False) -> WorkerStats:
        """Work until ``stop()`` (or, with ``until_idle``, until the queue has no
        unfinished job left). Returns the counters."""
        storage, name = self.queue.storage, self.queue.name
        running = self._running = set()
        self._busy = 0
        self._drained = False
        reaper = asyncio.create_task(self._reap_forever())
        beater = asyncio.create_task(self._heartbeat_forever())
        outage = Backoff(0.1, 5.0)
        try:
            while not self._stop.is_set():
                free = self.concurrency - self._busy
                # (and at most one report in flight per slot, besides)
                if free <= 0 or len(running) >= 2 * self.concurrency:
                    self._slot_freed.clear()
                    await self._slot_freed.wait()  # stop() sets it too
                    continue
                if self._drained:  # (found by this loop or by a completion's write)
                    if until_idle and not running and await self._queue_is_idle():
                        break
                    await self._until(storage.wait_for_work(name, await self._idle_time()))
                    # Cleared after the wait: a completion's write that found the queue
                    # empty while we waited must not send us back to wait for work that
                    # came meanwhile (its wake-up was spent on this wait).
                    self._drained = False
                    continue
                asked = min(free, self.claim_batch)
                try:
                    jobs = await storage.claim(name, self.worker_id, self.lease, asked)
                except StoreUnavailableError as exc:
                    self.stats.store_errors += 1
                    log.warning("worker %s cannot claim from %r (%s); retrying",
                                self.worker_id, name, exc)
                    await self._until(asyncio.sleep(outage.next()))
                    continue
                outage.reset()
                self._busy += len(jobs)  # (given back when each job's handler is done)
                self._started(jobs, asked)
        finally:
            await self._shut_down()
            for task in (reaper, beater):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return self.stats

    def _started(self, jobs: list[Job], asked: int) -> None:
        """Run the jobs a claim of ``asked`` took, each in a slot already counted taken."""
        if asked > 0:
            self._drained = len(jobs) < asked
        for job in jobs:
            self.stats.claimed += 1
            task = asyncio.create_task(self._execute(job))
            self._running.add(task)
            task.add_done_callback(self._finished(self._running))

    def _refill(self, jobs: list[Job], slots: int, asked: int) -> None:
        """A completion write gives back ``slots``: the jobs it claimed take them over,
        the rest are free."""
        self._started(jobs, asked)
        if slots > len(jobs):
            self._busy -= slots - len(jobs)
            self._slot_freed.set()

    def _finished(self, running: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if self._busy < self.concurrency:  # (else the claim loop has nothing to do)
                self._slot_freed.set()
            if not task.cancelled() and task.exception() is not None:
                log.error("worker %s: job execution crashed", self.worker_id,
                          exc_info=task.exception())

        return done

    async def _until(self, awaitable: Awaitable[Any]) -> None:
        """Await ``awaitable`` unless stop() comes first."""
        waiter = asyncio.ensure_future(awaitable)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                if not task.done():
                    task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await waiter

    async def _idle_time(self) -> float:
        """How long to wait for a wake-up: no later than the next delayed job is due.

        Wake-ups announce new work, not work that becomes due later (a retry
        with a delay), so the storage is asked when that is — at most once a
        second, to keep an idle worker's queries cheap; this worker's own
        retries are known exactly."""
        now = time.monotonic()
        if now - self._due_checked_at >= 1.0:
            self._due_checked_at = now
            try:
                due = await self.queue.storage.seconds_until_due(self.queue.name)
            except StoreUnavailableError:
                due = None
            self._next_due = now + due if due is not None else float("inf")
        wait = min(self.idle_wait, self._next_due - now, self._due_checked_at + 1.0 - now)
        return max(wait, 0.001)

    async def _queue_is_idle(self) -> bool:
        try:
            stats = await self.queue.storage.stats(self.queue.name)
        except StoreUnavailableError:
            return False
        return not any(stats[str(s)] for s in
                       (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.ABORTING))

    async def _reap_forever(self) -> None:
        while True:
            with contextlib.suppress(StoreUnavailableError):
                await self.queue.storage.reap_expired(self.queue.name)
            await asyncio.sleep(jitter(self.reap_interval, 0.8, 1.2))

    async def _shut_down(self) -> None:
        # A completion's write may start jobs while we wait (they release at once,
        # see _execute): wait again until no task is left.
        running = self._running
        give_up = time.monotonic() + self.shutdown_timeout
        while running and time.monotonic() < give_up:
            await asyncio.wait(set(running), timeout=give_up - time.monotonic())
        for execution in list(self._executions.values()):
            if execution.body is not None and not execution.body.done():
                execution.reason = execution.reason or "shutdown"
                execution.body.cancel()
        while running:
            await asyncio.wait(set(running))

    # -- one job -------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        storage = self.queue.storage
        if self.stopping:  # claimed by a write that was in flight when stop() came
            self._free_slot()
            if await self._report("release", storage.release, job):
                self.stats.released += 1
            return
        if job.deadline is not None and job.deadline <= job.updated_at:
            self._free_slot()
            await self._report("fail", storage.fail, job, "deadline passed before it started")
            return
        signal = AbortSignal()
        ctx = JobContext(job, self, signal)
        execution = _Execution(job, signal)
        # The job runs in this very task: the heartbeat or a shutdown cancels it,
        # after saying why in ``execution.reason``.
        execution.body = asyncio.current_task()
        self._executions[job.id] = execution
        try:
            try:
                try:
                    output = await self._run_body(job, ctx)
                except BaseException:
                    self._free_slot()
                    raise
            except asyncio.CancelledError:
                self._executions.pop(job.id, None)
                await self._after_cancel(job, execution.reason or "shutdown")
                return
            except Exception as exc:
                self._executions.pop(job.id, None)
                await self._after_error(job, exc)
                return
            # No more heartbeats from here: a report must not be cancelled halfway.
            self._executions.pop(job.id, None)
            # The slot stays taken: the write that stores the output claims the job
            # that takes it over (one round trip for both), or frees it.
            handed = False

            async def complete(job_id: str, delivery: int, output: dict[str, Any]) -> None:
                nonlocal handed
                slot, handed = not handed, True  # (a retry of the report has no slot left)
                await self._completions.complete(job_id, delivery, output, slot=slot)

            try:
                await ctx.settle_progress()
                if await self._report("complete", complete, job, output):
                    self.stats.completed += 1
            finally:
                if not handed:
                    self._free_slot()
        finally:
            self._executions.pop(job.id, None)
            if ctx._flusher is not None:
                ctx._flusher.cancel()

    def _free_slot(self) -> None:
        self._busy -= 1
        self._slot_freed.set()

    async def _run_body(self, job: Job, ctx: JobContext) -> dict[str, Any]:
        limiter = self.queue.limiter
        if limiter is not None:
            await limiter.acquire()
        try:
            remaining = None if job.deadline is None else max(job.deadline - job.updated_at, 0)
            try:
                async with asyncio.timeout(remaining):
                    output = await self.handler(job, ctx)
            except TimeoutError:
                if remaining is not None:
                    raise JobPermanentError(DEADLINE_EXCEEDED) from None
                raise
        finally:
            if limiter is not None:
                await limiter.release()
        if output is None:
            output = {}
        if not isinstance(output, dict):
            raise JobPermanentError(f"the job handler returned {type(output).__name__}, "
                                    "not a dict of JSON values")
        try:
            canonical_json(output)
        except SerializationError as exc:
            raise JobPermanentError(f"the job's output cannot be stored: {exc}") from None
        return output

    async def _heartbeat_forever(self) -> None:
        """One loop renews every lease this worker holds."""
        while True:
            await asyncio.sleep(self.heartbeat)
            for execution in list(self._executions.values()):
                await self._beat(execution)

    async def _beat(self, execution: _Execution) -> None:
        job = execution.job
        try:
            status = await self.queue.storage.heartbeat(job.id, job.deliveries, self.lease)
        except StoreUnavailableError:
            self.stats.store_errors += 1
            return  # try again next beat; the lease has room for a few misses
        except StaleJobError:
            if self._executions.get(job.id) is not execution:
                return  # it finished meanwhile and is reporting: never cut that short
            execution.reason = "lost"
        else:
            if status is not JobStatus.ABORTING or self._executions.get(job.id) is not execution:
                return
            execution.reason = "abort"
            execution.signal.abort("the job was aborted")
        if execution.body is not None:
            execution.body.cancel()

    async def _after_cancel(self, job: Job, reason: str | None) -> None:
        storage = self.queue.storage
        if reason == "abort":
            if await self._report("mark_aborted", storage.mark_aborted, job, "aborted"):
                self.stats.aborted += 1
        elif reason == "lost":
            self.stats.stale_refusals += 1
            log.warning("worker %s lost the lease of job %s; dropped its work",
                        self.worker_id, job.id)
        elif await self._report("release", storage.release, job):
            self.stats.released += 1

    async def _after_error(self, job: Job, exc: Exception) -> None:
        storage = self.queue.storage
        decision = self.queue.retry.decide(exc, job.attempts, job.max_attempts)
        error = JobFailure.of(exc, retryable=is_retryable(exc), retry_after=decision.retry_after)
        if decision.retry_after is not None and self.queue.limiter is not None:
            with contextlib.suppress(StoreUnavailableError):
                await self.queue.limiter.block_for(decision.retry_after)
        if decision.retry:
            if await self._report("retry", storage.retry, job, error, decision.delay):
                self.stats.retried += 1
                self._next_due = min(self._next_due, time.monotonic() + decision.delay)
        elif await self._report("fail", storage.fail, job, error):
            self.stats.failed += 1
        log.info("job %s attempt %d failed: %s", job.id, job.attempts + 1, error)

    async def _report(self, what: str, method: Callable[..., Awaitable[Any]], job: Job,
                      *args: Any) -> bool:
        """Tell the storage how the job ended, retrying while it is unreachable."""
        backoff, hiccup = Backoff(0.05, 2.0), False
        give_up = time.monotonic() + max(self.lease * 2, 60.0)
        while True:
            try:
                await method(job.id, job.deliveries, *args)
                return True
            except StaleJobError:
                if hiccup and await self._landed(job):
                    return True  # the earlier try committed; only its reply was lost
                self.stats.stale_refusals += 1
                log.warning("worker %s: %s of job %s refused, delivery %d is stale",
                            self.worker_id, what, job.id, job.deliveries)
                return False
            except StoreUnavailableError as exc:
                hiccup = True
                self.stats.store_errors += 1
                if time.monotonic() > give_up:
                    log.error("worker %s gave up reporting %s of job %s: %s",
                              self.worker_id, what, job.id, exc)
                    return False
                await asyncio.sleep(backoff.next())

    async def _landed(self, job: Job) -> bool:
        with contextlib.suppress(StoreUnavailableError):
            current = await self.queue.storage.get(job.id)
            return (current is not None and current.deliveries == job.deliveries
                    and current.status not in (JobStatus.PROCESSING, JobStatus.ABORTING))
        return False


def _hostname() -> str:
    try:
        return socket.gethostname()
    except OSError:  # sandboxes (Pyodide) may have no name to give
        return "localhost"

