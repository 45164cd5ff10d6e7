"""The inspector (web/inspector.js, web/renderers.js): the selected task's form, checked by
the engine's pydantic as you type, every edit undoable; its reactive preview; and its last
run's outputs by kind, logs and error."""

from __future__ import annotations

import json

import pytest

from .site import RUN_MS
from .test_document import apply_code, json_view, open_example

pytestmark = pytest.mark.browser

FORM = "#inspector-form"
OUTPUTS = "#inspector-outputs"

# Fast and offline: DebugLog passes its inputs through, so its outputs are what it is given.
PASS_THROUGH = '''from taskloom import Workflow

wf = Workflow()
wf.debug_log(id="log", text="first line\\nsecond line", vector=[0.5, -0.25, 1.0, 0.0],
             vectors=[[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], count=42,
             info={"a": {"b": [1, 2, 3]}, "long": LONG})
'''.replace("LONG", repr([f"item {i}" for i in range(120)]))  # code is read, not run


def field(key: str) -> str:
    return f'{FORM} [data-field="{key}"]'


def select_task(page, task_id: str) -> None:
    page.click(f'#canvas [data-task-id="{task_id}"]', position={"x": 12, "y": 8})
    page.wait_for_selector(f'{FORM}[data-task="{task_id}"]', state="attached", timeout=RUN_MS)


def task(page, task_id: str) -> dict:
    return next(t for t in json_view(page)["tasks"] if t["id"] == task_id)


def edit_count(page) -> int:
    return int(page.get_attribute("body", "data-editor-edits") or 0)


def wait_for_edit(page, before: int) -> None:
    page.wait_for_function("n => Number(document.body.dataset.editorEdits || 0) > n",
                           arg=before, timeout=RUN_MS)


def error_at(page, key: str) -> str:
    """The error the form shows at a field, once the engine has answered."""
    page.wait_for_function(
        "key => document.querySelector(`#inspector-form [data-field=\"${key}\"] .field-error`)"
        "?.textContent", arg=key, timeout=RUN_MS)
    return page.inner_text(f"{field(key)} .field-error")


def test_a_number_out_of_bounds_is_refused_at_its_field_and_a_valid_edit_is_undoable(app):
    page = app
    open_example(page, "Summarise a text")
    select_task(page, "summary")
    sentences = f'{field("input-sentences")} input'
    assert page.get_attribute(sentences, "type") == "number"
    assert page.get_attribute(sentences, "min") == "1"
    assert page.input_value(sentences) == "2"
    # Out of bounds: pydantic's reason, at the field, as it is typed; nothing changes.
    page.fill(sentences, "0")
    assert "greater than or equal to 1" in error_at(page, "input-sentences")
    assert page.get_attribute(sentences, "aria-invalid") == "true"
    described = page.get_attribute(sentences, "aria-describedby").split()
    assert page.inner_text(f"#{described[0]}") == page.inner_text(
        f'{field("input-sentences")} .field-error')
    page.dispatch_event(sentences, "change")
    page.wait_for_selector(f"{FORM}[data-errors='1']", state="attached", timeout=RUN_MS)
    assert task(page, "summary")["defaults"]["sentences"] == 2
    # A valid value: the document changes, and Undo gives the old one back.
    edits = edit_count(page)
    page.fill(sentences, "3")
    page.dispatch_event(sentences, "change")
    wait_for_edit(page, edits)
    assert page.get_attribute(sentences, "aria-invalid") == "false"
    assert task(page, "summary")["defaults"]["sentences"] == 3
    assert "sentences=3" in page.evaluate("window.taskloom.codeText()")
    page.click("#undo")
    page.wait_for_function("() => document.querySelector("
                           "'#inspector-form [data-field=\"input-sentences\"] input')?.value"
                           " === '2'", timeout=RUN_MS)
    assert task(page, "summary")["defaults"]["sentences"] == 2
    page.click("#redo")
    page.wait_for_function("() => document.querySelector("
                           "'#inspector-form [data-field=\"input-sentences\"] input')?.value"
                           " === '3'", timeout=RUN_MS)
    # Long text is a text area; the model is picked from the engine's models.
    assert page.is_visible(f'{field("input-text")} textarea')
    picker = f'{field("input-model")} select.model-picker'
    page.wait_for_selector(picker, timeout=RUN_MS)
    assert page.input_value(picker) == "onnx:all-MiniLM-L6-v2:q8"
    groups = page.eval_on_selector_all(
        f"{picker} optgroup", "gs => gs.map(g => [g.label, [...g.children].map(o => o.value)])")
    local = dict(groups)["Local models"]
    assert "onnx:all-MiniLM-L6-v2:q8" in local
    assert "onnx:glassllm:q8" not in local  # a text generator: not a model TextSummary runs
    assert "Cloud models" in dict(groups)
    # Every control has a label.
    unlabelled = page.eval_on_selector_all(
        f"{FORM} :is(input, select, textarea)",
        "fs => fs.filter(f => !f.hidden && !f.labels?.length && !f.getAttribute('aria-label'))"
        ".map(f => f.id)")
    assert unlabelled == []


