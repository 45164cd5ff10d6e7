"""The library pane (web/library.js): named graphs, export and import, and the run history.

One page serves the module (one IndexedDB): each journey leaves its saved graphs and
runs behind, so each one names its own and looks only at those.
"""

from __future__ import annotations

import json

import pytest

from .conftest import reload_app
from .graphs import slow_graph
from .site import RUN_MS, set_code
from .test_document import open_example

pytestmark = pytest.mark.browser

PAIRS = {"schema_version": 1, "dataflows": [],
         "tasks": [{"id": "compare", "type": "Similarity",
                    "defaults": {"vectors": [[1.0, 0.0], [0.0, 1.0]]}}]}
SAME = {"schema_version": 1, "dataflows": [],
        "tasks": [{"id": "same", "type": "Similarity",
                   "defaults": {"vectors": [[1.0, 0.0], [1.0, 0.0]]}}]}


def graph_of(page) -> dict | None:
    return page.evaluate("window.taskloom.document.state.graph")


def document_name(page) -> str:
    return page.evaluate("window.taskloom.document.state.name")


def saved(page, name: str) -> str:
    return f"#graphs li[data-name='{name}']"


def save_as(page, name: str) -> None:
    page.fill("#graph-name", name)
    page.click("#save")
    page.wait_for_selector(saved(page, name), state="attached")
    page.wait_for_function("name => window.taskloom.document.state.name === name", arg=name)


def import_json(page, name: str, payload: bytes) -> None:
    page.evaluate("delete document.body.dataset.graphImport")
    page.set_input_files("#import-file", files=[{
        "name": name, "mimeType": "application/json", "buffer": payload}])
    page.wait_for_selector("body[data-graph-import]", state="attached")


def make_dirty(page) -> None:
    """An edit nobody saved: the draft differs from the document."""
    page.evaluate("window.taskloom.document.setDraft(window.taskloom.document.state.draft"
                  " + '\\n# an unsaved edit\\n')")


