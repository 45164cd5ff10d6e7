"""Queue and rate-limit storage in a SQLite file, shared by every process that opens it.

The stdlib ``sqlite3`` driver is called directly from the event loop: each
statement takes microseconds in WAL mode, which is cheaper than a thread hop.
What could block for long — waiting for another process's write lock — is
kept off the loop: ``busy_timeout`` is 0 and a busy database is retried with
``asyncio.sleep`` and jitter. No ``await`` ever sits inside a transaction, so
the tasks of one process cannot interleave theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from ...errors import (
    JobNotFoundError,
    JobStateError,
    StaleJobError,
    StoreUnavailableError,
)
from ..job import JOB_COLUMNS, Job, JobStatus
from ._sql import load_queries
from .base import job_statuses_zeroed
from .memory import DEADLINE_PASSED, DELIVERY_CAP, LEASE_EXPIRED

Q = load_queries("sqlite.sql")
T = TypeVar("T")

_BUSY_RETRY_SECONDS = 30.0

#: Idle workers of this process, by (database file, queue). Another process's
#: new jobs are found by polling; this process's wake its own workers at once.
_local_waiters: dict[tuple[str, str], set[asyncio.Event]] = {}


class SQLiteQueueStorage:
    def __init__(self, path: str, *, poll_interval: float = 0.05) -> None:
        self.path = path
        #: How often an idle worker looks for work: SQLite cannot push a wake-up.
        self.poll_interval = poll_interval
        self._conn: sqlite3.Connection | None = None
        self._key = os.path.abspath(path)

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
        delay, waited = 0.0005, 0.0
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
            pause = delay * random.uniform(0.5, 1.5)
            await asyncio.sleep(pause)
            waited += pause
            delay = min(delay * 2, 0.05)

    async def setup(self) -> None:
        def create(conn: sqlite3.Connection) -> None:
            for statement in Q["schema"].split(";"):
                if statement.strip():
                    conn.execute(statement)

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

        return await self._run(abort, transaction=True)

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        return await self._run(
            lambda c: c.execute(Q["abort_run"], {"run_id": run_id, "queue": queue}).rowcount,
            transaction=False)

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
        return await self._run(lambda c: c.execute(Q["clear"], {"queue": queue}).rowcount,
                               transaction=False)

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
        return [_job(row) for row in rows]

    async def _fenced(self, query: str, job_id: str, delivery: int, **params: Any) -> None:
        params.update(id=job_id, delivery=delivery)
        changed = await self._run(lambda c: c.execute(Q[query], params).rowcount,
                                  transaction=False)
        if not changed:
            raise _stale(job_id, delivery)

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

        return await self._run(complete_all, transaction=True)

    async def fail(self, job_id: str, delivery: int, error: str) -> None:
        await self._fenced("fail", job_id, delivery, error=error)

    async def retry(self, job_id: str, delivery: int, error: str, delay: float) -> None:
        await self._fenced("retry", job_id, delivery, error=error, delay=delay)
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

        def reap(conn: sqlite3.Connection) -> int:
            return (conn.execute(Q["reap_expired"], params).rowcount
                    + conn.execute(Q["fail_past_deadline"], params).rowcount)

        return await self._run(reap, transaction=True)

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
    return Job(**values)
