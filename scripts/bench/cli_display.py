"""The CLI's progress display beside --quiet, on a chain run by `taskloom run`.

    .venv/bin/python scripts/bench/cli_display.py [--n 100000] [--rows 40]

Runs the same graph twice through the real command in a process of its own:
once with --quiet, once with the display drawing live on a pseudo-terminal
(``--rows`` lines high, so the summary form is used beyond that). Prints the
wall and CPU time of each (the best of ``--repeat``), the bytes the display
wrote, and the ratios (target ≤ 1.2x). The CPU ratio is the one to read on a
shared machine, where other processes stretch wall time at random. Numbers
only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from bench_tasks import UncachedStep, chain_json
from report import Report

BENCH = Path(__file__).resolve().parent  # bench_tasks.py, imported by the child


def write_chain(folder: Path, n: int) -> Path:
    path = folder / "chain.json"
    path.write_text(json.dumps(chain_json(n, UncachedStep)))
    return path


def run(graph: Path, folder: Path, quiet: bool, rows: int) -> tuple[float, float, int]:
    """Wall and CPU seconds the command took, and the bytes it wrote to its terminal."""
    command = [sys.executable, "-m", "taskloom.cli", "run", str(graph), "--no-store",
               "--import", "bench_tasks", "-o", str(folder / "out.json")]
    if quiet:
        command.append("--quiet")
    env = {**os.environ, "PYTHONPATH": str(BENCH), "TERM": "xterm-256color",
           "COLUMNS": "120", "LINES": str(rows)}
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, 120, 0, 0))
    written = [0]

    def drain() -> None:
        # Until EIO: a pty master can read empty before the child has written.
        while True:
            try:
                written[0] += len(os.read(master, 65536))
            except OSError:  # the last writer closed the terminal
                return

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, stderr=slave, stdout=subprocess.DEVNULL, env=env)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    os.close(slave)
    reader.join(10)
    os.close(master)
    if proc.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` exited {proc.returncode}")
    return elapsed, cpu, written[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="tasks in the chain")
    parser.add_argument("--rows", type=int, default=40, help="height of the terminal")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each; the best counts")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    report = Report("cli_display")
    with report.output(args.json):
        measure(args, report)


def measure(args: argparse.Namespace, report: Report) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        graph = write_chain(folder, args.n)
        quiet, shown = [], []
        for _ in range(args.repeat):  # interleaved, so that a busy spell hits both
            quiet.append(run(graph, folder, quiet=True, rows=args.rows))
            shown.append(run(graph, folder, quiet=False, rows=args.rows))
    q_wall, q_cpu = min(r[0] for r in quiet), min(r[1] for r in quiet)
    s_wall, s_cpu = min(r[0] for r in shown), min(r[1] for r in shown)
    print(f"{args.n:,}-task chain, `taskloom run` on a {args.rows}-row terminal "
          f"(best of {args.repeat})")
    print("                    wall s    CPU s")
    print(f"  --quiet         {q_wall:8.2f} {q_cpu:8.2f}")
    print(f"  with display    {s_wall:8.2f} {s_cpu:8.2f}   ({shown[-1][2]:,} bytes drawn)")
    print(f"  ratio           {s_wall / q_wall:7.2f}x {s_cpu / q_cpu:7.2f}x   (target <= 1.2x)")
    report.add(f"CLI progress display, {args.n:,}-task chain, CPU", s_cpu, "s",
               baseline=q_cpu, baseline_name="taskloom run --quiet", target="≤ 1.2x")


if __name__ == "__main__":
    main()
