"""Queue and rate-limit storage in Postgres, for many workers on many machines.

Claims use ``FOR UPDATE SKIP LOCKED`` so that workers never queue up behind
each other's row locks; a trigger NOTIFYs ``taskloom_jobs`` whenever a job
becomes pending, another ``taskloom_job_changes`` whenever a job's status or
progress changes, and one LISTEN connection per storage object wakes idle
workers and the waiters of the jobs that changed (``JobWatchers``); it listens
to job changes only once something waits for a job, so a storage that only
feeds workers is not woken at every status change of every job.
A busy worker reports a job and claims the next in one statement
(``complete_and_claim``): one round trip and one commit per job.
Give it a conninfo/URL, or the ``AsyncConnectionPool`` of a store that already
has one (then ``schema`` must match the pool's search_path).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import RowFactory, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from ...errors import JobNotFoundError, JobStateError, StaleJobError, StoreUnavailableError
from ..job import JOB_COLUMNS, Job, JobFailure, JobStatus
from ..retry import Backoff
from ..watch import JobWatchers
from ._sql import load_queries
from .base import job_statuses_zeroed
from .memory import DEADLINE_PASSED, DELIVERY_CAP, LEASE_EXPIRED

Q = load_queries("postgres.sql")
CHANNEL = "taskloom_jobs"
CHANGES_CHANNEL = "taskloom_job_changes"
log = logging.getLogger("taskloom.queue.postgres")


class PostgresQueueStorage(JobWatchers):
    #: Every change is announced (NOTIFY), and a reconnect wakes every waiter; this
    #: look now and then is only a safety net.
    change_poll = 5.0

    def __init__(self, conninfo: str | None = None, *, schema: str | None = None,
                 pool: AsyncConnectionPool | None = None, max_connections: int = 8,
                 application_name: str = "taskloom-queue", connect_timeout: float = 10.0) -> None:
        if (conninfo is None) == (pool is None):
            raise ValueError("give PostgresQueueStorage a conninfo or a pool, not both")
        self.conninfo = conninfo
        self.schema = schema
        self.application_name = application_name
        self._own_pool = pool is None
        self._pool = pool
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._schema_name: str | None = schema
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        #: LISTEN to job changes as well as to new work only once something watches
        #: a job (``listening``): a storage that only feeds workers is spared a
        #: notification at every status change of every job.
        self._watch_changes = False
        self._wakeups: dict[str, asyncio.Event] = {}

    # -- connections ---------------------------------------------------------------

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self.schema is not None:
            await conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))

    def _connect_kwargs(self) -> dict[str, Any]:
        return {"autocommit": True, "application_name": self.application_name}

    async def _get_pool(self) -> AsyncConnectionPool:
        if self._pool is None:
            pool = AsyncConnectionPool(
                self.conninfo or "", min_size=1, max_size=self._max_connections, open=False,
                kwargs=self._connect_kwargs(), configure=self._configure,
                reconnect_timeout=3600)
            try:
                await pool.open(wait=True, timeout=self._connect_timeout)
            except Exception as exc:
                await pool.close()
                raise StoreUnavailableError(f"cannot reach the Postgres queue database: {exc}") \
                    from exc
            self._pool = pool
        return self._pool

    async def _query(self, name: str, params: dict[str, Any] | None = None, *,
                     fetch: str = "none", transaction: bool = False,
                     rows: RowFactory[Any] | None = None) -> Any:
        """Run one named query; ``fetch``: none (the row count), one, all (dicts),
        tuple (the first row as a tuple), rows (all, made by the ``rows`` factory)."""
        pool = await self._get_pool()
        try:
            async with pool.connection(timeout=30) as conn:
                if transaction:
                    async with conn.transaction():
                        cur = await conn.execute(Q[name], params)
                else:
                    cur = await conn.execute(Q[name], params)
                if fetch == "all":
                    cur.row_factory = dict_row  # type: ignore[assignment]
                    return await cur.fetchall()
                if fetch == "one":
                    cur.row_factory = dict_row  # type: ignore[assignment]
                    return await cur.fetchone()
                if fetch == "tuple":
                    return await cur.fetchone()
                if fetch == "rows":
                    cur.row_factory = rows  # type: ignore[assignment]
                    return await cur.fetchall()
                return cur.rowcount
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailableError(f"Postgres queue database: {exc}") from exc
        except Exception as exc:  # the pool's own timeout when no connection can be made
            if type(exc).__name__ == "PoolTimeout":
                raise StoreUnavailableError(f"Postgres queue database: {exc}") from exc
            raise

    async def setup(self) -> None:
        pool = await self._get_pool()
        try:
            async with pool.connection() as conn:
                async with conn.transaction():
                    if self.schema is not None:
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))",
                                           (f"taskloom_create_schema:{self.schema}",))
                        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(
                            sql.Identifier(self.schema)))
                    await conn.execute(Q["schema"])
                cur = await conn.execute("SELECT current_schema()")
                row = await cur.fetchone()
                self._schema_name = row[0] if row else "public"
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise StoreUnavailableError(f"Postgres queue database: {exc}") from exc

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
            self._listening.clear()
        if self._pool is not None and self._own_pool:
            await self._pool.close()
            self._pool = None

    async def now(self) -> float:
        row = await self._query("now", fetch="tuple")
        return float(row[0])

    # -- producers ---------------------------------------------------------------

    async def add(self, job: Job, *, delay: float = 0.0, timeout: float | None = None) -> Job:
        params = {
            "id": job.id, "queue": job.queue, "task_type": job.task_type,
            "input": Jsonb(job.input), "fingerprint": job.fingerprint,
            "max_attempts": job.max_attempts, "max_deliveries": job.max_deliveries,
            "delay": float(delay), "timeout": timeout, "run_id": job.run_id,
        }
        row = await self._query("insert", params, fetch="one")
        if row is None:
            # The duplicate committed after this statement's snapshot was taken.
            row = await self._query("get_active_by_fingerprint", params, fetch="one")
        if row is None:
            raise StoreUnavailableError(f"job {job.id!r} was neither stored nor found a twin")
        return _job(row)

    async def add_many(self, jobs: list[Job]) -> list[Job]:
        if not jobs:
            return []
        items = Jsonb([{
            "id": job.id, "queue": job.queue, "task_type": job.task_type, "input": job.input,
            "fingerprint": job.fingerprint, "max_attempts": job.max_attempts,
            "max_deliveries": job.max_deliveries, "run_id": job.run_id} for job in jobs])
        # (one statement: atomic without a transaction around it, and one round trip)
        stored = {job.id: job for job in await self._query("insert_many", {"items": items},
                                                            fetch="rows", rows=_job_rows)}
        out = []
        for job in jobs:
            found = stored.get(job.id)
            if found is None:  # de-duplicated: hand back the active twin
                row = await self._query("get_active_by_fingerprint",
                                        {"queue": job.queue, "fingerprint": job.fingerprint},
                                        fetch="one")
                found = _job(row)
            out.append(found)
        return out

    async def get(self, job_id: str) -> Job | None:
        row = await self._query("get", {"id": job_id}, fetch="one")
        return None if row is None else _job(row)

    async def abort(self, job_id: str) -> Job:
        row = await self._query("abort_one", {"id": job_id}, fetch="one")
        if row is not None:
            return _job(row)
        current = await self.get(job_id)
        if current is None:
            raise JobNotFoundError(f"no job {job_id!r}")
        if current.status is JobStatus.ABORTING:
            return current
        raise JobStateError(f"job {job_id!r} is already {current.status}; "
                            "there is nothing to abort")

    async def abort_run(self, run_id: str, queue: str | None = None) -> int:
        return await self._query("abort_run", {"run_id": run_id, "queue": queue})

    async def list(self, queue: str, *, status: JobStatus | None = None,
                   run_id: str | None = None, limit: int = 100) -> list[Job]:
        params = {"queue": queue, "status": None if status is None else str(status),
                  "run_id": run_id, "limit": limit}
        return [_job(row) for row in await self._query("list", params, fetch="all")]

    async def stats(self, queue: str) -> dict[str, int]:
        rows = await self._query("stats", {"queue": queue}, fetch="all")
        counts = job_statuses_zeroed()
        counts.update({row["status"]: row["count"] for row in rows})
        return counts

    async def clear(self, queue: str) -> int:
        return await self._query("clear", {"queue": queue})

    async def output_for(self, queue: str, fingerprint: str) -> dict[str, Any] | None:
        row = await self._query("output_for", {"queue": queue, "fingerprint": fingerprint},
                                fetch="one")
        return None if row is None else row["output"]

    # -- workers -----------------------------------------------------------------

    async def claim(self, queue: str, worker_id: str, lease: float, limit: int = 1) -> list[Job]:
        params = {"queue": queue, "worker_id": worker_id, "lease": float(lease), "limit": limit}
        return await self._query("claim", params, fetch="rows", rows=_job_rows)

    async def _fenced(self, name: str, job_id: str, delivery: int, **params: Any) -> None:
        params.update(id=job_id, delivery=delivery)
        if not await self._query(name, params):
            raise _stale(job_id, delivery)

    async def heartbeat(self, job_id: str, delivery: int, lease: float) -> JobStatus:
        row = await self._query("heartbeat", {"id": job_id, "delivery": delivery,
                                              "lease": float(lease)}, fetch="tuple")
        if row is None:
            raise _stale(job_id, delivery)
        return JobStatus(row[0])

    async def set_progress(self, job_id: str, delivery: int, fraction: float,
                           message: str | None) -> None:
        await self._fenced("set_progress", job_id, delivery, fraction=float(fraction),
                           message=message)

    async def complete(self, job_id: str, delivery: int, output: dict[str, Any]) -> None:
        await self._fenced("complete", job_id, delivery, output=Jsonb(output))

    async def complete_many(self, items: list[tuple[str, int, dict[str, Any]]]) -> set[str]:
        payload = Jsonb([{"id": job_id, "delivery": delivery, "output": output}
                         for job_id, delivery, output in items])
        rows = await self._query("complete_many", {"items": payload,
                                                   "ids": [job_id for job_id, _, _ in items]},
                                 fetch="all")
        done = {row["id"] for row in rows}
        return {job_id for job_id, _, _ in items if job_id not in done}

    async def complete_and_claim(self, items: list[tuple[str, int, dict[str, Any]]],
                                 queue: str, worker_id: str, lease: float,
                                 limit: int) -> tuple[set[str], list[Job]]:
        params: dict[str, Any] = {"queue": queue, "worker_id": worker_id,
                                  "lease": float(lease), "limit": limit}
        if len(items) > 1:
            name = "complete_many_and_claim"
            params["items"] = Jsonb([{"id": job_id, "delivery": delivery, "output": output}
                                     for job_id, delivery, output in items])
            params["ids"] = [job_id for job_id, _, _ in items]
        else:
            name = "complete_one_and_claim"
            [(params["id"], params["delivery"], output)] = items or [(None, 0, None)]
            params["output"] = Jsonb(output)
        rows = await self._query(name, params, fetch="rows", rows=_done_ids_and_job_rows)
        done = set(rows[0][0]) if rows else set()
        stale = {job_id for job_id, _, _ in items if job_id not in done}
        return stale, [job for _, job in rows if job is not None]

    async def fail(self, job_id: str, delivery: int, error: str | JobFailure) -> None:
        await self._fenced("fail", job_id, delivery, **_error_params(error))

    async def retry(self, job_id: str, delivery: int, error: str | JobFailure,
                    delay: float) -> None:
        await self._fenced("retry", job_id, delivery, delay=float(delay),
                           **_error_params(error))

    async def release(self, job_id: str, delivery: int) -> None:
        await self._fenced("release", job_id, delivery)

    async def mark_aborted(self, job_id: str, delivery: int, reason: str) -> None:
        await self._fenced("mark_aborted", job_id, delivery, reason=reason)

    async def reap_expired(self, queue: str) -> int:
        params = {"queue": queue, "lease_expired": LEASE_EXPIRED, "delivery_cap": DELIVERY_CAP,
                  "deadline_passed": DEADLINE_PASSED}
        return (await self._query("reap_expired", params)
                + await self._query("fail_past_deadline", params))

    async def seconds_until_due(self, queue: str) -> float | None:
        row = await self._query("seconds_until_due", {"queue": queue}, fetch="tuple")
        return None if row is None or row[0] is None else float(row[0])

    async def wait_for_work(self, queue: str, timeout: float) -> None:
        self._start_listener()
        event = self._wakeups.setdefault(queue, asyncio.Event())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        event.clear()

    async def listening(self, timeout: float | None = None) -> None:
        """Return once this storage's LISTEN connection listens: from then on every
        change is announced. StoreUnavailableError if that takes ``timeout`` seconds
        (default: the connect timeout)."""
        if not self._watch_changes:
            self._watch_changes = True
            if self._listener is not None and not self._listener.done():
                # It listens for work only: a new one listens for both (and wakes everyone,
                # for what the switch-over may miss).
                self._listener.cancel()
                self._listener = None
                self._listening.clear()
        self._start_listener()
        try:
            async with asyncio.timeout(self._connect_timeout if timeout is None else timeout):
                await self._listening.wait()
        except TimeoutError:
            raise StoreUnavailableError(
                "the Postgres queue database does not answer LISTEN; is it reachable?") \
                from None

    @contextlib.asynccontextmanager
    async def watching(self, job_id: str) -> AsyncIterator[asyncio.Event]:
        # A database that does not answer must not stop a waiter: it polls meanwhile.
        with contextlib.suppress(StoreUnavailableError):
            await self.listening()
        async with super().watching(job_id) as changed:
            yield changed

    def _start_listener(self) -> None:
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="taskloom-queue-listen")

    async def _listen(self) -> None:
        """Hold one LISTEN connection; reconnect with backoff if it drops."""
        backoff = Backoff(0.1, 5.0)
        while True:
            try:
                if self.conninfo is None:  # a borrowed pool: keep one of its connections
                    await self._listen_on_pool()
                    return
                conn = await psycopg.AsyncConnection.connect(self.conninfo,
                                                             **self._connect_kwargs())
                async with conn:
                    await self._listen_on(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("queue LISTEN connection lost (%s); reconnecting", exc)
                if self._listening.is_set():  # it had been listening: back off from the start
                    backoff.reset()
                self._listening.clear()
                self._wake_all()
                await asyncio.sleep(backoff.next())

    async def _listen_on_pool(self) -> None:
        pool = await self._get_pool()
        async with pool.connection() as conn:
            try:
                await self._listen_on(conn)
            finally:
                if asyncio.current_task() is self._listener:  # (not one replaced meanwhile)
                    self._listening.clear()
                await conn.execute(f"UNLISTEN {CHANNEL}; UNLISTEN {CHANGES_CHANNEL}")

    async def _listen_on(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self._watch_changes:
            await conn.execute(f"LISTEN {CHANNEL}; LISTEN {CHANGES_CHANNEL}")
        else:
            await conn.execute(f"LISTEN {CHANNEL}")
        self._listening.set()
        self._wake_all()  # anything that happened while nobody listened
        async for note in conn.notifies():
            self._on_notify(note.channel, note.payload)

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == CHANGES_CHANNEL:
            schema, _, job_id = payload.rpartition(":")
            if schema == self._schema_name:
                self._announce(job_id)
            return
        schema, _, queue = payload.partition(":")
        if schema == self._schema_name:
            event = self._wakeups.get(queue)
            if event is not None:
                event.set()

    def _wake_all(self) -> None:
        for event in self._wakeups.values():
            event.set()
        self._announce_all()

    # -- rate limits ---------------------------------------------------------------

    async def rate_acquire(self, limiter: str, max_requests: int,
                           window: float) -> tuple[float, float]:
        row = await self._query("rate_acquire", {"limiter": limiter, "max_requests": max_requests,
                                                 "window": float(window)}, fetch="tuple")
        return float(row[0]), float(row[1])

    async def rate_block(self, limiter: str, seconds: float) -> None:
        await self._query("rate_block", {"limiter": limiter, "seconds": float(seconds)})

    async def rate_clear(self, limiter: str) -> None:
        await self._query("rate_clear_events", {"limiter": limiter})
        await self._query("rate_clear_blocks", {"limiter": limiter})


def _error_params(error: str | JobFailure) -> dict[str, Any]:
    data = Jsonb(error.to_dict()) if isinstance(error, JobFailure) else None
    return {"error": str(error), "error_data": data}


def _stale(job_id: str, delivery: int) -> StaleJobError:
    return StaleJobError(
        f"job {job_id!r}: delivery {delivery} is no longer current "
        "(its lease expired and the job was settled or claimed again)")


def _job(row: dict[str, Any]) -> Job:
    return Job(**{name: row[name] for name in JOB_COLUMNS})


def _job_rows(cursor: Any) -> Callable[[Sequence[Any]], Job]:
    """Rows straight into Jobs, without a dict per row between (a worker's hot path)."""
    names = [column.name for column in cursor.description or ()]
    at = [names.index(name) for name in JOB_COLUMNS]
    return lambda values: Job(*[values[i] for i in at])


def _done_ids_and_job_rows(cursor: Any) -> Callable[[Sequence[Any]], tuple[Any, Job | None]]:
    """complete_*_and_claim's rows: (done_ids, the claimed job or None)."""
    job = _job_rows(cursor)
    names = [column.name for column in cursor.description or ()]
    done_at, id_at = names.index("done_ids"), names.index("id")
    return lambda values: (values[done_at], None if values[id_at] is None else job(values))
