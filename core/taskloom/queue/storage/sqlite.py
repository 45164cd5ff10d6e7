"""Queue and rate-limit storage in a SQLite file, shared by every process that opens it.

The stdlib ``sqlite3`` driver is called directly from the event loop: each
statement takes microseconds in WAL mode, which is cheaper than a thread hop.
What could block for long — waiting for another process's write lock — is
kept off the loop: ``busy_timeout`` is 0 and a busy database is retried with
``asyncio.sleep`` and jitter. No ``await`` ever sits inside a transaction, so
the tasks of one process cannot interleave theirs.

SQLite has no way to push a change to another process. Each write announces
the jobs it changed to the waiters of this process (whichever storage object
they opened on the same file); another process's writes are found by looking
again every ``change_poll`` seconds, new work every ``poll_interval``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import (
    JobNotFoundError,
    JobStateError,
    StaleJobError,
    StoreUnavailableError,
)
from ..job import JOB_COLUMNS, Job, JobFailure, JobStatus
from ..retry import Backoff
from ..watch import JobWatchers
from ._sql import load_queries
from .base import job_statuses_zeroed
from .memory import DEADLINE_PASSED, DELIVERY_CAP, LEASE_EXPIRED

Q = load_queries("sqlite.sql")
T = TypeVar("T")

_BUSY_RETRY_SECONDS = 30.0

#: Idle workers of this process, by (database file, queue). Another process's
#: new jobs are found by polling; this process's wake its own workers at once.
_local_waiters: dict[tuple[str, str], set[asyncio.Event]] = {}
#: Waiters for jobs in this process, by database file, then job id.
_job_watchers_by_file: dict[str, dict[str, set[asyncio.Event]]] = {}


class SQLiteQueueStorage(JobWatchers):
    def __init__(self, path: str, *, poll_interval: float = 0.05,
                 change_poll: float = 0.25) -> None:
        self.path = path
        #: How often an idle worker looks for work: SQLite cannot push a wake-up.
        self.poll_interval = poll_interval
        #: How often a job's waiter looks for changes made by other processes.
        self.change_poll = change_poll
        self._conn: sqlite3.Connection | None = None
        self._key = os.path.abspath(path)

    @property
    def _job_watchers(self) -> dict[str, set[asyncio.Event]]:
        return _job_watchers_by_file.setdefault(self._key, {})

    # -- connection --------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            try:
                conn = sqlite3.connect(self.path, isolation_level=None, timeout=0,
                                       check_same_thread=False)
                conn.row_factory = sqlite3.Row
                conn.execute("PRAGMA busy_timeout = 0")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.Error as exc:
                raise StoreUnavailableError(
                    f"cannot open the SQLite queue database {self.path!r}: {exc}") from exc
            self._conn = conn
        return self._conn

    async def _run(self, work: Callable[[sqlite3.Connection], T], *, transaction: bool) -> T:
        """Run ``work``, retrying while the database is busy. With ``transaction`` it runs
        inside BEGIN IMMEDIATE (the write lock up front); without, ``work`` must be a
        single statement, which SQLite makes atomic on its own."""
        backoff, waited = Backoff(0.0005, 0.05), 0.0
        while True:
            conn = self._connection()
            try:
                if not transaction:
                    return work(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or waited > _BUSY_RETRY_SECONDS:
                    raise StoreUnavailableError(
                        f"SQLite queue database {self.path!r}: {exc}") from exc
            pause = backoff.next()
            await asyncio.sleep(pause)
            waited += pause

    async def setup(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            for statement in Q["schema"].split(";"):
                if statement.strip():
                    conn.execute(statement)
            for statement in Q["columns_added"].split(";"):
                if not statement.strip():
                    continue
                try:  # a table created by an older taskloom lacks it
                    conn.execute(statement)
                except sqlite3.OperationalError as exc:
                    if "duplicate column name" not in str(exc):
                        raise

        await self._run(create, transaction=True)

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def now(self) -> float:
        return await self._run(lambda c: c.execute(Q["now"]).fetchone()[0], transaction=False)

    # -- producers ---------------------------------------------------------------

    async def add(self, job: Job, *, delay: float = 0.0, timeout: float | None = None) -> Job:
        params = _insert_params(job, delay, timeout)

        row = await self._run(lambda c: c.execute(Q["insert"], params).fetchone(),
                              transaction=False)
        if row is None:  # an active job has this fingerprint: hand that one back
            row = await self._run(
                lambda c: c.execute(Q["get_active_by_fingerprint"], params).fetchone(),
                transaction=False)
        if row is None:
            raise StoreUnavailableError(f"job {job.id!r} was neither stored nor found a twin")
        self._wake(job.queue)
        self._announce(row["id"])
        return _job(row)

    async def add_many(self, jobs: list[Job]) -> list[Job]:
        def insert_all(conn: sqlite3.Connection) -> list[Job]:
            stored = []
            for job in jobs:
                params = _insert_params(job, 0.0, None)
                row = conn.execute(Q["insert"], params).fetchone() \
                    or conn.execute(Q["get_active_by_fingerprint"], params).fetchone()
                stored.append(_job(row))
            return stored

        stored = await self._run(insert_all, transaction=True)
        for queue in {job.queue for job in jobs}:
            self._wake(queue)
        self._announce(*(job.id for job in stored))
        return stored

    async def get(self, job_id: str) -> Job | None:
        row = await self._run(lambda c: c.execute(Q["get"], {"id": job_id}).fetchone(),
                              transaction=False)
        return None if row is None else _job(row)

    async def abort(self, job_id: str) -> Job:
        def abort(conn: sqlite3.Connection) -> Job:
            row = conn.execute(Q["abort_one"], {"id": job_id}).fetchone()
            if row is not None:
                return _job(row)
            current = conn.execute(Q["get"], {"id": job_id}).fetchone()
            if current is None:
                raise JobNotFoundError(f"no job {job_id!r}")
            if current["status"] == JobStatus.ABORTING:
                return _job(current)
            raise JobStateError(
                f"job {job_id!r} is already {current['status']}; there is nothing to abort")

        job = await self._run(abort, transaction=True)
        self._announce(job_id)
        return job

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        rows = await self._run(
            lambda c: c.execute(Q["abort_run"], {"run_id": run_id, "queue": queue}).fetchall(),
            transaction=False)
        self._announce(*(row[0] for row in rows))
        return len(rows)

    async def list(self, queue: str, *, status: JobStatus | None = None,
                   run_id: str | None = None, limit: int = 100) -> list[Job]:
        params = {"queue": queue, "status": None if status is None else str(status),
                  "run_id": run_id, "limit": limit}
        rows = await self._run(lambda c: c.execute(Q["list"], params).fetchall(), transaction=False)
        return [_job(row) for row in rows]

    async def stats(self, queue: str) -> dict[str, int]:
        rows = await self._run(lambda c: c.execute(Q["stats"], {"queue": queue}).fetchall(),
                               transaction=False)
        counts = job_statuses_zeroed()
        counts.update({status: n for status, n in rows})
        return counts

    async def clear(self, queue: str) -> int:
        rows = await self._run(lambda c: c.execute(Q["clear"], {"queue": queue}).fetchall(),
                               transaction=False)
        self._announce(*(row[0] for row in rows))
        return len(rows)

    async def output_for(self, queue: str, fingerprint: str) -> dict[str, Any] | None:
        row = await self._run(
            lambda c: c.execute(Q["output_for"],
                                {"queue": queue, "fingerprint": fingerprint}).fetchone(),
            transaction=False)
        return None if row is None else json.loads(row[0])

    # -- workers -----------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        params = {"queue": queue, "worker_id": worker_id, "lease": lease, "limit": limit}
        rows = await self._run(lambda c: c.execute(Q["claim"], params).fetchall(), transaction=True)
        self._announce(*(row["id"] for row in rows))
        return [_job(row) for row in rows]

    async def _fenced(self, query: str, job_id: str, delivery: int, **params: Any) -> None:
        params.update(id=job_id, delivery=delivery)
        changed = await self._run(lambda c: c.execute(Q[query], params).rowcount,
                                  transaction=False)
        if not changed:
            raise _stale(job_id, delivery)
        self._announce(job_id)

    async def heartbeat(self, job_id: str, delivery: int, lease: float) -> JobStatus:
        params = {"id": job_id, "delivery": delivery, "lease": lease}
        row = await self._run(lambda c: c.execute(Q["heartbeat"], params).fetchone(),
                              transaction=False)
        if row is None:
            raise _stale(job_id, delivery)
        return JobStatus(row[0])

    async def set_progress(self, job_id: str, delivery: int, fraction: float,
                           message: str | None) -> None:
        await self._fenced("set_progress", job_id, delivery, fraction=fraction, message=message)

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any]) -> None:
        await self._fenced("complete", job_id, delivery, output=json.dumps(output))

    async def complete_many(self, items: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
        def complete_all(conn: sqlite3.Connection) -> set[str]:
            stale = set()
            for job_id, delivery, output in items:
                params = {"id": job_id, "delivery": delivery, "output": json.dumps(output)}
                if not conn.execute(Q["complete"], params).rowcount:
                    stale.add(job_id)
            return stale

        stale = await self._run(complete_all, transaction=True)
        self._announce(*(job_id for job_id, _, _ in items if job_id not in stale))
        return stale

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        claim = {"queue": queue, "worker_id": worker_id, "lease": lease, "limit": limit}

        def complete_then_claim(conn: sqlite3.Connection) -> tuple[set[str], list[sqlite3.Row]]:
            stale = set()
            for job_id, delivery, output in items:
                params = {"id": job_id, "delivery": delivery, "output": json.dumps(output)}
                if not conn.execute(Q["complete"], params).rowcount:
                    stale.add(job_id)
            rows = conn.execute(Q["claim"], claim).fetchall() if limit > 0 else []
            return stale, rows

        stale, rows = await self._run(complete_then_claim, transaction=True)
        self._announce(*(job_id for job_id, _, _ in items if job_id not in stale),
                       *(row["id"] for row in rows))
        return stale, [_job(row) for row in rows]

    async def fail(self, job_id: str, delivery: int, error: str | JobFailure) -> None:
        await self._fenced("fail", job_id, delivery, **_error_params(error))

    async def retry(self, job_id: str, delivery: int, error: str | JobFailure,
                    delay: float) -> None:
        await self._fenced("retry", job_id, delivery, delay=delay, **_error_params(error))
        self._wake_all()

    async def release(self, job_id: str, delivery: int) -> None:
        await self._fenced("release", job_id, delivery)
        self._wake_all()

    def _wake_all(self) -> None:
        for (key, _queue), events in _local_waiters.items():
            if key == self._key:
                for event in events:
                    event.set()

    async def mark_aborted(self, job_id: str, delivery: int, reason: str) -> None:
        await self._fenced("mark_aborted", job_id, delivery, reason=reason)

    async def reap_expired(self, queue: str) -> int:
        params = {"queue": queue, "lease_expired": LEASE_EXPIRED, "delivery_cap": DELIVERY_CAP,
                  "deadline_passed": DEADLINE_PASSED}

        def reap(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for query in ("reap_expired", "fail_past_deadline")
                    for row in conn.execute(Q[query], params).fetchall()]

        changed = await self._run(reap, transaction=True)
        self._announce(*changed)
        return len(changed)

    async def seconds_until_due(self, queue: str) -> float | None:
        row = await self._run(lambda c: c.execute(Q["seconds_until_due"],
                                                  {"queue": queue}).fetchone(), transaction=False)
        return None if row is None or row[0] is None else float(row[0])

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        event = asyncio.Event()
        waiters = _local_waiters.setdefault((self._key, queue), set())
        waiters.add(event)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(timeout, self.poll_interval))
        finally:
            waiters.discard(event)

    def _wake(self, queue: str) -> None:
        for event in _local_waiters.get((self._key, queue), ()):
            event.set()

    # -- rate limits ---------------------------------------------------------------

    async def rate_acquire(self, limiter: str, max_requests: int,
                           window: float) -> tuple[float, float]:
        def acquire(conn: sqlite3.Connection) -> tuple[float, float]:
            now = conn.execute(Q["now"]).fetchone()[0]
            params = {"limiter": limiter, "now": now, "window": window}
            blocked = conn.execute(Q["rate_blocked_until"], params).fetchone()
            if blocked is not None and blocked[0] > now:
                return blocked[0] - now, now
            conn.execute(Q["rate_forget_old"], params)
            taken, oldest = conn.execute(Q["rate_window"], params).fetchone()
            if taken < max_requests:
                conn.execute(Q["rate_take"], params)
                return 0.0, now
            return max(oldest + window - now, 1e-3), now

        return await self._run(acquire, transaction=True)

    async def rate_block(self, limiter: str, seconds: float) -> None:
        await self._run(
            lambda c: c.execute(Q["rate_block"], {"limiter": limiter, "seconds": seconds}),
            transaction=False)

    async def rate_clear(self, limiter: str) -> None:
        def clear(conn: sqlite3.Connection) -> None:
            conn.execute(Q["rate_clear_events"], {"limiter": limiter})
            conn.execute(Q["rate_clear_blocks"], {"limiter": limiter})

        await self._run(clear, transaction=True)


def _insert_params(job: Job, delay: float, timeout: float | None) -> dict[str, Any]:
    return {
        "id": job.id, "queue": job.queue, "task_type": job.task_type,
        "input": json.dumps(job.input), "fingerprint": job.fingerprint,
        "max_attempts": job.max_attempts, "max_deliveries": job.max_deliveries,
        "delay": delay, "timeout": timeout, "run_id": job.run_id,
    }


def _error_params(error: str | JobFailure) -> dict[str, Any]:
    data = error.to_json() if isinstance(error, JobFailure) else None
    return {"error": str(error), "error_data": data}


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _stale(job_id: str, delivery: int) -> StaleJobError:
    return StaleJobError(
        f"job {job_id!r}: delivery {delivery} is no longer current "
        "(its lease expired and the job was settled or claimed again)")


def _job(row: sqlite3.Row) -> Job:
    values = {name: row[name] for name in JOB_COLUMNS}
    values["input"] = json.loads(values["input"])
    if values["output"] is not None:
        values["output"] = json.loads(values["output"])
    values["error_data"] = JobFailure.from_json(values["error_data"])
    return Job(**values)
