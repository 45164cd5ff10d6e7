"""The canvas (React Flow, web/bundles/canvas/): left-to-right layout, nodes that show a
run as its events arrive (status, progress, streaming text, cache hits, errors), typed
port handles, edges coloured by state, groups for a GraphAsTask's body and for an
expanded array's items, zoom/pan/fit and a minimap, multi-select with copy and paste,
the palette's search, and run-to-here."""

from __future__ import annotations

import json

import pytest

from .site import (
    RUN_MS,
    add_by_keyboard,
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
from .test_document import EMBED, open_example

pytestmark = pytest.mark.browser

NODE = '#canvas .node[data-task-id="{}"]'

# A GraphAsTask whose body embeds sentences and compares them, then a task after it.
GROUPED = {"schema_version": 1, "tasks": [
    {"id": "body", "type": "GraphAsTask", "defaults": {}, "subgraph": {
        "schema_version": 1,
        "tasks": [{"id": "embed", "type": "TextEmbedding",
                   "defaults": {"text": ["a cat", "a dog"]}},
                  {"id": "sim", "type": "Similarity", "defaults": {}}],
        "dataflows": [{"source_task_id": "embed", "source_port": "vector",
                       "target_task_id": "sim", "target_port": "vectors"}]}},
    {"id": "after", "type": "DebugLog", "defaults": {}}],
    "dataflows": [{"source_task_id": "body", "source_port": "score",
                   "target_task_id": "after", "target_port": "score"}]}


def open_graph(page, graph: dict) -> None:
    """Opens a graph document as the page does: checked by the engine's open_graph."""
    page.evaluate("""async (text) => {
        const opened = await window.taskloom.engine.request('open_graph', text);
        if (!opened.ok) throw new Error(opened.error);
        await window.taskloom.document.open({ mode: 'graph', graph: opened.graph,
                                              code: opened.code, edited: true });
    }""", json.dumps(graph))
    page.wait_for_function("n => document.querySelectorAll('#canvas .node').length === n",
                           arg=len(graph["tasks"]))


def box(page, selector: str) -> dict:
    return page.locator(selector).bounding_box()


def viewport(page) -> dict:
    return page.evaluate("window.taskloom.canvas.viewport()")


def run_and_wait(page) -> dict:
    page.evaluate("delete document.body.dataset.runState")
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def test_an_example_is_laid_out_left_to_right_with_typed_ports_and_labelled_edges(app):
    page = app
    wait_for_palette(page)
    open_example(page, EMBED)
    embed, compare = box(page, NODE.format("embed")), box(page, NODE.format("compare"))
    assert embed["x"] + embed["width"] <= compare["x"]  # dagre, rankdir LR
    assert page.get_attribute(NODE.format("compare"), "data-task-type") == "Similarity"
    # Title, type and category written on the node, the category's colour on its border.
    assert page.inner_text(f'{NODE.format("compare")} .node-title') == "compare"
    assert "Similarity" in page.inner_text(f'{NODE.format("compare")} .node-type')
    assert "ai" in page.inner_text(f'{NODE.format("compare")} .node-category')
    # Ports: handles labelled with name and type, named for assistive technology.
    assert page.inner_text(port_label("compare", "in", "vectors", "type")) == "vector"
    assert page.get_attribute(handle("embed", "out", "vector"), "aria-label") == \
        "output vector of embed: vector"
    # The edge: its ports as data-* and as its label.
    assert edges(page) == [("embed", "vector", "compare", "vectors")]
    assert page.text_content("#canvas .edge text") == "vector → vectors"
    assert page.get_attribute("#canvas .edge", "data-state") == "pending"
    # The canvas is named and described, its tasks are focusable.
    assert page.get_attribute("#canvas", "aria-describedby") == "canvas-keys"
    assert page.get_attribute("#canvas", "aria-label")
    assert page.get_attribute(NODE.format("embed"), "tabindex") == "0"
    assert page.get_attribute(NODE.format("embed"), "aria-label") == \
        "embed (TextEmbedding), pending"


def test_a_run_shows_progress_done_edges_an_expanded_array_and_then_cache_hits(app):
    page = app
    open_example(page, EMBED)
    page.check("#cache-enabled")
    report = run_and_wait(page)
    assert report["ok"], report
    page.wait_for_selector('#canvas .edge[data-state="done"]', state="attached")
    for task_id in ("embed", "compare"):
        assert page.get_attribute(NODE.format(task_id), "data-status") == "completed"
        assert page.get_attribute(NODE.format(task_id), "data-progress") == "1"
    # The embed task ran once per sentence (expansion.py): its items are a group.
    items = len(json_view(page)["tasks"][0]["defaults"]["text"])
    embed = NODE.format("embed")
    assert page.get_attribute(embed, "data-group") == "items"
    toggle = f"{embed} .group-toggle"
    assert page.inner_text(toggle) == f"▸ {items} items"
    assert page.get_attribute(toggle, "aria-expanded") == "false"
    page.click(toggle)
    page.wait_for_function("n => document.querySelectorAll("
                           "'#canvas [data-child-of=embed]').length === n", arg=items)
    assert page.get_attribute(toggle, "aria-expanded") == "true"
    first = box(page, '#canvas [data-child-of=embed][data-child-id="embed[0]"]')
    outer = box(page, embed)
    assert outer["x"] <= first["x"] and first["y"] + first["height"] <= outer["y"] + \
        outer["height"]  # drawn inside its group
    page.click(toggle)
    page.wait_for_function("document.querySelectorAll('#canvas [data-child-of=embed]')"
                           ".length === 0")
    # Again, with the cache on: both outputs come from the cache, and the nodes say so.
    report = run_and_wait(page)
    assert report["ok"], report
    hits = page.evaluate("window.taskloom.events.filter(e => e.kind === 'task_cache_hit')"
                         ".map(e => e.task_id)")
    assert set(hits) == {"embed", "compare"}
    for task_id in ("embed", "compare"):
        page.wait_for_selector(f'{NODE.format(task_id)} .node-cached[data-cache-hit="true"]')


def test_streaming_text_and_a_task_error_show_on_the_node_as_events_carry_them(app):
    page = app
    open_example(page, EMBED)

    def send(**event):
        page.evaluate("e => window.taskloom.document.runEvent(e)", {"run_id": "r1", **event})

    # Event shapes as core/taskloom/events.py's Event.to_dict writes them.
    send(kind="graph_start", details={"tasks": 2})
    send(kind="task_start", task_id="embed", message="embed")
    send(kind="task_complete", task_id="embed", output={"vector": [[1.0]]})
    send(kind="task_start", task_id="compare", message="compare")
    page.wait_for_selector('#canvas .edge[data-state="flowing"]', state="attached")
    send(kind="task_progress", task_id="compare", progress=0.5, message="half the pairs")
    note = f'{NODE.format("compare")} .node-note'
    page.wait_for_function("s => document.querySelector(s)?.textContent === 'half the pairs'",
                           arg=note)
    assert page.get_attribute(NODE.format("compare"), "data-progress") == "0.5"
    assert page.eval_on_selector(f'{NODE.format("compare")} progress', "p => p.value") == 0.5
    send(kind="task_progress", task_id="compare", progress=0.75, message="three quarters")
    page.wait_for_function("s => document.querySelector(s)?.textContent === 'three quarters'",
                           arg=note)
    send(kind="task_error", task_id="compare", error="ValueError: vectors differ in length")
    page.wait_for_selector(f'{NODE.format("compare")}[data-status="failed"]')
    assert page.inner_text(note) == "error: ValueError: vectors differ in length"
    assert page.get_attribute(note, "role") == "alert"
    assert page.get_attribute("#canvas .edge", "data-state") == "failed"
    assert page.inner_text(f'{NODE.format("compare")} .node-status') == "failed"


def test_a_graph_as_task_body_is_a_group_that_collapses_and_expands(app):
    page = app
    wait_for_palette(page)
    open_graph(page, GROUPED)
    body = NODE.format("body")
    assert page.get_attribute(body, "data-group") == "body"
    # Its ports are its body's open ones (compound.py): the embedding's inputs that no inner
    # edge feeds, the sink's (Similarity's) outputs; the outer edge joins that handle.
    assert page.locator(handle("body", "in", "text")).count() == 1
    assert page.locator(handle("body", "in", "vectors")).count() == 0  # fed inside
    assert page.locator(handle("body", "out", "score")).count() == 1
    assert edges(page) == [("body", "score", "after", "score")]
    toggle = f"{body} .group-toggle"
    assert page.inner_text(toggle) == "▸ 2 inner tasks"
    collapsed = box(page, body)
    page.click(toggle)
    page.wait_for_function("document.querySelectorAll('#canvas [data-child-of=body]')"
                           ".length === 2")
    inner = page.eval_on_selector_all(
        "#canvas [data-child-of=body]", "ns => ns.map(n => [n.dataset.childId, "
        "n.dataset.taskType])")
    assert sorted(inner) == [["embed", "TextEmbedding"], ["sim", "Similarity"]]
    page.wait_for_selector("#canvas .inner-edge", state="attached")
    expanded = box(page, body)
    assert expanded["height"] > collapsed["height"]
    # The body's tasks are part of the group, not of the graph's own tasks.
    assert nodes(page) == {"body": "GraphAsTask", "after": "DebugLog"}
    sim = box(page, '#canvas [data-child-of=body][data-child-id="sim"]')
    assert expanded["y"] < sim["y"] < expanded["y"] + expanded["height"]
    page.click(toggle)
    page.wait_for_function("document.querySelectorAll('#canvas [data-child-of=body]')"
                           ".length === 0")


def test_zoom_pan_fit_to_view_and_the_minimap(app):
    page = app
    open_example(page, EMBED)
    assert page.text_content("#canvas .react-flow__minimap svg title") == \
        "minimap of the graph"
    assert page.locator("#canvas .react-flow__minimap-node").count() == 2
    before = viewport(page)
    page.click("#canvas .react-flow__controls-zoomin")
    page.wait_for_function("z => window.taskloom.canvas.viewport().zoom > z", arg=before["zoom"])
    # Pan: drag the empty pane.
    canvas = box(page, "#canvas")
    start = viewport(page)
    page.mouse.move(canvas["x"] + 30, canvas["y"] + 30)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 130, canvas["y"] + 80, steps=6)
    page.mouse.up()
    panned = viewport(page)
    assert panned["x"] > start["x"] and panned["y"] > start["y"]
    # Fit to view: every task back inside the canvas.
    page.click("#canvas .react-flow__controls-fitview")
    page.wait_for_function("v => window.taskloom.canvas.viewport().x !== v.x", arg=panned)
    page.wait_for_timeout(400)  # fitView may animate
    for task_id in ("embed", "compare"):
        node = box(page, NODE.format(task_id))
        assert canvas["x"] <= node["x"] and node["x"] + node["width"] <= canvas["x"] + \
            canvas["width"]
        assert canvas["y"] <= node["y"] and node["y"] + node["height"] <= canvas["y"] + \
            canvas["height"]


