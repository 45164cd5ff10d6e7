"""What a person does on the page: open it, run a graph, watch it, save it."""

from __future__ import annotations

import json

import pytest

from .conftest import open_app, reload_app
from .graphs import report_graph, slow_graph, spin_graph
from .site import RUN_MS, run_code, set_code

pytestmark = pytest.mark.browser

SLOW_GRAPH = slow_graph(40)

# Holds the worker's thread for a while without ever yielding: if the engine
# ran on the page's thread, the page could not answer until it finished.
BUSY_GRAPH = spin_graph(4.0)


LOADED_PYSCRIPT = """performance.getEntriesByType("resource")
    .some((entry) => entry.name.includes("/pyscript/"))"""


def test_page_loads_and_engine_gets_ready(app):
    page = app
    assert page.evaluate("window.taskloom.ready") is True
    assert page.evaluate("window.crossOriginIsolated") is True
    info = page.evaluate("window.taskloom.info")
    assert info["python"].startswith("3.14") and info["platform"] == "emscripten"
    # Not info["workflow"] (true of every taskloom): the engine runs this checkout's
    # taskloom, and the page says which one.
    from taskloom import __version__

    assert info["taskloom"] == __version__
    assert page.text_content("#engine-status") == (
        f"engine ready: taskloom {__version__}, Python {info['python']}")
    assert "engine ready" in page.inner_text("#engine-status")
    assert page.is_enabled("#run")
    assert page.evaluate(LOADED_PYSCRIPT)  # the default engine starts through PyScript
    assert page.errors == []


def test_example_graph_runs_and_shows_outputs(app):
    page = app
    set_code(page, page.evaluate("window.taskloom.example"))
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed]", state="attached", timeout=RUN_MS)
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"], report
    assert report["statuses"] == {"count": "completed", "describe": "completed"}
    assert report["outputs"]["describe"] == {"text": "the sum is 210"}
    page.click("#tab-run")  # the raw outputs are written once the Run panel opens
    assert json.loads(page.inner_text("#outputs"))["count"] == {"total": 210}
    for task_id in ("count", "describe"):
        assert page.get_attribute(f"tr[data-task-id={task_id}]", "data-status") == "completed"
    kinds = [event["kind"] for event in page.evaluate("window.taskloom.events")]
    assert kinds[0] == "graph_start" and kinds[-1] == "graph_complete"
    assert kinds.count("task_progress") >= 20


def test_progress_streams_while_the_graph_runs(app):
    page = app
    set_code(page, SLOW_GRAPH)
    page.click("#run")
    # A row that is still processing yet already shows progress: events reach
    # the page during the run, not only at its end.
    mid_run = page.wait_for_function(
        """() => {
            const row = document.querySelector("tr[data-task-id=slow]");
            const progress = Number(row?.dataset.progress);
            return row?.dataset.status === "processing" && progress > 0 && progress < 1
                && progress;
        }""", timeout=RUN_MS).json_value()
    assert 0 < mid_run < 1
    page.wait_for_selector("body[data-run-state=completed]", state="attached", timeout=RUN_MS)
    progress = [e["progress"] for e in page.evaluate("window.taskloom.events")
                if e["kind"] == "task_progress" and e["task_id"] == "slow"]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert page.get_attribute("tr[data-task-id=slow]", "data-progress") == "1"


def test_page_stays_responsive_during_a_busy_run(app):
    page = app
    set_code(page, BUSY_GRAPH)
    page.click("#run")
    page.wait_for_selector("tr[data-task-id=spin][data-status=processing]", state="attached",
                           timeout=RUN_MS)
    # The page's thread answers while the worker's Python is still busy.
    assert page.evaluate("document.body.dataset.runState") == "running"
    page.fill("#graph-name", "typed during the run")
    assert page.input_value("#graph-name") == "typed during the run"
    assert page.evaluate("document.body.dataset.runState") == "running"
    page.wait_for_selector("body[data-run-state=completed]", state="attached", timeout=RUN_MS)
    assert page.evaluate("window.taskloom.lastRun.outputs.spin.loops") > 0


def test_code_without_a_workflow_shows_a_clear_error(app):
    page = app
    report = run_code(page, "x = 1\n")
    assert report["ok"] is False
    assert report["error"].startswith("WorkflowError: the code defines no Workflow")
    assert page.is_visible("#error")
    assert "WorkflowError" in page.inner_text("#error")
    # the engine survives: the example still runs afterwards
    assert run_code(page, page.evaluate("window.taskloom.example"))["ok"]
    assert page.is_hidden("#error")


