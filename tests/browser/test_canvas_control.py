"""Control flow on the canvas (web/bundles/canvas/model.js): an If's edges labelled with
their branch and condition, edge transforms written on the edge, the bodies of Map, While
and a Fallback's alternatives drawn as labelled groups that collapse and expand, with the
ports tasks/control.py derives; then a run in the page: the branch not taken is skipped,
and the summaries streamed inside the bodies reach the page tagged with their step. A
task that streams shows its text so far on its node (a group's items, each kept apart, do not)."""

from __future__ import annotations

import pytest

from .site import RUN_MS
from .test_canvas import NODE, open_graph, run_and_wait
from .test_document import edges, nodes
from .test_editor import handle, port_label, wait_for_palette
from .test_models import MINILM

pytestmark = pytest.mark.browser

TEXTS = ["The cat sat on the warm mat all day. It was a lazy cat. Dogs barked outside.",
         "Rain fell on the town. People ran for cover. The streets shone."]


def summary(task_id: str, **defaults) -> dict:
    """A one-sentence extractive summary on the embedding model: text in, text out, streamed."""
    return {"id": task_id, "type": "TextSummary",
            "defaults": {"model": MINILM, "sentences": 1, **defaults}}


def body(*tasks: dict) -> dict:
    return {"schema_version": 1, "tasks": list(tasks), "dataflows": []}


def flow(source: str, out: str, target: str, port: str, transform=None) -> dict:
    edge = {"source_task_id": source, "source_port": out, "target_task_id": target,
            "target_port": port}
    return {**edge, "transform": transform} if transform else edge


CONTROL = {"schema_version": 1, "tasks": [
    {"id": "each", "type": "Map", "defaults": {"text": TEXTS, "concurrency": 2},
     "subgraph": body(summary("sum"))},
    {"id": "route", "type": "If", "defaults": {"condition": "len(value) >= 2"}},
    {"id": "loop", "type": "While",
     "defaults": {"condition": "iteration < 1", "max_iterations": 3},
     "subgraph": body(summary("shorten"))},
    {"id": "minor", "type": "DebugLog", "defaults": {}},
    {"id": "answer", "type": "Fallback", "defaults": {"text": TEXTS[1]},
     "alternatives": [body(summary("missing", model="onnx:no-such-model:q8")),
                      body(summary("here"))]},
], "dataflows": [
    flow("each", "text", "route", "value"),
    flow("route", "then", "loop", "text", [{"index": 0}]),
    flow("route", "otherwise", "minor", "value"),
]}

EDGE = '#canvas .edge[data-source="{}"][data-target="{}"]'


def toggle(page, task_id: str, count: int) -> None:
    """Opens or closes ``task_id``'s group and waits until it holds ``count`` children.

    By keyboard: a group that opened a moment ago moves the others while the canvas
    lays them out again, and a mouse click aimed at a toggle could land beside it."""
    page.focus(f"{NODE.format(task_id)} .group-toggle")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([id, n]) => document.querySelectorAll(`#canvas [data-child-of=${id}]`).length === n",
        arg=[task_id, count])


def test_branches_transforms_and_bodies_are_drawn_labelled(app):
    page = app
    wait_for_palette(page)
    open_graph(page, CONTROL)
    assert nodes(page) == {"each": "Map", "route": "If", "loop": "While",
                           "minor": "DebugLog", "answer": "Fallback"}
    # An If's edges say which branch they carry and on what condition.
    then, otherwise = EDGE.format("route", "loop"), EDGE.format("route", "minor")
    assert page.get_attribute(then, "data-branch") == "then"
    assert page.get_attribute(otherwise, "data-branch") == "otherwise"
    assert page.text_content(f"{then} text") == "then (len(value) >= 2) → text · [0]"
    assert page.text_content(f"{otherwise} text") == \
        "otherwise (not (len(value) >= 2)) → value"
    assert page.get_attribute(then, "data-transform") == "[0]"
    assert page.get_attribute(EDGE.format("each", "route"), "data-branch") is None
    assert edges(page) == [("each", "text", "route", "value"),
                           ("route", "otherwise", "minor", "value"),
                           ("route", "then", "loop", "text")]
    # The constructs' ports, as tasks/control.py derives them from their bodies.
    assert page.inner_text(port_label("each", "in", "text", "type")) == "list[string]"
    assert page.locator(handle("each", "in", "concurrency")).count() == 1
    assert page.inner_text(port_label("each", "out", "text", "type")) == "list[string]"
    for port in ("condition", "max_iterations", "text"):
        assert page.locator(handle("loop", "in", port)).count() == 1, port
    for port in ("iterations", "text"):
        assert page.locator(handle("loop", "out", port)).count() == 1, port
    assert page.locator(handle("answer", "in", "text")).count() == 1
    assert page.locator(handle("answer", "out", "alternative")).count() == 1
    assert page.locator(handle("answer", "out", "text")).count() == 1
    # Bodies are groups, labelled with how they run.
    labels = {"each": "body · once per item", "loop": "body · while iteration < 1",
              "answer": "alternative 0 | alternative 1 · if the ones before fail"}
    for task_id, label in labels.items():
        node = NODE.format(task_id)
        assert page.get_attribute(node, "data-group") == "body", task_id
        assert page.get_attribute(node, "data-group-label") == label, task_id
        assert page.get_attribute(node, "data-expanded") == "false", task_id
    assert page.get_attribute(NODE.format("route"), "data-group") is None
    assert page.inner_text(f'{NODE.format("each")} .node-category') == " · control"
    # They expand to their bodies' tasks, under their labels, and collapse again.
    collapsed = page.locator(NODE.format("each")).bounding_box()
    toggle(page, "each", 1)
    assert page.get_attribute(NODE.format("each"), "data-expanded") == "true"
    assert page.locator(NODE.format("each")).bounding_box()["height"] > collapsed["height"]
    assert page.get_attribute("#canvas [data-child-of=each]", "data-child-id") == "sum"
    assert page.inner_text(f'{NODE.format("each")} .group-label') == "body · once per item"
    toggle(page, "answer", 2)
    children = page.eval_on_selector_all(
        "#canvas [data-child-of=answer]",
        "ns => ns.map(n => [n.dataset.block, n.dataset.childId]).sort()")
    assert children == [["0", "missing"], ["1", "here"]]
    assert page.eval_on_selector_all(
        f'{NODE.format("answer")} .group-label', "ls => ls.map(l => l.textContent)") == \
        ["alternative 0", "alternative 1 · if the ones before fail"]
    # The alternatives stack: the second's tasks below the first's.
    first = page.locator('#canvas [data-child-of=answer][data-block="0"]').bounding_box()
    second = page.locator('#canvas [data-child-of=answer][data-block="1"]').bounding_box()
    assert first["y"] + first["height"] <= second["y"]
    toggle(page, "loop", 1)
    toggle(page, "answer", 0)
    toggle(page, "loop", 0)
    toggle(page, "each", 0)


