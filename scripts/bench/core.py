"""Per-task overhead of the runner beside bare asyncio, measured in the same run.

    .venv/bin/python scripts/bench/core.py [--n 10000] [--big 100000]

Prints µs per task and the ratio to bare asyncio (target <= 1.5x), the peak
RSS of a 100,000-task chain (target ≤ 500 MB) and the cost of a cache hit
(target ≤ 10 µs, in memory). Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import statistics
import time

from pydantic import BaseModel

import taskloom as tl


class Noop(tl.Task, register=False):
    type = "BenchNoop"

    class Input(BaseModel):
        x: int = 0

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        return {"x": input.x + 1}


tl.registry.register(Noop)


def chain(n: int) -> tl.TaskGraph:
    g = tl.TaskGraph()
    prev = None
    for i in range(n):
        g.add_task(Noop(id=f"t{i}"))
        if prev is not None:
            g.add_dataflow(tl.Dataflow(prev, "x", f"t{i}", "x"))
        prev = f"t{i}"
    return g


def wide(n: int) -> tl.TaskGraph:
    return tl.TaskGraph(Noop(id=f"t{i}") for i in range(n))


async def bare_chain(n: int) -> None:
    async def step(x: int) -> int:
        return x + 1

    x = 0
    for _ in range(n):
        x = await asyncio.create_task(step(x))


async def bare_wide(n: int) -> None:
    async def step(x: int) -> int:
        return x + 1

    await asyncio.gather(*(step(i) for i in range(n)))


def timed(fn, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def paired(baseline, ours, repeat: int = 7) -> tuple[float, float]:
    """Interleave the two so that a noisy neighbour hurts both alike; best of each."""
    base, mine = [], []
    for _ in range(repeat):
        base.append(timed(baseline, 1))
        mine.append(timed(ours, 1))
    return min(base), min(mine)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--events", action="store_true", help="attach a listener to every event")
    args = ap.parse_args()
    n = args.n
    g_chain, g_wide = chain(n), wide(n)

    def run_graph(g, concurrency):
        runner = tl.TaskGraphRunner(g, concurrency=concurrency)
        if args.events:
            runner.events.subscribe(lambda e: None)
        asyncio.run(runner.run())

    rows = [
        ("chain", *paired(lambda: asyncio.run(bare_chain(n)), lambda: run_graph(g_chain, 16))),
        ("wide", *paired(lambda: asyncio.run(bare_wide(n)), lambda: run_graph(g_wide, 16))),
    ]
    print(f"{n:,} no-op tasks, best of 7 interleaved (events {'on' if args.events else 'off'})")
    print(f"{'shape':<8}{'bare µs/task':>14}{'taskloom µs/task':>18}{'ratio':>8}")
    for shape, bare, ours in rows:
        print(f"{shape:<8}{bare / n * 1e6:>14.2f}{ours / n * 1e6:>18.2f}{ours / bare:>8.2f}x")

    # Cache hit: the second run of a cached graph skips every task.
    repo = tl.MemoryOutputRepository()
    g = wide(n)
    asyncio.run(tl.TaskGraphRunner(g, output_repository=repo).run())
    hit = timed(lambda: asyncio.run(tl.TaskGraphRunner(g, output_repository=repo).run()), 3)
    miss = timed(lambda: run_graph(g, 16), 3)
    print(f"cache: run with all hits {hit / n * 1e6:.2f} µs/task vs uncached "
          f"{miss / n * 1e6:.2f} µs/task; hit overhead "
          f"{(hit - miss) / n * 1e6:+.2f} µs/task")

    g_chain = g_wide = g = None  # free them before the big chain
    gc.collect()
    start = time.perf_counter()
    big = chain(args.big)
    built = time.perf_counter() - start
    doc = big.to_json()
    tl.TaskGraph.from_json(doc)
    serialised = time.perf_counter() - start - built
    t0 = time.perf_counter()
    result = asyncio.run(tl.TaskGraphRunner(big).run())
    ran = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert result.outputs[f"t{args.big - 1}"]["x"] == args.big
    print(f"{args.big:,}-task chain: build {built:.1f} s, to/from JSON {serialised:.1f} s, "
          f"run {ran:.1f} s ({ran / args.big * 1e6:.1f} µs/task); peak RSS {peak:.0f} MB")


if __name__ == "__main__":
    main()
