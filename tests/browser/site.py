"""Helpers the browser tests share: build the site, run its server, launch Chromium, and
drive the page (its code and JSON views, the canvas, the palette)."""

from __future__ import annotations

import json
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


def run_code(page, code: str) -> dict:
    """Runs ``code`` from the code view and returns the page's report once it ends."""
    set_code(page, code)
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def finished(page) -> str:
    """Waits for the current run to end, however it ends, and says how."""
    page.wait_for_selector("body[data-run-state]:not([data-run-state=running])",
                           state="attached", timeout=RUN_MS)
    return page.get_attribute("body", "data-run-state")


# -- the document's views and the canvas --------------------------------------------------

def nodes(page) -> dict[str, str]:
    """The canvas's nodes: task id -> task type."""
    return page.eval_on_selector_all(
        "#canvas .node", "ns => Object.fromEntries(ns.map(n => [n.dataset.taskId, "
        "n.dataset.taskType]))")


def edges(page) -> list[tuple[str, str, str, str]]:
    found = page.eval_on_selector_all(
        "#canvas .edge", "es => es.map(e => [e.dataset.source, e.dataset.sourcePort, "
        "e.dataset.target, e.dataset.targetPort])")
    return sorted(tuple(edge) for edge in found)


def json_view(page) -> dict:
    return json.loads(page.evaluate("window.taskloom.jsonText()"))


def edit_count(page) -> int:
    return int(page.get_attribute("body", "data-editor-edits") or 0)


def wait_for_edit(page, before: int) -> None:
    page.wait_for_function("n => Number(document.body.dataset.editorEdits || 0) > n",
                           arg=before, timeout=RUN_MS)


def wait_for_palette(page) -> None:
    page.wait_for_selector("body[data-palette-types]", state="attached", timeout=RUN_MS)


def new_graph(page) -> None:
    """An empty graph document, saying yes if the page asks before replacing work."""
    def accept(dialog):
        dialog.accept()

    page.on("dialog", accept)
    try:
        edits = edit_count(page)
        page.click("#new-graph")
        wait_for_edit(page, edits)
    finally:
        page.remove_listener("dialog", accept)
    assert nodes(page) == {}


def add_by_keyboard(page, task_type: str) -> None:
    edits = edit_count(page)
    page.focus(f"#palette [data-task-type={task_type}]")
    page.keyboard.press("Enter")
    wait_for_edit(page, edits)


def handle(task_id: str, direction: str, port: str) -> str:
    return (f'#canvas .node[data-task-id="{task_id}"] '
            f'.port[data-direction="{direction}"][data-port="{port}"]')


def port_label(task_id: str, direction: str, port: str, part: str) -> str:
    """The name or type written beside a handle."""
    return (f'#canvas .node[data-task-id="{task_id}"] .port-row:has(> .port[data-direction='
            f'"{direction}"][data-port="{port}"]) .port-{part}')


def drag_connect(page, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Drags from an output handle to an input handle, as a mouse does (React Flow)."""
    start = page.locator(handle(source[0], "out", source[1])).bounding_box()
    end = page.locator(handle(target[0], "in", target[1])).bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=8)
    page.mouse.up()


def new_connected_pair(page) -> None:
    """A new graph of a Similarity whose score is dragged into a DebugLog's open input."""
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "Similarity")
    add_by_keyboard(page, "DebugLog")
    edits = edit_count(page)
    drag_connect(page, ("similarity", "score"), ("debug_log", "*"))
    wait_for_edit(page, edits)