def test_multi_select_copy_paste_and_undo(app):
    page = app
    new_connected_pair(page)
    # Click one, shift-click the other: both selected.
    page.click(f'{NODE.format("similarity")} .node-type')
    page.keyboard.down("Shift")
    page.click(f'{NODE.format("debug_log")} .node-type')
    page.keyboard.up("Shift")
    page.wait_for_function("document.body.dataset.selectedTask === 'similarity debug_log'")
    # Ctrl+C / Ctrl+V: new ids, the edge between them kept, placed beside the originals.
    page.keyboard.press("Control+c")
    assert "Copied 2 tasks" in page.inner_text("#editor-status")
    edits = edit_count(page)
    page.keyboard.press("Control+v")
    wait_for_edit(page, edits)
    assert nodes(page) == {"similarity": "Similarity", "debug_log": "DebugLog",
                           "similarity_2": "Similarity", "debug_log_2": "DebugLog"}
    assert edges(page) == [("similarity", "score", "debug_log", "score"),
                           ("similarity_2", "score", "debug_log_2", "score")]
    graph = json_view(page)
    placed = {t["id"]: t["metadata"]["ui"] for t in graph["tasks"]}
    assert placed["similarity_2"] == {"x": placed["similarity"]["x"] + 40,
                                      "y": placed["similarity"]["y"] + 40}
    # The copies are the selection now; Ctrl+Z undoes the paste as one edit.
    page.wait_for_function("document.body.dataset.selectedTask === 'similarity_2 debug_log_2'")
    page.keyboard.press("Control+z")
    page.wait_for_function("document.querySelectorAll('#canvas .node').length === 2")
    assert edges(page) == [("similarity", "score", "debug_log", "score")]
    # Box select: shift-drag over the empty pane around both tasks.
    page.click("#canvas .react-flow__pane", position={"x": 5, "y": 5})
    page.wait_for_function("!document.body.dataset.selectedTask")
    first, second = box(page, NODE.format("similarity")), box(page, NODE.format("debug_log"))
    left = min(first["x"], second["x"]) - 10
    top = min(first["y"], second["y"]) - 10
    right = max(first["x"] + first["width"], second["x"] + second["width"]) + 10
    bottom = max(first["y"] + first["height"], second["y"] + second["height"]) + 10
    page.keyboard.down("Shift")
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move(right, bottom, steps=8)
    page.mouse.up()
    page.keyboard.up("Shift")
    page.wait_for_function("(document.body.dataset.selectedTask || '').split(' ').sort()"
                           ".join() === 'debug_log,similarity'")


