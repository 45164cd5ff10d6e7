"""Storage cost per backend, beside an in-memory dict measured in the same run.

    .venv/bin/python scripts/bench/storage.py [--lookups 2000] [--tasks 200] [--chain 100000]
                                              [--postgres URL]

1. Cache-hit cost: ``await store.outputs.get_output(key)`` for a ~270-byte
   output, per backend, against ``MemoryOutputRepository`` (a dict).
   Targets: memory ≤ 10 µs, SQLite ≤ 150 µs, Postgres ≤ 1 ms.
2. Run-record overhead per task: a chain run with the run record kept up to
   date (two task-row changes per task, written in batches) as a ratio to the
   same run without persistence. If the runner takes ``store=`` it is measured
   through the runner; otherwise the record writes are timed beside a plain run.
3. The same for one long chain (``--chain``, default 100,000 tasks) on SQLite
   (and Postgres): target ≤ 1.5x the run without a store.

Postgres (``--postgres``, default $TASKLOOM_TEST_POSTGRES) runs in a fresh
schema that is dropped at the end. Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import bench_tasks
from bench_tasks import UncachedStep
from report import Report

import taskloom as tl
from taskloom.cache import MemoryOutputRepository, cache_key
from taskloom.storage import open_store

REPORT = Report("storage")
REPEATS = 5
OUTPUT = {"text": "The quick brown fox jumps over the lazy dog. " * 5, "score": 0.75, "n": 12}
TARGET_US = {"memory": 10, "file": None, "sqlite": 150, "postgres": 1000}


def chain(n: int) -> tl.TaskGraph:
    return bench_tasks.chain(n, UncachedStep)


async def per_call_us(call, keys: list[str]) -> float:
    """Median over REPEATS of the mean µs per ``await call(key)``."""
    samples = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for key in keys:
            await call(key)
        samples.append((time.perf_counter() - start) / len(keys) * 1e6)
    return statistics.median(samples)


async def cache_hits(urls: dict[str, str], lookups: int) -> None:
    keys = [cache_key("Bench", 1, {"i": i}) for i in range(min(lookups, 1000))]
    keys = (keys * (lookups // len(keys) + 1))[:lookups]
    baseline_repo = MemoryOutputRepository()
    for key in set(keys):
        await baseline_repo.put_output(key, OUTPUT)
    baseline = await per_call_us(baseline_repo.get_output, keys)
    print(f"\ncache hit, {lookups} lookups, median of {REPEATS}")
    print(f"  {'dict (MemoryOutputRepository)':32} {baseline:9.1f} µs   1.0x")
    for name, url in urls.items():
        async with open_store(url) as store:
            for key in set(keys):
                await store.outputs.put_output(key, OUTPUT)
            assert await store.outputs.get_output(keys[0]) == OUTPUT
            cost = await per_call_us(store.outputs.get_output, keys)
        target = TARGET_US[name]
        goal = f"(target ≤ {target} µs)" if target else ""
        print(f"  {name:32} {cost:9.1f} µs {cost / baseline:6.1f}x  {goal}")
        REPORT.add(f"cache hit, {name} store", cost, "µs", baseline=baseline,
                   baseline_name="dict (MemoryOutputRepository)",
                   target=f"≤ {target} µs" if target else "")


async def run_overhead(urls: dict[str, str], tasks: int) -> None:
    graph = chain(tasks)
    runner_takes_store = "store" in inspect.signature(tl.TaskGraphRunner).parameters

    async def plain_run() -> float:
        start = time.perf_counter()
        await tl.TaskGraphRunner(graph).run()
        return time.perf_counter() - start

    plain = statistics.median([await plain_run() for _ in range(REPEATS)])
    how = "through the runner" if runner_takes_store else "runner time + record writes"
    print(f"\nrun-record overhead, {tasks}-task chain, median of {REPEATS} ({how})")
    print(f"  {'no persistence':32} {plain / tasks * 1e6:9.1f} µs/task   1.0x")
    for name, url in urls.items():
        async with open_store(url) as store:
            samples = []
            for _ in range(REPEATS):
                if runner_takes_store:
                    start = time.perf_counter()
                    await tl.TaskGraphRunner(graph, store=store).run()
                    samples.append(time.perf_counter() - start)
                else:
                    samples.append(plain + await record_writes(store, graph, tasks))
            persisted = statistics.median(samples)
        print(f"  {name:32} {persisted / tasks * 1e6:9.1f} µs/task {persisted / plain:6.1f}x")
        REPORT.add(f"run-record overhead, {tasks}-task chain, {name} store",
                   persisted / tasks * 1e6, "µs/task", baseline=plain / tasks * 1e6,
                   baseline_name="no persistence")


async def long_chain(urls: dict[str, str], tasks: int, folder: str) -> None:
    """A ``tasks``-long chain without a store and with each durable one, measured two ways:
    through the runner (the record's whole cost, graph JSON included), and as
    `taskloom run chain.json --quiet` (how the issue measured 91.7 s against 8.7 s)."""
    graph = chain(tasks)
    stores = [name for name in ("sqlite", "postgres") if name in urls]
    start = time.perf_counter()
    await tl.TaskGraphRunner(graph).run()
    plain = time.perf_counter() - start
    print(f"\nrun record of a {tasks:,}-task chain, one run each (target ≤ 1.5x)")
    print(f"  {'runner, no store':32} {plain:8.1f} s   1.0x")
    for name in stores:
        async with open_store(urls[name]) as store:
            start = time.perf_counter()
            result = await tl.TaskGraphRunner(graph, store=store).run()
            took = time.perf_counter() - start
            record = await store.runs.get(result.run_id)
            assert record.status == "completed"
            assert record.tasks[f"t{tasks - 1}"].output == {"x": tasks}
        print(f"  {'runner, ' + name:32} {took:8.1f} s {took / plain:6.2f}x")
        REPORT.add(f"{tasks:,}-task chain recorded, {name} store, through the runner", took,
                   "s", baseline=plain, baseline_name="runner, no store", target="≤ 1.5x")

    path = Path(folder, "chain.json")
    path.write_text(json.dumps(graph.to_json()))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}

    def cli(*store_args: str) -> float:
        command = [sys.executable, "-m", "taskloom.cli", "run", str(path), "--import",
                   "storage", "--quiet", "-o", os.devnull, *store_args]
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    bare = cli("--no-store")
    print(f"  {'taskloom run --no-store':32} {bare:8.1f} s   1.0x")
    for name in stores:
        took = cli("--store", urls[name].replace("chain.db", "cli.db"))
        print(f"  {'taskloom run --store ' + name:32} {took:8.1f} s {took / bare:6.2f}x")
        REPORT.add(f"{tasks:,}-task chain recorded, {name} store, `taskloom run`", took, "s",
                   baseline=bare, baseline_name="taskloom run --no-store", target="≤ 1.5x")


async def record_writes(store, graph: tl.TaskGraph, tasks: int) -> float:
    """Seconds to keep a run record of ``tasks`` tasks as a runner would."""
    start = time.perf_counter()
    run = await store.runs.create(graph, task_ids=graph.task_ids())
    await store.runs.set_status(run.run_id, "processing")
    for i, task_id in enumerate(graph.task_ids()):
        await store.runs.update_task(run.run_id, task_id, status="processing")
        await store.runs.update_task(run.run_id, task_id, status="completed", output={"x": i})
    await store.runs.set_status(run.run_id, "completed")
    return time.perf_counter() - start


def with_schema(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = urlencode([*parse_qsl(parts.query), ("schema", schema)])
    return urlunsplit(parts._replace(query=query))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--chain", type=int, default=100_000)
    parser.add_argument("--postgres", default=os.environ.get("TASKLOOM_TEST_POSTGRES"))
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    with REPORT.output(args.json):
        await measure(args)


async def measure(args: argparse.Namespace) -> None:

    with tempfile.TemporaryDirectory(prefix="taskloom-bench-") as folder:
        urls = {
            "memory": "memory://",
            "file": Path(folder, "files").as_uri(),
            "sqlite": f"sqlite:///{Path(folder, 'bench.db')}",
        }
        schema = f"taskloom_bench_{uuid.uuid4().hex[:10]}"
        if args.postgres:
            urls["postgres"] = with_schema(args.postgres, schema)
        else:
            print("postgres: skipped (pass --postgres URL or set TASKLOOM_TEST_POSTGRES)")
            REPORT.note("storage: Postgres skipped (no --postgres URL)")
        try:
            await cache_hits(urls, args.lookups)
            for name, url in urls.items():
                if name != "memory":  # fresh files and tables for the run records
                    urls[name] = url.replace("bench.db", "runs.db").replace("/files", "/runs")
            await run_overhead(urls, args.tasks)
            for name, url in urls.items():
                if name != "memory":
                    urls[name] = url.replace("runs.db", "chain.db")
            if args.postgres:
                urls["postgres"] = with_schema(args.postgres, schema + "_chain")
            if args.chain:
                await long_chain(urls, args.chain, folder)
        finally:
            if args.postgres:
                import psycopg

                with psycopg.connect(args.postgres, autocommit=True) as connection:
                    connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                    connection.execute(f'DROP SCHEMA IF EXISTS "{schema}_chain" CASCADE')


if __name__ == "__main__":
    asyncio.run(main())
