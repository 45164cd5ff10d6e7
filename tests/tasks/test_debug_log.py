"""DebugLog logs its input once, and never more than ``max_chars`` of it."""

import json
import logging
import subprocess
import sys

from taskloom import TaskGraph, TaskGraphRunner
from taskloom.tasks.utility import DebugLog


async def run_log(**defaults):
    return await TaskGraphRunner(TaskGraph([DebugLog("log", defaults)])).run()


async def test_one_record_per_input_on_any_logger(caplog):
    with caplog.at_level(logging.DEBUG):  # the root logger: every logger's records
        result = await run_log(text="hello", n=3)
    assert result["log"] == {"text": "hello", "n": 3}
    mentions = [r for r in caplog.records if "hello" in r.getMessage()]
    assert [(r.name, r.getMessage()) for r in mentions] == [
        ("taskloom.debug", "[log] {'text': 'hello', 'n': 3}")]


async def test_a_large_input_is_cut_to_max_chars_with_a_note(caplog):
    big = "x" * 1_000_000
    with caplog.at_level(logging.INFO, logger="taskloom.debug"):
        result = await run_log(text=big, max_chars=500)
    assert result["log"] == {"text": big}  # the output is never cut
    (record,) = [r for r in caplog.records if r.name == "taskloom.debug"]
    message = record.getMessage()
    assert message.startswith("[log] {'text': 'xxx")
    assert message.endswith("… [truncated to 500 characters; set max_chars to see more]")
    assert len(message) == len("[log] ") + 500 + len(
        "… [truncated to 500 characters; set max_chars to see more]")


async def test_many_small_values_are_shortened_too(caplog):
    many = list(range(100_000))
    with caplog.at_level(logging.INFO, logger="taskloom.debug"):
        await run_log(items=many, max_chars=300)
    (record,) = [r for r in caplog.records if r.name == "taskloom.debug"]
    assert len(record.getMessage()) < 400
    assert "[0, 1, 2" in record.getMessage() and "characters" in record.getMessage()


async def test_nothing_is_rendered_below_the_logger_level(caplog):
    with caplog.at_level(logging.ERROR, logger="taskloom.debug"):
        await run_log(text="quiet", log_level="info")
    assert not [r for r in caplog.records if r.name == "taskloom.debug"]


def test_twenty_megabytes_at_error_level_write_a_few_kilobytes_to_stderr(tmp_path):
    # Through the CLI, where Python's last-resort handler prints errors to stderr.
    big = "y" * 20_000_000
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"schema_version": 1, "tasks": [
        {"id": "log", "type": "DebugLog", "defaults": {"text": big, "log_level": "error"}}]}))
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "taskloom.cli", "run", str(graph), "--no-store", "--quiet",
         "-o", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:2000]
    assert len(proc.stderr) < 5_000
    assert proc.stderr.count("[log] {'text': 'yyy") == 1
    assert "[truncated to 2,000 characters" in proc.stderr
    assert json.loads(out.read_text())["outputs"]["log"]["text"] == big