def test_an_edge_is_selected_and_deleted_and_a_task_runs_to_here(app):
    page = app
    new_connected_pair(page)
    page.click("#canvas .edge .react-flow__edge-textbg")
    page.wait_for_selector('#canvas .edge[data-selected="true"]', state="attached")
    edits = edit_count(page)
    page.keyboard.press("Delete")
    wait_for_edit(page, edits)
    assert edges(page) == []
    assert nodes(page) == {"similarity": "Similarity", "debug_log": "DebugLog"}
    assert "removed 1 connection" in page.inner_text("#editor-status")
    # Run to here: a button on the selected task, which the page's bus carries.
    page.evaluate("""async () => {
        const { page } = await import(new URL('page.js', document.baseURI).href);
        window.ranToHere = [];
        page.on('run-to-here', (event) => window.ranToHere.push(event.detail));
    }""")
    page.click(f'{NODE.format("debug_log")} .node-type')
    page.click(f'{NODE.format("debug_log")} .run-to-here')
    page.wait_for_function("window.ranToHere.length === 1")
    assert page.evaluate("window.ranToHere") == ["debug_log"]
    assert page.locator(f'{NODE.format("similarity")} .run-to-here').count() == 0


def test_tab_reaches_a_task_and_keys_select_move_and_delete_it(app):
    page = app
    wait_for_palette(page)
    new_graph(page)
    add_by_keyboard(page, "DebugLog")
    page.focus("#canvas")
    # Tab goes from the canvas into its tasks (React Flow's nodes are focusable).
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.taskId") == "debug_log":
            break
    assert page.evaluate("document.activeElement.dataset.taskId") == "debug_log"
    page.wait_for_function("document.body.dataset.selectedTask === 'debug_log'")
    edits = edit_count(page)
    before = json_view(page)["tasks"][0]["metadata"]["ui"]
    page.keyboard.press("ArrowDown")
    wait_for_edit(page, edits)
    after = json_view(page)["tasks"][0]["metadata"]["ui"]
    assert after == {"x": before["x"], "y": before["y"] + 5}
    edits = edit_count(page)
    page.keyboard.press("Delete")
    wait_for_edit(page, edits)
    assert nodes(page) == {}


def test_the_palette_is_searchable_and_describes_each_type(app):
    page = app
    wait_for_palette(page)
    items = "#palette-items [data-task-type]"
    every = page.locator(items).count()
    page.fill("#palette-search", "embed")
    visible = page.eval_on_selector_all(
        items, "ls => ls.filter(l => !l.hidden).map(l => l.dataset.taskType)")
    assert "TextEmbedding" in visible and "DebugLog" not in visible
    assert f"of {every} task types match" in page.inner_text("#palette-about")
    page.fill("#palette-search", "")
    assert page.eval_on_selector_all(items, "ls => ls.filter(l => l.hidden).length") == 0
    # The description on hover (title) and on focus (the live line under the list).
    item = "#palette-items [data-task-type=Similarity]"
    description = page.get_attribute(item, "title")
    assert description
    page.focus(item)
    assert description in page.inner_text("#palette-about")
    assert page.get_attribute(item, "aria-describedby") == "palette-about"
    # Grouped by category, each group named by its heading.
    groups = page.eval_on_selector_all(
        "#palette-items .palette-group", "gs => gs.map(g => g.querySelector('h3').textContent)")
    assert groups == sorted(groups) and "ai" in groups
