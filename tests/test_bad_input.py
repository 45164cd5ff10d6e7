"""Bad input gets one clear line and exit status 2, never a traceback, and the store is
left as it was. Each file in data/bad_graphs/ is one malformed graph; EXPECTED says which
words of the message name its place and its problem."""

import json
import sqlite3
from pathlib import Path

import pytest

from taskloom import TaskGraph, TaskloomError
from taskloom.cli import main

BAD_GRAPHS = Path(__file__).parent / "data" / "bad_graphs"

EXPECTED = {
    "config_cacheable_no.json": ["'log'", "config.cacheable", "boolean"],
    "config_timeout_1e999.json": ["tasks[0].config.timeout", "too large"],
    "config_timeout_abc.json": ["'log'", "config.timeout", "valid number"],
    "config_timeout_negative.json": ["'log'", "config.timeout", "greater than 0"],
    "default_1e999.json": ["tasks[0].defaults.x", "too large"],
    "default_fails_port_validation.json": ["'log'", "input 'log_level'", "'debug'"],
    "default_int_5001_digits.json": ["4,300 digits", "as a string"],
    "defaults_nested_250_deep.json": ["tasks[0].defaults.x[0]", "nested more than 200"],
    "defaults_nested_5000_deep.json": ["nested too deeply", "200 levels"],
    "graph_as_task_nested_300.json": ["tasks[0].subgraph.tasks[0]", "nested more than 200"],
    "invalid_utf8.json": ["not valid UTF-8", "0xe9", "offset 88"],
    "lambda_function_123.json": ["Lambda task 'f'", "'function'", "not 123"],
    "task_id_empty.json": ["tasks[0].id", "at least 1 character"],
    "task_id_lone_surrogate.json": ["tasks[0].id", "lone surrogate", "'\\ud800'"],
}


def bad_graphs() -> list[Path]:
    return sorted(BAD_GRAPHS.glob("*.json"))


def test_every_bad_graph_has_an_expectation():
    assert [p.name for p in bad_graphs()] == sorted(EXPECTED)


def snapshot(db: Path) -> tuple[list[str], list[str]]:
    """The database's contents, and the files beside it (a WAL or journal left behind)."""
    connection = sqlite3.connect(db)
    try:
        rows = list(connection.iterdump())
    finally:
        connection.close()
    return rows, sorted(p.name for p in db.parent.iterdir())


@pytest.fixture
def store(tmp_path, capsys) -> tuple[str, Path]:
    """A SQLite store that already holds one finished run."""
    folder = tmp_path / "store"
    db = folder / "runs.db"
    url = f"sqlite:///{db}"
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"schema_version": 1, "tasks": [
        {"id": "log", "type": "DebugLog", "defaults": {"text": "hello"}}]}))
    assert main(["run", str(good), "--store", url, "--quiet"]) == 0
    capsys.readouterr()
    return url, db


@pytest.mark.parametrize("path", bad_graphs(), ids=lambda p: p.stem)
def test_a_bad_graph_is_one_line_exit_2_and_the_store_is_unchanged(path, store, capsys):
    url, db = store
    before = snapshot(db)
    assert main(["run", str(path), "--store", url, "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"taskloom: {path}: ")
    for words in EXPECTED[path.name]:
        assert words in lines[0]
    assert snapshot(db) == before


@pytest.mark.parametrize("path", bad_graphs(), ids=lambda p: p.stem)
def test_from_json_raises_only_taskloom_errors(path):
    with pytest.raises(TaskloomError) as info:
        TaskGraph.from_json(path.read_bytes())
    for words in EXPECTED[path.name]:
        assert words in str(info.value)


def test_the_same_document_given_as_a_dict_is_checked_too():
    doc = {"schema_version": 1, "tasks": [
        {"id": "log", "type": "DebugLog", "defaults": {"x": float("inf"), "n": 10 ** 5000}}]}
    with pytest.raises(TaskloomError, match=r"tasks\[0\]\.defaults\.(x|n)"):
        TaskGraph.from_json(doc)


def nested_defaults(depth: int) -> dict:
    """A graph whose deepest container sits ``depth`` levels below the document."""
    value: list = []
    for _ in range(depth - 4):  # the document, "tasks", the entry, "defaults", then lists
        value = [value]
    return {"schema_version": 1, "tasks": [
        {"id": "log", "type": "DebugLog", "defaults": {"x": value}}]}


def test_the_depth_limit_is_exact():
    from taskloom.graph import MAX_JSON_DEPTH

    doc = nested_defaults(MAX_JSON_DEPTH - 1)
    graph = TaskGraph.from_json(json.dumps(doc))
    assert graph.get_task("log").defaults["x"] == doc["tasks"][0]["defaults"]["x"]
    with pytest.raises(TaskloomError, match=f"nested more than {MAX_JSON_DEPTH} levels"):
        TaskGraph.from_json(json.dumps(nested_defaults(MAX_JSON_DEPTH)))


def test_config_accepts_what_it_should():
    doc = {"schema_version": 1, "tasks": [
        {"id": "a", "type": "DebugLog", "config": {"timeout": 5, "cacheable": False,
                                                   "title": "A", "queue": "q"}}]}
    task = TaskGraph.from_json(doc).get_task("a")
    assert (task.timeout, task.is_cacheable, task.display_title, task.queue) == \
        (5, False, "A", "q")


def test_resume_of_a_run_id_with_a_slash_is_exit_2(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/runs.db"
    assert main(["resume", "a/b", "--store", url]) == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [err.rstrip("\n")] and "'a/b'" in err and "'/'" in err


@pytest.mark.parametrize("scheme", ["sqlite", "file"])
def test_runs_on_a_path_that_does_not_exist_creates_nothing(tmp_path, capsys, scheme):
    missing = tmp_path / "no" / "such" / ("runs.db" if scheme == "sqlite" else "folder")
    assert main(["runs", "--store", f"{scheme}:///{missing}"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and str(missing) in err and "--store" in err
    assert list(tmp_path.iterdir()) == []


def test_runs_before_anything_was_recorded_creates_no_default_store(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.delenv("TASKLOOM_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["runs"]) == 0
    assert capsys.readouterr().err == "no runs recorded\n"
    assert list(tmp_path.iterdir()) == []
