"""TaskGraphRunner: runs a TaskGraph, starting each task as soon as its inputs are ready.

This module is the scheduler. There is no layer barrier: completions drive
scheduling under a concurrency bound, and the runner never recurses over the
graph, so the length of a chain is limited only by memory. Running one task
(validation, cache, timeout) is ``execution.py``; array expansion is
``expansion.py``; the persisted run record is ``recording.py``, a listener
on this runner's events.

On a task failure the runner, by default, aborts the tasks still running,
marks everything downstream ``skipped`` and raises the failing task's error
(with the partial :class:`RunResult` as ``error.result``). With
``continue_on_error=True`` independent branches finish and ``run()`` returns,
each failed task's error in ``result.errors``.

Branches: a task fed from an output port that its source left empty on
purpose (an ``If``'s ``then``/``otherwise``, declared in ``branch_ports``)
is skipped, not failed, with what only it feeds; a task that
``joins_branches`` (Fallback over data) runs if any of its inputs came.
Every task also has an ``error`` port: when a task whose error port feeds a
dataflow fails, its error ``{type, message, task_id}`` goes down that edge,
its other outputs count as not taken, and the failure is in
``result.handled``, not ``result.errors``: the run can still complete.

With a ``store`` a run is recorded and owned: its runner holds the run's
owner lease while it runs, and ``resume`` refuses a run whose owner is alive
(:class:`~taskloom.errors.RunOwnedError`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from .cache import TaskOutputRepository, cache_key
from .errors import (
    PortError,
    RunAbortedError,
    StreamClosedError,
    TaskAbortedError,
    TaskError,
    TaskFailedError,
    TaskloomError,
)
from .events import Event, EventEmitter, EventKind
from .execution import TaskExecutor, missing_input, validate_input, validate_output
from .expansion import expanded_ports, run_expanded
from .graph import ERROR_PORT
from .ports import json_native
from .recording import RunRecorder
from .result import RunResult
from .storage.runs import DEFAULT_LEASE
from .streams import TextStream
from .task import AbortSignal, Task, TaskContext, TaskStatus

if TYPE_CHECKING:
    from .dataflow import Dataflow
    from .graph import TaskGraph
    from .storage.runs import RunOwner

__all__ = ["DEFAULT_CONCURRENCY", "RunResult", "TaskGraphRunner"]

log = logging.getLogger("taskloom.runner")

DEFAULT_CONCURRENCY = 16
_TASK_START, _TASK_COMPLETE = EventKind.TASK_START, EventKind.TASK_COMPLETE
_GRAPH_PROGRESS = EventKind.GRAPH_PROGRESS
_TASK_CACHE_HIT = EventKind.TASK_CACHE_HIT
# Reading an enum member off its class costs ~0.1 µs on CPython 3.11; the
# per-task path reads these a handful of times per task.
_PENDING, _PROCESSING = TaskStatus.PENDING, TaskStatus.PROCESSING
_COMPLETED, _FAILED = TaskStatus.COMPLETED, TaskStatus.FAILED
_SKIPPED = TaskStatus.SKIPPED
#: Separates a task id from a step number in the run record's checkpoint rows.
CHECKPOINT_SEPARATOR = "\x1f"
#: Seconds a run's owner lease lasts unless renewed; the runner renews it every third.
DEFAULT_OWNER_LEASE = DEFAULT_LEASE


class TaskGraphRunner:
    def __init__(
        self,
        graph: TaskGraph,
        *,
        output_repository: TaskOutputRepository | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        continue_on_error: bool = False,
        run_id: str | None = None,
        store: Any = None,
        services: dict[str, Any] | None = None,
        logger: logging.Logger | None = None,
        owner_lease: float = DEFAULT_OWNER_LEASE,
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not owner_lease > 0:
            raise ValueError("owner_lease must be a positive number of seconds")
        self.graph = graph
        #: Where the run record is persisted (a ``taskloom.storage.Store``), if anywhere.
        self.store = store
        if output_repository is None and store is not None:
            output_repository = store.outputs
        self.output_repository = output_repository
        self.concurrency = concurrency
        self.continue_on_error = continue_on_error
        self.run_id = run_id or uuid.uuid4().hex
        # What tasks can reach through ctx.services: the store (model records,
        # queues) and anything the caller adds.
        self.services = dict(services or {})
        if store is not None:
            self.services.setdefault("store", store)
        if output_repository is not None:
            # Bodies (GraphAsTask, Map, While, …) run their inner tasks with the same cache.
            self.services.setdefault("output_repository", output_repository)
        self.logger = logger or log
        self.events = EventEmitter()
        self.owner_lease = owner_lease
        #: Outputs of the tasks a resumed run already completed (set by ``for_resume``).
        self.resume_outputs: dict[str, dict[str, Any]] | None = None
        self._claimed: RunOwner | None = None
        self._reset()

    def _reset(self) -> None:
        self.result = RunResult(self.run_id, self.graph)
        self._signal = AbortSignal()
        self._workers: list[asyncio.Task] = []
        self._current: dict[asyncio.Task, str] = {}
        self._waiters: deque[asyncio.Future] = deque()
        self._progress: dict[str, float] = {}
        self._ready: deque[str] = deque()
        self._remaining: dict[str, int] = {}
        self._successors: Mapping[str, Iterable[str]] = {}
        self._stopping: str | None = None
        self._first_error: TaskloomError | None = None
        self._finished = 0
        self._progress_step = -1
        self._progress_next = 0
        self._done: asyncio.Future | None = None
        self._reactive = False
        self._recorder: RunRecorder | None = None
        self._executor: TaskExecutor | None = None
        # Tasks fed from a branch port (If's, or an error port): decided, not just readied.
        self._gated: set[str] = set()
        # Tasks whose error port feeds a dataflow.
        self._gated_sources: set[str] = set()
        # Streaming: producer -> the consumers it releases when it starts, the
        # (producer, consumer) pairs released, and the open streams by (task, port).
        self._stream_consumers: dict[str, list[str]] = {}
        self._released: set[tuple[str, str]] = set()
        self._live: dict[tuple[str, str], TextStream] = {}

    # -- public ------------------------------------------------------------------------

    def on(self, kind: EventKind | str, listener: Callable[[Event], Any]) -> Callable[[], None]:
        return self.events.on(kind, listener)

    async def run(self, *, reactive: bool = False,
                  outputs: dict[str, dict[str, Any]] | None = None) -> RunResult:
        """Run the graph; see the module docstring for failure handling.

        ``outputs`` pre-seeds completed tasks: they are not run. With a store
        this continues the recorded run of this ``run_id`` and takes it over
        without asking whether another runner owns it: use :meth:`resume`
        (or :meth:`for_resume`) to have a live owner refused.
        """
        if self._done is not None and not self._done.done():
            raise RuntimeError("this runner is already running")
        if outputs is None and self.resume_outputs is not None and not reactive:
            outputs, self.resume_outputs = self.resume_outputs, None
        self._reset()
        self._reactive = reactive
        self._executor = TaskExecutor(self.graph, self.result, self.output_repository,
                                      reactive=reactive, emit=self._emit)
        if self.store is not None and not reactive:
            recorder = RunRecorder(self.store, self.run_id, self.graph, self.result,
                                   lease=self.owner_lease, owner=self._claimed,
                                   abort=self.abort, logger=self.logger)
            self._claimed = None
            await recorder.open(self.events, resuming=outputs is not None)
            self._recorder = recorder
            self.services["on_job"] = recorder.on_job
        result = self.result
        result.started_at = time.time()
        statuses = result.statuses
        statuses.update(dict.fromkeys(self.graph._tasks, _PENDING))
        self._remaining = self.graph.predecessor_counts()
        self._successors = self.graph.successor_map()
        self._gated, self._gated_sources = _gated_tasks(self.graph)
        if not reactive:
            self._stream_consumers = _stream_consumers(self.graph, self._gated)
        self._emit(EventKind.GRAPH_START, details={"tasks": len(statuses)})

        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        saved: dict[str, dict[str, Any]] = {}
        for task_id, output in (outputs or {}).items():
            if task_id in statuses:
                result.outputs[task_id] = output
                statuses[task_id] = TaskStatus.COMPLETED
                self._finished += 1
                for succ in self._successors[task_id]:
                    self._remaining[succ] -= 1
            elif CHECKPOINT_SEPARATOR in task_id:
                saved[task_id] = output
        if self._recorder is not None:
            # Map and While record each finished item/iteration here, and read them on resume.
            self.services["checkpoints"] = Checkpoints(self.run_id, self._recorder, saved)
        for t, waiting in self._remaining.items():  # (in the graph's task order)
            if waiting == 0 and statuses[t] is _PENDING:
                if t in self._gated and self.graph._inputs[t]:
                    self._decide(t)
                else:
                    self._ready.append(t)
        # A fixed pool of worker coroutines pulls ready tasks: no asyncio.Task per
        # graph task, and a chain runs without a trip through the event loop.
        pending = len(statuses) - self._finished
        for _ in range(min(self.concurrency, pending)):
            worker = loop.create_task(self._work())
            self._workers.append(worker)
        self._check_done()
        try:
            await asyncio.shield(self._done)
        except asyncio.CancelledError:
            self.abort("the run was cancelled")
            await self._drain()
            await self._close_record(quietly=True)
            raise
        await self._drain()
        await self._close_record()
        return self._finish()

    @classmethod
    async def for_resume(cls, run_id: str, *, store: Any, registry: Any = None,
                         take_over: bool = False, **options: Any) -> TaskGraphRunner:
        """A runner that owns the recorded run ``run_id``; its ``run()`` finishes it.

        Claims the run's owner lease first: while another runner's lease is
        live this raises :class:`~taskloom.errors.RunOwnedError`, naming the
        owner and when its lease expires. A lease whose process is known dead
        (this host, no such pid) is taken over at once. ``take_over=True``
        takes the run over whatever the lease says: for a caller that knows
        the old owner is dead, such as the page once the run's Web Lock is free.
        ``options`` are the constructor's. ``resume_outputs`` holds the
        outputs of the tasks already done.
        """
        from .graph import TaskGraph

        lease = options.get("owner_lease", DEFAULT_OWNER_LEASE)
        claimed = await store.runs.claim(run_id, lease=lease, take_over=take_over)
        try:
            record = await store.runs.get(run_id)
            graph = TaskGraph.from_json(record.graph, registry)
            runner = cls(graph, run_id=run_id, store=store, **options)
        except BaseException:
            try:
                await store.runs.release(run_id, claimed)
            except TaskloomError as exc:  # it expires by itself
                log.warning("run %s: could not release its owner lease: %s", run_id, exc)
            raise
        runner._claimed = claimed
        runner.resume_outputs = record.completed_outputs()
        return runner

    @classmethod
    async def resume(cls, run_id: str, *, store: Any, registry: Any = None,
                     take_over: bool = False, **options: Any) -> RunResult:
        """Finish an interrupted run recorded in ``store``.

        Completed tasks keep their recorded outputs and do not run again;
        every other task runs (a task that was in flight when the run stopped
        runs again: at-least-once). A run that another live runner owns is
        refused (see :meth:`for_resume`, also for ``take_over``).
        """
        runner = await cls.for_resume(run_id, store=store, registry=registry,
                                      take_over=take_over, **options)
        return await runner.run()

    async def run_reactive(self) -> RunResult:
        """Run every task's ``run_reactive`` preview: no side effects, never cached."""
        return await self.run(reactive=True)

    def abort(self, reason: str = "aborted") -> None:
        """Stop the run: running tasks are aborted, nothing new starts."""
        if self._stopping is None:
            self._stopping = reason
        self._signal.abort(reason)
        for worker in list(self._current):
            worker.cancel(reason)
        self._wake_all()

    # -- the persisted run record ------------------------------------------------------

    async def _close_record(self, *, quietly: bool = False) -> None:
        recorder, self._recorder = self._recorder, None
        if recorder is None:
            return
        self.services.pop("on_job", None)
        self.services.pop("checkpoints", None)
        result = self.result
        if self._stopping is not None and self._first_error is None:
            status, error = "aborted", self._stopping
        elif result.errors and any(s is TaskStatus.FAILED for s in result.statuses.values()):
            status, error = "failed", str(self._first_error or next(iter(result.errors.values())))
        else:
            status, error = "completed", None
        try:
            await recorder.close(status, error)
        except TaskloomError as exc:
            if quietly:
                self.logger.warning("run %s: %s", self.run_id, exc)
                return
            # A run whose record could not be kept is not complete, whatever its tasks did.
            result.status = "failed" if status == "completed" else status
            result.finished_at = time.time()
            exc.result = result
            raise

    # -- scheduling --------------------------------------------------------------------

    async def _work(self) -> None:
        me = asyncio.current_task()
        ready, current = self._ready, self._current
        loop = asyncio.get_running_loop()
        while True:
            while ready and self._stopping is None:
                task_id = ready.popleft()
                if self.result.statuses[task_id] is not _PENDING:
                    continue  # a stream consumer skipped while it waited (its producer failed)
                current[me] = task_id
                try:
                    await self._run_task(task_id)
                finally:
                    del current[me]
                self._task_done(task_id)
            if self._done.done() or self._stopping is not None:
                return
            waiter = loop.create_future()
            self._waiters.append(waiter)
            await waiter

    def _wake(self, count: int) -> None:
        waiters = self._waiters
        while count > 0 and waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                count -= 1

    def _wake_all(self) -> None:
        self._wake(len(self._waiters))

    def _task_done(self, task_id: str) -> None:
        if self._progress:
            self._progress.pop(task_id, None)
        self._finished += 1
        statuses = self.result.statuses
        status = statuses[task_id]
        if status is _COMPLETED or (status is _FAILED and task_id in self.result.handled):
            remaining, ready, gated = self._remaining, self._ready, self._gated
            released = self._released
            for succ in self._successors[task_id]:
                if released and (task_id, succ) in released:
                    continue  # it started when this task did (it reads this one's stream)
                remaining[succ] -= 1
                if remaining[succ] == 0 and statuses[succ] is _PENDING:
                    if gated and succ in gated:
                        self._decide(succ)
                    else:
                        ready.append(succ)
            if len(ready) > 1 and self._waiters:
                # This worker takes one; idle ones take the rest.
                self._wake(len(ready) - 1)
        else:
            self._skip_downstream(task_id)
            if status is _FAILED and not self.continue_on_error \
                    and not self._reactive and self._stopping is None:
                self.abort(f"task {task_id!r} failed")
        events = self.events
        if (events._all or _GRAPH_PROGRESS in events._by_kind) \
                and (self._progress or self._finished >= self._progress_next):
            self._emit_graph_progress()
        if not self._ready or self._stopping is not None:
            self._check_done()  # (with tasks ready and no stop, it would return at once)

    def _check_done(self) -> None:
        if self._current or (self._ready and self._stopping is None):
            return
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
            self._wake_all()

    def _inactive(self, dataflow: Dataflow) -> bool:
        """Whether ``dataflow`` carries nothing because its branch was not taken."""
        source = dataflow.source_task_id
        status = self.result.statuses[source]
        if status is _SKIPPED:
            return True
        if status is _FAILED:  # a handled failure: only its error port carries a value
            return dataflow.source_port != ERROR_PORT
        if dataflow.source_port in self.result.outputs.get(source, ()):
            return False
        return _is_branch_port(self.graph._tasks[source], dataflow.source_port)

    def _decide(self, task_id: str) -> None:
        """All of ``task_id``'s upstream tasks are done: run it, or skip it (and what
        only it feeds) when a branch into it was not taken.

        A task that joins branches (``joins_branches``, as Fallback over data does)
        runs when any of its inputs' branches was taken."""
        statuses, graph = self.result.statuses, self.graph
        stack = [task_id]
        while stack:
            current = stack.pop()
            flows = graph._inputs[current]
            inactive = [d for d in flows if self._inactive(d)]
            joins = getattr(graph._tasks[current], "joins_branches", False)
            if not inactive or (joins and len(inactive) < len(flows)):
                self._ready.append(current)
                continue
            statuses[current] = _SKIPPED
            self._finished += 1
            self._emit(EventKind.TASK_SKIPPED, current,
                       message=f"skipped: branch not taken ({inactive[0]})")
            for succ in self._successors[current]:
                # Whatever it feeds now has a dead input: decide it too when its turn comes.
                self._gated.add(succ)
                self._remaining[succ] -= 1
                if self._remaining[succ] == 0 and statuses[succ] is _PENDING:
                    stack.append(succ)

    def _skip_downstream(self, task_id: str) -> None:
        statuses = self.result.statuses
        stack = list(self._successors[task_id])
        while stack:
            succ = stack.pop()
            if statuses[succ] is not TaskStatus.PENDING:
                continue
            statuses[succ] = TaskStatus.SKIPPED
            self._finished += 1
            self._emit(EventKind.TASK_SKIPPED, succ,
                       message=f"skipped: upstream task {task_id!r} did not complete")
            stack.extend(self._successors[succ])

    async def _drain(self) -> None:
        self._wake_all()
        if self._workers:
            await asyncio.gather(*self._workers, return_exceptions=True)

    def _finish(self) -> RunResult:
        result = self.result
        result.finished_at = time.time()
        if self._stopping is not None and self._first_error is None:
            result.status = "aborted"
            err = RunAbortedError(f"run {self.run_id} was aborted: {self._stopping}")
            err.result = result
            self._emit(EventKind.GRAPH_ABORT, message=self._stopping)
            raise err
        if self._first_error is not None and not self.continue_on_error and not self._reactive:
            result.status = "failed"
            self._emit(EventKind.GRAPH_ERROR, error=str(self._first_error))
            self._first_error.result = result
            raise self._first_error
        result.status = "failed" if result.errors else "completed"
        if result.errors:
            self._emit(EventKind.GRAPH_ERROR, error=f"{len(result.errors)} task(s) failed")
        else:
            self._emit(EventKind.GRAPH_COMPLETE, progress=1.0)
        return result

    # -- one task ----------------------------------------------------------------------

    async def _run_task(self, task_id: str) -> None:
        graph = self.graph
        task = graph._tasks[task_id]
        result = self.result
        statuses = result.statuses
        statuses[task_id] = _PROCESSING
        signal = self._signal
        events = self.events
        events_on = bool(events._all or events._by_kind)
        executor = self._executor
        plan = _PLANS.get(type(task), _NO_PLAN)
        if plan is _NO_PLAN:
            plan = _plan(task)
        if events_on:
            events.send(_TASK_START, self.run_id, task_id, None,
                        task.config_title or task.title or task.type if plan
                        else task.display_title)
        try:
            if plan and plan.plain_inputs and not graph._transforms:
                # gather_inputs where no input takes a list and no dataflow transforms:
                # the defaults, then each dataflow's value into its port.
                defaults = task._defaults
                values = dict(defaults) if defaults else {}
                flows = graph._inputs[task_id]
                if flows:
                    outputs = result.outputs
                    for source_id, source_port, _, port_name in flows:
                        source = outputs.get(source_id)
                        if source is not None and source_port in source:
                            values[port_name] = source[source_port]
            else:
                values = executor.gather_inputs(task)
            if self._reactive and missing_input(task, values) is not None:
                statuses[task_id] = TaskStatus.SKIPPED
                if events_on:
                    self._emit(EventKind.TASK_SKIPPED, task_id, message="no preview input")
                return
            expand = None
            for value in values.values():
                if isinstance(value, list):  # (only a list is expanded: ask which ports)
                    expand = expanded_ports(task, values)
                    break
            live = self._live
            if live:
                self._attach_streams(task_id, values)
            ctx = _task_context(self.run_id, task_id, signal, self.logger, self.services,
                                self._stream_reporter(task)
                                if (plan.streams if plan else _streams(task)) else None,
                                self._report_progress if events_on else None)
            if not expand and task_id in self._stream_consumers:
                self._open_streams(task)
            if expand:
                output = await run_expanded(executor.run_one, task, values, expand, ctx,
                                            None if self._reactive else executor.run_many)
            elif not plan or task.timeout is not None or self._reactive or (
                    executor.repository is not None and task.is_cacheable
                    and (live or not plan.json_input)):
                # (a stream still arriving has no cache key yet: run_one knows what to do)
                output = await executor.run_one(task, values, ctx)
            else:
                # What run_one does with no timeout, without its coroutine frames: most
                # of a no-op task's time is such overhead.
                try:
                    model = plan.inputs.validate_python(values)
                except ValidationError:
                    model = validate_input(task, values)  # raises, in its words
                repository, key, output = executor.repository, None, None
                if repository is not None and task.is_cacheable:
                    # A plain input model: its __dict__ is its JSON dump, the key's text.
                    key = cache_key(task.type, task.version, model.__dict__)
                    output = await repository.get_output(key)
                    if output is not None:
                        result.cache_hits.add(task_id)
                        if events_on:
                            events.send(_TASK_CACHE_HIT, self.run_id, task_id, None, None,
                                        output)
                if output is None:
                    raw = await task.run(model, ctx)
                    try:
                        # A plain output model: the validated instance's __dict__ is its
                        # JSON dump (see ports.json_native).
                        output = dict(plan.outputs.validate_python(raw).__dict__) \
                            if type(raw) is dict else validate_output(task, raw)
                    except ValidationError:
                        output = validate_output(task, raw)  # raises, in its words
                    if key is not None:
                        await repository.put_output(key, output)
        except asyncio.CancelledError:
            self._aborted(task_id)
            return
        except TaskloomError as exc:
            if signal.aborted:  # it failed because it was told to stop (its job was aborted)
                self._aborted(task_id)
                return
            self._fail(task, exc)
            self._close_streams(task_id, None, exc)
            return
        except Exception as exc:  # the task's own code raised
            if signal.aborted:  # as it was being stopped: that is the abort, not a failure
                self._aborted(task_id)
                return
            error = TaskFailedError(f"task {task_id!r} ({task.type}) failed: "
                                    f"{type(exc).__name__}: {exc}", task_id)
            error.__cause__ = exc
            self._fail(task, error)
            self._close_streams(task_id, None, error)
            return
        if self._live:
            self._close_streams(task_id, output, None)
        result.outputs[task_id] = output
        statuses[task_id] = _COMPLETED
        if events_on:
            events.send(_TASK_COMPLETE, self.run_id, task_id, 1.0, None, output)

    def _aborted(self, task_id: str) -> None:
        self.result.statuses[task_id] = TaskStatus.ABORTED
        reason = self._signal.reason or self._stopping or "cancelled"
        error = TaskAbortedError(f"task {task_id!r} was aborted: {reason}", task_id)
        self.result.errors.setdefault(task_id, error)
        self._emit(EventKind.TASK_ABORT, task_id, message=reason)
        self._close_streams(task_id, None, error)

    def _fail(self, task: Task, error: TaskloomError) -> None:
        if isinstance(error, TaskError) and error.task_id is None:
            error.task_id = task.id
        self.result.statuses[task.id] = TaskStatus.FAILED
        if task.id in self._gated_sources and not self._reactive:
            # Its error port is connected: the error goes down that edge and the run goes on.
            self.result.handled[task.id] = error
            self.result.outputs[task.id] = {ERROR_PORT: {
                "type": type(error.__cause__ or error).__name__, "message": str(error),
                "task_id": task.id}}
            self._emit(EventKind.TASK_ERROR, task.id, error=str(error),
                       details={"handled": True})
            return
        self.result.errors[task.id] = error
        if self._first_error is None:
            self._first_error = error
        self._emit(EventKind.TASK_ERROR, task.id, error=str(error))

    # -- events ----------------------------------------------------------------------

    def _report_progress(self, task_id: str, fraction: float, message: str | None,
                         details: dict[str, Any] | None) -> None:
        """A task's ``ctx.progress``: TaskContext binds it to the task's id."""
        self._progress[task_id] = fraction
        self._emit(EventKind.TASK_PROGRESS, task_id, progress=fraction, message=message,
                   details=details)
        if self.events.wants(EventKind.GRAPH_PROGRESS):
            self._emit_graph_progress()

    def _stream_reporter(self, task: Task):
        ports = _stream_ports(task)
        counts: dict[Any, int] = {}
        task_id = task.id

        def report(port: str, delta: str, where: dict[str, Any] | None = None) -> None:
            # ``where``: an item of an expansion, or an inner task of a body (compound.py):
            # a stream of its own, with its own index, that no consumer reads live.
            if port not in ports and not (where and "inner" in where):
                raise PortError(
                    f"task {task_id!r} ({task.type}) streamed to {port!r}, which is not a "
                    f"streaming output port; its streaming outputs are: "
                    f"{', '.join(ports) or 'none'}")
            if not isinstance(delta, str):
                raise TypeError(f"a stream delta is text, not {type(delta).__name__}")
            key = port if where is None else (port, *where.items())
            index = counts.get(key, 0)
            counts[key] = index + 1
            details = {"port": port, "delta": delta, "index": index}
            if where is None:
                stream = self._live.get((task_id, port))
                if stream is not None:
                    stream.push(delta)
            else:
                details.update(where)
            self._emit(EventKind.TASK_STREAM, task_id, details=details)

        return report

    def _open_streams(self, task: Task) -> None:
        """``task`` starts: open its streams and start the tasks that read them (once
        nothing else holds them back)."""
        task_id = task.id
        for port in _stream_ports(task):
            self._live[(task_id, port)] = TextStream(f"{task_id}.{port}")
        statuses, remaining, ready = self.result.statuses, self._remaining, self._ready
        for consumer in self._stream_consumers[task_id]:
            self._released.add((task_id, consumer))
            remaining[consumer] -= 1
            if remaining[consumer] == 0 and statuses[consumer] is _PENDING:
                ready.append(consumer)
                self._wake(1)

    def _attach_streams(self, task_id: str, values: dict[str, Any]) -> None:
        """Give a released consumer its producers' open streams (a producer that is done
        already gave its output through ``gather_inputs``)."""
        outputs = self.result.outputs
        for dataflow in self.graph._inputs[task_id]:
            source = dataflow.source_task_id
            stream = self._live.get((source, dataflow.source_port))
            if stream is not None and source not in outputs \
                    and (source, task_id) in self._released:
                values[dataflow.target_port] = stream

    def _close_streams(self, task_id: str, output: dict[str, Any] | None,
                       error: BaseException | None) -> None:
        live = self._live
        if not live:
            return
        for key in [k for k in live if k[0] == task_id]:
            stream = live.pop(key)
            value = output.get(key[1]) if output is not None else None
            if isinstance(value, str):
                stream.finish(value)
            else:
                stream.fail(error or StreamClosedError(
                    f"task {task_id!r} gave no text for {key[1]!r}", task_id))

    def _emit_graph_progress(self) -> None:
        total = len(self.result.statuses) or 1
        progress = self._progress
        done = self._finished + sum(progress.values()) if progress else self._finished
        # At most ~1000 graph_progress events per run, however many tasks it has.
        step = int(done * 1000 / total)
        if step == self._progress_step and self._finished < total:
            return
        self._progress_step = step
        # The count of finished tasks at which the step next changes (when no task is
        # part-way): _task_done need not call here before.
        self._progress_next = min(-(-(step + 1) * total // 1000), total)
        self._emit(EventKind.GRAPH_PROGRESS, progress=min(1.0, done / total),
                   details={"finished": self._finished, "total": total})

    def _emit(self, kind: EventKind, task_id: str | None = None, **fields: Any) -> None:
        self.events.send(kind, self.run_id, task_id, **fields)


_new_object = object.__new__


def _task_context(run_id: str, task_id: str, signal: AbortSignal, logger: logging.Logger,
                  services: dict[str, Any], on_stream: Callable[[str, str], None] | None,
                  report: Callable[..., None] | None) -> TaskContext:
    """``TaskContext(run_id, task_id, signal, None, logger, services, on_stream,
    report=report)``, its slots set without the call's keyword handling: a run makes one
    per task, and the call was a tenth of a no-op task's time. A test checks that this
    sets every slot TaskContext has."""
    ctx = _new_object(TaskContext)
    ctx.run_id = run_id
    ctx.task_id = task_id
    ctx.signal = signal
    ctx.logger = logger
    ctx.services = services or {}  # (as TaskContext does)
    ctx._progress_fn = None
    ctx._report = report
    ctx._on_stream = on_stream
    return ctx


def _is_branch_port(task: Task, port: str) -> bool:
    if port == ERROR_PORT:
        return ERROR_PORT not in task.output_ports.by_name
    ports = _BRANCH_PORTS.get(type(task))
    if ports is None:
        ports = _BRANCH_PORTS[type(task)] = frozenset(getattr(type(task), "branch_ports", ()))
    return port in ports


#: Task class -> its branch ports (looked up once per class: a run asks once per edge).
_BRANCH_PORTS: dict[type, frozenset[str]] = {}
_TASK_OUTPUT_MODEL = Task.output_model  # the property a compound task overrides
_TASK_INPUT_MODEL = Task.input_model
#: Task class (or, for a compound task, which derives its ports, its output model)
#: -> its streaming output ports: asked once per task of a run, so kept cheap.
_STREAM_PORTS: dict[type, tuple[str, ...]] = {}
#: Classes whose instances derive their output model (GraphAsTask, Map, …).
_DERIVED_PORTS: set[type] = set()


def _stream_ports(task: Task) -> tuple[str, ...]:
    cls = type(task)
    ports = _STREAM_PORTS.get(cls)
    if ports is not None:
        return ports
    key: type = cls
    if cls in _DERIVED_PORTS or cls.output_model is not _TASK_OUTPUT_MODEL:
        _DERIVED_PORTS.add(cls)
        key = task.output_model
        ports = _STREAM_PORTS.get(key)
        if ports is not None:
            return ports
    ports = _STREAM_PORTS[key] = tuple(p.name for p in task.output_ports if p.stream)
    return ports


class _Plan(NamedTuple):
    """How a run takes a task of a plain class (its ports its own, no branch ports, an
    output model whose ``__dict__`` is its JSON dump) with fewer calls than the general
    path: what that path would ask of each task, asked once per class."""

    inputs: Any  # the Input model's validator
    outputs: Any  # the Output model's
    #: No input port takes a list and ``default_values`` is Task's: gathering the input
    #: is assigning each dataflow's value to its port.
    plain_inputs: bool
    #: The validated Input's ``__dict__`` is its JSON dump (ports.json_native): the
    #: cache key needs no serialiser.
    json_input: bool
    #: Whether its tasks may send stream deltas (``_streams``).
    streams: bool


#: Task class -> its plan, or None for a class the general path takes (see ``_Plan``).
_PLANS: dict[type, _Plan | None] = {}
_NO_PLAN: Any = object()


def _plan(task: Task) -> _Plan | None:
    cls = type(task)
    plan = None
    try:
        if cls.input_model is _TASK_INPUT_MODEL and cls.output_model is _TASK_OUTPUT_MODEL \
                and cls.display_title is Task.display_title \
                and not getattr(cls, "branch_ports", None) and json_native(cls.Output):
            plain_inputs = cls.default_values is Task.default_values \
                and cls.input_ports is Task.input_ports \
                and not any(port.is_list for port in task.input_ports)
            plan = _Plan(cls.Input.__pydantic_validator__, cls.Output.__pydantic_validator__,
                         plain_inputs, json_native(cls.Input), _streams(task))
    except Exception:  # (a model json_native cannot read: the general path says why)
        plan = None
    _PLANS[cls] = plan
    return plan


def _forwards_streams(task: Task) -> bool:
    """Whether ``task`` runs inner graphs whose deltas it sends on (GraphAsTask, Map, …)."""
    cls = type(task)
    forwards = _FORWARDS.get(cls)
    if forwards is None:
        forwards = _FORWARDS[cls] = bool(getattr(cls, "forwards_streams", False))
    return forwards


#: Task class -> whether it forwards its inner runs' stream deltas.
_FORWARDS: dict[type, bool] = {}


def _streams(task: Task) -> bool:
    """Whether ``task`` may send stream deltas (its own, or forwarded): one look-up per
    task of a run, for a class whose ports are its own."""
    cls = type(task)
    streams = _STREAMS.get(cls)
    if streams is None:
        streams = bool(_stream_ports(task) or _forwards_streams(task))
        if cls not in _DERIVED_PORTS:
            _STREAMS[cls] = streams
    return streams


#: Task class (not one that derives its ports) -> whether its tasks may stream.
_STREAMS: dict[type, bool] = {}


def _stream_consumers(graph: TaskGraph, gated: set[str]) -> dict[str, list[str]]:
    """Producer -> the tasks that may start as soon as it starts: every edge between
    them goes from a streaming output into a streaming input, untransformed.

    A task fed from a branch is decided when its inputs are done, so it is left out."""
    tasks, transforms = graph._tasks, graph._transforms
    pairs: dict[tuple[str, str], bool] = {}
    own = _STREAM_PORTS
    for d in graph._modes:
        source = tasks[d[0]]
        # A class whose ports are its own is known by its class alone: one look-up.
        source_streams = own.get(type(source))
        if source_streams is None:
            source_streams = _stream_ports(source)
        if not source_streams:
            continue  # the common case: nothing it gives streams
        pair = (d.source_task_id, d.target_task_id)
        streams = d.source_port in source_streams
        if streams:
            target_port = tasks[pair[1]].input_ports.by_name.get(d.target_port)
            streams = (target_port is not None and target_port.stream
                       and not target_port.is_list and not (transforms and d in transforms)
                       and pair[1] not in gated)
        pairs[pair] = pairs.get(pair, True) and streams
    out: dict[str, list[str]] = {}
    for (source, target), streams in pairs.items():
        if streams:
            out.setdefault(source, []).append(target)
    return out


def _gated_tasks(graph: TaskGraph) -> tuple[set[str], set[str]]:
    """Tasks fed by a branch port, and the tasks whose error port is connected."""
    gated, routed = set(), set()
    tasks = graph._tasks
    known = _BRANCH_PORTS
    for d in graph._modes:
        source, port = tasks[d[0]], d[1]
        ports = known.get(type(source)) if port != ERROR_PORT else None
        if port in ports if ports is not None else _is_branch_port(source, port):
            gated.add(d.target_task_id)
            if port == ERROR_PORT:
                routed.add(d.source_task_id)
    # When a routed task fails, its other outputs carry nothing: what they feed is decided too.
    gated.update(d.target_task_id for d in graph._modes if d.source_task_id in routed)
    return gated, routed


class Checkpoints:
    """Steps of long tasks (a Map's items, a While's iterations), kept in the run record.

    A step is a row of the run's record under ``<task>\x1f<step>``; the runner
    passes those of a resumed run back here, so the task continues after its
    last recorded step. Inner runs (a Map's body) share their outer run's
    checkpoints, under their own run id.
    """

    def __init__(self, run_id: str, recorder: RunRecorder,
                 saved: dict[str, dict[str, Any]]) -> None:
        self.run_id = run_id
        self._recorder = recorder
        self._saved = saved

    def _prefix(self, run_id: str, task_id: str) -> str:
        inner = run_id[len(self.run_id) + 1:] if run_id.startswith(self.run_id + "/") else ""
        return f"{inner}/{task_id}{CHECKPOINT_SEPARATOR}" if inner \
            else f"{task_id}{CHECKPOINT_SEPARATOR}"

    def saved(self, run_id: str, task_id: str) -> dict[str, dict[str, Any]]:
        """The recorded steps of ``task_id`` (in run ``run_id``), by step name."""
        prefix = self._prefix(run_id, task_id)
        return {key[len(prefix):]: value for key, value in self._saved.items()
                if key.startswith(prefix)}

    def save(self, run_id: str, task_id: str, step: str, data: dict[str, Any]) -> None:
        self._recorder._stage(self._prefix(run_id, task_id) + step,
                              {"status": "completed", "output": data})
