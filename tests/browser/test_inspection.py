"""The engine calls behind the page's inspector (web/inspector.js), under CPython: the same
BrowserEngine methods the page's worker answers in Pyodide (logic in
taskloom/browser/inspection.py)."""

from __future__ import annotations

import asyncio
import json

from pydantic import BaseModel

from taskloom import Task
from taskloom.browser.engine import BrowserEngine
from taskloom.registry import registry


def engine() -> BrowserEngine:
    return BrowserEngine(emit=lambda _event: None)


def check(type_name: str, values: dict, config: dict | None = None) -> dict:
    args = [type_name, json.dumps(values)] + ([json.dumps(config)] if config is not None else [])
    return json.loads(asyncio.run(engine().call("check_task_input", json.dumps(args))))


def preview(type_name: str, values: dict) -> dict:
    return json.loads(asyncio.run(engine().call("preview_task",
                                                json.dumps([type_name, json.dumps(values)]))))


def fields(answer: dict) -> dict[str, str]:
    return {error["field"]: error["message"] for error in answer["errors"]}


def test_valid_values_have_no_errors_and_missing_required_inputs_are_none():
    # Defaults are partial: a dataflow may bring `text` and `model`.
    assert check("TextEmbedding", {"truncate": True}) == {"ok": True, "errors": []}
    assert check("DebugLog", {"max_chars": 50, "log_level": "debug", "anything": [1, 2]}) == {
        "ok": True, "errors": []}


def test_each_problem_is_answered_at_its_field_in_pydantic_words():
    answer = check("DebugLog", {"max_chars": 0, "log_level": "loud"})
    assert answer["ok"] is False
    assert fields(answer) == {
        "max_chars": "Input should be greater than or equal to 1",
        "log_level": "Input should be 'debug', 'info', 'warning' or 'error'",
    }
    assert "at least 2 items" in fields(check("TextClassification", {"labels": ["one"]}))["labels"]
    assert fields(check("TextGeneration", {"max_new_tokens": "many"})) == {
        "max_new_tokens": "Input should be a valid integer, unable to parse string as an integer"}


def test_an_expanded_list_is_checked_item_by_item_and_unknown_inputs_are_named():
    # A list on a single-valued port runs the task once per item (as set_defaults reads it).
    assert check("TextEmbedding", {"text": ["one", "two"]})["ok"]
    answer = check("TextEmbedding", {"text": ["one", 2], "nope": 1})
    assert set(fields(answer)) == {"text.1", "nope"}
    assert "the inputs are: model, text, truncate" in fields(answer)["nope"]


def test_config_is_checked_as_graph_json_reads_it():
    answer = check("DebugLog", {}, {"timeout": -1, "cacheable": "no", "title": "Look"})
    assert fields(answer) == {"config.timeout": "Input should be greater than 0",
                              "config.cacheable": "Input should be a valid boolean"}
    assert check("DebugLog", {}, {"timeout": 30, "cacheable": False, "queue": "q"})["ok"]
    assert fields(check("DebugLog", {}, {"colour": "red"})) == {
        "config.colour": "Extra inputs are not permitted"}


def test_bad_requests_are_refused_with_a_reason():
    assert check("Nope", {}) == {"ok": False, "error": "unknown task type 'Nope'", "errors": []}
    answer = json.loads(asyncio.run(engine().call("check_task_input",
                                                  json.dumps(["DebugLog", "[1]"]))))
    assert answer == {"ok": False, "error": "the input must be a JSON object", "errors": []}
    # A compound type's ports come from its body, per instance: nothing to check by type.
    assert check("GraphAsTask", {"x": 1})["ok"]


def test_a_reactive_preview_runs_run_reactive_without_side_effects():
    assert preview("DebugLog", {"text": "one\ntwo", "log_level": "debug"}) == {
        "ok": True, "reactive": True, "output": {"text": "one\ntwo"}}
    refused = preview("DebugLog", {"max_chars": 0})
    assert refused["ok"] is False and refused["reactive"] is True
    assert fields(refused) == {"max_chars": "Input should be greater than or equal to 1"}


def test_a_type_without_a_preview_says_so_and_runs_nothing():
    ran = []

    class Loud(Task):
        type = "InspectionLoud"

        class Input(BaseModel):
            text: str

        async def run(self, input, ctx):
            ran.append(input.text)  # a side effect: a preview must never reach it
            return {}

    try:
        assert preview("InspectionLoud", {"text": "x"}) == {
            "ok": True, "reactive": False, "output": None}
    finally:
        registry.unregister(Loud.type)
    assert ran == []
    assert preview("Similarity", {"vectors": [[1.0, 0.0]]})["reactive"] is False
    assert preview("Lambda", {})["reactive"] is False  # its instances need a function


def test_a_preview_needs_every_required_input_and_reports_a_failing_one():
    class Echo(Task):
        type = "InspectionEcho"

        class Input(BaseModel):
            text: str

        class Output(BaseModel):
            text: str

        async def run_reactive(self, input, ctx):
            if input.text == "boom":
                raise RuntimeError("no preview for boom")
            return self.Output(text=input.text * 2)

    try:
        assert fields(preview("InspectionEcho", {})) == {"text": "Field required"}
        assert preview("InspectionEcho", {"text": "ab"})["output"] == {"text": "abab"}
        failed = preview("InspectionEcho", {"text": "boom"})
        assert failed["ok"] is False and failed["error"] == "RuntimeError: no preview for boom"
    finally:
        registry.unregister(Echo.type)
