"""What the page benchmarks share: the built site on a local server, Debian's Chromium, and
Python code run in the page's engine whose ``bench`` task reports its numbers as JSON."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from build_site.assemble import build_site  # noqa: E402
from build_site.server import make_server  # noqa: E402

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@contextlib.contextmanager
def served_site(site_dir: Path) -> Iterator[str]:
    """Builds the site into ``site_dir`` (when it changed) and serves it; yields its URL."""
    site = build_site(ROOT / "build" / "browser.toml", site_dir, ROOT / ".cache" / "site-build")
    server = make_server(site, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def launch(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


def run_bench(browser, url: str, code: str, *, cache: bool = True) -> dict:
    """Runs ``code`` in a fresh page's engine; answers the JSON its ``bench`` task reports."""
    context = browser.new_context(service_workers="block")
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("body[data-engine-ready], body[data-engine-error]",
                               state="attached", timeout=180_000)
        error = page.get_attribute("body", "data-engine-error")
        if error:
            raise RuntimeError(f"the engine did not start: {error}")
        report = page.evaluate(
            "([code, cache]) => window.taskloom.engine.request('run_code', code, null, {cache})",
            [code, cache])
        if not report["ok"]:
            raise RuntimeError(report.get("traceback") or report.get("error"))
        return json.loads(report["outputs"]["bench"]["report"])
    finally:
        context.close()