def test_save_reload_and_open_asks_before_it_replaces_edits(app):
    page = app
    open_example(page, "Embed and compare sentences")
    example_graph = graph_of(page)
    save_as(page, "embed pair")
    assert page.get_attribute(saved(page, "embed pair"), "data-mode") == "graph"
    assert "2 tasks" in page.inner_text(saved(page, "embed pair") + " .meta")
    assert page.evaluate("window.taskloom.document.dirty") is False  # saved: nothing to lose

    reload_app(page)
    open_example(page, "Generate text")
    make_dirty(page)
    asked: list[str] = []

    def refuse(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", refuse)
    page.click(saved(page, "embed pair") + " button.load")
    for _ in range(200):  # the dialog comes once the engine has read the saved graph
        if asked:
            break
        page.wait_for_timeout(50)
    assert asked and "replaces the current document" in asked[0]
    assert document_name(page) == "Generate text"  # refused: nothing replaced
    assert page.get_attribute("body", "data-graph-opened") is None

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(saved(page, "embed pair") + " button.load")
    page.wait_for_function("() => document.body.dataset.graphOpened === 'embed pair'")
    assert graph_of(page) == example_graph
    assert document_name(page) == "embed pair"
    assert page.evaluate("window.taskloom.document.state.mode") == "graph"


def test_rename_duplicate_and_delete_with_undo(app):
    page = app
    import_json(page, "pairs.taskloom.json", json.dumps(PAIRS).encode())
    save_as(page, "to rename")

    page.click(saved(page, "to rename") + " button.rename")
    page.fill(saved(page, "to rename") + " input.rename-name", "renamed")
    page.press(saved(page, "to rename") + " input.rename-name", "Enter")
    page.wait_for_selector(saved(page, "renamed"), state="attached")
    assert page.query_selector(saved(page, "to rename")) is None
    assert document_name(page) == "renamed"  # the open document follows its saved copy
    assert "Renamed" in page.inner_text("#library-status")

    page.click(saved(page, "renamed") + " button.duplicate")
    page.wait_for_selector(saved(page, "renamed (copy)"), state="attached")
    # A name already taken is refused, with the reason at the field.
    page.click(saved(page, "renamed (copy)") + " button.rename")
    field = saved(page, "renamed (copy)") + " input.rename-name"
    page.fill(field, "renamed")
    page.press(field, "Enter")
    page.wait_for_selector("#library-error:not([hidden])", state="attached")
    assert "already saved as 'renamed'" in page.inner_text("#library-error")
    assert page.get_attribute(field, "aria-invalid") == "true"
    page.press(field, "Escape")

    page.click(saved(page, "renamed (copy)") + " button.delete")
    page.wait_for_selector(saved(page, "renamed (copy)"), state="detached")
    toast = page.wait_for_selector("#library-toast[data-deleted='renamed (copy)']")
    assert "Deleted “renamed (copy)”" in toast.inner_text()
    assert page.evaluate("document.activeElement.className") == "undo-delete"
    page.click("#library-toast button.undo-delete")
    page.wait_for_selector(saved(page, "renamed (copy)"), state="attached")
    assert page.is_hidden("#library-toast")
    page.click(saved(page, "renamed (copy)") + " button.load")
    page.wait_for_function("() => document.body.dataset.graphOpened === 'renamed (copy)'")
    assert graph_of(page) == PAIRS  # given back whole


def test_export_then_import_gives_back_the_same_graph(app, tmp_path):
    page = app
    open_example(page, "Embed and compare sentences")
    exported_graph = graph_of(page)
    with page.expect_download() as download:
        page.click("#export-graph")
    assert download.value.suggested_filename == "Embed and compare sentences.taskloom.json"
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert json.loads(path.read_text()) == exported_graph

    open_example(page, "Generate text")
    assert graph_of(page) != exported_graph
    page.set_input_files("#import-file", str(path))
    page.wait_for_function(
        "() => document.body.dataset.graphImport === 'Embed and compare sentences'")
    assert graph_of(page) == exported_graph
    assert page.query_selector("#canvas [data-task-id='compare']") is not None
    assert "Imported" in page.inner_text("#library-status")


def test_a_malformed_import_shows_its_error_and_replaces_nothing(app):
    page = app
    open_example(page, "Generate text")
    before = graph_of(page)
    import_json(page, "broken.taskloom.json", b'{"tasks": [')
    assert page.get_attribute("body", "data-graph-import") == "refused"
    error = page.inner_text("#library-error")
    assert "Could not import “broken.taskloom.json”" in error and "Nothing was replaced" in error
    assert graph_of(page) == before and document_name(page) == "Generate text"
    unknown = {**PAIRS, "tasks": [{"id": "x", "type": "NoSuchTask", "defaults": {}}]}
    import_json(page, "unknown.json", json.dumps(unknown).encode())
    assert "NoSuchTask" in page.inner_text("#library-error")
    assert graph_of(page) == before


DROP = """async ([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "application/json" }));
  const target = document.getElementById("canvas");
  for (const type of ["dragenter", "dragover", "drop"]) {
    target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true,
                                               dataTransfer: transfer }));
  }
}"""


def test_a_graph_file_dropped_on_the_page_opens(app):
    page = app
    open_example(page, "Generate text")
    page.evaluate("delete document.body.dataset.graphImport")
    page.evaluate(DROP, ["dropped pairs.taskloom.json", json.dumps(PAIRS)])
    page.wait_for_function("() => document.body.dataset.graphImport === 'dropped pairs'")
    assert graph_of(page) == PAIRS
    assert page.get_attribute("body", "data-file-over") is None  # the overlay is gone
    page.wait_for_selector("#canvas [data-task-id='compare']", state="attached")


def run_document(page) -> dict:
    page.evaluate("delete document.body.dataset.runState")
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def history_item(page, run_id: str) -> str:
    return f"#run-history li[data-run-id='{run_id}']"


def test_the_run_history_lists_a_run_and_reopens_its_outputs(app):
    page = app
    import_json(page, "pairs.taskloom.json", json.dumps(PAIRS).encode())
    save_as(page, "history pairs")
    first = run_document(page)
    assert first["ok"], first
    item = history_item(page, first["run_id"])
    page.wait_for_selector(item + "[data-status=completed]", state="attached", timeout=RUN_MS)
    page.wait_for_function(
        "sel => document.querySelector(sel + ' .run-name')?.textContent === 'history pairs'",
        arg=item)
    assert page.inner_text(item + " .run-state") == "completed"
    assert page.inner_text(item + " .run-duration").endswith(("ms", " s"))
    assert page.get_attribute(item + " time", "datetime")
    assert page.query_selector(item + " button.resume") is None  # finished: nothing to resume
    # Newest first.
    assert page.get_attribute("#run-history li:first-child", "data-run-id") == first["run_id"]

    import_json(page, "same.taskloom.json", json.dumps(SAME).encode())
    second = run_document(page)
    assert second["outputs"]["same"]["score"] == pytest.approx(1.0)
    newest = f"#run-history li:first-child[data-run-id='{second['run_id']}']"
    page.wait_for_selector(newest, state="attached", timeout=RUN_MS)

    # Reopening the first run opens its graph again, with its statuses and outputs.
    page.click(item + " button.open")
    page.wait_for_function("id => document.body.dataset.runReopened === id",
                           arg=first["run_id"])
    assert graph_of(page) == PAIRS and document_name(page) == "history pairs"
    assert page.evaluate("window.taskloom.document.state.run.statuses") == {
        "compare": "completed"}
    page.wait_for_selector("#canvas [data-task-id='compare'][data-status=completed]",
                           state="attached")
    assert json.loads(page.inner_text("#outputs")) == first["outputs"]
    assert page.get_attribute("#tasks tr[data-task-id=compare]", "data-status") == "completed"


def test_a_run_stopped_by_a_reload_is_unfinished_and_resumes_from_the_history(app):
    page = app
    set_code(page, slow_graph(80))
    page.evaluate("window.taskloom.events = []")
    page.click("#run")
    page.wait_for_selector("tr[data-task-id=slow][data-status=processing][data-progress]",
                           state="attached", timeout=RUN_MS)
    run_id = page.evaluate(
        "window.taskloom.events.find((e) => e.kind === 'graph_start').run_id")

    reload_app(page)  # the worker, and the run in it, are gone
    item = history_item(page, run_id)
    page.wait_for_selector(item + "[data-unfinished=true]", state="attached")
    # The gone worker's run lock can outlive the reload by a moment (the list then says
    # "running in another tab" and redraws when the browser frees the lock).
    page.wait_for_function("sel => document.querySelector(sel)?.innerText === 'interrupted'",
                           arg=item + " .run-state", timeout=RUN_MS)
    assert page.inner_text(item + " .run-state") == "interrupted"
    page.click(item + " button.resume")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"] and report["run_id"] == run_id, report
    assert report["outputs"] == {"first": {"value": 5}, "slow": {"total": 85}}
    page.wait_for_selector(item + "[data-status=completed][data-unfinished=false]",
                           state="attached", timeout=RUN_MS)
    assert page.query_selector(item + " button.resume") is None
