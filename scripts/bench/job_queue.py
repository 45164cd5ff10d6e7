"""Job queue throughput and wake-up latency, beside baselines measured in the same run.

    .venv/bin/python scripts/bench/job_queue.py [--jobs 1000] [--repeats 3] [--postgres URL]
                                            [--no-procrastinate]

1. No-op jobs per second, enqueue → complete (the clock starts before the
   first ``add`` and stops when the last job is completed), on SQLite and
   Postgres with 1 and 4 workers (4 Worker objects, each with its own
   connection, in this one process).
2. Baselines: raw SQL claim + complete on the same tables (the ceiling,
   with the same number of connections; for the batched workers, raw SQL that
   inserts 100 and claims 50 at a time), and procrastinate (if installed:
   ``.venv/bin/pip install procrastinate``) on the same Postgres.
3. p50 / p95 enqueue → start latency for an idle worker: Postgres wakes it
   with LISTEN/NOTIFY, SQLite polls (every 50 ms by default).

Targets: ≥ 3x procrastinate with 1 worker; ≥ 50 % of raw on SQLite, and for
the batched Postgres workers ≥ 50 % of raw SQL that claims 50 jobs at a time
(measured in the same run); p50 enqueue → start ≤ 5 ms with NOTIFY. Postgres
runs in fresh schemas, dropped at the end.
Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import os
import sys

# This file is named queue.py: take its folder off the path before anything
# imports the standard library's `queue` and gets this script instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit  # noqa: E402

from taskloom.queue import JobQueue, Worker, open_queue_storage  # noqa: E402
from taskloom.queue.storage.postgres import Q as PG_QUERIES  # noqa: E402
from taskloom.queue.storage.sqlite import Q as SQLITE_QUERIES  # noqa: E402


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("schema", schema)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def noop(job, ctx):
    return {}


# -- taskloom ---------------------------------------------------------------------------


async def taskloom_throughput(url: str, jobs: int, workers: int, concurrency: int = 1,
                              enqueue_batch: int = 1) -> float:
    producer = await open_queue_storage(url)
    await producer.clear("bench")
    queue = JobQueue("bench", producer)
    worker_storages = [await open_queue_storage(url) for _ in range(workers)]
    pool = [Worker(JobQueue("bench", s), noop, lease=30, concurrency=concurrency,
                   claim_batch=concurrency, idle_wait=0.05) for s in worker_storages]
    started = time.perf_counter()
    running = [asyncio.create_task(w.run()) for w in pool]
    if enqueue_batch > 1:
        for start in range(0, jobs, enqueue_batch):
            await queue.add_many([{"i": i} for i in range(start, min(jobs, start
                                                                     + enqueue_batch))])
    for i in range(jobs if enqueue_batch == 1 else 0):
        await queue.add({"i": i})
    while (await queue.stats())["completed"] < jobs:
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    for w in pool:
        w.stop()
    await asyncio.gather(*running)
    for s in [*worker_storages, producer]:
        await s.close()
    return jobs / elapsed


async def taskloom_latency(url: str, samples: int) -> list[float]:
    storage = await open_queue_storage(url)
    await storage.clear("latency")
    queue = JobQueue("latency", storage)
    sent: dict[int, float] = {}
    latencies: list[float] = []
    done = asyncio.Event()

    async def record(job, ctx):
        latencies.append(time.perf_counter() - sent[job.input["i"]])
        if len(latencies) == samples:
            done.set()
        return {}

    worker_storage = await open_queue_storage(url)
    worker = Worker(JobQueue("latency", worker_storage), record, lease=30, idle_wait=5)
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # let the worker go idle (and LISTEN)
    for i in range(samples):
        sent[i] = time.perf_counter()
        await queue.add({"i": i})
        await asyncio.sleep(0.02)  # the worker is idle again before the next job
    await asyncio.wait_for(done.wait(), 60)
    worker.stop()
    await running
    await worker_storage.close()
    await storage.close()
    return latencies


# -- raw SQL ceilings -------------------------------------------------------------------------


def sqlite_raw(path: str, jobs: int) -> float:
    """Claim + complete with the same schema and queries, no Python layer, one connection."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("DELETE FROM taskloom_jobs WHERE queue = 'raw'")
    started = time.perf_counter()
    for i in range(jobs):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, "
            "max_attempts, max_deliveries, run_after, created_at, updated_at) VALUES "
            "(?, 'raw', '', '{}', ?, 'pending', 3, 5, 0, 0, 0)", (uuid.uuid4().hex, str(i)))
        conn.execute("COMMIT")
    params = {"queue": "raw", "worker_id": "raw", "lease": 30, "limit": 1}
    for _ in range(jobs):
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute(SQLITE_QUERIES["claim"], params).fetchone()
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE taskloom_jobs SET status = 'completed', output = '{}' "
                     "WHERE id = ? AND deliveries = ?", (row[0], row["deliveries"]
                                                          if isinstance(row, sqlite3.Row)
                                                          else 1))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return jobs / elapsed


