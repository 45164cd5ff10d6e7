"""The worker side of the page: runs the code box's Workflow code and streams its events.

The page (web/app.js) talks to this through a few functions that
web/engine.py exposes to the main thread; every argument and every answer
is a JSON string, so nothing depends on how proxies cross the worker
boundary. Events go out through ``emit`` as they happen.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

import taskloom
from taskloom.errors import TaskloomError, WorkflowError

from .page_store import PageRuns
from .saved_graphs import SavedGraphs
from .transformers_provider import install as install_local_models

#: Classes the code box defines live in this module, so that running the same
#: code twice redefines them (the registry accepts a same-named redefinition)
#: instead of clashing with the first run.
CODE_MODULE = "taskloom_code_box"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return repr(value)


def to_json(value: Any) -> str:
    return json.dumps(value, default=_jsonable)


def find_workflow(namespace: dict[str, Any]) -> Any:
    """The Workflow the code built: the one named ``wf``, else the only one defined."""
    workflow_class = getattr(taskloom, "Workflow", None)
    if workflow_class is None:
        raise WorkflowError("this taskloom build has no Workflow class yet")
    named = namespace.get("wf")
    if isinstance(named, workflow_class):
        return named
    found = [v for k, v in namespace.items()
             if isinstance(v, workflow_class) and not k.startswith("_")]
    if len(found) == 1:
        return found[0]
    if not found:
        raise WorkflowError(
            "the code defines no Workflow: build one named `wf`, e.g. "
            "`wf = Workflow()` followed by `wf.add_task(...)`")
    raise WorkflowError("the code defines several Workflows: name the one to run `wf`")


async def execute(code: str) -> dict[str, Any]:
    """Runs ``code`` (top-level ``await`` allowed) in a fresh code-box module."""
    module = types.ModuleType(CODE_MODULE)
    sys.modules[CODE_MODULE] = module
    namespace = module.__dict__
    namespace.update({name: getattr(taskloom, name) for name in getattr(taskloom, "__all__", ())})
    compiled = compile(code, "<code box>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # the user's own code, in their own page
    if inspect.iscoroutine(result):
        await result
    return namespace


def _subscribe(workflow: Any, listener: Callable[[Any], None]) -> Callable[[], None]:
    events = getattr(workflow, "events", None)
    if events is not None and hasattr(events, "subscribe"):
        return events.subscribe(listener)
    from taskloom.events import EventKind

    offs = [workflow.on(kind, listener) for kind in EventKind]
    return lambda: [off() for off in offs if callable(off)]


def _error_report(error: BaseException) -> dict[str, Any]:
    report: dict[str, Any] = {
        "ok": False,
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error)),
    }
    partial = getattr(error, "result", None)
    if partial is not None:
        report["statuses"] = {k: str(v) for k, v in getattr(partial, "statuses", {}).items()}
        report["outputs"] = getattr(partial, "outputs", {})
    return report


class BrowserEngine:
    """One per worker: runs code-box code, keeps saved graphs."""

    def __init__(self, emit: Callable[[str], Any], saved_graphs: SavedGraphs | None = None):
        self._emit = emit
        self._saved = saved_graphs or SavedGraphs()
        self._runs = PageRuns(self._saved.page)  # run records, cache, queues: page_store.py
        self._running: Any = None
        install_local_models()  # Transformers.js runs the onnx models (Pyodide only)

    def info(self) -> str:
        return to_json({
            "taskloom": taskloom.__version__,
            "python": sys.version.split()[0],
            "platform": sys.platform,
            "workflow": hasattr(taskloom, "Workflow"),
        })

    def _forward(self, event: Any) -> None:
        payload = event.to_dict() if hasattr(event, "to_dict") else {"event": repr(event)}
        self._emit(to_json(payload))

    async def run_code(self, code: str, resume: str | None = None) -> str:
        """Executes the code box, then runs its Workflow; answers a JSON report."""
        started = time.perf_counter()
        try:
            namespace = await execute(code)
            workflow = await self._runs.prepare(find_workflow(namespace), code, resume)
            unsubscribe = _subscribe(workflow, self._forward)
            self._running = workflow
            try:
                result = await workflow.run()
            finally:
                self._running = None
                unsubscribe()
        except Exception as error:  # the user's code: report, never crash the worker
            report = _error_report(error)
        else:
            report = {
                "ok": True,
                "run_id": getattr(result, "run_id", None),
                "statuses": {k: str(v) for k, v in getattr(result, "statuses", {}).items()},
                "outputs": getattr(result, "outputs", {}),
            }
        report["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        return to_json(report)

    def abort(self) -> str:
        workflow = self._running
        if workflow is None:
            return to_json({"ok": False, "error": "nothing is running"})
        workflow.abort("aborted from the page")
        return to_json({"ok": True})

    async def save_graph(self, name: str, code: str) -> str:
        try:
            record = await self._saved.save(name, code)
        except (TaskloomError, ValueError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, "graph": record})

    async def load_graph(self, name: str) -> str:
        try:
            record = await self._saved.load(name)
        except (TaskloomError, KeyError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, "graph": record})

    async def delete_graph(self, name: str) -> str:
        await self._saved.delete(name)
        return to_json({"ok": True})

    async def list_graphs(self) -> str:
        return to_json({"ok": True, "names": await self._saved.names()})

    async def unfinished_runs(self) -> str:
        """Runs a reload interrupted, which the page offers to resume."""
        return to_json({"ok": True, "runs": await self._runs.unfinished()})

    async def resume_run(self, run_id: str) -> str:
        """Runs the code of ``run_id`` again and finishes that run; answers like run_code."""
        try:
            code = await self._runs.code_of(run_id)
        except TaskloomError as error:
            return to_json({"ok": False, "error": str(error)})
        return await self.run_code(code, resume=run_id)
