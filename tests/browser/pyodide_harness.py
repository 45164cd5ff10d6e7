"""Runs pytest inside Pyodide in Chromium and brings each test's result back.

The built site's own Pyodide and wheels (taskloom included) load in a page
of the local server; the test-only wheels of ``build/pyodide-tests.toml``
(pytest, pytest-asyncio and their dependencies) and the test files are
copied into Pyodide's file system; pytest runs there with a small plugin
that records every test's outcome, and the answer comes back as JSON.

Async tests: pytest-asyncio drives each test with ``loop.run_until_complete``,
which Pyodide's web loop implements by stack switching (JSPI, on by default
in Chromium) when Python was entered through ``runPythonAsync``.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .site import DOWNLOAD_CACHE, ROOT, SCRIPTS

TEST_RECIPE = ROOT / "build" / "pyodide-tests.toml"
#: Where the project's tests live inside Pyodide's file system.
PROJECT = "/home/pyodide/project"
#: How long one pytest session inside Pyodide may take before the test stops
#: waiting (a hang, not a judgement of speed).
RUN_TIMEOUT_MS = 600_000


def test_wheels() -> list[Path]:
    """The pinned test-only wheels, downloaded once into the shared cache."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        from build_site.downloads import fetch_wheel
        from build_site.recipe import load_recipe
    finally:
        sys.path.remove(str(SCRIPTS))
    recipe = load_recipe(TEST_RECIPE)
    return [fetch_wheel(wheel, DOWNLOAD_CACHE, recipe) for wheel in recipe.wheels]


def project_files() -> dict[str, str]:
    """The test tree and the pytest configuration, relative path -> text."""
    files = {"pyproject.toml": (ROOT / "pyproject.toml").read_text()}
    for path in sorted((ROOT / "tests").rglob("*.py")):
        relative = path.relative_to(ROOT)
        if "__pycache__" in relative.parts or (
                "browser" in relative.parts and "pyodide_suite" not in relative.parts):
            continue
        files[str(relative)] = path.read_text()
    return files


START_PYODIDE = """async ({wheels}) => {
  const { loadPyodide } = await import("./pyodide/pyodide.mjs");
  const base = new URL("./pyodide/", location.href).href;
  const messages = [];
  const pyodide = await loadPyodide({ indexURL: base, lockFileURL: base + "pyodide-lock.json" });
  await pyodide.loadPackage(["taskloom"], {
    messageCallback: (m) => messages.push(m), errorCallback: (m) => messages.push(m) });
  pyodide.FS.mkdirTree("/tmp/test-wheels");
  for (const [name, data] of Object.entries(wheels)) {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    pyodide.FS.writeFile("/tmp/test-wheels/" + name, bytes);
  }
  pyodide.runPython(`
import pathlib, site, zipfile
target = site.getsitepackages()[0]
for wheel in sorted(pathlib.Path("/tmp/test-wheels").glob("*.whl")):
    zipfile.ZipFile(wheel).extractall(target)
import taskloom, pytest
`);
  window.taskloomPyodide = pyodide;
  return { python: pyodide.runPython("import sys; sys.version.split()[0]"), messages };
}"""

WRITE_FILES = """({root, files}) => {
  const FS = window.taskloomPyodide.FS;
  for (const [name, text] of Object.entries(files)) {
    const path = root + "/" + name;
    FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    FS.writeFile(path, text);
  }
}"""

RUN_PYTEST = """async ({root, args}) => {
  const pyodide = window.taskloomPyodide;
  const run = pyodide.runPython(`
import json, os
import pytest

class _Recorder:
    def __init__(self):
        self.results = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" or report.failed or (report.skipped and report.when == "setup"):
            self.results.append({
                "nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
                "longrepr": "" if report.passed else str(report.longrepr)[-6000:],
            })

    def pytest_collectreport(self, report):
        if report.failed:
            self.results.append({"nodeid": report.nodeid, "when": "collect",
                                 "outcome": "failed", "longrepr": str(report.longrepr)[-6000:]})

def _adapt_asyncio_runner():
    # pytest-asyncio runs each test through asyncio.Runner, which refuses to
    # start inside a running loop and makes a loop of its own. Pyodide's web
    # loop is always running and is the only loop the browser drives, so the
    # Runner is pointed at it, and blocks on each test by stack switching.
    import asyncio
    from pyodide.ffi import run_sync

    def run(self, coro, *, context=None):
        return run_sync(asyncio.get_event_loop().create_task(coro, context=context))

    asyncio.Runner.run = run
    asyncio.Runner.get_loop = lambda self: asyncio.get_event_loop()
    asyncio.Runner.close = lambda self: None

_adapt_asyncio_runner()

def run(root, args):
    os.chdir(root)
    recorder = _Recorder()
    code = pytest.main(list(args), plugins=[recorder])
    return json.dumps({"exit_code": int(code), "results": recorder.results})
run
`);
  // callPromising lets Python block on a JS promise by stack switching (JSPI):
  // that is how run_until_complete works in Pyodide's web loop.
  try {
    return await run.callPromising(root, pyodide.toPy(args));
  } finally {
    run.destroy();
  }
}"""


@dataclass
class PytestRun:
    exit_code: int
    results: list[dict]

    def by_outcome(self, outcome: str) -> list[dict]:
        return [r for r in self.results if r["outcome"] == outcome]


class PyodideSession:
    """Pyodide with taskloom and pytest, in one page of the site's origin."""

    def __init__(self, page, site_url: str):
        self.page = page
        # Any document of the origin will do: Pyodide is imported by the script below.
        page.goto(site_url + "site-manifest.json")
        wheels = {path.name: base64.b64encode(path.read_bytes()).decode()
                  for path in test_wheels()}
        self.info = page.evaluate(START_PYODIDE, {"wheels": wheels})

    def copy_project(self) -> None:
        self.page.evaluate(WRITE_FILES, {"root": PROJECT, "files": project_files()})

    def pytest(self, *args: str) -> PytestRun:
        self.page.set_default_timeout(RUN_TIMEOUT_MS)
        answer = self.page.evaluate(RUN_PYTEST, {"root": PROJECT, "args": list(args)})
        data = json.loads(answer)
        return PytestRun(exit_code=data["exit_code"], results=data["results"])