def test_enums_booleans_text_and_json_fields_edit_the_defaults(app):
    """(Moved from test_editor.py.) Each kind of field writes its value into the defaults."""
    page = app
    apply_code(page, '''from taskloom import Workflow

wf = Workflow()
wf.text_embedding(id="embed", model="onnx:all-MiniLM-L6-v2:q8", text="one")
wf.similarity(id="compare", vectors=[[1.0]])
wf.debug_log(id="log")
''')
    select_task(page, "log")
    edits = edit_count(page)
    page.select_option(f'{field("input-log_level")} select', "debug")
    wait_for_edit(page, edits)
    assert task(page, "log")["defaults"] == {"log_level": "debug"}
    assert 'log_level="debug"' in page.evaluate("window.taskloom.codeText()")
    edits = edit_count(page)
    page.fill(f'{field("config-title")} input', "Look at it")
    page.dispatch_event(f'{field("config-title")} input', "change")
    wait_for_edit(page, edits)
    assert "Look at it" in page.inner_text('#canvas [data-task-id="log"]')
    # Long text keeps its line breaks; a boolean is a checkbox.
    select_task(page, "embed")
    text = f'{field("input-text")} textarea'
    edits = edit_count(page)
    page.fill(text, "first line\nsecond line")
    page.dispatch_event(text, "change")
    wait_for_edit(page, edits)
    edits = edit_count(page)
    page.check(f'{field("input-truncate")} input[type=checkbox]')
    wait_for_edit(page, edits)
    assert task(page, "embed")["defaults"] == {"model": "onnx:all-MiniLM-L6-v2:q8",
                                               "text": "first line\nsecond line",
                                               "truncate": True}
    # A list of vectors is JSON: text that is not JSON is refused here, the wrong JSON by
    # the engine.
    select_task(page, "compare")
    vectors = f'{field("input-vectors")} textarea'
    page.fill(vectors, '{"not": "a list"}')
    assert "valid list" in error_at(page, "input-vectors")
    page.fill(vectors, "[[1, 0")
    assert "not JSON" in page.inner_text(f'{field("input-vectors")} .field-error')
    edits = edit_count(page)
    page.fill(vectors, "[[1, 0], [0, 1]]")
    page.dispatch_event(vectors, "change")
    wait_for_edit(page, edits)
    assert task(page, "compare")["defaults"] == {"vectors": [[1.0, 0.0], [0.0, 1.0]]}


def test_picking_a_model_and_config_edits_go_through_the_store(app):
    page = app
    open_example(page, "Summarise a text")
    select_task(page, "summary")
    picker = f'{field("input-model")} select.model-picker'
    page.wait_for_selector(picker, timeout=RUN_MS)
    cloud = page.eval_on_selector(
        f'{picker} optgroup[label="Cloud models"] option', "o => o.value")
    edits = edit_count(page)
    page.select_option(picker, cloud)
    wait_for_edit(page, edits)
    assert task(page, "summary")["defaults"]["model"] == cloud
    # Config: a bad timeout is refused at its field; a good one, title and cacheable apply.
    timeout = f'{field("config-timeout")} input'
    page.fill(timeout, "-1")
    assert "greater than 0" in error_at(page, "config-timeout")
    edits = edit_count(page)
    page.fill(timeout, "30")
    page.dispatch_event(timeout, "change")
    wait_for_edit(page, edits)
    edits = edit_count(page)
    page.select_option(f'{field("config-cacheable")} select', "no")
    wait_for_edit(page, edits)
    edits = edit_count(page)
    page.fill(f'{field("config-title")} input', "Short")
    page.dispatch_event(f'{field("config-title")} input', "change")
    wait_for_edit(page, edits)
    assert task(page, "summary")["config"] == {"timeout": 30, "cacheable": False,
                                               "title": "Short"}


def test_lists_add_and_remove_items_and_an_expanded_value_is_a_list(app):
    page = app
    open_example(page, "Embed and compare sentences")
    select_task(page, "embed")
    # The example gives `text` three sentences: one embedding each.
    items = f'{field("input-text")} .list-item'
    assert page.locator(items).count() == 3
    edits = edit_count(page)
    page.click(f'{field("input-text")} .list-add')
    wait_for_edit(page, edits)
    assert task(page, "embed")["defaults"]["text"][-1] == ""
    last = f'{field("input-text.3")} :is(input, textarea)'
    assert page.evaluate("() => document.activeElement.dataset.focus") == "input-text.3"
    edits = edit_count(page)
    page.fill(last, "A fourth sentence.")
    page.dispatch_event(last, "change")
    wait_for_edit(page, edits)
    assert task(page, "embed")["defaults"]["text"][3] == "A fourth sentence."
    edits = edit_count(page)
    page.click(f'{field("input-text")} .list-item >> nth=0 >> .list-remove')
    wait_for_edit(page, edits)
    assert task(page, "embed")["defaults"]["text"] == [
        "A man is eating a piece of bread.", "The girl is carrying a baby.",
        "A fourth sentence."]


