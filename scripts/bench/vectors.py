"""Vector search cost per backend, beside numpy brute force in the same run.

    .venv/bin/python scripts/bench/vectors.py [--n 100000] [--dim 384] [--k 10]
                                              [--queries 5] [--postgres URL]

For each backend (memory, SQLite, Postgres real[] — and pgvector when the
server has it): the time to upsert ``--n`` random unit vectors, then the
median time of a top-``k`` search over them, and whether its ids equal
numpy's brute-force top-k (``argpartition`` over one matrix product). The
numpy figure is the floor: every backend but Postgres scores with numpy after
reading the vectors. Postgres (``--postgres``, default
$TASKLOOM_TEST_POSTGRES) runs in a fresh schema that is dropped at the end.
Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from taskloom.storage import sqlite_url
from taskloom.vectors import VectorItem, open_vector_store

BATCH = 5000


def brute_force(matrix: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    best = np.argpartition(-scores, k - 1)[:k]
    return [int(i) for i in best[np.argsort(-scores[best], kind="stable")]]


async def bench(name: str, url: str, matrix: np.ndarray, queries: np.ndarray,
                k: int) -> str | None:
    """Prints one backend's figures; returns the store's kind (Postgres: plain or pgvector)."""
    store = open_vector_store(url)
    try:
        started = time.perf_counter()
        for start in range(0, len(matrix), BATCH):
            await store.upsert("bench", [
                VectorItem(str(i), matrix[i].tolist(), f"text {i}", {"i": i})
                for i in range(start, min(start + BATCH, len(matrix)))])
        upsert = time.perf_counter() - started
        times, agree = [], True
        for query in queries:
            started = time.perf_counter()
            hits = await store.search("bench", query.tolist(), k=k)
            times.append(time.perf_counter() - started)
            agree &= [int(h.id) for h in hits] == brute_force(matrix, query, k)
        kind = getattr(store, "kind", None)
        label = f"{name} ({kind})" if kind else name
        print(f"{label:<22} upsert {upsert:8.1f} s   search median "
              f"{statistics.median(times) * 1000:9.1f} ms   same top-{k} as numpy: {agree}")
        return kind
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--queries", type=int, default=5)
    parser.add_argument("--postgres", default=os.environ.get("TASKLOOM_TEST_POSTGRES"),
                        help="a Postgres URL; '' to skip Postgres")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((args.n, args.dim), dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    queries = rng.standard_normal((args.queries, args.dim), dtype=np.float32)
    print(f"{args.n:,} vectors of {args.dim} dimensions, top-{args.k}, "
          f"median of {args.queries} queries")

    times = []
    for query in queries:
        started = time.perf_counter()
        brute_force(matrix, query, args.k)
        times.append(time.perf_counter() - started)
    print(f"{'numpy brute force':<22} {'':17}   search median "
          f"{statistics.median(times) * 1000:9.1f} ms")

    await bench("memory", f"memory://bench-{uuid.uuid4().hex}", matrix, queries, args.k)
    with tempfile.TemporaryDirectory() as folder:
        await bench("sqlite", sqlite_url(Path(folder) / "v.db"), matrix, queries, args.k)
    if args.postgres:
        import psycopg

        schema = f"taskloom_bench_{uuid.uuid4().hex[:12]}"
        separator = "&" if "?" in args.postgres else "?"
        url = f"{args.postgres}{separator}schema={schema}"
        try:
            kind = await bench("postgres", url, matrix, queries, args.k)  # pgvector if present
            if kind == "pgvector":
                await bench("postgres", url + "&pgvector=off", matrix, queries, args.k)
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as connection:
                connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    else:
        print("postgres               skipped: pass --postgres URL or set TASKLOOM_TEST_POSTGRES")


if __name__ == "__main__":
    asyncio.run(main())
