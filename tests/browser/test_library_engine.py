"""The engine calls behind the library pane (web/library.js), under CPython: saved graphs as
documents, and the run history. The same BrowserEngine methods the page's worker answers."""

from __future__ import annotations

import json

from taskloom.browser.engine import BrowserEngine

GRAPH = {"schema_version": 1,
         "tasks": [{"id": "a", "type": "Similarity", "defaults": {"vectors": [[1.0, 0.0]]}}],
         "dataflows": [], "metadata": {"ui": {"a": {"x": 40, "y": 80}}}}

TRUSTED = '''from pydantic import BaseModel
from taskloom import Task, Workflow


class Double(Task):
    class Input(BaseModel):
        n: int = 4

    class Output(BaseModel):
        value: int

    async def run(self, input, ctx):
        return {"value": input.n * 2}


class Fail(Task):
    class Input(BaseModel):
        value: int

    class Output(BaseModel):
        value: int

    async def run(self, input, ctx):
        if input.value > FAIL_ABOVE:
            raise RuntimeError("broken on purpose")
        return {"value": input.value}


wf = Workflow()
wf.add_task(Double, id="double")
wf.add_task(Fail, id="check")
'''


def engine() -> BrowserEngine:
    return BrowserEngine(emit=lambda _event: None)


async def ask(engine: BrowserEngine, method: str, *args) -> dict:
    return json.loads(await engine.call(method, json.dumps(list(args))))


async def test_a_graph_document_is_saved_with_its_mode_graph_and_code():
    page = engine()
    saved = await ask(page, "save_graph", "sim", {"mode": "graph", "graph": GRAPH})
    assert saved["ok"], saved
    loaded = (await ask(page, "load_graph", "sim"))["graph"]
    assert loaded["mode"] == "graph" and loaded["graph"] == GRAPH  # metadata kept
    assert 'wf.similarity(id="a"' in loaded["code"]  # the code is written when not given
    trusted = await ask(page, "save_graph", "mine", {"mode": "trusted", "code": TRUSTED})
    assert trusted["ok"] and trusted["graph"]["graph"] is None
    listed = await ask(page, "list_graphs")
    assert listed["names"] == ["mine", "sim"]
    assert [(g["name"], g["mode"], g["tasks"]) for g in listed["graphs"]] == [
        ("mine", "trusted", None), ("sim", "graph", 1)]


async def test_a_document_that_cannot_be_opened_again_is_refused():
    page = engine()
    cases = {
        "unknown task type 'Nope'": {"mode": "graph", "graph": {
            "schema_version": 1, "tasks": [{"id": "a", "type": "Nope"}], "dataflows": []}},
        "needs its graph JSON": {"mode": "graph", "graph": "not an object"},
        "needs its code": {"mode": "trusted"},
        "'graph' or 'trusted'": {"mode": "other", "code": ""},
    }
    for expected, document in cases.items():
        answer = await ask(page, "save_graph", "bad", document)
        assert answer["ok"] is False and expected in answer["error"], (expected, answer)
    assert (await ask(page, "list_graphs"))["names"] == []
    assert "needs a name" in (await ask(page, "save_graph", "  ", TRUSTED))["error"]


async def test_records_saved_before_documents_stay_readable():
    page = engine()
    # What save_graph wrote before it kept documents: the code box's text only.
    await page._saved.page.store.graphs.save("old", {"name": "old", "code": TRUSTED,
                                                     "saved_at": 1.0})
    loaded = await ask(page, "load_graph", "old")
    assert loaded["ok"] and loaded["graph"]["mode"] is None  # the page classifies its code
    assert loaded["graph"]["code"] == TRUSTED and loaded["graph"]["saved_at"] == 1.0
    # And plain code, as the page saves a draft not applied yet, is such a record too.
    assert (await ask(page, "save_graph", "draft", "x = 1\n"))["graph"]["mode"] is None
    await page._saved.page.store.graphs.save("broken", {"name": "broken"})
    assert "holds no code" in (await ask(page, "load_graph", "broken"))["error"]
    summary = {g["name"]: g for g in (await ask(page, "list_graphs"))["graphs"]}
    assert "holds no code" in summary["broken"]["error"]  # listed, so it can be deleted


