"""Helpers the browser tests share: build the site, run its server, launch Chromium."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
CHROMIUM = Path("/usr/bin/chromium")
DOWNLOAD_CACHE = ROOT / ".cache" / "site-build"
# TASKLOOM_TEST_SITE lets parallel sessions build their own copy.
TEST_SITE = Path(os.environ.get("TASKLOOM_TEST_SITE") or ROOT / "dist" / "test-site")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: Generous upper bounds that only stop a hung test; no test judges speed.
ENGINE_START_MS = 180_000
RUN_MS = 120_000


def build_test_site() -> Path:
    sys.path.insert(0, str(SCRIPTS))
    try:
        from build_site.assemble import build_site
    finally:
        sys.path.remove(str(SCRIPTS))
    return build_site(ROOT / "build" / "browser.toml", TEST_SITE, DOWNLOAD_CACHE,
                      log=lambda _message: None)


class SiteServer:
    """scripts/serve's server (build_site.server) in a child process."""

    def __init__(self, site: Path, *, isolation_headers: bool = True):
        command = [sys.executable, "-m", "build_site.server", "--site", str(site), "--port", "0"]
        if not isolation_headers:
            command.append("--no-isolation-headers")
        env = {**os.environ, "PYTHONPATH": str(SCRIPTS)}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        match = re.search(r"http://[\d.]+:\d+/", line)
        if match is None:
            self.stop()
            raise RuntimeError(f"the site server did not print its URL: {line!r}")
        self.url = match.group(0)
        self.origin = self.url.rstrip("/")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


def set_code(page, code: str) -> None:
    """Types ``code`` into the code view (its drawer tab first: a failed run shows Run)."""
    page.click("#tab-code")
    page.fill("#code", code)


def set_json(page, text: str) -> None:
    """Types ``text`` into the JSON view (its drawer tab first)."""
    page.click("#tab-json")
    page.fill("#graph-json", text)
