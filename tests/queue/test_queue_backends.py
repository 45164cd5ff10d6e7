"""Backend-specific guarantees: SQLite's claim index, Postgres under connection loss."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid

import pytest

from taskloom.queue import JobQueue, JobStatus, Worker, create_queue_storage, open_queue_storage
from taskloom.queue.storage.sqlite import Q as SQLITE_QUERIES


async def test_sqlite_claim_reads_only_its_partial_index(tmp_path):
    storage = await open_queue_storage(f"sqlite:///{tmp_path / 'q.db'}")
    queue = JobQueue("q", storage)
    for i in range(50):
        await queue.add({"n": i})
    await storage.close()
    conn = sqlite3.connect(tmp_path / "q.db")
    conn.execute("ANALYZE")
    plan = conn.execute("EXPLAIN QUERY PLAN " + SQLITE_QUERIES["claim"],
                        {"queue": "q", "worker_id": "w", "lease": 30, "limit": 1}).fetchall()
    details = " | ".join(row[3] for row in plan)
    assert "USING INDEX taskloom_jobs_claim" in details, details
    assert "TEMP B-TREE" not in details, details  # no sort: the index is in run_after order
    assert "SCAN taskloom_jobs" not in details.replace("SCAN taskloom_jobs USING INDEX", ""), \
        details


def test_storage_urls_pick_backends_and_refuse_unknown_ones(tmp_path):
    assert type(create_queue_storage("memory://")).__name__ == "MemoryQueueStorage"
    sqlite = create_queue_storage(f"sqlite:///{tmp_path}/x.db")
    assert sqlite.path == f"{tmp_path}/x.db"
    # The same spelling as open_store: three slashes and an absolute path, or sqlite:rel.
    assert create_queue_storage("sqlite:///srv/q.db").path == "/srv/q.db"
    assert create_queue_storage("sqlite:rel.db").path == "rel.db"
    pg = create_queue_storage("postgresql://u@h:5432/db?schema=s1&sslmode=disable")
    assert pg.schema == "s1" and "schema" not in pg.conninfo and "sslmode" in pg.conninfo
    with pytest.raises(ValueError, match="unknown queue storage URL"):
        create_queue_storage("redis://localhost")


@pytest.mark.postgres
async def test_a_worker_whose_database_connections_drop_loses_nothing(postgres_url,
                                                                     postgres_admin_url):
    import psycopg

    app = f"taskloom-drop-{uuid.uuid4().hex[:8]}"
    url = postgres_url
    producer = await open_queue_storage(url)
    worker_storage = create_queue_storage(url, application_name=app)
    await worker_storage.setup()
    queue = JobQueue("q", producer)
    jobs = [await queue.add({"n": i}) for i in range(60)]

    async def slowish(job, ctx):
        await asyncio.sleep(0.01)
        return {"n": job.input["n"]}

    worker = Worker(JobQueue("q", worker_storage), slowish, concurrency=3, lease=5,
                    heartbeat=0.2)
    runner = asyncio.create_task(worker.run(until_idle=True))
    terminated = 0
    async with await psycopg.AsyncConnection.connect(postgres_admin_url, autocommit=True) as admin:
        for _ in range(5):
            await asyncio.sleep(0.1)
            cur = await admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND pid <> pg_backend_pid()", (app,))
            terminated += (await cur.fetchone())[0]
    await asyncio.wait_for(runner, 120)
    assert terminated > 0
    assert worker.stats.store_errors > 0  # the drops were felt…
    for job in jobs:  # …and nothing was lost
        done = await queue.get(job.id)
        assert done.status is JobStatus.COMPLETED and done.output == {"n": job.input["n"]}
    await worker_storage.close()
    await producer.close()


@pytest.mark.postgres
async def test_an_unreachable_database_is_a_store_error_not_a_hang(postgres_admin_url):
    from taskloom.errors import StoreUnavailableError

    storage = create_queue_storage("postgresql://postgres@127.0.0.1:1/none", connect_timeout=1)
    with pytest.raises(StoreUnavailableError, match="cannot reach"):
        await storage.setup()
    await storage.close()


def test_the_postgres_driver_is_imported_only_by_its_backend():
    import subprocess
    import sys

    code = ("import sys, taskloom.queue, taskloom.queue.task, taskloom.queue.serve; "
            "assert 'psycopg' not in sys.modules, "
            "sorted(m for m in sys.modules if 'psycopg' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, env=os.environ.copy())


@pytest.mark.postgres
async def test_postgres_storage_can_borrow_a_stores_pool(postgres_schema, postgres_admin_url):
    from psycopg_pool import AsyncConnectionPool

    from taskloom.queue.storage.postgres import PostgresQueueStorage

    pool = AsyncConnectionPool(postgres_admin_url, min_size=1, max_size=4, open=False,
                               kwargs={"autocommit": True,
                                       "options": f"-c search_path={postgres_schema}"})
    await pool.open()
    try:
        storage = PostgresQueueStorage(pool=pool, schema=postgres_schema)
        await storage.setup()
        queue = JobQueue("q", storage)
        await storage.listening()
        waiter = asyncio.create_task(storage.wait_for_work("q", 60))
        await asyncio.sleep(0)  # one turn of the loop: the waiter reaches its wait
        job = await queue.add({"n": 1})
        await asyncio.wait_for(waiter, 30)  # LISTEN works on a borrowed connection too
        [claimed] = await storage.claim("q", "w", 30)
        assert claimed.id == job.id
        await storage.close()
        assert not pool.closed  # the pool belongs to its owner
    finally:
        await pool.close()


# -- a database made by an older taskloom keeps working ---------------------------------


async def _fail_one_job(storage) -> None:
    """A job of the old table reads back; a new failure is stored as data."""
    from taskloom.errors import ModelInputError

    queue = JobQueue("q", storage)
    old = await queue.get("old-job")
    assert (old.status, old.error, old.error_data) == (JobStatus.FAILED, "RuntimeError: old",
                                                       None)

    async def refuse(job, ctx):
        raise ModelInputError("the text is empty")

    job = await queue.add({"n": 2})
    await asyncio.wait_for(Worker(queue, refuse, lease=5).run(until_idle=True), 30)
    failed = await queue.get(job.id)
    assert failed.error == "ModelInputError: the text is empty"
    assert (failed.error_data.type, failed.error_data.retryable) == ("ModelInputError", False)


OLD_JOB = {"id": "old-job", "queue": "q", "task_type": "", "input": "{}", "fingerprint": "f",
           "status": "failed", "attempts": 1, "max_attempts": 3, "deliveries": 1,
           "max_deliveries": 5, "run_after": 0.0, "created_at": 0.0, "updated_at": 0.0,
           "error": "RuntimeError: old"}


async def test_a_sqlite_queue_made_before_error_data_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.db"
    # The table as the first release made it: the schema of today without error_data.
    old_schema = SQLITE_QUERIES["schema"].replace("    error_data       TEXT,\n", "")
    assert "error_data" not in old_schema
    with sqlite3.connect(path) as conn:
        conn.executescript(old_schema)
        conn.execute(f"INSERT INTO taskloom_jobs ({', '.join(OLD_JOB)}) "
                     f"VALUES ({', '.join(':' + k for k in OLD_JOB)})", OLD_JOB)
    storage = await open_queue_storage(f"sqlite:///{path}")
    try:
        await _fail_one_job(storage)
        await storage.setup()  # and again: the upgrade is idempotent
    finally:
        await storage.close()


@pytest.mark.postgres
async def test_a_postgres_queue_made_before_error_data_is_upgraded_in_place(
        postgres_schema, postgres_url, postgres_admin_url):
    import psycopg

    from taskloom.queue.storage.postgres import Q as POSTGRES_QUERIES

    old_schema = (POSTGRES_QUERIES["schema"]
                  .replace("    error_data       jsonb,\n", "")
                  .replace("ALTER TABLE taskloom_jobs ADD COLUMN IF NOT EXISTS error_data jsonb;",
                           ""))
    assert "error_data" not in old_schema
    async with await psycopg.AsyncConnection.connect(postgres_admin_url,
                                                     autocommit=True) as conn:
        await conn.execute(f'CREATE SCHEMA "{postgres_schema}"')
        await conn.execute(f'SET search_path TO "{postgres_schema}"')
        await conn.execute(old_schema)
        await conn.execute(
            f"INSERT INTO taskloom_jobs ({', '.join(OLD_JOB)}) "
            f"VALUES ({', '.join('%(' + k + ')s' for k in OLD_JOB)})", OLD_JOB)
    storage = await open_queue_storage(postgres_url)  # the same schema
    try:
        await _fail_one_job(storage)
    finally:
        await storage.close()
