"""The page's document is the graph JSON: examples open on the canvas, the code and JSON
views edit it through Apply, it survives a reload, and a run paints its statuses on the
canvas's nodes (web/document.js, web/views.js, the canvas in web/bundles/canvas/)."""

from __future__ import annotations

import json

import pytest

from .conftest import reload_app
from .site import RUN_MS, edges, json_view, nodes, set_code, set_json

pytestmark = pytest.mark.browser

EMBED = "Embed and compare sentences"

EDITED = '''from taskloom import Workflow

wf = Workflow()
wf.similarity(id="compare", vectors=[[1.0, 0.0], [0.0, 1.0]])
wf.debug_log(id="log")
'''

REFUSED = '''from taskloom import Workflow

wf = Workflow()
import os
wf.similarity(id="compare", vectors=[[1.0, 0.0]])
'''


def open_example(page, name: str) -> None:
    """Picks an example, saying yes if the page asks before it replaces edited work."""
    def accept(dialog):
        dialog.accept()

    page.on("dialog", accept)
    try:
        page.evaluate("delete document.body.dataset.exampleOpened")
        page.click(f'#examples [data-example="{name}"]')
        page.wait_for_function("name => document.body.dataset.exampleOpened === name",
                               arg=name, timeout=RUN_MS)
    finally:
        page.remove_listener("dialog", accept)


def apply_code(page, code: str) -> None:
    page.evaluate("delete document.body.dataset.codeApplied")
    set_code(page, code)
    page.click("#apply-code")
    page.wait_for_selector("body[data-code-applied]", state="attached", timeout=RUN_MS)


def apply_json(page, text: str) -> str:
    page.evaluate("delete document.body.dataset.jsonApplied")
    set_json(page, text)
    page.click("#apply-json")
    page.wait_for_selector("body[data-json-applied]", state="attached", timeout=RUN_MS)
    return page.get_attribute("body", "data-json-applied")


def test_an_example_opens_as_a_graph_on_the_canvas(app):
    page = app
    open_example(page, EMBED)
    assert nodes(page) == {"embed": "TextEmbedding", "compare": "Similarity"}
    assert edges(page) == [("embed", "vector", "compare", "vectors")]
    assert page.get_attribute("#canvas .edge", "data-source") == "embed"
    assert page.text_content("#canvas .edge text") == "vector → vectors"
    assert page.get_attribute("#document-mode", "data-mode") == "graph"
    assert "safe to share" in page.inner_text("#document-mode")
    # The code view shows the graph's code; the JSON view the same document.
    assert 'wf.text_embedding(' in page.evaluate("window.taskloom.codeText()")
    document = json_view(page)
    assert [t["id"] for t in document["tasks"]] == ["embed", "compare"]
    assert document["tasks"][0]["defaults"]["text"][0] == "A man is eating food."
    for node in page.query_selector_all("#canvas .node"):
        assert node.get_attribute("data-status") == "pending"


def test_code_that_defines_its_own_tasks_opens_as_trusted_code(app):
    page = app
    own_tasks = page.evaluate("window.taskloom.example")  # the page's first code: CountTo
    assert "class CountTo(Task)" in own_tasks
    page.once("dialog", lambda dialog: dialog.accept())  # over earlier tests' edits
    page.evaluate("code => import('./views.js').then(({ views }) => "
                  "views.openExample('own tasks', code))", own_tasks)
    page.wait_for_selector("body[data-example-opened='own tasks']", state="attached")
    assert page.get_attribute("#document-mode", "data-mode") == "trusted"
    assert "runs as written" in page.inner_text("#document-mode")
    # Kept exactly as written (it runs with run_code), and not drawn as a graph.
    assert page.evaluate("window.taskloom.codeText()") == own_tasks
    assert nodes(page) == {}


def test_editing_code_and_applying_updates_the_canvas_and_the_json_view(app):
    page = app
    open_example(page, EMBED)
    apply_code(page, EDITED)
    assert page.get_attribute("body", "data-code-applied") == "applied"
    assert nodes(page) == {"compare": "Similarity", "log": "DebugLog"}
    assert edges(page) == [("compare", "matrix", "log", "matrix"),
                           ("compare", "score", "log", "score")]
    document = json_view(page)
    assert [t["type"] for t in document["tasks"]] == ["Similarity", "DebugLog"]
    assert document["tasks"][0]["defaults"] == {"vectors": [[1.0, 0.0], [0.0, 1.0]]}
    # The code view now shows the document's own code (to_code), which chains the two.
    assert 'wf.similarity(id="compare", vectors=[[1.0, 0.0], [0.0, 1.0]]).debug_log(id="log")' \
        in page.evaluate("window.taskloom.codeText()")
    assert page.is_hidden("#code-error")


