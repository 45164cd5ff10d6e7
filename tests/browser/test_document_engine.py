"""The engine calls behind the page's document (web/views.js), under CPython: the same
BrowserEngine methods the page's worker answers in Pyodide."""

from __future__ import annotations

import json

from taskloom.browser.engine import BrowserEngine

GRAPH_CODE = '''from taskloom import Workflow

wf = Workflow()
wf.similarity(id="compare", vectors=[[1.0, 0.0], [0.0, 1.0]])
wf.debug_log(id="log")
'''


def engine() -> BrowserEngine:
    return BrowserEngine(emit=lambda _event: None)


def document(**changes) -> dict:
    doc = {"schema_version": 1,
           "tasks": [{"id": "a", "type": "Similarity", "defaults": {"vectors": [[1.0]]}},
                     {"id": "b", "type": "DebugLog", "defaults": {}}],
           "dataflows": [{"source_task_id": "a", "source_port": "score",
                          "target_task_id": "b", "target_port": "score"}]}
    doc.update(changes)
    return doc


def test_open_graph_answers_the_document_and_its_code():
    answer = json.loads(engine().open_graph(json.dumps(document(metadata={"ui": {"x": 1}}))))
    assert answer["ok"], answer
    assert [t["id"] for t in answer["graph"]["tasks"]] == ["a", "b"]
    assert answer["graph"]["metadata"] == {"ui": {"x": 1}}
    assert 'wf.similarity(id="a"' in answer["code"] and 'debug_log(id="b")' in answer["code"]
    # The code it answers reads back to the same document.
    again = json.loads(engine().from_code(answer["code"]))
    assert again["ok"] and again["graph"] == answer["graph"]


def test_open_graph_refuses_what_the_runner_would_refuse():
    cases = {
        "malformed graph JSON": '{"tasks": [',
        "unknown task type 'Nope'": json.dumps(document(
            tasks=[{"id": "a", "type": "Nope", "defaults": {}}], dataflows=[])),
        "would close a cycle": json.dumps(document(dataflows=[
            {"source_task_id": "a", "source_port": "score",
             "target_task_id": "b", "target_port": "score"},
            {"source_task_id": "b", "source_port": "score",
             "target_task_id": "a", "target_port": "vectors"}])),
    }
    for expected, text in cases.items():
        answer = json.loads(engine().open_graph(text))
        assert answer["ok"] is False and expected in answer["error"], (expected, answer)


def test_graph_code_round_trips_through_from_code_and_open_graph():
    parsed = json.loads(engine().from_code(GRAPH_CODE))
    assert parsed["ok"], parsed
    opened = json.loads(engine().open_graph(json.dumps(parsed["graph"])))
    assert opened["graph"] == parsed["graph"]
    assert json.loads(engine().from_code(opened["code"]))["graph"] == parsed["graph"]
