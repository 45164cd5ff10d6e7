"""Per-task overhead of the runner beside bare asyncio, measured in the same run.

    .venv/bin/python scripts/bench/core.py [--n 10000] [--big 100000] [--json]

1. µs per no-op task and the ratio to bare asyncio, for a chain and for
   independent tasks, with a listener on every event (target ≤ 1.3x) and
   with no listener. Times are CPU seconds of this process (the run does no
   I/O, so CPU time is its wall time minus what other processes took on a
   shared machine), the best of 7 runs interleaved with the baseline's.
2. The cost of a cache hit, in memory.
3. A 100,000-task chain in a process of its own: build it in bulk, with
   ``TaskGraph(tasks, dataflows)`` (target ≤ 1 s; one ``add_task`` and
   ``add_dataflow`` at a time is measured too, first), write it to JSON text
   and load it back (``to_json_string`` + ``from_json``, ≤ 2 s), run the
   loaded graph, and the peak RSS of the whole (≤ 200 MB). The order is a
   save / load / run: the built graph is dropped once written, the text once
   loaded.

Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench_tasks import chain, chain_one_by_one, wide
from report import Report

import taskloom as tl

clock = time.process_time


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
        start = clock()
        fn()
        samples.append(clock() - start)
    return min(samples)


def paired(baseline, ours, repeat: int = 7) -> tuple[float, float]:
    """Interleave the two so that a noisy neighbour hurts both alike; best of each."""
    base, mine = [], []
    for _ in range(repeat):
        base.append(timed(baseline, 1))
        mine.append(timed(ours, 1))
    return min(base), min(mine)


def big_chain(n: int) -> dict[str, float]:
    """Build, save, load and run an n-task chain; this process's numbers."""
    gc.collect()
    start = clock()
    graph = chain_one_by_one(n)
    one_by_one = clock() - start
    del graph
    gc.collect()
    start = clock()
    graph = chain(n)
    built = clock() - start
    start = clock()
    doc = graph.to_json_string(indent=None)
    del graph
    loaded = tl.TaskGraph.from_json(doc)
    round_trip = clock() - start
    del doc
    start = clock()
    result = asyncio.run(tl.TaskGraphRunner(loaded).run())
    ran = clock() - start
    assert result.outputs[f"t{n - 1}"]["x"] == n
    return {"build": built, "build_one_by_one": one_by_one, "round_trip": round_trip, "run": ran,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=100_000)
    ap.add_argument("--events", action="store_true",
                    help="measure only with a listener on every event")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--big-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.big_only:
        print(json.dumps(big_chain(args.big)))
        return
    report = Report("core")
    with report.output(args.json):
        measure(args, report)


def measure(args: argparse.Namespace, report: Report) -> None:
    n = args.n
    g_chain, g_wide = chain(n), wide(n)

    def run_graph(g, events):
        runner = tl.TaskGraphRunner(g, concurrency=16)
        if events:
            runner.events.subscribe(lambda e: None)
        asyncio.run(runner.run())

    print(f"{n:,} no-op tasks, CPU time, best of 7 interleaved with bare asyncio")
    print(f"{'shape':<8}{'events':>8}{'bare µs/task':>14}{'taskloom µs/task':>18}{'ratio':>8}")
    for events in (True,) if args.events else (True, False):
        for shape, g, bare in (("chain", g_chain, bare_chain), ("wide", g_wide, bare_wide)):
            base, ours = paired(lambda bare=bare: asyncio.run(bare(n)),
                                lambda g=g, events=events: run_graph(g, events))
            print(f"{shape:<8}{'on' if events else 'off':>8}{base / n * 1e6:>14.2f}"
                  f"{ours / n * 1e6:>18.2f}{ours / base:>8.2f}x")
            report.add(f"runner overhead, {n:,} no-op tasks, {shape}, "
                       f"{'a listener on every event' if events else 'no listener'}",
                       ours / n * 1e6, "µs/task", baseline=base / n * 1e6,
                       baseline_name="bare asyncio", target="≤ 1.3x" if events else "")

    # Cache hit: the second run of a cached graph skips every task.
    repo = tl.MemoryOutputRepository()
    g = wide(n)
    asyncio.run(tl.TaskGraphRunner(g, output_repository=repo).run())
    hit = timed(lambda: asyncio.run(tl.TaskGraphRunner(g, output_repository=repo).run()), 3)
    miss = timed(lambda: run_graph(g, False), 3)
    print(f"cache: run with all hits {hit / n * 1e6:.2f} µs/task vs uncached "
          f"{miss / n * 1e6:.2f} µs/task; hit overhead "
          f"{(hit - miss) / n * 1e6:+.2f} µs/task")
    report.add(f"run of {n:,} tasks, every one a cache hit (memory)", hit / n * 1e6,
               "µs/task", baseline=miss / n * 1e6, baseline_name="the same run uncached")

    g_chain = g_wide = g = None
    # A process of its own, so that its peak RSS is the big chain's alone.
    child = subprocess.run([sys.executable, str(Path(__file__)), "--big-only", "--big",
                            str(args.big)], capture_output=True, text=True, check=True)
    big = json.loads(child.stdout)
    print(f"{args.big:,}-task chain (CPU s): build {big['build']:.2f} s (one call at a time "
          f"{big['build_one_by_one']:.2f} s), to JSON text and back "
          f"{big['round_trip']:.2f} s, run {big['run']:.2f} s "
          f"({big['run'] / args.big * 1e6:.1f} µs/task); peak RSS {big['peak_mb']:.0f} MB")
    report.add(f"{args.big:,}-task chain: build (TaskGraph(tasks, dataflows))", big["build"],
               "s", target="≤ 1 s")
    report.add(f"{args.big:,}-task chain: build, one add_task + add_dataflow at a time",
               big["build_one_by_one"], "s")
    report.add(f"{args.big:,}-task chain: to JSON text and back", big["round_trip"], "s",
               target="≤ 2 s")
    report.add(f"{args.big:,}-task chain: run", big["run"], "s")
    report.add(f"{args.big:,}-task chain: peak RSS of build, save, load and run",
               big["peak_mb"], "MB", target="≤ 200 MB")


if __name__ == "__main__":
    main()
