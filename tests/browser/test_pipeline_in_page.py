"""Files, OPFS and SQLite in the page (issue 14): the tasks CPython runs, in the engine's worker.

The engine mounts an OPFS folder at ``/files`` (taskloom.browser.files) and
makes it the tasks' file root. A file picked in the Files list is copied in;
LoadDocument reads it; WriteFile and SqlWrite write beside it; after a
reload (a fresh engine) what they wrote is still there. The shared page's
guard fails any test whose page asked anything of another host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from prerequisites import need_module

from .conftest import open_app
from .site import ROOT, RUN_MS
from .test_models import completed, run_graph

pytestmark = pytest.mark.browser

NOTES = "# Notes\n\nThe first paragraph.\n\nThe second, with ümlauts.\n"


def workflow(*lines: str) -> str:
    return "\n".join(["from taskloom import Workflow", "wf = Workflow()", *lines])


def files_listed(app) -> dict[str, int]:
    app.wait_for_function("window.taskloom.files !== null")
    return {f["path"]: f["size"] for f in app.evaluate("window.taskloom.files")}


def test_a_picked_file_is_read_and_what_tasks_write_survives_a_reload(app, tmp_path):
    picked = tmp_path / "notes.md"
    picked.write_text(NOTES, encoding="utf-8")
    app.set_input_files("#files-pick", str(picked))
    app.wait_for_selector('#files li[data-file="notes.md"]')
    assert "Added notes.md" in app.text_content("#files-status")

    outputs = completed(run_graph(app, workflow("wf.load_document(id='load', path='notes.md')")))
    assert outputs["load"]["text"] == NOTES
    assert outputs["load"]["format"] == "markdown"

    completed(run_graph(app, workflow(
        "wf.write_file(id='write', path='out/copy.txt', text='written in the page')")))
    completed(run_graph(app, workflow(
        "wf.sql_write(id='make', database='sqlite:notes.db', statement="
        "'CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT)')")))
    written = completed(run_graph(app, workflow(
        "wf.sql_write(id='add', database='sqlite:notes.db', "
        "statement='INSERT INTO notes (body) VALUES (?)', rows=[['one'], ['two']])")))
    assert written["add"]["rowcount"] == 2

    # A fresh engine (and Pyodide file system): only OPFS can still hold them.
    open_app(app, app.url)
    listed = files_listed(app)
    assert listed["notes.md"] == len(NOTES.encode())
    assert "out/copy.txt" in listed and "notes.db" in listed
    outputs = completed(run_graph(app, workflow(
        "wf.load_document(id='copy', path='out/copy.txt')",
        "wf.sql_query(id='rows', database='sqlite:notes.db', "
        "query='SELECT body FROM notes WHERE body <> ? ORDER BY id', params=['zero'])")))
    assert outputs["copy"]["text"] == "written in the page"
    assert outputs["rows"]["rows"] == [{"body": "one"}, {"body": "two"}]


def test_the_page_keeps_to_its_file_root(app):
    for path in ("../etc/passwd", "/etc/passwd", "/files/../etc/passwd"):
        report = run_graph(app, workflow(f"wf.load_document(id='load', path={path!r})"))
        assert not report["ok"]
        assert "outside the file root" in report["error"], report["error"]
    report = run_graph(app, workflow(
        "wf.sql_write(id='bad', database='sqlite:notes.db', statement='INSERT INTO nowhere "
        "VALUES (?)', params=[1])"))
    assert not report["ok"] and "nothing was written" in report["error"]


def test_a_dropped_file_is_kept_and_deleted_from_the_list(app):
    app.evaluate("document.getElementById('library-status').textContent = ''")
    dropped = app.evaluate_handle("""() => {
        const data = new DataTransfer();
        data.items.add(new File(["bye"], "doomed.txt", {type: "text/plain"}));
        return data;
    }""")
    app.dispatch_event("#files-drop", "drop", {"dataTransfer": dropped})
    app.wait_for_selector('#files li[data-file="doomed.txt"]')
    # The page's graph import (library.js) left this drop alone.
    assert app.text_content("#library-status") == ""
    assert files_listed(app)["doomed.txt"] == 3
    app.click('button[aria-label="Delete doomed.txt"]')
    app.wait_for_selector('#files li[data-file="doomed.txt"]', state="detached")
    assert "Deleted doomed.txt" in app.text_content("#files-status")
    report = run_graph(app, workflow("wf.load_document(id='load', path='doomed.txt')"))
    assert not report["ok"] and "no file 'doomed.txt'" in report["error"]


# -- the JavaScript task: quickjs-emscripten in the page, PyPI's quickjs-ng under CPython --

#: (code, extra ports): values, Promises, inputs as variables, and every kind of failure.
JAVASCRIPT_CASES = [
    ("({sum: input.a + input.b, words: text.split(' ')})", {"input": {"a": 2, "b": 3},
                                                             "text": "two words"}),
    ("[1, undefined, () => 1, 'é', null, true, 2.5]", {}),
    ("text.toUpperCase()", {"text": "shout"}),
    ("1 / 0", {}),
    ("undefined", {}),
    ("({toJSON() { return 3; }})", {}),
    ("Promise.resolve(input * 2)", {"input": 21}),
    ("(async () => { await null; return [input]; })()", {"input": "later"}),
    ("Promise.reject(new Error('no'))", {}),
    ("new Promise(() => {})", {}),
    ("throw new Error('boom')", {}),
    ("null.x", {}),
    ("throw 5", {}),
    ("NaN", {}),
    ("while (true) {}", {}),
    ("let a = []; while (true) a.push(new Array(1e5).fill(1));", {}),
    ("(function f() { f(); })()", {}),
    ("'still fine after ' + input", {"input": "the blow-ups"}),
]
LIMITS = {"time_limit": 0.5, "memory_limit": 32 * 1024 * 1024}


def in_cpython(code: str, ports: dict) -> dict:
    """What the JavaScript task answers under CPython: its result, or its error's type and
    first line (stack traces' line:column may differ by a QuickJS release)."""
    from taskloom.tasks.javascript import run_javascript

    variables = {"input": "null", **{k: json.dumps(v) for k, v in ports.items()}}
    try:
        return {"result": run_javascript(code, variables, LIMITS["time_limit"],
                                         LIMITS["memory_limit"])}
    except Exception as error:  # compared with the page's error, below
        return {"error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}


def in_page(app, code: str, ports: dict) -> dict:
    arguments = ", ".join(f"{k}={v!r}" for k, v in {"code": code, **ports, **LIMITS}.items())
    report = run_graph(app, workflow(f"wf.java_script(id='js', {arguments})"))
    if report["ok"]:
        return {"result": report["outputs"]["js"]["result"]}
    # "TaskFailedError: task 'js' failed: JavaScriptError: …" → the task's own error
    error = report["error"].split("failed: ", 1)[-1]
    return {"error": error.splitlines()[0]}


@pytest.mark.parametrize("code, ports", JAVASCRIPT_CASES,
                         ids=[code[:32] for code, _ in JAVASCRIPT_CASES])
def test_javascript_runs_in_the_page_as_under_cpython(app, code, ports):
    need_module("quickjs", "pip install 'taskloom[javascript]'")
    expected = in_cpython(code, ports)
    got = in_page(app, code, ports)
    if expected.get("result") == float("inf"):  # JSON cannot say Infinity: the report's null
        assert got["result"] in (None, float("inf"))
    else:
        assert got == expected


# -- a graph from elsewhere asks before its code runs --

IMPORTED = {
    "schema_version": 1,
    "tasks": [{"id": "shout", "type": "JavaScript",
               "defaults": {"code": "text.toUpperCase() + '!'", "text": "from a file"}}],
    "dataflows": [],
}


def import_graph(app, name: str) -> None:
    app.evaluate("delete document.body.dataset.graphImport")
    app.set_input_files("#import-file", files=[{
        "name": name, "mimeType": "application/json",
        "buffer": json.dumps(IMPORTED).encode()}])
    app.wait_for_selector("body[data-graph-import]", state="attached")
    assert app.evaluate("document.body.dataset.graphImport") == name.removesuffix(".json")


def press_run(app, *, answer: str | None) -> dict:
    """Presses Run; answers the dialog (allow/refuse) when one must come; the run's report."""
    app.evaluate("delete document.body.dataset.runState")
    app.click("#run")
    if answer is not None:
        app.wait_for_selector("#code-consent[open]")
        assert app.locator("#code-consent-tasks li").all_text_contents() == ["shout"]
        app.click(f"#code-consent-{answer}")
        app.wait_for_selector("#code-consent[open]", state="detached")
    app.wait_for_function("['completed', 'failed'].includes(document.body.dataset.runState)")
    assert not app.is_visible("#code-consent")
    return app.evaluate("window.taskloom.lastRun")


def test_an_imported_graph_asks_before_its_javascript_runs(app):
    accept = lambda dialog: dialog.accept()  # noqa: E731 - "replace your edits?" (the import)
    app.on("dialog", accept)
    try:
        imported_graph_journey(app)
    finally:
        app.remove_listener("dialog", accept)


def imported_graph_journey(app) -> None:
    import_graph(app, "from-a-friend.json")
    refused = press_run(app, answer="refuse")
    assert refused["refused"] and "not allowed" in refused["error"]
    assert not any(e.get("task_id") == "shout" for e in app.evaluate("window.taskloom.events"))

    allowed = press_run(app, answer="allow")  # asked again: a no is not kept
    assert allowed["ok"] and allowed["outputs"]["shout"]["result"] == "FROM A FILE!"
    assert press_run(app, answer=None)["ok"]  # the yes is kept for this document

    open_app(app, app.url)  # ... across a reload (it is autosaved with the document)
    assert press_run(app, answer=None)["ok"]

    import_graph(app, "from-a-friend.json")  # another opening of a file: asked again
    assert press_run(app, answer="allow")["ok"]


def test_the_users_own_graph_runs_its_javascript_unasked(app):
    app.evaluate("""async (graph) => {
        const opened = await window.taskloom.engine.request('open_graph', JSON.stringify(graph));
        await window.taskloom.document.open({mode: 'graph', graph: opened.graph,
                                             code: opened.code, name: 'mine'});
    }""", IMPORTED)
    assert press_run(app, answer=None)["ok"]


# -- bad input in the page: a clear error, and nothing half-written --

def pick(app, name: str, data: bytes) -> None:
    app.set_input_files("#files-pick", files=[{"name": name, "mimeType":
                                               "application/octet-stream", "buffer": data}])
    app.wait_for_selector(f'#files li[data-file="{name}"]')


def task_error(report: dict) -> str:
    assert not report["ok"], report.get("outputs")
    return report["error"]


def test_a_binary_or_undecodable_file_is_a_clear_error(app):
    pick(app, "picture.bin", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    pick(app, "latin.txt", "café au lait".encode("latin-1"))
    error = task_error(run_graph(app, workflow("wf.load_document(id='load', path='picture.bin')")))
    assert "DocumentError" in error and "is a binary file, not text" in error
    error = task_error(run_graph(app, workflow("wf.load_document(id='load', path='latin.txt')")))
    assert "is not utf-8 text" in error and "give its encoding" in error
    # Named, it reads.
    outputs = completed(run_graph(app, workflow(
        "wf.load_document(id='load', path='latin.txt', encoding='latin-1')")))
    assert outputs["load"]["text"] == "café au lait"


def test_a_picked_pdf_is_read_with_the_wheel_loaded_on_first_use(app):
    from tasks.test_documents import minimal_pdf

    pick(app, "report.pdf", minimal_pdf(["Hello PDF.", "Second line."]))
    outputs = completed(run_graph(app, workflow("wf.load_document(id='load', path='report.pdf')")))
    assert outputs["load"]["format"] == "pdf"
    assert "Hello PDF." in outputs["load"]["text"] and "Second line." in outputs["load"]["text"]
    pick(app, "broken.pdf", minimal_pdf(["x"])[:60])
    error = task_error(run_graph(app, workflow("wf.load_document(id='load', path='broken.pdf')")))
    assert "is not a readable PDF" in error


def test_a_write_outside_the_root_or_a_failing_one_leaves_nothing(app):
    before = files_listed(app)
    for path in ("../escaped.txt", "/tmp/escaped.txt"):
        error = task_error(run_graph(app, workflow(
            f"wf.write_file(id='write', path={path!r}, text='no')")))
        assert "outside the file root" in error
    error = task_error(run_graph(app, workflow(
        "wf.write_file(id='write', path='shy.txt', text='ü', encoding='ascii')")))
    assert "cannot be written as ascii" in error
    app.evaluate("import('./files.js').then((m) => m.refreshFiles())")
    assert files_listed(app) == before  # no file, and no temporary one, appeared


def test_a_sql_error_writes_no_row_of_its_batch(app):
    database = f"sqlite:batch-{uuid.uuid4().hex[:8]}.db"
    completed(run_graph(app, workflow(
        f"wf.sql_write(id='make', database={database!r}, statement='CREATE TABLE t "
        "(id INTEGER PRIMARY KEY, body TEXT NOT NULL)')")))
    # The second row breaks NOT NULL: the first must not stay written either.
    error = task_error(run_graph(app, workflow(
        f"wf.sql_write(id='add', database={database!r}, statement='INSERT INTO t (body) "
        "VALUES (?)', rows=[['first'], [None], ['third']])")))
    assert "nothing was written" in error and "NOT NULL" in error
    error = task_error(run_graph(app, workflow(
        f"wf.sql_query(id='bad', database={database!r}, query='SELEC body FROM t')")))
    assert "SQLite refused the query" in error and "syntax error" in error
    error = task_error(run_graph(app, workflow(
        f"wf.sql_query(id='sneaky', database={database!r}, query='DELETE FROM t')")))
    assert "SQLite refused the query" in error  # a query is read-only
    rows = completed(run_graph(app, workflow(
        f"wf.sql_query(id='rows', database={database!r}, query='SELECT count(*) AS n FROM t')")))
    assert rows["rows"]["rows"] == [{"n": 0}]


# -- WriteFile is on OPFS when the task completes, not only when the run ends --

def test_a_write_survives_a_reload_while_a_later_task_still_runs(app):
    path = f"durable/{uuid.uuid4().hex[:8]}.txt"
    code = workflow(
        f"wf.write_file(id='write', path={path!r}, text='kept at once')",
        "wf.rename('bytes', 'input')",
        # Holds the worker until the page goes: the run never ends, so its end-of-run sync
        # never comes; only the write's own can have put the file on OPFS.
        "wf.java_script(id='busy', code='while (true) {}', time_limit=600)")
    app.evaluate("window.taskloom.events = []")
    app.evaluate("code => { window.taskloom.engine.request('run_code', code); }", code)
    app.wait_for_function(
        "window.taskloom.events.some(e => e.kind === 'task_start' && e.task_id === 'busy')",
        timeout=RUN_MS)
    assert any(e["kind"] == "task_complete" and e["task_id"] == "write"
               for e in app.evaluate("window.taskloom.events"))

    open_app(app, app.url)  # the tab goes mid-run; a fresh engine mounts OPFS again
    assert files_listed(app)[path] == len("kept at once")
    outputs = completed(run_graph(app, workflow(f"wf.load_document(id='load', path={path!r})")))
    assert outputs["load"]["text"] == "kept at once"


# -- the README's headline example: examples/design_pipeline.json, in the page and in CPython --

HEADLINE = "The design's pipeline: document \u2192 rewrite \u00d72 \u2192 embed \u2192 search"
EXAMPLE = ROOT / "examples" / "design_pipeline.json"
#: MiniLM's vectors agree to ~3e-8 between Transformers.js and onnxruntime (FINDINGS.md);
#: a cosine summed over 384 of them stays well inside this.
SCORE_TOLERANCE = 1e-4


def run_in_cpython(out: Path) -> subprocess.Popen:
    """``taskloom run examples/design_pipeline.json`` from the repository root, as the README
    says; started first so that it runs while the page does."""
    env = {**os.environ, "TASKLOOM_MODELS_DIR": str(ROOT / "dist" / "models")}
    env.pop("TASKLOOM_FILE_ROOT", None)
    cli = Path(sys.executable).with_name("taskloom")
    return subprocess.Popen([str(cli), "run", "examples/design_pipeline.json", "--no-store",
                             "--quiet", "-o", str(out)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_the_headline_example_runs_in_the_page_as_taskloom_run_does(app, tmp_path):
    for module in ("numpy", "onnxruntime", "tokenizers"):
        need_module(module, f"{module} is missing: pip install 'taskloom[onnx]'")
    cpython = run_in_cpython(tmp_path / "outputs.json")
    try:
        in_page = run_headline_in_page(app)
        _, stderr = cpython.communicate(timeout=600)
    finally:
        cpython.kill()
    assert cpython.returncode == 0, stderr
    expected = json.loads((tmp_path / "outputs.json").read_text(encoding="utf-8"))["outputs"]

    assert in_page["load"]["path"] == "examples/design_document.md"
    assert in_page["split"]["text"] == expected["split"]["text"]
    assert in_page["rewrite"]["text"] == expected["rewrite"]["text"]
    assert in_page["save"]["count"] == expected["save"]["count"] == 10
    page_hits, cpython_hits = in_page["search"]["hits"], expected["search"]["hits"]
    assert len(page_hits) == 3
    assert [(h["id"], h["text"]) for h in page_hits] == \
        [(h["id"], h["text"]) for h in cpython_hits]
    assert [h["score"] for h in page_hits] == pytest.approx(
        [h["score"] for h in cpython_hits], abs=SCORE_TOLERANCE)


def run_headline_in_page(app) -> dict:
    """Opens the example from the gallery, checks what it opened, runs it with Run."""
    accept = lambda dialog: dialog.accept()  # noqa: E731 - "replace your edits?"
    app.on("dialog", accept)
    try:
        app.evaluate("delete document.body.dataset.exampleOpened")
        app.click(f'#examples [data-example="{HEADLINE}"]')
        app.wait_for_function("name => document.body.dataset.exampleOpened === name",
                              arg=HEADLINE, timeout=RUN_MS)
    finally:
        app.remove_listener("dialog", accept)
    # The document landed in the page's files as a dropped file would, under its path.
    document = (ROOT / "examples" / "design_document.md").read_bytes()
    assert files_listed(app)["examples/design_document.md"] == len(document)
    # The graph is the JSON file's, drawn on the canvas.
    shipped = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    opened = json.loads(app.evaluate("window.taskloom.jsonText()"))
    assert opened["tasks"] == shipped["tasks"]
    key = lambda d: tuple(d.values())  # noqa: E731
    assert sorted(opened["dataflows"], key=key) == sorted(shipped["dataflows"], key=key)
    for task in shipped["tasks"]:
        app.wait_for_selector(f'#canvas [data-task-id="{task["id"]}"]')
    app.evaluate("delete document.body.dataset.runState")
    app.click("#run")
    app.wait_for_function("['completed', 'failed'].includes(document.body.dataset.runState)",
                          timeout=10 * RUN_MS)
    return completed(app.evaluate("window.taskloom.lastRun"))
