import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from taskloom import Dataflow, DebugLog, Lambda, TaskGraph
from taskloom.cli import main
from taskloom.storage import open_store

RUN_ID = re.compile(r"[0-9a-f]{32}")

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


def one_line(stderr: str) -> str:
    """The only line of ``stderr``: a CLI error is one line, for scripts and for grep."""
    lines = stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    return lines[0]


def recorded_run(run_id: str):
    """The run record in the test's default store ($TASKLOOM_STORE, tests/conftest.py)."""
    async def get():
        async with open_store(os.environ["TASKLOOM_STORE"]) as store:
            return await store.runs.get(run_id)

    return asyncio.run(get())


def test_run_with_import_prints_the_leaves(tmp_path, user_module, capsys):
    path = write_graph(tmp_path)
    assert main(["run", str(path), "--import", user_module, "--quiet"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert RUN_ID.fullmatch(out.pop("run_id"))
    assert out == {"status": "completed", "outputs": {"b": {"text": "HI!!"}},
                   "statuses": {"a": "completed", "b": "completed"}}
    assert captured.err == ""  # --quiet: no progress, and nothing went wrong


def test_a_run_is_recorded_in_the_default_store(tmp_path, user_module, capsys):
    assert main(["run", str(write_graph(tmp_path)), "--import", user_module, "--quiet"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    record = recorded_run(run_id)
    assert record.status == "completed"
    assert {t: r.output for t, r in record.tasks.items()} == {
        "a": {"text": "HI!"}, "b": {"text": "HI!!"}}


def test_run_writes_all_outputs_to_a_file(tmp_path, user_module, capsys):
    path = write_graph(tmp_path)
    target = tmp_path / "out.json"
    assert main(["run", str(path), "--import", user_module, "-o", str(target), "--quiet"]) == 0
    written = json.loads(target.read_text())
    assert RUN_ID.fullmatch(written.pop("run_id"))
    assert written == {"status": "completed",
                       "outputs": {"a": {"text": "HI!"}, "b": {"text": "HI!!"}},
                       "statuses": {"a": "completed", "b": "completed"}}
    captured = capsys.readouterr()
    assert captured.out == ""  # the outputs went to the file only
    assert one_line(captured.err).startswith(f"wrote {target} (")


def test_unknown_type_without_import_is_exit_2(tmp_path):
    # A fresh process: in this one an earlier test may have imported the module.
    path = write_graph(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "taskloom.cli", "run", str(path), "--quiet"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stdout == ""
    assert re.fullmatch(rf"taskloom: {re.escape(str(path))}: unknown task type 'CliShout': "
                        r".*`taskloom run --import MODULE`.*", one_line(proc.stderr))


def test_malformed_json_is_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text("{oops")
    assert main(["run", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err).startswith(f"taskloom: {path}: malformed graph JSON: ")


def test_a_missing_graph_file_is_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert main(["run", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == f"taskloom: cannot read {missing}: No such file or directory"


def test_a_module_that_cannot_be_imported_is_exit_2(tmp_path, capsys):
    assert main(["run", str(write_graph(tmp_path)), "--import", "no_such_module_xyz"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err) == (
        "taskloom: cannot import no_such_module_xyz: No module named 'no_such_module_xyz'")


def test_failed_run_is_exit_1(tmp_path, capsys):
    from support import TFail

    path = tmp_path / "g.json"
    path.write_text(json.dumps(TaskGraph([TFail("f")]).to_json()))
    assert main(["run", str(path), "--import", "support", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert one_line(captured.err) == "taskloom: task 'f' (TFail) failed: RuntimeError: boom"
    out = json.loads(captured.out)  # the partial result still goes to stdout
    assert RUN_ID.fullmatch(out.pop("run_id"))
    assert out == {"status": "failed", "outputs": {}, "statuses": {"f": "failed"}}
    assert recorded_run(json.loads(captured.out)["run_id"]).status == "failed"


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
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed" and out["outputs"] == {"b": {"text": "X!!"}}
    assert out["statuses"] == {"a": "completed", "b": "completed"}


def test_console_script_with_progress(tmp_path, user_module):
    path = write_graph(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "taskloom.cli", "run", str(path),
                           "--import", user_module],
                          capture_output=True, text=True, cwd=tmp_path,
                          # The test's throwaway store: a cache hit from an earlier run
                          # would change the display, and the user's store is not ours.
                          env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin",
                               "TASKLOOM_STORE": os.environ["TASKLOOM_STORE"]})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["outputs"] == {"b": {"text": "HI!!"}}
    # stderr is a pipe: plain lines, one per finished task, then the summary.
    assert proc.stderr.splitlines() == ["[done] a", "[done] b", "2 of 2 tasks finished: 2 done"]


def test_types_lists_registered_types(capsys):
    assert main(["types"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        name, category, description = re.fullmatch(r"(\S+) +(\S+) +(.*)", line).groups()
        rows[name] = (category, description)
    assert rows["DebugLog"] == ("utility", DebugLog.description)
    assert rows["Lambda"] == ("utility", Lambda.description)


def test_types_json_gives_each_types_port_schemas(capsys):
    assert main(["types", "--json"]) == 0
    by_type = {item["type"]: item for item in json.loads(capsys.readouterr().out)}
    debug_log = by_type["DebugLog"]
    assert debug_log["input_schema"] == DebugLog.Input.model_json_schema()
    assert debug_log["output_schema"] == DebugLog.Output.model_json_schema()
    assert (debug_log["category"], debug_log["cacheable"]) == ("utility", False)
    assert debug_log["version"] == DebugLog.version


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
    assert first.returncode == 1
    assert one_line(first.stderr) == "taskloom: task 's3' (CliStep) failed: RuntimeError: not yet"
    report = json.loads(first.stdout)
    run_id = report["run_id"]
    assert report["status"] == "failed" and report["statuses"] == {
        "s0": "completed", "s1": "completed", "s2": "completed", "s3": "failed",
        "s4": "skipped", "s5": "skipped"}
    [listed] = json.loads(cli("runs", "--json").stdout)
    assert (listed["run_id"], listed["status"]) == (run_id, "failed")
    assert "not yet" in listed["error"]
    assert ledger.read_text().split() == ["s0", "s1", "s2"]

    flag.unlink()
    second = cli("resume", run_id, "--import", "cli_flaky", "--quiet")
    assert second.returncode == 0, second.stderr
    assert one_line(second.stderr) == f"resuming run {run_id}: 3 of 6 tasks already done"
    resumed = json.loads(second.stdout)
    assert resumed["run_id"] == run_id and resumed["status"] == "completed"
    assert resumed["outputs"] == {"s5": {"n": 6}}
    assert ledger.read_text().split() == ["s0", "s1", "s2", "s3", "s4", "s5"]
    [listed] = json.loads(cli("runs", "--json").stdout)
    assert (listed["run_id"], listed["status"], listed["error"]) == (run_id, "completed", None)


def test_resume_of_an_unknown_run_is_exit_2(tmp_path, capsys):
    assert main(["resume", "nope", "--store", f"sqlite:///{tmp_path}/x.db"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert one_line(captured.err).startswith("taskloom: no run 'nope'")


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
        assert worker.stderr.read().splitlines()[-1].startswith("worker stopped: ")
        assert (await queue.get(job.id)).status is JobStatus.COMPLETED
    finally:
        if worker.poll() is None:
            worker.kill()
        await storage.close()