async def postgres_raw(url: str, schema: str, jobs: int, connections: int) -> float:
    """Insert, claim (the same SKIP LOCKED query) and complete with bare psycopg: one
    producer connection and ``connections`` draining ones, concurrently, as the workers run."""
    import psycopg

    conninfo = url.split("?")[0]

    async def connect():
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await conn.execute(f'SET search_path TO "{schema}"')
        return conn

    producer = await connect()
    await producer.execute("DELETE FROM taskloom_jobs WHERE queue = 'raw'")
    conns = [await connect() for _ in range(connections)]
    completed = 0

    async def produce() -> None:
        for i in range(jobs):
            await producer.execute(
                "INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, "
                "max_attempts, max_deliveries, run_after, created_at, updated_at) VALUES "
                "(%s, 'raw', '', '{}', %s, 'pending', 3, 5, 0, 0, 0)",
                (uuid.uuid4().hex, str(i)))

    async def drain(conn) -> None:
        nonlocal completed
        params = {"queue": "raw", "worker_id": "raw", "lease": 30.0, "limit": 1}
        while completed < jobs:
            cur = await conn.execute(PG_QUERIES["claim"], params)
            row = await cur.fetchone()
            if row is None:
                await asyncio.sleep(0.001)
                continue
            await conn.execute("UPDATE taskloom_jobs SET status = 'completed', output = '{}' "
                               "WHERE id = %s", (row[0],))
            completed += 1

    started = time.perf_counter()
    await asyncio.gather(produce(), *(drain(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in [*conns, producer]:
        await c.close()
    return jobs / elapsed


async def postgres_raw_batched(url: str, schema: str, jobs: int, connections: int,
                               claim: int = 50, insert_batch: int = 100) -> float:
    """The batched ceiling: one producer inserting ``insert_batch`` jobs a statement (the
    same multi-row INSERT that ``add_many`` sends), and ``connections`` draining ones
    that each claim ``claim`` jobs at a time (the same SKIP LOCKED query) and complete
    them in one UPDATE, concurrently, as the batched workers run."""
    import psycopg
    from psycopg.types.json import Jsonb

    conninfo = url.split("?")[0]

    async def connect():
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await conn.execute(f'SET search_path TO "{schema}"')
        return conn

    producer = await connect()
    await producer.execute("DELETE FROM taskloom_jobs WHERE queue = 'raw'")
    conns = [await connect() for _ in range(connections)]
    completed = 0

    async def produce() -> None:
        for start in range(0, jobs, insert_batch):
            items = [{"id": uuid.uuid4().hex, "queue": "raw", "task_type": "", "input": {},
                      "fingerprint": str(i), "max_attempts": 3, "max_deliveries": 5,
                      "run_id": None} for i in range(start, min(jobs, start + insert_batch))]
            await producer.execute(PG_QUERIES["insert_many"], {"items": Jsonb(items)})

    async def drain(conn) -> None:
        nonlocal completed
        params = {"queue": "raw", "worker_id": "raw", "lease": 30.0, "limit": claim}
        while completed < jobs:
            cur = await conn.execute(PG_QUERIES["claim"], params)
            rows = await cur.fetchall()
            if not rows:
                await asyncio.sleep(0.001)
                continue
            await conn.execute("UPDATE taskloom_jobs SET status = 'completed', output = '{}' "
                               "WHERE id = ANY(%s)", ([row[0] for row in rows],))
            completed += len(rows)

    started = time.perf_counter()
    await asyncio.gather(produce(), *(drain(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in [*conns, producer]:
        await c.close()
    return jobs / elapsed


async def postgres_raw_latency(url: str, schema: str, samples: int) -> list[float]:
    """The floor under enqueue → start: one INSERT and one claim (the same queries),
    back to back on bare psycopg connections, with no worker and no NOTIFY between."""
    import psycopg

    conninfo = url.split("?")[0]
    conns = []
    for _ in range(2):
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
        await conn.execute(f'SET search_path TO "{schema}"')
        conns.append(conn)
    producer, claimer = conns
    await producer.execute("DELETE FROM taskloom_jobs WHERE queue = 'raw-latency'")
    params = {"queue": "raw-latency", "worker_id": "raw", "lease": 30.0, "limit": 1}
    out = []
    for i in range(samples):
        started = time.perf_counter()
        await producer.execute(
            "INSERT INTO taskloom_jobs (id, queue, task_type, input, fingerprint, status, "
            "max_attempts, max_deliveries, run_after, created_at, updated_at) VALUES "
            "(%s, 'raw-latency', '', '{}', %s, 'pending', 3, 5, 0, 0, 0)",
            (uuid.uuid4().hex, str(i)))
        await (await claimer.execute(PG_QUERIES["claim"], params)).fetchone()
        out.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    for conn in conns:
        await conn.close()
    return out


# -- procrastinate ------------------------------------------------------------------------------


async def procrastinate_throughput(url: str, schema: str, jobs: int, concurrency: int,
                                   enqueue_batch: int = 1) -> float:
    """The same run with procrastinate: its worker runs while the jobs are deferred."""
    import procrastinate
    import psycopg

    conninfo = url.split("?")[0]
    options = {"options": f"-c search_path={schema}"}
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo,
                                                                     kwargs=options))

    @app.task(queue="bench", name="noop")
    async def noop_task() -> None:
        return None

    async with app.open_async(), await psycopg.AsyncConnection.connect(
            conninfo, autocommit=True, **options) as probe:
        with contextlib.suppress(Exception):  # already applied by an earlier repeat
            await app.schema_manager.apply_schema_async()
        await probe.execute("DELETE FROM procrastinate_jobs")
        started = time.perf_counter()
        worker = asyncio.create_task(app.run_worker_async(
            queues=["bench"], concurrency=concurrency, install_signal_handlers=False,
            delete_jobs="never"))
        if enqueue_batch > 1:
            for start in range(0, jobs, enqueue_batch):
                await noop_task.batch_defer_async(*({} for _ in range(
                    min(enqueue_batch, jobs - start))))
        else:
            for _ in range(jobs):
                await noop_task.defer_async()
        while True:
            cur = await probe.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
            if (await cur.fetchone())[0] >= jobs:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
    return jobs / elapsed


# -- main ----------------------------------------------------------------------------------------


class Rates:
    """Rates per measurement name, one per repeat. Repeats interleave the measurements
    so that a ratio compares runs made moments apart on this shared, noisy machine."""

    def __init__(self) -> None:
        self.runs: dict[str, list[float]] = {}

    async def measure(self, name: str, measure) -> None:
        rate = measure()
        self.runs.setdefault(name, []).append(await rate if asyncio.iscoroutine(rate) else rate)

    def median(self, name: str) -> float:
        return statistics.median(self.runs[name])

    def ratio(self, name: str, baseline: str) -> float:
        """Median of the per-repeat ratios name / baseline."""
        return statistics.median(self.ratios(name, baseline))

    def ratios(self, name: str, baseline: str) -> list[float]:
        return [a / b for a, b in zip(self.runs[name], self.runs[baseline], strict=True)]

    def spread(self, name: str, baseline: str, fmt: str = "{:.0%}") -> str:
        """The lowest and highest per-repeat ratio: how much the machine's noise moved it."""
        ratios = self.ratios(name, baseline)
        return f"(repeats {fmt.format(min(ratios))} to {fmt.format(max(ratios))})"


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3, help="median of this many runs")
    parser.add_argument("--postgres", default=os.environ.get("TASKLOOM_TEST_POSTGRES",
                                                             "postgresql://postgres@127.0.0.1/postgres"))
    parser.add_argument("--latency-samples", type=int, default=200)
    parser.add_argument("--no-procrastinate", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    report = _report_module().Report("job_queue")
    with report.output(args.json):
        await measure(args, report)


def _report_module():
    # The script's folder is off sys.path (see the top): load report.py by its path.
    spec = importlib.util.spec_from_file_location("report", os.path.join(_HERE, "report.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def measure(args: argparse.Namespace, report) -> None:
    rows: list[tuple[str, float, str]] = []
    load_before = os.getloadavg()

    print(f"no-op jobs, enqueue → complete, {args.jobs} jobs per measurement "
          f"(procrastinate {min(args.jobs, 500)}); medians of {args.repeats} interleaved "
          "repeats, ratios per repeat\n")
    rates = Rates()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.db")
        url = f"sqlite:///{path}"
        await (await open_queue_storage(url)).close()
        for _ in range(args.repeats):
            await rates.measure("sqlite raw", lambda: sqlite_raw(path, args.jobs))
            for workers in (1, 4):
                await rates.measure(f"sqlite {workers}", lambda w=workers: taskloom_throughput(
                    url, args.jobs, w))
            await rates.measure("sqlite batch", lambda: taskloom_throughput(
                url, args.jobs, 4, 10, 100))
        rows.append(("SQLite raw SQL claim+complete (1 conn)", rates.median("sqlite raw"),
                     "ceiling"))
        for name, label in (("sqlite 1", "1 worker"), ("sqlite 4", "4 workers"),
                            ("sqlite batch", "4 workers x 10, add_many(100)")):
            rows.append((f"SQLite taskloom, {label}", rates.median(name),
                         f"{rates.ratio(name, 'sqlite raw'):.0%} of raw "
                         f"{rates.spread(name, 'sqlite raw')} (target >= 50 %)"))
            report.add(f"SQLite queue, {label}, no-op jobs", rates.median(name), "jobs/s",
                       baseline=rates.median("sqlite raw"), ratio=rates.ratio(name, "sqlite raw"),
                       baseline_name="raw SQL claim+complete, 1 connection", target="≥ 0.5x")
        sqlite_latency = await taskloom_latency(url, min(args.latency_samples, 50))

    pg_latency: list[float] = []
    pg_floor: list[float] = []
    schema = f"taskloom_bench_{uuid.uuid4().hex[:8]}"
    proc_schema = f"taskloom_bench_proc_{uuid.uuid4().hex[:8]}"
    try:
        import psycopg

        url = with_schema(args.postgres, schema)
        await (await open_queue_storage(url)).close()
        with_procrastinate = not args.no_procrastinate
        if with_procrastinate:
            try:
                import procrastinate  # noqa: F401
            except ImportError:
                with_procrastinate = False
                print("procrastinate is not installed: .venv/bin/pip install procrastinate\n")
        if with_procrastinate:
            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'CREATE SCHEMA "{proc_schema}"')
        # (label, workers, concurrency per worker, enqueue batch, raw baseline)
        setups = [("1 worker", 1, 1, 1, "pg raw 1"), ("4 workers", 4, 1, 1, "pg raw 4"),
                  ("4 workers x 10, add_many(100), claim batch 10", 4, 10, 100,
                   "pg raw batched")]
        raw_names = {"pg raw 1": "raw SQL claim+complete, 1 connection",
                     "pg raw 4": "raw SQL claim+complete, 4 connections",
                     "pg raw batched": "raw SQL, 4 connections claiming 50 at a time, "
                                       "inserts of 100"}
        for _ in range(args.repeats):
            for conns in (1, 4):
                await rates.measure(f"pg raw {conns}", lambda c=conns: postgres_raw(
                    args.postgres, schema, args.jobs, c))
            await rates.measure("pg raw batched", lambda: postgres_raw_batched(
                args.postgres, schema, args.jobs, 4))
            for label, workers, concurrency, batch, _ in setups:
                await rates.measure(f"pg {label}", lambda w=workers, c=concurrency, b=batch:
                                    taskloom_throughput(url, args.jobs, w, c, b))
                if with_procrastinate:
                    await rates.measure(
                        f"procrastinate {label}", lambda c=workers * concurrency, b=batch:
                        procrastinate_throughput(args.postgres, proc_schema,
                                                 min(args.jobs, 500), c, b))
        for raw, name in raw_names.items():
            rows.append((f"Postgres {name}", rates.median(raw), "ceiling"))
        for label, _, _, _, raw in setups:
            rows.append((f"Postgres taskloom, {label}", rates.median(f"pg {label}"),
                         f"{rates.ratio(f'pg {label}', raw):.0%} of raw "
                         f"{rates.spread(f'pg {label}', raw)}"))
            report.add(f"Postgres queue, {label}, no-op jobs", rates.median(f"pg {label}"),
                       "jobs/s", baseline=rates.median(raw),
                       ratio=rates.ratio(f"pg {label}", raw), baseline_name=raw_names[raw],
                       target="≥ 0.5x" if "batch" in label else "")
        if with_procrastinate:
            for label, *_ in setups:
                times = rates.ratio(f"pg {label}", f"procrastinate {label}")
                rows.append((f"Postgres procrastinate, {label}",
                             rates.median(f"procrastinate {label}"),
                             f"taskloom is {times:.1f}x "
                             f"{rates.spread(f'pg {label}', f'procrastinate {label}', '{:.1f}x')}"
                             " (target >= 3x)"))
                report.add(f"Postgres queue vs procrastinate, {label}",
                           rates.median(f"pg {label}"), "jobs/s",
                           baseline=rates.median(f"procrastinate {label}"), ratio=times,
                           baseline_name="procrastinate",
                           target="≥ 3x" if label == "1 worker" else "")
        else:
            report.note("job_queue: procrastinate is not installed, so the comparison with "
                        "it is skipped (`.venv/bin/pip install procrastinate` to add it)")
        pg_latency = await taskloom_latency(url, args.latency_samples)
        pg_floor = await postgres_raw_latency(args.postgres, schema,
                                              min(args.latency_samples, 100))
    except Exception as exc:  # no server: SQLite numbers still stand
        print(f"Postgres skipped: {type(exc).__name__}: {exc}\n")
        report.note(f"job_queue: Postgres skipped ({type(exc).__name__}: {exc})")
    finally:
        with contextlib.suppress(Exception):
            import psycopg

            with psycopg.connect(args.postgres, autocommit=True) as admin:
                admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                admin.execute(f'DROP SCHEMA IF EXISTS "{proc_schema}" CASCADE')

    width = max(len(name) for name, _, _ in rows)
    for name, rate, note in rows:
        print(f"{name:<{width}}  {rate:>9,.0f} jobs/s   {note}")
    print("\nenqueue → start, idle worker:")
    for name, values in (("SQLite (polling)", sqlite_latency), ("Postgres (NOTIFY)", pg_latency)):
        if values:
            ms = [v * 1000 for v in values]
            print(f"  {name:<18} p50 {pct(ms, 50):6.2f} ms   p95 {pct(ms, 95):6.2f} ms   "
                  f"({len(ms)} samples)")
            floor = [v * 1000 for v in pg_floor] if "NOTIFY" in name else []
            if floor:
                print(f"  {'raw INSERT + claim':<18} p50 {pct(floor, 50):6.2f} ms   "
                      f"(the floor: two commits, no worker)")
            report.add(f"enqueue → start p50, idle worker, {name}", pct(ms, 50), "ms",
                       baseline=pct(floor, 50) if floor else None,
                       baseline_name="raw INSERT + claim, back to back" if floor else None,
                       target="≤ 5 ms" if "NOTIFY" in name else "")
    print("  target: p50 ≤ 5 ms with NOTIFY")
    print("\nload average (1, 5, 15 min): before {:.2f} {:.2f} {:.2f}, after {:.2f} {:.2f} {:.2f}"
          " on {} cores".format(*load_before, *os.getloadavg(), os.cpu_count()))


if __name__ == "__main__":
    asyncio.run(main())