def test_a_refused_construct_shows_its_line_and_column_and_changes_nothing(app):
    page = app
    open_example(page, EMBED)
    before = json_view(page)
    apply_code(page, REFUSED)
    assert page.get_attribute("body", "data-code-applied") == "refused"
    assert page.is_visible("#code-error")
    assert page.get_attribute("#code-error", "data-line") == "4"
    assert page.get_attribute("#code-error", "data-column") == "1"
    assert "line 4, column 1" in page.inner_text("#code-error")
    assert "imports are not allowed" in page.inner_text("#code-error")
    # The document is what it was: canvas, JSON view and mode.
    assert nodes(page) == {"embed": "TextEmbedding", "compare": "Similarity"}
    assert json_view(page) == before
    assert page.get_attribute("#document-mode", "data-mode") == "graph"
    # The refused text is still in the code box, caret at the error, and it may be kept
    # as the user's trusted code instead.
    assert page.evaluate("window.taskloom.codeText()") == REFUSED
    caret = page.evaluate("window.taskloom.codeCaret()")
    assert REFUSED[caret:].startswith("import os")
    assert page.is_visible("#keep-trusted")
    page.click("#keep-trusted")
    page.wait_for_selector("#document-mode[data-mode=trusted]", state="attached")
    assert nodes(page) == {}


def test_json_apply_refuses_bad_documents_with_the_engine_reason(app):
    page = app
    open_example(page, EMBED)
    good = json_view(page)
    # DebugLog passes through whatever it is given, so only the cycle is wrong here.
    cycle = {"schema_version": 1, "tasks": [
        {"id": "a", "type": "Similarity", "defaults": {}},
        {"id": "b", "type": "DebugLog", "defaults": {}}], "dataflows": [
        {"source_task_id": "a", "source_port": "score", "target_task_id": "b",
         "target_port": "score"},
        {"source_task_id": "b", "source_port": "score", "target_task_id": "a",
         "target_port": "vectors"}]}
    unknown = {**good, "tasks": [*good["tasks"], {"id": "x", "type": "NoSuchTask",
                                                   "defaults": {}}]}
    for text, reason in [('{"tasks": [', "malformed graph JSON"),
                         (json.dumps(cycle), "would close a cycle"),
                         (json.dumps(unknown), "unknown task type 'NoSuchTask'")]:
        assert apply_json(page, text) == "refused"
        assert reason in page.inner_text("#json-error")
        assert nodes(page) == {"embed": "TextEmbedding", "compare": "Similarity"}
    # A good edit replaces the document, and the code view follows.
    renamed = json.loads(json.dumps(good))
    renamed["tasks"][1]["id"] = "pairs"
    renamed["dataflows"][0]["target_task_id"] = "pairs"
    assert apply_json(page, json.dumps(renamed)) == "applied"
    assert nodes(page) == {"embed": "TextEmbedding", "pairs": "Similarity"}
    assert edges(page) == [("embed", "vector", "pairs", "vectors")]
    assert 'wf.similarity(id="pairs")' in page.evaluate("window.taskloom.codeText()")
    assert page.inner_text("#json-error") == ""


def test_picking_an_example_asks_before_it_replaces_edits(app):
    page = app
    open_example(page, EMBED)
    apply_code(page, EDITED)
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click('#examples [data-example="Generate text"]')
    page.wait_for_function("document.body.dataset.exampleOpened !== 'Generate text'")
    assert asked and "replaces the current document" in asked[0]
    assert nodes(page) == {"compare": "Similarity", "log": "DebugLog"}  # kept
    open_example(page, "Generate text")  # says yes this time
    assert nodes(page) == {"generate": "TextGeneration"}


def test_the_document_and_unapplied_edits_survive_a_reload(app):
    page = app
    open_example(page, EMBED)
    apply_code(page, EDITED)
    draft = EDITED + "# not applied yet\n"
    set_code(page, draft)
    page.wait_for_function("n => document.body.dataset.documentSaved === String(n)",
                           arg=len(draft))
    reload_app(page)
    assert nodes(page) == {"compare": "Similarity", "log": "DebugLog"}
    assert json_view(page)["tasks"][1]["type"] == "DebugLog"
    assert page.evaluate("window.taskloom.codeText()") == draft
    assert page.is_visible("#code-pending")  # the draft still waits for Apply


def test_a_run_paints_statuses_and_progress_on_the_canvas(app):
    page = app
    open_example(page, EMBED)
    page.evaluate("window.canvasStatuses = []")
    # Records every status each node shows, as the page paints it.
    page.evaluate("""() => new MutationObserver((changes) => {
        for (const change of changes) {
            window.canvasStatuses.push([change.target.dataset.taskId,
                                        change.target.dataset.status]);
        }
    }).observe(document.getElementById('canvas'),
               { subtree: true, attributes: true, attributeFilter: ['data-status'] })""")
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    assert page.evaluate("window.taskloom.lastRun.ok"), page.evaluate("window.taskloom.lastRun")
    page.wait_for_selector("#canvas .node[data-task-id=compare][data-status=completed]",
                           state="attached", timeout=RUN_MS)
    for task_id in ("embed", "compare"):
        node = f"#canvas .node[data-task-id={task_id}]"
        assert page.get_attribute(node, "data-status") == "completed"
        assert page.get_attribute(node, "data-progress") == "1"
        assert page.inner_text(f"{node} .node-status") == "completed"
    seen = page.evaluate("window.canvasStatuses")
    assert ["embed", "completed"] in seen and ["compare", "completed"] in seen


def test_the_palette_lists_every_registered_type(app):
    page = app
    page.wait_for_selector("body[data-palette-types]", state="attached", timeout=RUN_MS)
    listed = page.eval_on_selector_all("#palette [data-task-type]",
                                       "ls => ls.map(l => l.dataset.taskType)")
    for expected in ("TextEmbedding", "Similarity", "DebugLog", "TextGeneration"):
        assert expected in listed
    assert len(listed) == int(page.get_attribute("body", "data-palette-types"))
