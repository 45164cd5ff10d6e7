"""Building a graph without code (web/editor.js, web/palette.js, the React Flow canvas in
web/bundles/canvas/, web/inspector.js): add tasks from the palette, connect their ports (the
engine refuses a wrong edge, with its reason), select, move and delete them, undo and redo,
edit a task in the inspector, and run what was built."""

from __future__ import annotations

import json

import pytest

from .site import (
    RUN_MS,
    add_by_keyboard,
    drag_connect,
    edges,
    edit_count,
    handle,
    json_view,
    new_connected_pair,
    new_graph,
    nodes,
    port_label,
    wait_for_edit,
    wait_for_palette,
)

pytestmark = pytest.mark.browser


def task(page, task_id: str) -> dict:
    return next(t for t in json_view(page)["tasks"] if t["id"] == task_id)


def code_view_graph(page) -> dict:
    """The graph that the code view's code builds, read by the engine's from_code."""
    answer = page.evaluate(
        "code => window.taskloom.engine.request('from_code', code)",
        page.evaluate("window.taskloom.codeText()"))
    assert answer["ok"], answer
    return answer["graph"]


def zoom(page) -> float:
    return page.evaluate("window.taskloom.canvas.viewport().zoom")


def test_enter_on_a_palette_item_adds_the_task_to_canvas_json_and_code(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "Similarity")
    assert nodes(page) == {"similarity": "Similarity"}
    added = task(page, "similarity")
    assert added["type"] == "Similarity"
    assert set(added["metadata"]["ui"]) == {"x", "y"}
    assert 'wf.similarity(' in page.evaluate("window.taskloom.codeText()")
    assert 'id="similarity"' in page.evaluate("window.taskloom.codeText()")
    # The new task is selected and focused, so the keyboard can go on from it.
    assert page.get_attribute("body", "data-selected-task") == "similarity"
    assert page.evaluate("document.activeElement.dataset.taskId") == "similarity"
    # A second one of the same type gets its own id and its own place.
    add_by_keyboard(page, "Similarity")
    assert nodes(page) == {"similarity": "Similarity", "similarity_2": "Similarity"}
    assert task(page, "similarity_2")["metadata"]["ui"] != added["metadata"]["ui"]


def test_dragging_a_palette_item_onto_the_canvas_adds_it_where_it_was_dropped(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    edits = edit_count(page)
    page.drag_and_drop("#palette [data-task-type=DebugLog]", "#canvas",
                       target_position={"x": 400, "y": 100})
    wait_for_edit(page, edits)
    assert nodes(page) == {"debug_log": "DebugLog"}
    assert set(task(page, "debug_log")["metadata"]["ui"]) == {"x", "y"}
    # The node lands under the pointer: centred on it horizontally, its top just above it,
    # whatever the canvas's zoom and pan (the drop point is turned into flow coordinates).
    canvas = page.locator("#canvas").bounding_box()
    node = page.locator('#canvas .node[data-task-id="debug_log"]').bounding_box()
    scale = zoom(page)
    assert abs(node["x"] + node["width"] / 2 - (canvas["x"] + 400)) <= 3
    assert abs(node["y"] - (canvas["y"] + 100 - 20 * scale)) <= 3
    assert 'metadata={"ui": ' in page.evaluate("window.taskloom.codeText()")


def test_ports_are_handles_and_a_wrong_connection_is_refused_with_the_engine_reason(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "TextEmbedding")
    add_by_keyboard(page, "Similarity")
    assert page.inner_text(port_label("similarity", "out", "score", "name")) == "score"
    assert page.inner_text(port_label("similarity", "out", "score", "type")) == "number"
    assert page.inner_text(port_label("text_embedding", "in", "text", "type")) == "string"
    assert page.get_attribute(handle("text_embedding", "out", "vector"),
                              "aria-label") == "output vector of text_embedding: vector"
    # number into string: the engine says no, and nothing is drawn.
    drag_connect(page, ("similarity", "score"), ("text_embedding", "text"))
    page.wait_for_selector("body[data-connect-refused]", state="attached", timeout=RUN_MS)
    reason = page.get_attribute("body", "data-connect-refused")
    assert "output 'score' of 'similarity' is number" in reason
    assert "input 'text' of 'text_embedding' takes string" in reason
    assert reason in page.inner_text("#editor-status")
    assert edges(page) == []
    assert json_view(page)["dataflows"] == []
    # A fitting one is drawn, and reaches the JSON and the code.
    edits = edit_count(page)
    drag_connect(page, ("text_embedding", "vector"), ("similarity", "vectors"))
    wait_for_edit(page, edits)
    assert edges(page) == [("text_embedding", "vector", "similarity", "vectors")]
    assert json_view(page)["dataflows"] == [{
        "source_task_id": "text_embedding", "source_port": "vector",
        "target_task_id": "similarity", "target_port": "vectors"}]
    # The code view builds the same edge (to_code may leave it to the builder's chaining).
    assert code_view_graph(page)["dataflows"] == json_view(page)["dataflows"]


def test_the_keyboard_connects_an_output_to_an_input(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "Similarity")
    add_by_keyboard(page, "DebugLog")
    edits = edit_count(page)
    page.focus(handle("similarity", "out", "score"))
    page.keyboard.press("Enter")
    assert page.get_attribute(handle("similarity", "out", "score"), "data-armed") == "true"
    page.focus(handle("debug_log", "in", "*"))  # an open input takes the output's name
    page.keyboard.press("Enter")
    wait_for_edit(page, edits)
    assert edges(page) == [("similarity", "score", "debug_log", "score")]


def test_select_move_and_delete(app):
    page = app
    new_connected_pair(page)
    # Move by dragging the node's title: the new place is kept in metadata.ui (flow
    # coordinates: the pointer's move divided by the zoom).
    before = task(page, "debug_log")["metadata"]["ui"]
    scale = zoom(page)
    title = page.locator('#canvas .node[data-task-id="debug_log"] .node-title').bounding_box()
    x, y = title["x"] + 10, title["y"] + 5
    edits = edit_count(page)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 60, steps=5)
    page.mouse.up()
    wait_for_edit(page, edits)
    moved = task(page, "debug_log")["metadata"]["ui"]
    # React Flow starts the drag at the first step past its threshold (one of five steps).
    assert 24 / scale - 1 <= moved["x"] - before["x"] <= 30 / scale + 1
    assert 48 / scale - 1 <= moved["y"] - before["y"] <= 60 / scale + 1
    # What is kept is where the node is drawn.
    after = page.locator('#canvas .node[data-task-id="debug_log"] .node-title').bounding_box()
    assert abs((after["x"] - title["x"]) - (moved["x"] - before["x"]) * scale) <= 1
    assert page.get_attribute("body", "data-selected-task") == "debug_log"
    # Arrow keys move the selected, focused task too (React Flow's step: 5 px).
    page.focus('#canvas .node[data-task-id="debug_log"]')
    edits = edit_count(page)
    page.keyboard.press("ArrowRight")
    wait_for_edit(page, edits)
    assert task(page, "debug_log")["metadata"]["ui"]["x"] == moved["x"] + 5
    # Delete removes the selected task and its edges.
    page.click('#canvas .node[data-task-id="similarity"] .node-type')
    assert "selected" in page.get_attribute('#canvas .node[data-task-id="similarity"]', "class")
    assert page.get_attribute("body", "data-selected-task") == "similarity"
    edits = edit_count(page)
    page.keyboard.press("Delete")
    wait_for_edit(page, edits)
    assert nodes(page) == {"debug_log": "DebugLog"}
    assert edges(page) == []
    assert json_view(page)["dataflows"] == []
    assert "similarity" not in page.evaluate("window.taskloom.codeText()")


