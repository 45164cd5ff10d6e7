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


FLAKY_MODULE = '''
import os
from pathlib import Path
from pydantic import BaseModel
from taskloom import Task

LEDGER = Path(os.environ["LEDGER"])

class CliStep(Task):
    """Appends its id to the ledger; fails while the file named FAIL_FLAG exists."""
    cacheable = False
    class Input(BaseModel):
        n: int = 0
        fail_here: bool = False
    class Output(BaseModel):
        n: int
    async def run(self, input, ctx):
        if input.fail_here and Path(os.environ["FAIL_FLAG"]).exists():
            raise RuntimeError("not yet")
        with LEDGER.open("a") as f:
            f.write(ctx.task_id + "\\n")
        return {"n": input.n + 1}
'''


def test_runs_and_resume_finish_without_rerunning_completed_tasks(tmp_path):
    (tmp_path / "cli_flaky.py").write_text(FLAKY_MODULE)
    ledger, flag = tmp_path / "ledger.txt", tmp_path / "fail.flag"
    flag.write_text("")
    tasks = [{"id": f"s{i}", "type": "CliStep",
              "defaults": {"fail_here": True} if i == 3 else {}} for i in range(6)]
    tasks[0]["defaults"]["n"] = 0
    flows = [{"source_task_id": f"s{i}", "source_port": "n", "target_task_id": f"s{i + 1}",
              "target_port": "n"} for i in range(5)]
    graph = tmp_path / "g.json"
    graph.write_text(json.dumps({"schema_version": 1, "tasks": tasks, "dataflows": flows}))
    store = f"sqlite:///{tmp_path}/runs.db"
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin", "LEDGER": str(ledger),
           "FAIL_FLAG": str(flag)}

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "taskloom.cli", *args, "--store", store],
                              capture_output=True, text=True, env=env, cwd=tmp_path)

    first = cli("run", str(graph), "--import", "cli_flaky", "--quiet")
    assert first.returncode == 1 and "not yet" in first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    listing = cli("runs")
    assert run_id in listing.stdout and "failed" in listing.stdout
    assert ledger.read_text().split() == ["s0", "s1", "s2"]

    flag.unlink()
    second = cli("resume", run_id, "--import", "cli_flaky", "--quiet")
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["outputs"] == {"s5": {"n": 6}}
    assert ledger.read_text().split() == ["s0", "s1", "s2", "s3", "s4", "s5"]
    assert "completed" in cli("runs").stdout


def test_resume_of_an_unknown_run_is_exit_2(tmp_path, capsys):
    assert main(["resume", "nope", "--store", f"sqlite:///{tmp_path}/x.db"]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


async def test_worker_command_serves_a_queue_until_sigterm(tmp_path, user_module):
    import asyncio
    import signal

    from taskloom.queue import JobQueue, JobStatus, open_queue_storage

    url = f"sqlite:///{tmp_path}/jobs.db"
    storage = await open_queue_storage(url)
    queue = JobQueue("shouts", storage)
    job = await queue.add({"text": "hey"}, task_type="CliShout")
    worker = subprocess.Popen(
        [sys.executable, "-m", "taskloom.cli", "worker", "--store", url, "--queue", "shouts",
         "--concurrency", "2", "--import", user_module],
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        stderr=subprocess.PIPE, text=True)
    try:
        output = await asyncio.wait_for(queue.wait(job.id), 60)
        assert output == {"text": "HEY!"}
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
        assert "worker stopped" in worker.stderr.read()
        assert (await queue.get(job.id)).status is JobStatus.COMPLETED
    finally:
        if worker.poll() is None:
            worker.kill()
        await storage.close()