def test_a_failing_task_is_reported_with_its_status(app):
    page = app
    report = run_code(page, '''
from pydantic import BaseModel
from taskloom import Task, Workflow

class Fails(Task):
    class Input(BaseModel):
        x: int = 1
    class Output(BaseModel):
        y: int
    async def run(self, input, ctx):
        raise RuntimeError("broken on purpose")

wf = Workflow()
wf.add_task(Fails, id="fails")
''')
    assert report["ok"] is False
    assert "broken on purpose" in page.inner_text("#error")
    assert page.get_attribute("tr[data-task-id=fails]", "data-status") == "failed"


def test_save_reload_list_load_and_delete_graphs(app):
    page = app
    set_code(page, SLOW_GRAPH)
    page.fill("#graph-name", "slow one")
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name='slow one']", state="attached")
    set_code(page, BUSY_GRAPH)
    page.fill("#graph-name", "busy one")
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name='busy one']", state="attached")

    reload_app(page)  # graphs live in IndexedDB, not in the page
    names = page.eval_on_selector_all("#graphs li", "items => items.map(i => i.dataset.name)")
    assert names == ["busy one", "slow one"]
    page.click("#graphs li[data-name='slow one'] button.load")
    page.wait_for_function("window.taskloom.codeText().includes('class Slow')")
    assert page.evaluate("window.taskloom.codeText()").strip() == SLOW_GRAPH.strip()

    page.click("#graphs li[data-name='busy one'] button.delete")
    page.wait_for_selector("#graphs li[data-name='busy one']", state="detached")
    reload_app(page)
    names = page.eval_on_selector_all("#graphs li", "items => items.map(i => i.dataset.name)")
    assert names == ["slow one"]


def test_saving_without_a_name_is_refused(app):
    page = app
    saved = page.get_attribute("body", "data-saved-graphs")
    assert saved is not None  # the library has listed what is saved
    page.fill("#graph-name", "   ")
    page.click("#save")
    page.wait_for_selector("#library-error:not([hidden])", state="attached")
    assert "needs a name" in page.inner_text("#library-error")
    assert page.get_attribute("#graph-name", "aria-invalid") == "true"
    assert page.get_attribute("body", "data-saved-graphs") == saved  # nothing was saved


IDB_CHECKS = report_graph('''
from taskloom.browser import idb


def create(database, old, new):
    database.createObjectStore("kv")


database = await idb.open_database("idb-wrapper-test", 1, create)
store = idb.KeyValueStore(database, "kv")
await store.put_many({f"k{i:03}": f"v{i}" for i in range(200)})
await store.put("single", "one")
checks = {
    "count": len(await store.keys()),
    "k150": await store.get("k150"),
    "single": await store.get("single"),
    "missing": await store.get("nope"),
}
await store.delete("single")
checks["after_delete"] = await store.get("single")
try:
    await idb.open_database("idb-wrapper-test", 0, create)
except Exception as error:
    checks["bad_version"] = type(error).__name__
try:
    await idb.KeyValueStore(database, "no such store").get("x")
except Exception as error:
    checks["bad_store"] = type(error).__name__
''')


def test_idb_wrapper_in_the_worker(app):
    page = app
    report = run_code(page, IDB_CHECKS)
    assert report["ok"], report.get("traceback")
    assert report["outputs"]["report"]["checks"] == {
        "count": 201, "k150": "v150", "single": "one", "missing": None,
        "after_delete": None, "bad_version": "StoreUnavailableError",
        "bad_store": "StorageError",
    }


def test_abort_stops_a_running_graph(app):
    page = app
    set_code(page, slow_graph(400))
    page.click("#run")
    page.wait_for_selector("tr[data-task-id=slow][data-progress]", state="attached",
                           timeout=RUN_MS)
    page.click("#abort")
    page.wait_for_selector("body[data-run-state]:not([data-run-state=running])",
                           state="attached", timeout=RUN_MS)
    assert page.get_attribute("body", "data-run-state") == "aborted"
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"] is False and report["aborted"] is True
    assert "traceback" not in report and page.is_hidden("#error")
    assert report["statuses"]["slow"] == "aborted"
    assert page.get_attribute("tr[data-task-id=slow]", "data-status") == "aborted"
    assert float(page.get_attribute("tr[data-task-id=slow]", "data-progress")) < 1


def test_the_module_worker_engine_runs_and_saves_too(page, server):
    # ?engine=module: the same engine in a plain module Worker, no PyScript.
    open_app(page, server.url + "?engine=module")
    assert page.evaluate("window.taskloom.info.platform") == "emscripten"
    report = run_code(page, page.evaluate("window.taskloom.example"))
    assert report["ok"], report
    assert report["outputs"]["describe"] == {"text": "the sum is 210"}
    kinds = [event["kind"] for event in page.evaluate("window.taskloom.events")]
    assert kinds[0] == "graph_start" and kinds[-1] == "graph_complete"
    page.fill("#graph-name", "via module worker")
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name='via module worker']", state="attached")
    assert not page.evaluate(LOADED_PYSCRIPT)
