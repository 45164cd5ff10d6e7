"""The Packages panel in the page: a pure-Python wheel picked or dropped in is
installed with the site's micropip, used by code-box code, kept in IndexedDB and
installed again after a reload; PyPI is asked only online and only on request."""

from __future__ import annotations

import base64

import pytest

from .conftest import open_app
from .site import RUN_MS
from .test_panel_endpoints import wheel

pytestmark = pytest.mark.browser

USES_BOTH = '''
from pydantic import BaseModel
from taskloom import Task, Workflow
import picked_pkg
import dropped_pkg


class Greeting(Task):
    cacheable = False

    class Input(BaseModel):
        name: str = "Alice"

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": dropped_pkg.wrap(picked_pkg.greet(input.name))}


wf = Workflow()
wf.add_task(Greeting, id="greet")
'''


def wait_done(page) -> str:
    page.wait_for_selector("body[data-packages=done], body[data-packages=error]",
                           state="attached", timeout=RUN_MS)
    return page.inner_text("#packages-status")


def drop(page, filename: str, data: bytes) -> None:
    """Drops a file on the drop zone, as a drag from the desktop does."""
    page.evaluate("""([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name));
        const zone = document.getElementById("package-drop");
        zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true,
                                                       cancelable: true }));
        zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true,
                                                   cancelable: true }));
    }""", [filename, base64.b64encode(data).decode()])


def run(page, code: str) -> dict:
    return page.evaluate("code => window.taskloom.engine.request('run_code', code)", code)


def test_a_wheel_picked_or_dropped_in_is_installed_used_and_kept(app, server, tmp_path):
    page = app
    page.click("#tab-packages")
    picked_name, picked = wheel(name="picked_pkg", version="1.2",
                                body="def greet(name):\n    return f'Hello, {name}'\n")
    (tmp_path / picked_name).write_bytes(picked)
    page.evaluate("delete document.body.dataset.packages")
    page.set_input_files("#package-file", str(tmp_path / picked_name))
    assert "picked_pkg 1.2 is installed and kept" in wait_done(page)
    dropped_name, dropped = wheel(name="dropped_pkg", version="0.1",
                                  body="def wrap(text):\n    return f'<<{text}>>'\n")
    page.evaluate("delete document.body.dataset.packages")
    drop(page, dropped_name, dropped)
    assert "dropped_pkg 0.1 is installed and kept" in wait_done(page)
    rows = page.locator("#packages-list tbody tr")
    assert rows.count() == 2
    assert page.get_attribute('tr[data-package="picked_pkg"]', "data-state") == "installed"
    report = run(page, USES_BOTH)
    assert report["ok"], report.get("traceback") or report.get("error")
    assert report["outputs"]["greet"] == {"text": "<<Hello, Alice>>"}
    # A reload starts a new engine: it installs the kept wheels before the first run.
    open_app(page, server.url)
    report = run(page, USES_BOTH)
    assert report["ok"], report.get("traceback") or report.get("error")
    assert report["outputs"]["greet"] == {"text": "<<Hello, Alice>>"}
    page.click("#tab-packages")
    page.wait_for_selector('#packages-list tr[data-package="dropped_pkg"][data-state=installed]',
                           state="attached", timeout=RUN_MS)
    # Removed: gone from the list and from the next start.
    page.evaluate("delete document.body.dataset.packages")
    page.click('tr[data-package="dropped_pkg"] button.package-remove')
    assert "dropped_pkg removed" in wait_done(page)
    assert page.locator('tr[data-package="dropped_pkg"]').count() == 0


def test_a_wheel_that_is_not_pure_python_is_refused(app, tmp_path):
    page = app
    page.click("#tab-packages")
    name, data = wheel(name="native_pkg", tag="cp314-cp314-pyemscripten_2026_0_wasm32")
    (tmp_path / name).write_bytes(data)
    page.evaluate("delete document.body.dataset.packages")
    page.set_input_files("#package-file", str(tmp_path / name))
    text = wait_done(page)
    assert page.get_attribute("body", "data-packages") == "error"
    assert "only pure-Python wheels" in text
    assert page.locator('tr[data-package="native_pkg"]').count() == 0


def test_pypi_offline_says_why_and_asks_nothing(app):
    page = app
    page.click("#tab-packages")
    page.context.set_offline(True)
    try:
        page.fill("#pypi-requirement", "humanize==4.9.0")
        page.evaluate("delete document.body.dataset.packages")
        page.click("#pypi-install")
        page.wait_for_selector("body[data-packages=error]", state="attached", timeout=RUN_MS)
        text = page.inner_text("#packages-status")
    finally:
        page.context.set_offline(False)
    assert "offline" in text and "needs the network" in text
    # The guard (app's teardown) fails the test if anything was asked of pypi.org.
