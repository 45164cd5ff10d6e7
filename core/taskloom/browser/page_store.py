"""What the page keeps in IndexedDB, so that a reload loses nothing.

One database, ``indexeddb://taskloom``, holds:

- saved graphs (``saved_graphs.py``, on the store's TaskGraphRepository);
- run records and cached outputs: every code-box run goes through the
  runner with this store, so outputs are cached across reloads and an
  interrupted run can be resumed;
- the AI provider queues' jobs and rate-limit state: the page registers
  durable queues ``ai:<provider>`` before anything creates memory ones.

Resuming: a run record holds the graph's JSON, but the task classes it names
are defined by the code box's code, so each run also records that code (in
the ``page_runs`` collection). Resuming runs the code again (which defines
the classes), then finishes the recorded run: completed tasks keep their
outputs and are not run again; jobs still in a queue are re-attached to by
fingerprint. The page *offers* "Resume" for an unfinished run rather than
resuming on load by itself: the code is the user's, and running it again
must be their choice. A run that stopped — a reload, a closed tab, Abort —
or failed stays listed, with its error, until it completes or the user
discards it.

One owner per run: the tab running a run holds its Web Lock
(``web_locks.RUN_LOCK`` + run id) from start to end, and the browser drops
the lock when that tab dies. Other tabs list such a run as "running in
another tab" and refuse to resume or discard it; a free lock means nobody
runs it, so a resume takes the run over at once.

Outside Pyodide (the engine's CPython tests) the page store is in memory.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from typing import Any

from taskloom.errors import RecordNotFoundError, RunInAnotherTabError
from taskloom.storage import Store, open_store

PAGE_DATABASE = "taskloom"
#: The code each page run executed, by run id: what "Resume" runs again.
RUN_CODE = "page_runs"
#: Run statuses the page lists: stopped before they finished, or failed.
UNFINISHED = ("pending", "processing", "aborted", "failed")
IN_BROWSER = sys.platform == "emscripten"
#: Classes the code box defines live in this module, so that running the same
#: code twice redefines them (the registry accepts a same-named redefinition)
#: instead of clashing with the first run. Defined here, not in engine.py,
#: because engine imports this module and a back-import would close a loop.
CODE_MODULE = "taskloom_code_box"
#: Seconds ``record_abort`` waits for a terminated engine's run lock to be freed.
TERMINATED_LOCK_WAIT = 10.0


class PageStore:
    """The page's Store and queue storage, opened on first use."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or (f"indexeddb://{PAGE_DATABASE}" if IN_BROWSER else "memory://")
        self.store: Store = open_store(self.url)
        self.queue_storage: Any = None
        if self.url.startswith("indexeddb://"):
            from .indexeddb import database_name
            from .page_queue import PageQueueStorage  # leases judged by Web Locks

            self.queue_storage = PageQueueStorage(database_name(self.url))

    def install_queues(self) -> list[str]:
        """Registers the durable provider queues (idempotent); returns their names."""
        if self.queue_storage is None:
            return []
        from taskloom.ai.cloud.limits import DEFAULT_LIMITS, provider_queue
        from taskloom.queue import JobQueue, queues

        installed = []
        for provider in sorted({"onnx", *DEFAULT_LIMITS}):
            name = f"ai:{provider}"
            if name in queues and queues.get(name).storage is self.queue_storage:
                continue
            if name in queues:  # a memory queue made before ours: nothing runs yet
                queues.unregister(name)
            queue = (provider_queue(provider, self.queue_storage) if provider in DEFAULT_LIMITS
                     else JobQueue(name, self.queue_storage))
            queues.register(queue)
            installed.append(name)
        return installed


class CodeKeyedOutputs:
    """The page's output cache, with the code box's own task types keyed by its code too.

    A class defined in the code box keeps its type name and version while
    the user edits its body, so its cache keys alone would hand back outputs
    of the old body. Folding the code's hash into those keys means an edit
    never returns a stale output, while the same code after a reload hits.
    Library tasks (the AI tasks, ...) keep plain keys: one cache for every graph.
    """

    def __init__(self, outputs: Any, code: str, code_types: set[str]) -> None:
        self._outputs = outputs
        self._tag = "code-" + hashlib.sha256(code.encode()).hexdigest()[:16]
        self._code_types = code_types

    def _key(self, key: str) -> str:
        task_type, _, rest = key.partition(":")
        return f"{task_type}:{self._tag}:{rest}" if task_type in self._code_types else key

    async def get_output(self, key: str) -> dict[str, Any] | None:
        return await self._outputs.get_output(self._key(key))

    async def put_output(self, key: str, output: dict[str, Any]) -> None:
        await self._outputs.put_output(self._key(key), output)

    async def get_outputs(self, keys: list[str]) -> list[dict[str, Any] | None]:
        return await self._outputs.get_outputs([self._key(key) for key in keys])

    async def put_outputs(self, outputs: dict[str, dict[str, Any]]) -> None:
        await self._outputs.put_outputs({self._key(k): v for k, v in outputs.items()})

    def __getattr__(self, name: str) -> Any:  # count, size, clear, clear_older_than
        return getattr(self._outputs, name)