def test_a_runs_outputs_are_rendered_by_kind_with_logs_and_a_preview(app, server):
    page = app
    # The Copy buttons write to the real clipboard, which the test then reads back.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)
    apply_code(page, PASS_THROUGH)
    select_task(page, "log")
    # DebugLog has a reactive preview: its outputs from its own values, before any run.
    page.wait_for_selector(f'{FORM} #inspector-preview [data-output-port="count"]',
                           timeout=RUN_MS)
    assert page.inner_text(f"{OUTPUTS} .task-run-status").startswith("Not run yet")
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    assert page.evaluate("window.taskloom.lastRun.ok")
    page.wait_for_selector(f'{OUTPUTS}[data-status="completed"]', state="attached",
                           timeout=RUN_MS)
    port = f'{OUTPUTS} .task-outputs [data-output-port'
    # Text keeps its line breaks.
    text = f'{port}="text"] .out-text'
    assert page.text_content(text) == "first line\nsecond line"
    assert page.eval_on_selector(text, "e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert page.inner_text(text).count("\n") == 1
    # A vector: its dimension, a plot and a copy button; a list of vectors likewise.
    vector = f'{port}="vector"] [data-render="vector"]'
    assert page.get_attribute(vector, "data-dimension") == "4"
    assert "4-dimensional vector" in page.inner_text(vector)
    assert page.locator(f"{vector} svg polyline").count() == 1
    page.click(f"{vector} button.copy")
    page.wait_for_selector(f"{vector} button.copy[data-copied]", timeout=RUN_MS)
    assert page.inner_text(f"{vector} .copy-status") == "copied"
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == [0.5, -0.25, 1.0, 0.0]
    vectors = f'{port}="vectors"] [data-render="vectors"]'
    assert page.get_attribute(vectors, "data-dimension") == "2"
    assert "3 vectors of 2 dimensions" in page.inner_text(vectors)
    page.click(f"{vectors} button.copy")
    page.wait_for_selector(f"{vectors} button.copy[data-copied]", timeout=RUN_MS)
    assert json.loads(page.evaluate("navigator.clipboard.readText()")) == \
        [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]
    # A number is a value.
    assert page.inner_text(f'{port}="count"] .out-number') == "42"
    # Anything else is a JSON tree that collapses, and a long list shows its first part.
    tree = f'{port}="info"] > details.json-tree'
    assert page.get_attribute(tree, "open") is not None
    assert page.is_visible(f"{tree} .json-key >> text=a:")
    page.click(f"{tree} > summary")
    assert page.get_attribute(tree, "open") is None
    assert not page.is_visible(f"{tree} .json-key >> text=a:")
    page.click(f"{tree} > summary")
    long_list = f'{tree} li:has(> .json-key:text-is("long:")) > details'
    page.click(f"{long_list} > summary")
    # A closed branch is drawn when it opens (its toggle event comes after the click).
    page.wait_for_selector(f"{long_list} > ul > li", state="attached", timeout=RUN_MS)
    assert page.locator(f"{long_list} > ul > li").count() == 51  # 50 and "show more"
    page.click(f"{long_list} .show-more")
    assert page.locator(f"{long_list} > ul > li").count() == 101  # a page at a time
    page.click(f"{long_list} .show-more")
    assert page.locator(f"{long_list} > ul > li").count() == 120
    assert page.inner_text(f"{long_list} > ul > li >> nth=119") == "119: \"item 119\""
    # Its logs: what the run said about it, and the record DebugLog wrote.
    logs = page.inner_text(f"{OUTPUTS} .task-logs")
    assert "started" in logs and "completed" in logs and "first line" in logs


def test_a_failed_task_shows_its_error(app):
    page = app
    apply_code(page, '''from taskloom import Workflow

wf = Workflow()
wf.load_document(id="load", path="no/such/file.md")
''')
    select_task(page, "load")
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed], body[data-run-state=failed]",
                           state="attached", timeout=RUN_MS)
    page.wait_for_selector(f'{OUTPUTS}[data-status="failed"] .task-error', timeout=RUN_MS)
    assert "no/such/file.md" in page.inner_text(f"{OUTPUTS} .task-error")
    assert "failed" in page.inner_text(f"{OUTPUTS} .task-logs")