def test_a_run_skips_the_branch_not_taken_and_streams_from_inside_the_bodies(app):
    page = app
    open_graph(page, CONTROL)
    page.evaluate("window.taskloom.events = []")
    report = run_and_wait(page)
    assert report["ok"], report
    page.wait_for_function("window.taskloom.events.some(e => e.kind === 'graph_complete')",
                           timeout=RUN_MS)
    for task_id in ("each", "route", "loop", "answer"):
        assert page.get_attribute(NODE.format(task_id), "data-status") == "completed", task_id
    # The otherwise branch was not taken: its task is skipped and so is the edge into it.
    assert page.get_attribute(NODE.format("minor"), "data-status") == "skipped"
    assert page.get_attribute(EDGE.format("route", "minor"), "data-state") == "skipped"
    assert page.get_attribute(EDGE.format("route", "loop"), "data-state") == "done"
    events = page.evaluate("window.taskloom.events")
    streamed = [e for e in events if e["kind"] == "task_stream"]
    # Each body's summary reached the page as its construct's event, naming the inner
    # task and the item, iteration or alternative, each stream indexed from 0.
    steps = sorted((e["task_id"], e["inner"], e.get("item", e.get("iteration",
                                                                   e.get("alternative"))),
                    e["index"]) for e in streamed)
    assert steps == [("answer", "here", 1, 0), ("each", "sum", 0, 0), ("each", "sum", 1, 0),
                     ("loop", "shorten", 0, 0)]
    outputs = report["outputs"]
    by_item = {e["item"]: e["delta"] for e in streamed if e["task_id"] == "each"}
    assert [by_item[0], by_item[1]] == outputs["each"]["text"]
    assert outputs["loop"] == {"iterations": 1, "text": outputs["each"]["text"][0]}
    assert outputs["answer"]["alternative"] == 1
    assert "minor" not in outputs


def test_a_streaming_task_shows_its_text_so_far_on_its_node(app):
    page = app
    open_graph(page, CONTROL)

    def send(**event):
        page.evaluate("e => window.taskloom.document.runEvent(e)", {"run_id": "r2", **event})

    # Event shapes as core/taskloom/events.py's Event.to_dict writes them.
    send(kind="graph_start", details={"tasks": 5})
    send(kind="task_start", task_id="each", message="summing up")
    send(kind="task_start", task_id="minor", message="minor")
    # A Map's items stream at once: their deltas interleave, so its node does not show them.
    for item, delta in [(0, "It was "), (1, "The streets "), (0, "a cat.")]:
        send(kind="task_stream", task_id="each", port="text", delta=delta, index=0,
             inner="sum", item=item, details={"item": item})
    note = f'{NODE.format("minor")} .node-note'
    for index, delta in enumerate(["Rain ", "fell."]):
        send(kind="task_stream", task_id="minor", port="text", delta=delta, index=index)
    page.wait_for_function("s => document.querySelector(s)?.textContent === 'Rain fell.'",
                           arg=note)
    assert page.inner_text(f'{NODE.format("each")} .node-note') == "summing up"
    # The store keeps each item's text apart (web/document.js streamKey).
    streams = page.evaluate("window.taskloom.document.state.run.streams")
    assert streams["each[0]/sum"] == "It was a cat."
    assert streams["each[1]/sum"] == "The streets "
    assert "each" not in streams
    send(kind="task_complete", task_id="minor", output={"text": "Rain fell."})
    page.wait_for_selector(f'{NODE.format("minor")}[data-status="completed"]')
