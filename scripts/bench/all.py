"""Run every benchmark that needs no browser and no extra install; write docs/benchmarks.md.

    scripts/bench/all [--browser] [--out docs/benchmarks.md] [--postgres URL]

Each benchmark runs in a process of its own with ``--json`` (its readable
output goes to this script's stderr as it runs) and reports rows of metric,
baseline, taskloom, ratio and target. They run one after another, so no two
compete for the machine; the load average is recorded beside each. With
``--browser`` the browser benchmarks (Playwright and Chromium) run too and
their output is added to the page as printed. Numbers only: nothing passes
or fails.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent

BENCHES: list[tuple[str, list[str]]] = [
    ("core", []),
    ("storage", []),
    ("cli_display", []),
    ("codegen", []),
    ("job_queue", []),
]
BROWSER_BENCHES = ["browser_startup", "browser_models", "browser_ai_text", "browser_vectors"]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load() -> str:
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def run_bench(name: str, extra: list[str]) -> dict:
    command = [sys.executable, str(HERE / f"{name}.py"), "--json", *extra]
    print(f"\n== {name}: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    started, before = datetime.datetime.now(datetime.UTC), load()
    proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        return {"bench": name, "rows": [], "started": started, "load": before,
                "notes": [f"{name}: failed (exit {proc.returncode}); see its output above"]}
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report.update(started=started, load=before)
    return report


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 \
        else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def markdown(reports: list[dict], browser: dict[str, str], machine: str) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench/all` (see `scripts/bench/*.py` for what each one does).",
        "Each baseline is measured in the same run, beside taskloom; the ratio is",
        "taskloom / baseline (for jobs/s, higher is better; for times, lower is).",
        "These are numbers, not tests: nothing passes or fails on them.",
        "",
        f"Machine: {machine}.",
        "",
        "| metric | baseline | taskloom | ratio | target | run at (UTC), load avg 1/5/15 min |",
        "|---|---|---|---|---|---|",
    ]
    notes = []
    for report in reports:
        when = f"{report['started']:%Y-%m-%d %H:%M}, {report['load']}"
        for row in report["rows"]:
            baseline = number(row["baseline"], row["unit"])
            if row.get("baseline_name") and row["baseline"] is not None:
                baseline = f"{baseline} ({row['baseline_name']})"
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}x"
            lines.append(f"| {row['metric']} | {baseline} | {number(row['taskloom'], row['unit'])} "
                         f"| {ratio} | {row['target'] or '—'} | {when} |")
        notes.extend(report.get("notes", []))
    if notes:
        lines += ["", "Notes:", ""] + [f"- {note}" for note in notes]
    for name, text in browser.items():
        lines += ["", f"## {name} (as printed)", "", "```", text.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true",
                        help="also run the browser benchmarks (Playwright + Chromium)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--postgres", default=os.environ.get("TASKLOOM_TEST_POSTGRES"))
    args = parser.parse_args()
    machine = (f"{os.cpu_count()} CPUs (nproc), {cpu_model()}, {platform.system()} "
               f"{platform.release()}, Python {platform.python_version()}; load average at "
               f"the start {load()}")
    reports = []
    for name, extra in BENCHES:
        if args.postgres and name in ("storage", "job_queue"):
            extra = [*extra, "--postgres", args.postgres]
        reports.append(run_bench(name, extra))
    browser = {}
    if args.browser:
        for name in BROWSER_BENCHES:
            print(f"\n== {name}", file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, str(HERE / f"{name}.py")], cwd=ROOT,
                                  stdout=subprocess.PIPE, text=True)
            browser[name] = proc.stdout if proc.returncode == 0 else \
                f"{proc.stdout}\n(failed: exit {proc.returncode})"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(markdown(reports, browser, machine))
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
