"""Main-thread long tasks (PerformanceObserver 'longtask', each over 50 ms) while the page
runs the pipeline example, beside the same page idle for as long: prints both.

    .venv/bin/python scripts/bench/browser_longtasks.py
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("browser_site", ROOT / "tests/browser/site.py")
settings = importlib.util.module_from_spec(spec)
spec.loader.exec_module(settings)
PIPELINE = "Document \u2192 paragraphs \u2192 rewrite \u00d72 \u2192 embed \u2192 compare"
OBSERVE = """() => { window.longTasks = [];
  window.longTaskObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.longTasks.push(Math.round(e.duration)); });
  window.longTaskObserver.observe({ type: "longtask" }); window.t0 = performance.now(); }"""
COLLECT = "() => { window.longTaskObserver.disconnect(); " \
          "return [window.longTasks, performance.now() - window.t0]; }"


def main() -> None:
    subprocess.run([sys.executable, "-m", "build_site"], check=True, cwd=ROOT,
                   env={"PYTHONPATH": str(ROOT / "scripts"), **__import__("os").environ})
    server = subprocess.Popen([sys.executable, "-m", "build_site.server", "--site",
                               str(ROOT / "dist" / "site"), "--port", "0"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True,
                              env={"PYTHONPATH": str(ROOT / "scripts"),
                                   **__import__("os").environ})
    try:
        url = re.search(r"http://[\d.]+:\d+/", server.stdout.readline()).group(0)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(settings.CHROMIUM),
                                        args=settings.CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("dialog", lambda dialog: dialog.accept())
            page.goto(url)
            page.wait_for_function("window.taskloom.ready === true",
                                   timeout=settings.ENGINE_START_MS)
            page.click(f'#examples [data-example="{PIPELINE}"]')
            page.wait_for_selector("#canvas [data-task-id]", timeout=60_000)
            page.evaluate(OBSERVE)
            page.click("#run")
            page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                                   state="attached", timeout=300_000)
            run_tasks, run_ms = page.evaluate(COLLECT)
            page.evaluate(OBSERVE)
            page.wait_for_timeout(run_ms)
            idle_tasks, idle_ms = page.evaluate(COLLECT)
            browser.close()
    finally:
        server.terminate()
    print(f"pipeline run: {len(run_tasks)} long tasks in {run_ms:.0f} ms, ms each: {run_tasks}")
    print(f"idle page:    {len(idle_tasks)} long tasks in {idle_ms:.0f} ms, ms each: {idle_tasks}")


if __name__ == "__main__":
    main()
