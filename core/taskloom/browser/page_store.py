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
must be their choice.

Outside Pyodide (the engine's CPython tests) the page store is in memory.
"""

from __future__ import annotations

import hashlib
import sys
import time
import uuid
from typing import Any

from taskloom.errors import RecordNotFoundError
from taskloom.storage import Store, open_store

PAGE_DATABASE = "taskloom"
#: The code each page run executed, by run id: what "Resume" runs again.
RUN_CODE = "page_runs"
#: Run statuses that mean "stopped before it finished" once the page reloads.
UNFINISHED = ("pending", "processing")


class PageStore:
    """The page's Store and queue storage, opened on first use."""

    def __init__(self, url: str | None = None) -> None:
        in_browser = sys.platform == "emscripten"
        self.url = url or (f"indexeddb://{PAGE_DATABASE}" if in_browser else "memory://")
        self.store: Store = open_store(self.url)
        self.queue_storage: Any = None
        if self.url.startswith("indexeddb://"):
            from taskloom.queue import create_queue_storage

            self.queue_storage = create_queue_storage(self.url)

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

    def __getattr__(self, name: str) -> Any:  # count, size, clear, clear_older_than
        return getattr(self._outputs, name)


def _code_box_types(graph: Any) -> set[str]:
    from .engine import CODE_MODULE  # engine imports this module

    return {task.type for task in graph.tasks if type(task).__module__ == CODE_MODULE}


class _Run:
    """What the engine runs: a fresh run of a Workflow, or a resumed recorded run.

    Both look alike to the engine: ``events``, ``run()`` and ``abort()``.
    """

    def __init__(self, runner_like: Any, start: Any) -> None:
        self.events = runner_like.events
        self._target = runner_like
        self._start = start

    async def run(self) -> Any:
        return await self._start()

    def abort(self, reason: str = "aborted") -> None:
        self._target.abort(reason)


class PageRuns:
    """Code-box runs recorded in the page store: cached, resumable."""

    def __init__(self, page: PageStore) -> None:
        self.page = page
        page.install_queues()

    async def prepare(self, workflow: Any, code: str, resume: str | None = None) -> _Run:
        """The run to start for ``workflow``, built from ``code``; ``resume``: a run id."""
        self.page.install_queues()
        store = self.page.store
        if resume is None:
            run_id = uuid.uuid4().hex
            await store.backend.put(RUN_CODE, run_id, {"code": code, "started_at": time.time()})
            outputs = CodeKeyedOutputs(store.outputs, code, _code_box_types(workflow.graph))
            return _Run(workflow, lambda: workflow.run(store=store, run_id=run_id,
                                                       output_repository=outputs))
        from taskloom.graph import TaskGraph
        from taskloom.runner import TaskGraphRunner

        record = await store.runs.get(resume)
        graph = TaskGraph.from_json(record.graph)
        outputs = CodeKeyedOutputs(store.outputs, code, _code_box_types(graph))
        runner = TaskGraphRunner(graph, run_id=resume, store=store, output_repository=outputs)
        return _Run(runner, lambda: runner.run(outputs=record.completed_outputs()))

    async def code_of(self, run_id: str) -> str:
        saved = await self.page.store.backend.get(RUN_CODE, run_id)
        if saved is None:
            raise RecordNotFoundError(f"no page run {run_id!r} to resume (its code was not kept)")
        return saved["code"]

    async def unfinished(self) -> list[dict[str, Any]]:
        """Runs of this page that stopped before they finished, newest first."""
        store = self.page.store
        with_code = set(await store.backend.keys(RUN_CODE))
        return [
            {"run_id": run.run_id, "status": run.status,
             "created_at": run.created_at.isoformat()}
            for run in await store.runs.list()
            if run.status in UNFINISHED and run.run_id in with_code
        ]

