"""The page's files and JavaScript glue under CPython (the same code the page runs in Pyodide).

``PageFiles`` on an ordinary folder (in the page it is OPFS at ``/files``),
``quickjs_provider.result_of`` on web/quickjs.js's answers against what
CPython's QuickJS gives, and the ``code_tasks`` endpoint the page asks before
it runs a graph from elsewhere.
"""

from __future__ import annotations

import base64
import json
import os

import pytest

from taskloom import Workflow
from taskloom.browser.engine import BrowserEngine
from taskloom.browser.files import PageFiles
from taskloom.browser.quickjs_provider import result_of
from taskloom.errors import (
    FileAccessError,
    JavaScriptError,
    JavaScriptMemoryError,
    JavaScriptTimeoutError,
    TaskOutputError,
)
from taskloom.tasks.file_root import ENV_VAR


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_put_list_and_delete_keep_to_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    files = PageFiles(tmp_path)
    await files.before_run()
    assert os.environ[ENV_VAR] == str(tmp_path)  # what the tasks' file_root() reads
    assert await files.put("notes.md", b64(b"# hi\n")) == {"path": "notes.md", "size": 5}
    await files.put("deep/er.txt", b64(b"x"))
    await files.put("notes.md", b64(b"# again\n"))  # replaced, not duplicated
    assert [(f["path"], f["size"]) for f in files.list()] == [("deep/er.txt", 1),
                                                              ("notes.md", 8)]
    assert not list(tmp_path.glob("**/.taskloom-*"))  # no temporary file left behind
    for bad in ("../outside.txt", "/etc/passwd", "deep/../../x", ""):
        with pytest.raises(FileAccessError):
            await files.put(bad, b64(b"no"))
    assert not (tmp_path.parent / "outside.txt").exists()
    with pytest.raises(FileAccessError, match="not base64"):
        await files.put("bad.bin", "not base64!")
    await files.delete("deep/er.txt")
    assert [f["path"] for f in files.list()] == ["notes.md"]
    with pytest.raises(FileAccessError, match="no file"):
        await files.delete("deep/er.txt")


async def test_no_page_root_under_cpython_until_one_is_given(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    files = PageFiles()
    await files.before_run()  # off the page, with no folder: nothing to mount, no root set
    assert ENV_VAR not in os.environ
    with pytest.raises(FileAccessError, match="CPython"):
        await files.ensure_mounted()


LIMITS = (0.5, 32 * 1024 * 1024)


@pytest.mark.parametrize("answer, expected", [
    ({"ok": True, "result": {"kind": "json", "text": '{"a": [1, null]}'}}, {"a": [1, None]}),
    ({"ok": True, "result": {"kind": "json", "text": None}}, None),
    ({"ok": True, "result": {"kind": "value", "value": "é"}}, "é"),
    ({"ok": True, "result": {"kind": "inf", "negative": True}}, float("-inf")),
])
def test_a_page_value_becomes_the_result_cpython_gives(answer, expected):
    assert result_of(answer, *LIMITS) == expected


@pytest.mark.parametrize("answer, error, words", [
    ({"ok": False, "error": "InternalError: interrupted\n    at <eval> (<input>:1:8)\n"},
     JavaScriptTimeoutError, "time limit (0.5 s)"),
    ({"ok": False, "error": "InternalError: out of memory\nundefined"},
     JavaScriptMemoryError, "memory limit (33,554,432 bytes)"),
    ({"ok": False, "error": "Error: boom\n    at <eval> (<input>:1:7)\n"},
     JavaScriptError, "threw Error: boom"),
    ({"ok": False, "rejected": "Error: no\n"}, JavaScriptError, "Promise rejected: Error: no"),
    ({"ok": False, "unsettled": True}, JavaScriptError, "never settled"),
    ({"ok": True, "result": {"kind": "nan"}}, TaskOutputError, "NaN"),
    ({"ok": True, "result": {"kind": "bigint"}}, TaskOutputError, "bigint"),
])
def test_a_page_failure_becomes_the_error_cpython_gives(answer, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        result_of(answer, *LIMITS)


def test_code_tasks_names_the_javascript_of_graph_code():
    engine = BrowserEngine(emit=lambda _text: None)
    wf = Workflow()
    wf.java_script(id="js", code="1 + 1")
    from taskloom.codegen import to_code

    answer = json.loads(engine.code_tasks(to_code(wf.graph)))
    assert answer == {"ok": True, "graph": True, "tasks": ["js"]}
    plain = json.loads(engine.code_tasks("from taskloom import Workflow\nwf = Workflow()\n"))
    assert plain == {"ok": True, "graph": True, "tasks": []}
    own = json.loads(engine.code_tasks("import os\nprint(os.getcwd())\n"))
    assert own == {"ok": True, "graph": False, "tasks": []}
