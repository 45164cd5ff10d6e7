"""The page starts Pyodide from the build's memory snapshot, and without it when it cannot.

web/engine-snapshot.mjs restores the snapshot that scripts/build_site/snapshot.py
makes; the engine reports which start it was in engine_info's ``startup``
(``window.taskloom.info.startup`` on the page). A site whose snapshot is missing,
corrupt, or made for another runtime must still start and run a graph.
"""

from __future__ import annotations

import gzip
import json
import tomllib
from pathlib import Path

import pytest

from .conftest import OfflineGuard, assert_offline, guarded_context, new_page, open_app
from .site import RUN_MS, SiteServer

SNAPSHOT = Path("pyodide") / "taskloom-snapshot.bin.gz"
METADATA = Path("pyodide") / "taskloom-snapshot.json"


def startup(page) -> dict:
    return page.evaluate("window.taskloom.info.startup")


def run_the_example(page) -> dict:
    """Runs the page's example graph (its own code box) and returns the report."""
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def site_variant(built_site: Path, folder: Path, change) -> Path:
    """A copy of the built site (links, but pyodide/ as its own folder) with ``change`` made."""
    folder.mkdir()
    for entry in built_site.iterdir():
        if entry.name != "pyodide":
            (folder / entry.name).symlink_to(entry)
    (folder / "pyodide").mkdir()
    for entry in (built_site / "pyodide").iterdir():
        (folder / "pyodide" / entry.name).symlink_to(entry)
    change(folder)
    return folder


def replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


@pytest.fixture
def served(browser, built_site, tmp_path):
    """Serves a changed copy of the site; yields ``open(change) -> (page, guard)``."""
    opened = []

    def open_variant(change):
        site = site_variant(built_site, tmp_path / f"site-{len(opened)}", change)
        server = SiteServer(site)
        guard = OfflineGuard(server.origin)
        context = guarded_context(browser, guard)
        opened.append((server, context))
        return open_app(new_page(context), server.url), guard

    yield open_variant
    for server, context in opened:
        context.close()
        server.stop()


def test_the_site_carries_a_snapshot_that_names_its_runtime(built_site):
    metadata = json.loads((built_site / METADATA).read_text())
    recipe = tomllib.loads((Path(__file__).resolve().parents[2] / "build" / "browser.toml")
                           .read_text())
    pinned = next(entry["version"] for entry in recipe["npm"] if entry["name"] == "pyodide")
    assert metadata["pyodide"] == pinned  # made by the runtime the site serves
    assert "taskloom.browser.engine" in metadata["modules"]
    # pydantic_core is a wasm side module: the page must place it again.
    assert any("pydantic_core" in lib["path"] for lib in metadata["dynlibs"])
    with gzip.open(built_site / SNAPSHOT) as stream:
        size = sum(len(block) for block in iter(lambda: stream.read(1 << 20), b""))
    assert size == metadata["snapshotBytes"] + sum(n for _path, n in metadata["files"])


def test_the_default_page_starts_from_the_snapshot_and_runs(page, server):
    open_app(page, server.url)
    assert startup(page)["snapshot"] is True
    assert run_the_example(page)["ok"] is True


def test_the_module_engine_starts_from_the_snapshot_too(page, server):
    open_app(page, server.url + "?engine=module")
    assert startup(page)["snapshot"] is True
    assert run_the_example(page)["ok"] is True


def test_snapshot_0_starts_plainly(page, server):
    open_app(page, server.url + "?snapshot=0")
    assert startup(page) == {**startup(page), "snapshot": False, "reason": "not asked for"}
    assert run_the_example(page)["ok"] is True


def test_a_site_without_the_snapshot_starts_plainly(served):
    def remove(site):
        (site / SNAPSHOT).unlink()
        (site / METADATA).unlink()

    page, guard = served(remove)
    started = startup(page)
    assert started["snapshot"] is False
    assert "HTTP 404" in started["reason"]
    assert run_the_example(page)["ok"] is True
    # The browser reports the two missing files; nothing else may be an error.
    guard.console_errors = [line for line in guard.console_errors if "404" not in line]
    assert_offline(guard)


@pytest.mark.parametrize("corruption", ["not gzip", "heap of zeros", "truncated"])
def test_a_corrupt_snapshot_starts_plainly(served, built_site, corruption):
    def corrupt(site):
        if corruption == "not gzip":
            data = b"this is not a snapshot"
        elif corruption == "heap of zeros":  # gzip, the right size, no magic number
            metadata = json.loads((built_site / METADATA).read_text())
            size = metadata["snapshotBytes"] + sum(n for _path, n in metadata["files"])
            data = gzip.compress(bytes(size), mtime=0)
        else:
            data = (built_site / SNAPSHOT).read_bytes()[: 1 << 20]
        replace(site / SNAPSHOT, data)

    page, guard = served(corrupt)
    started = startup(page)
    assert started["snapshot"] is False
    assert started["reason"] != "not asked for"
    assert run_the_example(page)["ok"] is True
    assert_offline(guard)


def test_a_snapshot_for_other_side_module_places_starts_plainly(served, built_site):
    """Metadata that does not match the heap (another build): checked, not trusted."""
    def misplace(site):
        metadata = json.loads((built_site / METADATA).read_text())
        metadata["dynlibs"][0]["memoryBase"] += 16
        replace(site / METADATA, json.dumps(metadata).encode())

    page, guard = served(misplace)
    started = startup(page)
    assert started["snapshot"] is False
    assert "is not where the snapshot says" in started["reason"]
    assert run_the_example(page)["ok"] is True
    assert_offline(guard)
