"""The worker side of the page: runs graphs and Workflow code and streams their events.

One protocol crosses the worker boundary: the page sends a method name and
its arguments as a JSON array to :meth:`BrowserEngine.call`, which dispatches
to the method marked ``@endpoint`` and answers a JSON string; events go out
through ``emit`` as they happen, one JSON object each. web/engine-client.js is
the one client; tests/browser/test_engine_protocol.py checks that the two
name the same methods. Nothing depends on how proxies cross the boundary.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable
from typing import Any

import taskloom
from taskloom.errors import RunAbortedError, TaskloomError, WorkflowError
from taskloom.task import Task

from . import bergamot_provider, fasttext_provider, mediapipe_provider, panels, quickjs_provider
from .files import page_files
from .page_store import CODE_MODULE, PageRuns
from .saved_graphs import SavedGraphs
from .transformers_provider import install as install_local_models


def endpoint(method: Callable[..., Any]) -> Callable[..., Any]:
    """Marks a BrowserEngine method as one the page may call through :meth:`BrowserEngine.call`."""
    method.engine_endpoint = True  # type: ignore[attr-defined]
    return method


#: The file name tracebacks give the code box's code.
CODE_BOX = "<code box>"


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
    compiled = compile(code, CODE_BOX, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
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
    report: dict[str, Any] = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    if isinstance(error, RunAbortedError):
        # The user asked for it: the page says "aborted", with no traceback.
        report["aborted"] = True
    else:
        report["traceback"] = "".join(traceback.format_exception(error))
    partial = getattr(error, "result", None)
    if partial is not None:
        report["run_id"] = getattr(partial, "run_id", None)
        report["statuses"] = {k: str(v) for k, v in getattr(partial, "statuses", {}).items()}
        report["outputs"] = getattr(partial, "outputs", {})
    return report


def _keep_only_upstream_of(graph: Any, target: str) -> None:
    """Run to here: drops every task that ``target`` does not need."""
    if target not in graph:
        raise WorkflowError(f"cannot run to {target!r}: the graph has no task with that id")
    keep = {target, *graph.upstream(target, transitive=True)}
    for task_id in [t for t in graph.task_ids() if t not in keep]:
        graph.remove_task(task_id)


class _Preview:
    """The toolbar's Preview: every task's ``run_reactive``, with nothing recorded or cached."""

    def __init__(self, graph: Any) -> None:
        from taskloom.runner import TaskGraphRunner

        self.runner = TaskGraphRunner(graph)
        self.events = self.runner.events

    async def run(self) -> Any:
        return await self.runner.run(reactive=True)

    def abort(self, reason: str = "aborted") -> None:
        self.runner.abort(reason)


#: Why a run stopped when the user pressed Abort.
ABORTED_FROM_PAGE = "aborted from the page"


def _interrupted_in(frame: Any) -> str | None:
    """Where the interrupted code was: "task" (inside a task's ``run``), "code box"
    (the code box's own top-level code), or None (the engine's machinery)."""
    in_code_box = False
    while frame is not None:
        if frame.f_code.co_name in ("run", "run_reactive") \
                and isinstance(frame.f_locals.get("self"), Task):
            return "task"
        in_code_box = in_code_box or frame.f_code.co_filename == CODE_BOX
        frame = frame.f_back
    return "code box" if in_code_box else None


class BrowserEngine:
    """One per worker: runs code-box code, keeps saved graphs."""

    def __init__(self, emit: Callable[[str], Any], saved_graphs: SavedGraphs | None = None,
                 timeline: tuple[float, float] | None = None,
                 startup: dict[str, Any] | None = None):
        self._emit = emit
        # When the worker's code started and finished importing taskloom (epoch ms),
        # for the page's start-up benchmark.
        self._timeline = list(timeline) if timeline else None
        # How Pyodide started: {"snapshot": bool, "reason"?, "startedAt", "readyAt"}
        # (web/engine-snapshot.mjs).
        self._startup = dict(startup) if startup else None
        self._saved = saved_graphs or SavedGraphs()
        self._runs = PageRuns(self._saved.page)  # run records, cache, queues: page_store.py
        self._running: Any = None
        self._executing = False
        # Transformers.js runs the onnx models, fastText the language id and Bergamot
        # the translations (Pyodide only).
        if install_local_models():
            fasttext_provider.register()
            bergamot_provider.install()
            mediapipe_provider.install()  # MediaPipe's TextEmbedder
            quickjs_provider.install()
        if sys.platform == "emscripten":
            # The page's Abort writes SIGINT into Pyodide's interrupt buffer
            # when the engine does not answer: code that never awaits.
            signal.signal(signal.SIGINT, self.on_interrupt)

    def on_interrupt(self, _signum: int, frame: Any) -> None:
        """SIGINT from the page: abort the run, and unwind the code that held the loop.

        Raising CancelledError inside a task's body ends that task as aborted,
        exactly as an abort at an ``await`` would. Anywhere else (the runner or
        a queue worker between two steps) raising could break the engine, so
        the abort is only requested there; if nothing yields, the page
        terminates this worker and starts a fresh engine.
        """
        running = self._running
        if running is not None:
            running.abort(ABORTED_FROM_PAGE)
        where = _interrupted_in(frame)
        if where == "task":
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()  # this CancelledError is the abort the runner asked for
            raise asyncio.CancelledError(ABORTED_FROM_PAGE)
        if where == "code box" and running is None and self._executing:
            raise RunAbortedError(f"{ABORTED_FROM_PAGE} while the code box's own code ran")

    def set_interrupt_buffer(self, buffer: Any) -> None:
        """PyScript's worker: the page's Int32Array on a SharedArrayBuffer (Pyodide only)."""
        import pyodide_js  # type: ignore[import-not-found]

        pyodide_js.setInterruptBuffer(buffer)

    @classmethod
    def endpoints(cls) -> list[str]:
        """The names the page may call, sorted."""
        return sorted(name for name in dir(cls)
                      if getattr(getattr(cls, name), "engine_endpoint", False))

    async def call(self, method: str, args_json: str = "[]") -> str:
        """The one entry from the page: ``method(*json.loads(args_json))``, answered as JSON."""
        if method not in self.endpoints():
            return to_json({"ok": False, "error": f"the engine has no method {method!r}"})
        try:
            args = json.loads(args_json)
        except ValueError as error:
            return to_json({"ok": False, "error": f"arguments of {method} are not JSON: {error}"})
        if not isinstance(args, list):
            return to_json({"ok": False, "error": f"arguments of {method} must be a JSON array"})
        answer = getattr(self, method)(*args)
        if inspect.isawaitable(answer):
            answer = await answer
        return answer

    @endpoint
    def engine_info(self) -> str:
        return to_json({
            "taskloom": taskloom.__version__,
            "python": sys.version.split()[0],
            "platform": sys.platform,
            "workflow": hasattr(taskloom, "Workflow"),
            "timeline": self._timeline,
            "startup": self._startup,
        })

    @endpoint
    def configure_cloud(self, settings_json: str) -> str:
        """OpenAI/Anthropic keys and base URLs from the page's settings (web/settings.js)."""
        from .cloud import BrowserCloud

        answer = BrowserCloud.install().configure(settings_json)
        self._cloud_answer = answer  # list_models tells which vendors have a key (never the key)
        return answer

    def _forward(self, event: Any) -> None:
        payload = event.to_dict() if hasattr(event, "to_dict") else {"event": repr(event)}
        self._emit(to_json(payload))

    @endpoint
    @panels.captures_output  # print() and logs of the run: the Logs panel
    async def run_code(self, code: str, resume: str | None = None,
                       options: dict[str, Any] | None = None) -> str:
        """Executes the code box, then runs its Workflow; answers a JSON report.

        ``options`` (from the page's toolbar): ``cache`` (default true) reuses and keeps
        outputs; ``target`` runs only that task and what it needs ("run to here");
        ``preview`` runs every task's reactive preview instead: no side effects, not
        recorded, not cached.
        """
        options = dict(options or {})
        started = time.perf_counter()
        try:
            await self._user_packages().ensure_installed()  # the Packages panel's wheels
            await page_files.before_run()  # OPFS at /files is the file root (files.py)
            self._executing = True
            try:
                namespace = await execute(code)
            finally:
                self._executing = False
            found = find_workflow(namespace)
            if options.get("target"):
                _keep_only_upstream_of(found.graph, options["target"])
            if options.get("preview"):
                workflow: Any = _Preview(found.graph)
            else:
                workflow = await self._runs.prepare(found, code, resume,
                                                    cache=options.get("cache", True))
            unsubscribe = _subscribe(workflow, self._forward)
            self._running = workflow
            try:
                result = await workflow.run()
            finally:
                self._running = None
                unsubscribe()
                await page_files.persist()  # what the run wrote outlives a reload
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

    @endpoint
    def abort_run(self) -> str:
        workflow = self._running
        if workflow is None:
            return to_json({"ok": False, "error": "nothing is running"})
        workflow.abort(ABORTED_FROM_PAGE)
        return to_json({"ok": True})

    @endpoint
    async def save_graph(self, name: str, document: Any) -> str:
        """Keeps the page's document ({mode, graph, code}, or plain code) by name."""
        try:
            record = await self._saved.save(name, document)
        except (TaskloomError, ValueError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, "graph": record})

    @endpoint
    async def load_graph(self, name: str) -> str:
        try:
            record = await self._saved.load(name)
        except (TaskloomError, KeyError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, "graph": record})

    @endpoint
    async def delete_graph(self, name: str) -> str:
        """Forgets a saved graph; answers what it held, for restore_graph (Undo)."""
        return to_json({"ok": True, "graph": await self._saved.delete(name)})

    @endpoint
    async def list_graphs(self) -> str:
        return to_json({"ok": True, "names": await self._saved.names(),
                        "graphs": await self._saved.summaries()})

    @endpoint
    async def unfinished_runs(self) -> str:
        """Runs that stopped before they finished (reload, Abort, failure), for the page's list."""
        return to_json({"ok": True, "runs": await self._runs.unfinished()})

    @endpoint
    async def resume_run(self, run_id: str) -> str:
        """Runs the code of ``run_id`` again and finishes that run; answers like run_code."""
        try:
            code = await self._runs.code_of(run_id)
        except TaskloomError as error:
            return to_json({"ok": False, "error": f"{type(error).__name__}: {error}"})
        return await self.run_code(code, run_id)  # positional: captures_output passes *args

    @endpoint
    async def discard_run(self, run_id: str) -> str:
        """Forgets a listed run: its record, its code and its queued jobs."""
        try:
            await self._runs.discard(run_id)
        except TaskloomError as error:
            return to_json({"ok": False, "error": f"{type(error).__name__}: {error}"})
        return to_json({"ok": True})

    @endpoint
    async def record_abort(self, run_id: str, reason: str) -> str:
        """The page stopped the previous engine mid-run: record that run as aborted."""
        return to_json({"ok": await self._runs.record_abort(run_id, reason)})

    # -- graph <-> code (issue 12): what a graph editor asks; JSON strings both ways --

    @endpoint
    def to_code(self, graph_json: str) -> str:
        """The Workflow code of a graph JSON document (the code view)."""
        from taskloom.codegen import to_code
        from taskloom.graph import TaskGraph

        try:
            return to_json({"ok": True, "code": to_code(TaskGraph.from_json(graph_json))})
        except TaskloomError as error:
            return to_json({"ok": False, "error": str(error)})

    @endpoint
    def from_code(self, code: str) -> str:
        """The graph JSON that Workflow code builds, read without running it (Apply)."""
        from taskloom.codegen import from_code
        from taskloom.errors import CodeError, RefusedCodeError

        try:
            graph = from_code(code)
        except TaskloomError as error:
            answer: dict[str, Any] = {"ok": False, "error": str(error),
                                      "refused": isinstance(error, RefusedCodeError)}
            if isinstance(error, CodeError):
                answer.update(line=error.line, column=error.column)
            return to_json(answer)
        return to_json({"ok": True, "graph": graph.to_json()})

    @endpoint
    def describe_types(self) -> str:
        """Every registered task type with its ports' schemas (the palette)."""
        from taskloom.registry import registry

        return to_json({"ok": True, "types": registry.describe()})

    @endpoint
    def check_dataflow(self, graph_json: str, source_id: str, source_port: str,
                       target_id: str, target_port: str) -> str:
        """Whether an edge may be drawn, and if not why (before the canvas draws it)."""
        from taskloom.graph import TaskGraph

        try:
            graph = TaskGraph.from_json(graph_json)
        except TaskloomError as error:
            return to_json({"ok": False, "reason": str(error), "error": type(error).__name__})
        return to_json(graph.check_dataflow(source_id, source_port, target_id,
                                            target_port).to_json())

    @endpoint
    def open_graph(self, graph_json: str) -> str:
        """A graph JSON document, checked as the runner would load it, answered in the form
        the page keeps (its JSON, normalised) with its code: the JSON view's Apply and every
        graph the page opens go through here, so a bad document never replaces a good one."""
        from taskloom.codegen import to_code
        from taskloom.graph import TaskGraph

        try:
            graph = TaskGraph.from_json(graph_json)
            code = to_code(graph)
        except TaskloomError as error:
            return to_json({"ok": False, "error": f"{type(error).__name__}: {error}"})
        return to_json({"ok": True, "graph": graph.to_json(), "code": code})

    # -- the inspector (issue 13, web/inspector.js): logic in inspection.py --

    @endpoint
    def check_task_input(self, type_name: str, input_json: str,
                         config_json: str | None = None) -> str:
        """The inspector's values for a task, checked by pydantic: ``{ok, errors: [{field,
        message}]}`` with each problem at its field's path (``"k"``, ``"config.timeout"``)."""
        from .inspection import check_task_input

        return to_json(check_task_input(type_name, input_json, config_json))

    @endpoint
    async def preview_task(self, type_name: str, input_json: str) -> str:
        """The type's reactive preview (``run_reactive``, no side effects) on those values:
        ``{ok, reactive, output}``; ``reactive`` is false for a type with none."""
        from .inspection import preview_task

        return to_json(await preview_task(type_name, input_json))

    # -- models, settings and packages (web/panels/models.js, settings.js, packages.js) --

    @endpoint
    async def list_models(self) -> str:
        """Every model this engine can run: ``{ok, models: [{id, provider, task, local,
        cached, size_bytes, …}]}`` (taskloom.browser.model_catalog)."""
        from taskloom.ai.catalog import catalog
        from taskloom.ai.providers import providers

        from . import model_catalog

        probe = getattr(self, "_model_probe", None)
        if probe is None:
            probe = self._model_probe = (model_catalog.BrowserProbe()
                                         if sys.platform == "emscripten"
                                         else model_catalog.FolderProbe(catalog))
        answer = json.loads(getattr(self, "_cloud_answer", None) or "{}")
        keys = {vendor: bool(state.get("api_key_set") or state.get("base_url"))
                for vendor, state in answer.items() if isinstance(state, dict)}
        models = await model_catalog.list_models(catalog, providers, probe, keys)
        return to_json({"ok": True, "models": models})

    @endpoint
    async def download_model(self, model_id: str, url: str | None = None) -> str:
        """Runs a DownloadModel task; its progress goes out as ``model_download`` events."""
        from . import model_catalog

        return to_json(await model_catalog.download(model_id, url, self._emit))

    @endpoint
    def provider_limits(self) -> str:
        """The cloud queues' limits: ``{ok, limits: {provider: {requests_per_minute,
        max_concurrent, default}}}`` (taskloom.browser.cloud_limits)."""
        from . import cloud_limits

        return to_json({"ok": True, "limits": cloud_limits.describe()})

    @endpoint
    def set_provider_limits(self, limits_json: str) -> str:
        """Applies the Settings panel's limits to the cloud queues, now and later."""
        from . import cloud_limits

        try:
            return to_json({"ok": True, "limits": cloud_limits.configure(json.loads(limits_json))})
        except ValueError as error:  # bad JSON or a bad number: the panel shows which
            return to_json({"ok": False, "error": str(error)})

    def _user_packages(self) -> Any:
        from . import packages

        if getattr(self, "_packages", None) is None:
            self._packages = packages.for_this_runtime()
        return self._packages

    async def _packages_call(self, work: Any) -> str:
        from .packages import PackageError

        try:
            answer = await work
        except (PackageError, TaskloomError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, **answer,
                        "packages": await self._user_packages().list()})

    @endpoint
    async def list_packages(self) -> str:
        """The kept wheels (installed at the engine's start): ``{ok, packages: [{filename,
        name, version, size, state, error?}]}``."""
        return await self._packages_call(asyncio.sleep(0, {}))

    @endpoint
    async def add_package(self, filename: str, data_base64: str) -> str:
        """Checks, installs and keeps a pure-Python wheel (its bytes in base64)."""
        return await self._packages_call(self._add_package(filename, data_base64))

    async def _add_package(self, filename: str, data_base64: str) -> dict[str, Any]:
        return {"package": await self._user_packages().add(filename, data_base64)}

    @endpoint
    async def remove_package(self, filename: str) -> str:
        """Forgets a kept wheel: the next engine start does not install it."""
        return await self._packages_call(self._remove_package(filename))

    async def _remove_package(self, filename: str) -> dict[str, Any]:
        await self._user_packages().remove(filename)
        return {}

    @endpoint
    async def install_from_pypi(self, requirement: str) -> str:
        """micropip from PyPI: only online, only when the user presses the button."""
        return await self._packages_call(self._user_packages().install_from_pypi(requirement))

    # -- the drawer's Queue, Cache and Logs panels (web/panels/; logic in panels.py) --

    @endpoint
    async def list_jobs(self) -> str:
        """Every registered queue's jobs: state, attempts, progress, run_after."""
        return await panels.list_jobs()

    @endpoint
    async def abort_job(self, queue: str, job_id: str) -> str:
        """Aborts one job (and its run, when this engine runs it)."""
        return await panels.abort_job(self._running, queue, job_id)

    @endpoint
    async def abort_run_jobs(self, run_id: str) -> str:
        """Aborts every unfinished job of a run (and the run, when this engine runs it)."""
        return await panels.abort_run_jobs(self._running, run_id)

    @endpoint
    async def cache_stats(self) -> str:
        """The output cache: count, size, newest entries."""
        return await panels.cache_stats(self._runs.page.store)

    @endpoint
    async def clear_cache(self, older_than: float | None = None) -> str:
        """Clears the output cache (or its entries older than ``older_than`` seconds)."""
        return await panels.clear_cache(self._runs.page.store, older_than)

    # -- the library pane (issue 13): saved graphs and run history --

    @endpoint
    async def rename_graph(self, name: str, new_name: str) -> str:
        return await self._saved_answer(self._saved.rename(name, new_name))

    @endpoint
    async def duplicate_graph(self, name: str, new_name: str | None = None) -> str:
        return await self._saved_answer(self._saved.duplicate(name, new_name))

    @endpoint
    async def restore_graph(self, record: Any) -> str:
        """Undo of delete_graph: writes back the record it answered."""
        return await self._saved_answer(self._saved.restore(record))

    async def _saved_answer(self, change: Any) -> str:
        try:
            record = await change
        except (TaskloomError, ValueError) as error:
            return to_json({"ok": False, "error": str(error)})
        return to_json({"ok": True, "graph": record})

    @endpoint
    async def list_runs(self, limit: int = 50) -> str:
        """The run history, newest first: start, duration, status, graph name."""
        try:
            return to_json({"ok": True, "runs": await self._runs.history(limit)})
        except ValueError as error:
            return to_json({"ok": False, "error": str(error)})

    @endpoint
    async def run_report(self, run_id: str) -> str:
        """A past run's statuses, outputs and errors, to reopen it in the page."""
        try:
            return to_json(await self._runs.report(run_id))
        except TaskloomError as error:
            return to_json({"ok": False, "error": f"{type(error).__name__}: {error}",
                            "missing": True})

    @endpoint
    async def label_run(self, run_id: str, name: str) -> str:
        """Names the graph a run ran (the page's document name), for the run history."""
        return to_json({"ok": await self._runs.label(run_id, name)})

    # -- the page's files (issue 14, web/files.js): OPFS at /files, logic in files.py --

    async def _files_answer(self, work: Any) -> str:
        try:
            await page_files.ensure_mounted()
            answer = await work()
            return to_json({"ok": True, **answer, "files": page_files.list()})
        except TaskloomError as error:
            return to_json({"ok": False, "error": str(error)})

    @endpoint
    async def list_files(self) -> str:
        """The files under the page's file root: ``{ok, root, files: [{path, size, modified}]}``."""
        return await self._files_answer(lambda: asyncio.sleep(0, {"root": str(page_files.root)}))

    @endpoint
    async def put_file(self, name: str, data_base64: str) -> str:
        """Keeps a picked or dropped file (its bytes in base64) under the file root."""
        return await self._files_answer(lambda: page_files.put(name, data_base64))

    @endpoint
    async def delete_file(self, name: str) -> str:
        return await self._files_answer(lambda: page_files.delete(name))

    @endpoint
    def code_tasks(self, code: str) -> str:
        """The JavaScript and Lambda tasks of graph code, read without running it: what the
        page asks the user about before it runs a graph from elsewhere (web/code-consent.js).
        Code that is not graph code answers ``graph: false`` (the user's own Python)."""
        from taskloom.codegen import from_code
        from taskloom.tasks.javascript import code_tasks

        try:
            graph = from_code(code)
        except TaskloomError:
            return to_json({"ok": True, "graph": False, "tasks": []})
        return to_json({"ok": True, "graph": True, "tasks": code_tasks(graph)})

    @endpoint
    def abort_download(self, model_id: str) -> str:
        """Cancels the Models panel's download of ``model_id``: its ``download_model`` call
        answers ``aborted: true`` and the files stored so far are taken back out."""
        from . import model_catalog

        return to_json(model_catalog.abort_download(model_id))