class _NoCache:
    """The toolbar's Cache switch off: no output is reused and none is kept
    (a run with a store otherwise caches in the store's outputs)."""

    async def get_output(self, key: str) -> None:
        return None

    async def put_output(self, key: str, output: dict[str, Any]) -> None:
        return None

    async def get_outputs(self, keys: list[str]) -> list[None]:
        return [None] * len(keys)

    async def put_outputs(self, outputs: dict[str, dict[str, Any]]) -> None:
        return None


NO_CACHE = _NoCache()


def _code_box_types(graph: Any) -> set[str]:
    return {task.type for task in graph.tasks if type(task).__module__ == CODE_MODULE}


class _Run:
    """What the engine runs: a fresh run of a Workflow, or a resumed recorded run.

    Both look alike to the engine: ``events``, ``run()`` and ``abort()``.
    ``release`` gives up the run's ownership once it ends, however it ends.
    """

    def __init__(self, runner_like: Any, start: Any, release: Any) -> None:
        self.events = runner_like.events
        self._target = runner_like
        self._start = start
        self._release = release

    async def run(self) -> Any:
        try:
            return await self._start()
        finally:
            self._release()

    def abort(self, reason: str = "aborted") -> None:
        self._target.abort(reason)


def _in_another_tab(run_id: str) -> RunInAnotherTabError:
    return RunInAnotherTabError(
        f"run {run_id[:8]} is running in another tab: it can be resumed once it stops "
        "there (or that tab is closed)")


