"""Streaming in the page: a generation example's text arrives as task_stream events,
in order, while the task runs, and the document store keeps the text so far."""

from __future__ import annotations

import pytest

from .test_models import completed, run_graph

pytestmark = pytest.mark.browser


def test_the_generate_example_streams_its_text_in_order(app):
    code = app.evaluate("window.taskloom.examples['Generate text']")
    report = run_graph(app, code)
    text = completed(report)["generate"]["text"]
    # Events reach window.taskloom a frame at a time: wait for the last one.
    app.wait_for_function(
        "window.taskloom.events.some(e => e.kind === 'graph_complete')")
    events = app.evaluate("window.taskloom.events")
    streamed = [e for e in events if e["kind"] == "task_stream"]
    assert {e["task_id"] for e in streamed} == {"generate"}
    assert {e["port"] for e in streamed} == {"text"}
    assert [e["index"] for e in streamed] == list(range(len(streamed)))
    # A delta per token that adds text: Transformers.js's streamer, handed over as it goes.
    assert len(streamed) >= 24
    assert "".join(e["delta"] for e in streamed) == text
    kinds = [(e["kind"], e.get("task_id")) for e in events]
    done = kinds.index(("task_complete", "generate"))
    assert max(i for i, k in enumerate(kinds) if k[0] == "task_stream") < done
    # The store the canvas draws from holds the streamed text (web/document.js).
    assert app.evaluate("window.taskloom.document.state.run.streams.generate") == text
