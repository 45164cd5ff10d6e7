"""Cold start of the page against bare Pyodide, measured in the same browser run.

Prints (never asserts), median of N fresh browser contexts each:
  - bare Pyodide: `loadPyodide()` alone in a module Web Worker (the baseline);
  - bare Pyodide + the same wheels: loadPackage(["taskloom"]) and their
    imports, timed one by one (what our imports cost);
  - the taskloom page: "engine ready" and "first graph run complete", with
    its engine started through PyScript (the default) and in a plain module
    worker (`?engine=module`), each from the build's memory snapshot (the
    default) and without it (`?snapshot=0`);
and the ratios to the baseline (target: engine ready <= 1.0x), plus how many
bytes each start transfers. Service workers are blocked so that caching
for offline use does not compete with the start.

    .venv/bin/python scripts/bench/browser_startup.py [--runs 3] [--site DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from build_site.assemble import build_site  # noqa: E402
from build_site.server import make_server  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

BARE_PAGE = """<!doctype html><meta charset="utf-8"><title>bare pyodide</title>
<script type="module">
const worker = new Worker("./bare-worker.mjs", { type: "module" });
worker.onmessage = ({ data }) => {
  window.benchResult = { ...data, pageMs: performance.now() };
  document.body.dataset.done = "";
};
worker.postMessage(new URLSearchParams(location.search).get("imports") === "1");
</script><body></body>
"""

BARE_WORKER = """import { loadPyodide } from "./pyodide/pyodide.mjs";
onmessage = async ({ data: withImports }) => {
  const pyodide = await loadPyodide({ indexURL: new URL("./pyodide/", location.href).href });
  const result = { readyMs: performance.now() };
  if (withImports) {
    await pyodide.loadPackage(["taskloom"]);
    result.loadedMs = performance.now();
    result.imports = JSON.parse(pyodide.runPython(`
import json, time
costs = {}
for name in ("pydantic_core", "pydantic", "networkx", "taskloom"):
    started = time.perf_counter()
    __import__(name)
    costs[name] = round((time.perf_counter() - started) * 1000, 1)
json.dumps(costs)`));
    result.importedMs = performance.now();
  }
  postMessage(result);
};
"""


def bench_site(site: Path) -> Path:
    """A throwaway folder: the built site (linked) plus the bare Pyodide pages."""
    folder = Path(tempfile.mkdtemp(prefix="taskloom-bench-"))
    for entry in site.iterdir():
        (folder / entry.name).symlink_to(entry)
    (folder / "bare.html").write_text(BARE_PAGE)
    (folder / "bare-worker.mjs").write_text(BARE_WORKER)
    return folder


#: The page's timings plus how its engine started (engine_info's `startup`), in page ms.
PAGE_RESULT = """(() => {
  const { timings, info } = window.taskloom;
  const since = (epoch) => epoch - performance.timeOrigin;
  return { ...timings, startup: info.startup, loaderStart: since(info.startup.startedAt),
           loaderReady: since(info.startup.readyAt) };
})()"""


def measure(browser, url: str, ready_selector: str, script: str, click_run: bool = False):
    context = browser.new_context(service_workers="block")
    transferred = []
    context.on("requestfinished",
               lambda request: transferred.append(request.sizes()["responseBodySize"]))
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector(ready_selector, state="attached", timeout=300_000)
    if click_run:
        page.click("#run")
        page.wait_for_selector("body[data-run-state=completed]", state="attached",
                               timeout=300_000)
    result = page.evaluate(script)
    context.close()
    result["bytes"] = sum(transferred)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--site", type=Path, default=ROOT / "dist" / "site",
                        help="where to build the site (default dist/site)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    site = build_site(ROOT / "build" / "browser.toml", args.site,
                      ROOT / ".cache" / "site-build")
    server = make_server(bench_site(site), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"

    variants = {  # the page, by how its engine starts (web/engine-client.js)
        "PyScript worker, snapshot": "",
        "PyScript worker, no snapshot": "?snapshot=0",
        "module worker, snapshot": "?engine=module",
        "module worker, no snapshot": "?engine=module&snapshot=0",
    }
    bare, bare_imports = [], []
    pages: dict[str, list[dict]] = {name: [] for name in variants}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        for _ in range(args.runs):  # interleaved, so that machine noise hits all alike
            bare.append(measure(browser, base + "bare.html", "body[data-done]",
                                "window.benchResult"))
            bare_imports.append(measure(browser, base + "bare.html?imports=1",
                                        "body[data-done]", "window.benchResult"))
            for name, query in variants.items():
                pages[name].append(measure(browser, base + query, "body[data-engine-ready]",
                                           PAGE_RESULT, click_run=True))
        browser.close()
    server.shutdown()

    def median(rows, key):
        return statistics.median(row[key] for row in rows)

    baseline = median(bare, "readyMs")
    rows = [
        ("bare Pyodide: loadPyodide() in a worker", baseline, median(bare, "bytes")),
        ("bare Pyodide + loadPackage(taskloom) + imports", median(bare_imports, "importedMs"),
         median(bare_imports, "bytes")),
    ]
    for name, results in pages.items():
        rows.append((f"page ({name}): engine ready", median(results, "engineReady"),
                     median(results, "bytes")))
        rows.append((f"page ({name}): first run complete", median(results, "firstRunComplete"),
                     None))
    print(f"\nbrowser cold start, median of {args.runs} fresh contexts "
          f"(service workers blocked), Chromium headless\n")
    print(f"{'':62} {'ms':>8} {'x bare':>7} {'MB sent':>8}")
    for name, ms, size in rows:
        mb = f"{size / 1e6:8.1f}" if size is not None else f"{'':8}"
        print(f"{name:62} {ms:8.0f} {ms / baseline:7.2f} {mb}")
    load_ms = statistics.median(r["loadedMs"] - r["readyMs"] for r in bare_imports)
    print(f"\nloadPackage(taskloom and its dependencies), after Pyodide is up: {load_ms:.0f} ms")
    print("import cost inside Pyodide (ms, first import, median):")
    for name in bare_imports[0]["imports"]:
        print(f"  {name:14} {statistics.median(r['imports'][name] for r in bare_imports):8.0f}")
    print("\nthe page's start-up, split (ms since navigation, median):")
    for name, results in pages.items():
        used = {row["startup"]["snapshot"] for row in results}
        print(f"  {name:30} loadPyodide called {median(results, 'loaderStart'):6.0f}, "
              f"returned {median(results, 'loaderReady'):6.0f}; worker code starts "
              f"{median(results, 'workerCodeStart'):6.0f}, taskloom imported in "
              f"{median(results, 'importMs'):4.0f}; engine ready "
              f"{median(results, 'engineReady'):6.0f}; snapshot used: {sorted(used)}")
    print(f"  (PyScript's bundle is loaded on the page at "
          f"{median(pages['PyScript worker, snapshot'], 'pyscriptLoaded'):.0f})")
    snapshot = site / "pyodide" / "taskloom-snapshot.bin.gz"
    if snapshot.exists():
        print(f"snapshot: {snapshot.stat().st_size / 1e6:.1f} MB gzipped")
    print("\ntarget: engine ready <= 1.0x bare Pyodide (stretch: 0.7x)")
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    print(f"site on disk: {size / 1e6:.1f} MB ({site})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