class PageRuns:
    """Code-box runs recorded in the page store: cached, resumable, one owner each."""

    def __init__(self, page: PageStore) -> None:
        self.page = page
        #: Web Locks of the runs this tab runs now, by run id.
        self._owned: dict[str, Any] = {}
        page.install_queues()

    async def _own(self, run_id: str) -> None:
        if not IN_BROWSER:
            return
        from . import web_locks

        held = await web_locks.try_acquire(web_locks.RUN_LOCK + run_id)
        if held is None:
            raise _in_another_tab(run_id)
        self._owned[run_id] = held

    def _disown(self, run_id: str) -> None:
        held = self._owned.pop(run_id, None)
        if held is not None:
            held.release()

    async def _locked_elsewhere(self) -> set[str]:
        """Runs whose Web Lock another tab holds."""
        if not IN_BROWSER:
            return set()
        from . import web_locks

        names = await web_locks.held_names(web_locks.RUN_LOCK)
        return {name.removeprefix(web_locks.RUN_LOCK) for name in names} - self._owned.keys()

    async def prepare(self, workflow: Any, code: str, resume: str | None = None, *,
                      cache: bool = True) -> _Run:
        """The run to start for ``workflow``, built from ``code``; ``resume``: a run id.
        ``cache=False`` neither reuses nor keeps outputs (the toolbar's Cache switch)."""
        self.page.install_queues()
        store = self.page.store
        run_id = resume or uuid.uuid4().hex
        await self._own(run_id)
        try:
            if resume is None:
                await store.backend.put(RUN_CODE, run_id,
                                        {"code": code, "started_at": time.time()})
                outputs = (CodeKeyedOutputs(store.outputs, code, _code_box_types(workflow.graph))
                           if cache else NO_CACHE)
                return _Run(workflow, lambda: workflow.run(store=store, run_id=run_id,
                                                           output_repository=outputs),
                            lambda: self._disown(run_id))
            from taskloom.graph import TaskGraph
            from taskloom.runner import TaskGraphRunner

            record = await store.runs.get(resume)
            outputs = CodeKeyedOutputs(store.outputs, code,
                                       _code_box_types(TaskGraph.from_json(record.graph)))
            # This tab holds the run's Web Lock, so whoever held the store's
            # owner lease is gone (a reload, a closed tab): take it over at once.
            runner = await TaskGraphRunner.for_resume(resume, store=store, take_over=True,
                                                      output_repository=outputs)
            return _Run(runner, runner.run, lambda: self._disown(run_id))
        except BaseException:
            self._disown(run_id)
            raise

    async def code_of(self, run_id: str) -> str:
        saved = await self.page.store.backend.get(RUN_CODE, run_id)
        if saved is None:
            raise RecordNotFoundError(f"no page run {run_id!r} to resume (its code was not kept)")
        return saved["code"]

    async def unfinished(self) -> list[dict[str, Any]]:
        """Runs of this page that stopped before they finished or failed, newest first.

        ``owner`` says who runs one now: "this tab", "another tab", or None.
        """
        store = self.page.store
        with_code = set(await store.backend.keys(RUN_CODE))
        elsewhere = await self._locked_elsewhere()
        runs = [run for run in await store.runs.list()
                if run.status in UNFINISHED and run.run_id in with_code]
        runs.sort(key=lambda run: run.created_at, reverse=True)
        return [
            {"run_id": run.run_id, "status": run.status, "error": run.error,
             "created_at": run.created_at.isoformat(),
             "owner": ("this tab" if run.run_id in self._owned
                       else "another tab" if run.run_id in elsewhere else None)}
            for run in runs
        ]

    async def discard(self, run_id: str) -> None:
        """Forgets a run nobody runs: its record, its code, and its jobs still queued."""
        if run_id in self._owned:
            raise RunInAnotherTabError(f"run {run_id[:8]} is running in this tab: abort it first")
        if run_id in await self._locked_elsewhere():
            raise _in_another_tab(run_id)
        store = self.page.store
        if self.page.queue_storage is not None:
            await self.page.queue_storage.abort_run(run_id)
        await store.runs.delete(run_id)
        await store.backend.delete(RUN_CODE, run_id)

    async def record_abort(self, run_id: str, reason: str) -> bool:
        """Marks a run aborted whose engine the page stopped; False if it had ended anyway
        (or another tab runs it)."""
        if run_id in self._owned:
            return False
        if run_id in await self._locked_elsewhere():
            from . import web_locks

            # The page asks right after terminating the worker that held the run's lock,
            # and the browser frees a terminated worker's locks soon, not at once.
            if not await web_locks.wait_until_free(web_locks.RUN_LOCK + run_id,
                                                   TERMINATED_LOCK_WAIT):
                return False
        store = self.page.store
        try:
            record = await store.runs.get(run_id)
        except RecordNotFoundError:
            return False
        if record.status not in ("pending", "processing"):
            return False
        await store.runs.set_status(run_id, "aborted", error=reason)
        return True

    # -- run history (the library pane's Runs list) ------------------------------------

    async def label(self, run_id: str, name: str) -> bool:
        """Names the graph a run ran (the page's document name); the first name stays, so a
        resume from another document keeps the run's own. False if there is no such run."""
        backend = self.page.store.backend
        saved = await backend.get(RUN_CODE, run_id)
        if not isinstance(saved, dict):
            return False
        if saved.get("name") is None:
            await backend.put(RUN_CODE, run_id, {**saved, "name": str(name)})
        return True

    async def history(self, limit: int = 50) -> list[dict[str, Any]]:
        """Every run of the store, newest first, at most ``limit``: start, duration, status,
        graph name, and whether the page can resume it (its code was kept)."""
        if not isinstance(limit, int) or limit < 1:
            raise ValueError(f"limit must be a positive whole number, not {limit!r}")
        store = self.page.store
        codes = {entry.key: entry.value for entry in await store.backend.scan(RUN_CODE)}
        elsewhere = await self._locked_elsewhere()
        listed = []
        for run in (await store.runs.list())[:limit]:
            saved = codes.get(run.run_id)
            listed.append(self._entry(run, saved if isinstance(saved, dict) else None, elsewhere))
        return listed

    def _entry(self, run: Any, saved: dict[str, Any] | None, elsewhere: set[str]) -> dict:
        owner = ("this tab" if run.run_id in self._owned
                 else "another tab" if run.run_id in elsewhere else None)
        # From its start to the header's last change, which is its end once it has ended;
        # a run still pending or processing (or cut short by a reload) has no duration yet.
        duration = None if run.status in ("pending", "processing") \
            else round(max((run.updated_at - run.created_at).total_seconds() * 1000, 0.0), 1)
        return {
            "run_id": run.run_id, "status": run.status, "error": run.error,
            "created_at": run.created_at.isoformat(), "updated_at": run.updated_at.isoformat(),
            "duration_ms": duration,
            "name": (saved or {}).get("name"), "owner": owner,
            "unfinished": run.status in UNFINISHED and saved is not None,
        }

    async def report(self, run_id: str) -> dict[str, Any]:
        """A past run as the page shows a run's report: its tasks' statuses, outputs and
        errors, with the code it ran (RecordNotFoundError if there is no such run)."""
        store = self.page.store
        record = await store.runs.get(run_id)
        saved = await store.backend.get(RUN_CODE, run_id)
        saved = saved if isinstance(saved, dict) else None
        task_ids = [task["id"] for task in record.graph.get("tasks", []) if "id" in task]
        task_ids += [task_id for task_id in record.tasks if task_id not in task_ids]
        entry = self._entry(record, saved, await self._locked_elsewhere())
        return {
            **entry,
            "ok": record.status == "completed",
            "aborted": record.status == "aborted",
            "statuses": {task_id: record.task_status(task_id) for task_id in task_ids},
            "outputs": record.completed_outputs(),
            "errors": {task_id: task.error for task_id, task in record.tasks.items()
                       if task.error},
            "code": saved.get("code") if saved else None,
            "graph": record.graph,
        }