async def test_rename_duplicate_and_delete_with_undo():
    page = engine()
    await ask(page, "save_graph", "sim", {"mode": "graph", "graph": GRAPH})
    await ask(page, "save_graph", "other", TRUSTED)
    renamed = await ask(page, "rename_graph", "sim", "similarity")
    assert renamed["ok"] and renamed["graph"]["name"] == "similarity"
    assert (await ask(page, "list_graphs"))["names"] == ["other", "similarity"]
    taken = await ask(page, "rename_graph", "similarity", "other")
    assert taken["ok"] is False and "already saved as 'other'" in taken["error"]
    assert "no graph saved as 'gone'" in (await ask(page, "rename_graph", "gone", "x"))["error"]

    first = await ask(page, "duplicate_graph", "similarity")
    second = await ask(page, "duplicate_graph", "similarity")
    assert [first["graph"]["name"], second["graph"]["name"]] == [
        "similarity (copy)", "similarity (copy 2)"]
    copy = (await ask(page, "load_graph", "similarity (copy)"))["graph"]
    assert copy["graph"] == GRAPH and copy["mode"] == "graph"

    deleted = await ask(page, "delete_graph", "similarity")
    assert deleted["ok"] and deleted["graph"]["graph"] == GRAPH
    assert "similarity" not in (await ask(page, "list_graphs"))["names"]
    restored = await ask(page, "restore_graph", deleted["graph"])
    assert restored["ok"], restored
    again = (await ask(page, "load_graph", "similarity"))["graph"]
    assert again == {**deleted["graph"], "code": again["code"]}
    assert again["saved_at"] == deleted["graph"]["saved_at"]  # as it was, not re-dated
    assert (await ask(page, "delete_graph", "never saved")) == {"ok": True, "graph": None}


async def test_the_run_history_lists_runs_newest_first_with_their_outcome():
    page = engine()
    passed = json.loads(await page.run_code("FAIL_ABOVE = 100\n" + TRUSTED))
    assert passed["ok"], passed
    assert (await ask(page, "label_run", passed["run_id"], "doubles"))["ok"]
    assert (await ask(page, "label_run", passed["run_id"], "renamed later"))["ok"]  # first stays
    failed = json.loads(await page.run_code("FAIL_ABOVE = 1\n" + TRUSTED))
    assert failed["ok"] is False
    assert (await ask(page, "label_run", "no-such-run", "x")) == {"ok": False}

    runs = (await ask(page, "list_runs"))["runs"]
    assert [r["run_id"] for r in runs] == [failed["run_id"], passed["run_id"]]
    newest, oldest = runs
    assert (oldest["status"], oldest["name"], oldest["unfinished"]) == ("completed", "doubles",
                                                                        False)
    assert (newest["status"], newest["name"], newest["unfinished"]) == ("failed", None, True)
    assert "broken on purpose" in newest["error"]
    assert all(r["duration_ms"] >= 0 and r["created_at"] <= r["updated_at"] for r in runs)
    assert [r["run_id"] for r in (await ask(page, "list_runs", 1))["runs"]] == [failed["run_id"]]
    assert "positive whole number" in (await ask(page, "list_runs", 0))["error"]


async def test_a_past_run_reopens_as_a_report():
    page = engine()
    failed = json.loads(await page.run_code("FAIL_ABOVE = 1\n" + TRUSTED))
    report = await ask(page, "run_report", failed["run_id"])
    assert report["ok"] is False and report["status"] == "failed"
    assert report["statuses"] == {"double": "completed", "check": "failed"}
    assert report["outputs"] == {"double": {"value": 8}}
    assert "broken on purpose" in report["errors"]["check"]
    assert report["code"].startswith("FAIL_ABOVE = 1\n")
    assert [t["id"] for t in report["graph"]["tasks"]] == ["double", "check"]

    passed = json.loads(await page.run_code("FAIL_ABOVE = 100\n" + TRUSTED))
    report = await ask(page, "run_report", passed["run_id"])
    assert report["ok"] and report["outputs"] == passed["outputs"]
    assert report["statuses"] == passed["statuses"]
    missing = await ask(page, "run_report", "no-such-run")
    assert missing["ok"] is False and missing["missing"] and "no-such-run" in missing["error"]