def test_undo_and_redo_go_over_every_edit(app):
    page = app
    new_connected_pair(page)
    connected = json_view(page)
    page.click('#canvas .node[data-task-id="similarity"] .node-type')
    edits = edit_count(page)
    page.keyboard.press("Delete")
    wait_for_edit(page, edits)
    assert nodes(page) == {"debug_log": "DebugLog"}

    page.wait_for_function("!document.getElementById('undo').disabled")
    page.keyboard.press("Control+z")  # the delete
    page.wait_for_selector('#canvas .node[data-task-id="similarity"]')
    assert json_view(page) == connected
    assert edges(page) == [("similarity", "score", "debug_log", "score")]
    assert code_view_graph(page)["dataflows"] == connected["dataflows"]
    page.keyboard.press("Control+z")  # the connection
    page.wait_for_function("document.querySelectorAll('#canvas .edge').length === 0")
    assert nodes(page) == {"similarity": "Similarity", "debug_log": "DebugLog"}
    page.keyboard.press("Control+z")  # the second task
    page.wait_for_function("document.querySelectorAll('#canvas .node').length === 1")
    assert nodes(page) == {"similarity": "Similarity"}

    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("document.querySelectorAll('#canvas .node').length === 2")
    page.keyboard.press("Control+Shift+z")
    page.wait_for_function("document.querySelectorAll('#canvas .edge').length === 1")
    assert json_view(page) == connected
    # The buttons do the same, and say when there is nothing left to redo.
    page.click("#redo")
    page.wait_for_function("document.querySelectorAll('#canvas .node').length === 1")
    assert nodes(page) == {"debug_log": "DebugLog"}
    assert page.is_disabled("#redo")
    page.click("#undo")
    page.wait_for_function("document.querySelectorAll('#canvas .node').length === 2")
    assert not page.is_disabled("#redo")


# The inspector's own tests (form, checks, outputs) are in test_inspector.py.


def test_a_graph_built_from_the_palette_alone_runs(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "Similarity")
    vectors = '#inspector-form [data-field="input-vectors"] textarea'
    edits = edit_count(page)
    page.fill(vectors, "[[1, 0], [0, 1]]")
    page.dispatch_event(vectors, "change")
    wait_for_edit(page, edits)
    edits = edit_count(page)
    page.drag_and_drop("#palette [data-task-type=DebugLog]", "#canvas",
                       target_position={"x": 420, "y": 60})
    wait_for_edit(page, edits)
    edits = edit_count(page)
    drag_connect(page, ("similarity", "score"), ("debug_log", "*"))
    wait_for_edit(page, edits)
    assert edges(page) == [("similarity", "score", "debug_log", "score")]
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    report = page.evaluate("window.taskloom.lastRun")
    assert report["ok"], report
    for task_id in ("similarity", "debug_log"):
        page.wait_for_selector(f'#canvas .node[data-task-id="{task_id}"][data-status=completed]',
                               state="attached", timeout=RUN_MS)
    assert report["outputs"]["debug_log"]["score"] == pytest.approx(0.0)
    assert json.loads(page.evaluate("window.taskloom.jsonText()"))["tasks"][0]["id"] == "similarity"
