"""Main-thread long tasks (PerformanceObserver 'longtask', each over 50 ms of wall clock)
while the page runs the pipeline example, beside the same page idle for as long, in one
browser run; and each long task's CPU time from Chromium's trace (tests/browser/main_thread.py),
since on a loaded machine most of a long task's wall time is the thread being descheduled.
Prints both and the ratios run / idle (never asserts: tests/browser/test_long_tasks.py does).

    .venv/bin/python scripts/bench/browser_longtasks.py [--site DIR] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import Report  # noqa: E402


def _load(name: str, path: Path):
    # The browser tests' helpers, by path (their package is named like stdlib's site).
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


settings = _load("browser_site", ROOT / "tests/browser/site.py")
main_thread = _load("browser_main_thread", ROOT / "tests/browser/main_thread.py")
PIPELINE = "Document \u2192 paragraphs \u2192 rewrite \u00d72 \u2192 embed \u2192 compare"
FINISHED = "body[data-run-state=completed], body[data-run-state=failed]"


def measure(url: str) -> dict:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(settings.CHROMIUM),
                                    args=settings.CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(main_thread.OBSERVER)
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(url)
        page.wait_for_function("window.taskloom.ready === true",
                               timeout=settings.ENGINE_START_MS)
        page.click(f'#examples [data-example="{PIPELINE}"]')
        page.wait_for_selector("#canvas [data-task-id]", timeout=60_000)
        browser.start_tracing(page=page, categories=main_thread.CATEGORIES)
        run_start = page.evaluate(main_thread.MARK, "bench-run")
        page.click("#run")
        page.wait_for_selector(FINISHED, state="attached", timeout=300_000)
        page.evaluate("() => new Promise((idle) => requestIdleCallback(idle))")
        run_end = page.evaluate(main_thread.MARK, "bench-run-end")
        page.wait_for_timeout(run_end - run_start)  # the idle page, for as long
        idle_end = page.evaluate(main_thread.MARK, "bench-idle-end")
        trace = browser.stop_tracing()
        entries = page.evaluate("window.taskloomLongTasks")
        ok = page.evaluate("window.taskloom.lastRun.ok")
        browser.close()
    main = main_thread.MainThreadTrace(trace, "bench-run")

    def window(since: float, until: float) -> dict:
        tasks = main.long_tasks(entries, since, until)
        cpu = [cpu for begin, _, cpu in main.tasks if since <= begin < until]
        return {"ms": until - since, "tasks": tasks, "cpu_ms": sum(cpu),
                "max_cpu": max(cpu, default=0.0)}

    return {"ok": ok, "run": window(run_start, run_end), "idle": window(run_end, idle_end)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="an already built site (default: build "
                        "dist/site)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = Report("browser_longtasks")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts")}
    with report.output(args.json):
        site = args.site
        if site is None:
            subprocess.run([sys.executable, "-m", "build_site"], check=True, cwd=ROOT, env=env)
            site = ROOT / "dist" / "site"
        server = subprocess.Popen([sys.executable, "-m", "build_site.server", "--site",
                                   str(site), "--port", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                                  text=True, env=env)
        try:
            url = re.search(r"http://[\d.]+:\d+/", server.stdout.readline()).group(0)
            found = measure(url)
        finally:
            server.terminate()
        run, idle = found["run"], found["idle"]
        for name, part in (("pipeline run", run), ("idle page", idle)):
            print(f"{name}: {len(part['tasks'])} long tasks in {part['ms']:.0f} ms, "
                  f"main thread busy {part['cpu_ms']:.0f} ms of CPU, "
                  f"the longest task {part['max_cpu']:.0f} ms of CPU")
            for task in part["tasks"]:
                print(f"  {task}")
        if not found["ok"]:
            report.note("the pipeline run failed: its numbers are not a run's")

        def per_second(part: dict, value: float) -> float:
            return value / part["ms"] * 1000

        for metric, unit, value in (
                ("long tasks per second", "/s", lambda part: len(part["tasks"])),
                ("main-thread CPU per second", "ms/s", lambda part: part["cpu_ms"])):
            during, beside = per_second(run, value(run)), per_second(idle, value(idle))
            report.add(f"{metric}, pipeline run vs idle page", during, unit, baseline=beside,
                       baseline_name="the idle page",
                       ratio=during / beside if beside else None)
            print(f"{metric}: run {during:.2f}, idle {beside:.2f}" +
                  (f", ratio {during / beside:.1f}x" if beside else ", idle: none"))
        report.add("longest main-thread task of the run, CPU", run["max_cpu"], "ms",
                   target="under 50 ms (tests/browser/test_long_tasks.py)")


if __name__ == "__main__":
    main()
