import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom import Dataflow, TaskGraph
from taskloom.cli import main

TASKS_MODULE = '''
from pydantic import BaseModel
from taskloom import Task

class CliShout(Task):
    class Input(BaseModel):
        text: str
    class Output(BaseModel):
        text: str
    async def run(self, input, ctx):
        ctx.progress(0.5, "shouting")
        return {"text": input.text.upper() + "!"}
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "cli_user_tasks.py").write_text(TASKS_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_user_tasks"


def write_graph(tmp_path: Path) -> Path:
    doc = {"schema_version": 1,
           "tasks": [{"id": "a", "type": "CliShout", "defaults": {"text": "hi"}},
                     {"id": "b", "type": "CliShout"}],
           "dataflows": [{"source_task_id": "a", "source_port": "text",
                          "target_task_id": "b", "target_port": "text"}]}
    path = tmp_path / "graph.json"
    path.write_text(json.dumps(doc))
    return path


def test_run_with_import_prints_the_leaves(tmp_path, user_module, capsys):
    path = write_graph(tmp_path)
    assert main(["run", str(path), "--import", user_module, "--quiet"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["outputs"] == {"b": {"text": "HI!!"}} and out["status"] == "completed"


def test_run_writes_all_outputs_to_a_file(tmp_path, user_module):
    path = write_graph(tmp_path)
    target = tmp_path / "out.json"
    assert main(["run", str(path), "--import", user_module, "-o", str(target)]) == 0
    assert json.loads(target.read_text())["outputs"]["a"] == {"text": "HI!"}


def test_unknown_type_without_import_is_exit_2(tmp_path):
    # A fresh process: in this one an earlier test may have imported the module.
    path = write_graph(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "taskloom.cli", "run", str(path), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown task type 'CliShout'" in proc.stderr


def test_malformed_json_is_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{oops")
    assert main(["run", str(path)]) == 2
    assert "malformed" in capsys.readouterr().err


def test_missing_file_and_bad_import(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.json")]) == 2
    assert main(["run", "x.json", "--import", "no_such_module_xyz"]) == 2


def test_failed_run_is_exit_1(tmp_path, capsys):
    from support import TFail

    path = tmp_path / "g.json"
    path.write_text(json.dumps(TaskGraph([TFail("f")]).to_json()))
    assert main(["run", str(path), "--import", "support", "--quiet"]) == 1
    assert "boom" in capsys.readouterr().err


def test_dependency_json_is_accepted(tmp_path, user_module, capsys):
    import importlib

    importlib.import_module(user_module)
    from taskloom import registry

    shout = registry.get("CliShout")
    g = TaskGraph([shout("a", {"text": "x"}), shout("b")])
    g.add_dataflow(Dataflow("a", "text", "b", "text"))
    path = tmp_path / "deps.json"
    path.write_text(json.dumps(g.to_dependency_json()))
    assert main(["run", str(path), "--import", user_module, "--quiet"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"b": {"text": "X!!"}}


def test_console_script_with_progress(tmp_path, user_module):
    path = write_graph(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "taskloom.cli", "run", str(path),
                           "--import", user_module],
                          capture_output=True, text=True, cwd=tmp_path,
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"]["b"] == {"text": "HI!!"}
    assert "a" in proc.stderr and "b" in proc.stderr  # per-task progress lines/bars


def test_types_lists_registered_types(capsys):
    assert main(["types"]) == 0
    out = capsys.readouterr().out
    assert "DebugLog" in out and "Lambda" in out
