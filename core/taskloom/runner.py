"""TaskGraphRunner: runs a TaskGraph, starting each task as soon as its inputs are ready.

There is no layer barrier: completions drive scheduling through done-callbacks,
under a concurrency bound. The runner never recurses over the graph, so the
length of a chain is limited only by memory.

On a task failure the runner, by default, aborts the tasks still running,
marks everything downstream ``skipped`` and raises the failing task's error
(with the partial :class:`RunResult` as ``error.result``). With
``continue_on_error=True`` independent branches finish and ``run()`` returns,
each failed task's error in ``result.errors``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .cache import TaskOutputRepository, cache_key
from .errors import (
    MissingInputError,
    RunAbortedError,
    TaskAbortedError,
    TaskError,
    TaskFailedError,
    TaskInputError,
    TaskloomError,
    TaskOutputError,
    TaskTimeoutError,
)
from .events import Event, EventEmitter, EventKind
from .task import AbortSignal, TaskContext, TaskStatus

if TYPE_CHECKING:
    from .graph import TaskGraph
    from .task import Task

log = logging.getLogger("taskloom.runner")

DEFAULT_CONCURRENCY = 16


@dataclass(repr=False)
class RunResult:
    """What a run produced: outputs, statuses and errors by task id."""

    run_id: str
    graph: TaskGraph
    status: str = "running"
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    errors: dict[str, TaskloomError] = field(default_factory=dict)
    cache_hits: set[str] = field(default_factory=set)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def leaves(self) -> dict[str, dict[str, Any]]:
        """Outputs of the graph's leaves (tasks no dataflow leaves)."""
        return {t: self.outputs[t] for t in self.graph.sinks() if t in self.outputs}

    @property
    def output(self) -> dict[str, Any]:
        """The output of the only leaf; an error if the graph has several."""
        leaves = self.leaves()
        if len(leaves) != 1:
            raise ValueError(f"the graph has {len(leaves)} finished leaves; use .leaves() "
                             "or .outputs[task_id]")
        return next(iter(leaves.values()))

    def __getitem__(self, task_id: str) -> dict[str, Any]:
        return self.outputs[task_id]

    def __repr__(self) -> str:
        # Short on purpose: asyncio reprs finished tasks, and a run may hold 100,000 outputs.
        return f"<RunResult {self.run_id} {self.status} {self.summary()}>"

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[str(status)] = counts.get(str(status), 0) + 1
        return counts


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
    ):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
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
        self.logger = logger or log
        self.events = EventEmitter()
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
        self._successors: dict[str, list[str]] = {}
        self._stopping: str | None = None
        self._first_error: TaskloomError | None = None
        self._finished = 0
        self._progress_step = -1
        self._done: asyncio.Future | None = None
        self._reactive = False
        self._persist = False
        self._job_writes: set[asyncio.Future] = set()

    # -- public ------------------------------------------------------------------------

    def on(self, kind: EventKind | str, listener: Callable[[Event], Any]) -> Callable[[], None]:
        return self.events.on(kind, listener)

    async def run(self, *, reactive: bool = False,
                  outputs: dict[str, dict[str, Any]] | None = None) -> RunResult:
        """Run the graph; see the module docstring for failure handling.

        ``outputs`` pre-seeds completed tasks (used by resume): they are not run.
        """
        if self._done is not None and not self._done.done():
            raise RuntimeError("this runner is already running")
        self._reset()
        self._reactive = reactive
        self._persist = self.store is not None and not reactive
        if self._persist:
            await self._open_record(resuming=outputs is not None)
            self.services["on_job"] = self._on_job
        result = self.result
        result.started_at = time.time()
        statuses = result.statuses
        for task_id in self.graph.task_ids():
            statuses[task_id] = TaskStatus.PENDING
        self._remaining = self.graph.predecessor_counts()
        self._successors = self.graph.successor_lists()
        self._emit(EventKind.GRAPH_START, details={"tasks": len(statuses)})

        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        for task_id, output in (outputs or {}).items():
            if task_id in statuses:
                result.outputs[task_id] = output
                statuses[task_id] = TaskStatus.COMPLETED
                self._finished += 1
                for succ in self._successors[task_id]:
                    self._remaining[succ] -= 1
        self._ready.extend(t for t in self.graph.task_ids()
                           if self._remaining[t] == 0 and statuses[t] is TaskStatus.PENDING)
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
            raise
        await self._drain()
        if self._persist:
            try:
                await self._close_record()
            except TaskloomError as exc:
                exc.result = self.result
                raise
        return self._finish()

    @classmethod
    async def resume(cls, run_id: str, *, store: Any, registry: Any = None,
                     **options: Any) -> RunResult:
        """Finish an interrupted run recorded in ``store``.

        Completed tasks keep their recorded outputs and do not run again;
        every other task runs (a task that was in flight when the run stopped
        runs again: at-least-once).
        """
        from .graph import TaskGraph

        record = await store.runs.get(run_id)
        graph = TaskGraph.from_json(record.graph, registry)
        runner = cls(graph, run_id=run_id, store=store, **options)
        return await runner.run(outputs=record.completed_outputs())

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

    async def _open_record(self, resuming: bool) -> None:
        runs = self.store.runs
        if resuming:
            await runs.set_status(self.run_id, "processing")
        else:
            await runs.create(self.graph, run_id=self.run_id, task_ids=self.graph.task_ids(),
                              status="processing")

    async def _record(self, task_id: str, status: TaskStatus, **fields: Any) -> None:
        if self._job_writes:
            # A job id write for this row may be in flight; rows are written whole.
            await asyncio.gather(*list(self._job_writes), return_exceptions=True)
        if self._persist:
            await self.store.runs.update_task(self.run_id, task_id, status=str(status),
                                              **fields)

    def _on_job(self, task_id: str, queue_name: str, job_id: str) -> None:
        """A task put a job on a queue: the run record keeps its id (for resume)."""
        write = asyncio.ensure_future(self.store.runs.update_task(
            self.run_id, task_id, job_id=f"{queue_name}/{job_id}"))
        self._job_writes.add(write)
        write.add_done_callback(self._job_writes.discard)

    async def _close_record(self) -> None:
        runs, result = self.store.runs, self.result
        if self._job_writes:
            await asyncio.gather(*self._job_writes, return_exceptions=True)
        # Skips are decided synchronously while scheduling; write them now.
        for task_id, status in result.statuses.items():
            if status is TaskStatus.SKIPPED:
                await self._record(task_id, status)
        if self._stopping is not None and self._first_error is None:
            await runs.set_status(self.run_id, "aborted", error=self._stopping)
        elif result.errors and any(s is TaskStatus.FAILED for s in result.statuses.values()):
            await runs.set_status(self.run_id, "failed", error=str(
                self._first_error or next(iter(result.errors.values()))))
        else:
            await runs.set_status(self.run_id, "completed")

    # -- scheduling --------------------------------------------------------------------

    async def _work(self) -> None:
        me = asyncio.current_task()
        ready, current = self._ready, self._current
        loop = asyncio.get_running_loop()
        while True:
            while ready and self._stopping is None:
                task_id = ready.popleft()
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
        self._progress.pop(task_id, None)
        self._finished += 1
        statuses = self.result.statuses
        status = statuses[task_id]
        if status is TaskStatus.COMPLETED:
            remaining, ready = self._remaining, self._ready
            for succ in self._successors[task_id]:
                remaining[succ] -= 1
                if remaining[succ] == 0 and statuses[succ] is TaskStatus.PENDING:
                    ready.append(succ)
            if len(ready) > 1 and self._waiters:
                # This worker takes one; idle ones take the rest.
                self._wake(len(ready) - 1)
        else:
            self._skip_downstream(task_id)
            if status is TaskStatus.FAILED and not self.continue_on_error \
                    and not self._reactive and self._stopping is None:
                self.abort(f"task {task_id!r} failed")
        if self.events.wants(EventKind.GRAPH_PROGRESS):
            self._emit_graph_progress()
        self._check_done()

    def _check_done(self) -> None:
        if self._current or (self._ready and self._stopping is None):
            return
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
            self._wake_all()

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
        task = self.graph.get_task(task_id)
        statuses = self.result.statuses
        statuses[task_id] = TaskStatus.PROCESSING
        signal = self._signal
        events_on = self.events.active
        if events_on:
            self._emit(EventKind.TASK_START, task_id, message=task.display_title)
        try:
            if self._persist:
                await self._record(task_id, TaskStatus.PROCESSING)
            values = self._gather_inputs(task)
            if self._reactive and self._missing_input(task, values) is not None:
                statuses[task_id] = TaskStatus.SKIPPED
                if events_on:
                    self._emit(EventKind.TASK_SKIPPED, task_id, message="no preview input")
                return
            expand = None
            for name, value in values.items():
                if value.__class__ is list or isinstance(value, list):
                    port = task.input_ports.by_name.get(name)
                    if port is not None and port.expandable:
                        expand = [*(expand or ()), name]
            ctx = TaskContext(self.run_id, task_id, signal,
                              self._progress_reporter(task_id) if events_on else None,
                              self.logger, self.services)
            if expand:
                output = await self._run_expanded(task, values, expand, ctx)
            else:
                output = await self._run_one(task, values, ctx)
        except asyncio.CancelledError:
            statuses[task_id] = TaskStatus.ABORTED
            reason = signal.reason or self._stopping or "cancelled"
            error = TaskAbortedError(f"task {task_id!r} was aborted: {reason}", task_id)
            self.result.errors.setdefault(task_id, error)
            self._emit(EventKind.TASK_ABORT, task_id, message=reason)
            await self._record_quietly(task_id, TaskStatus.ABORTED, error=reason)
            return
        except TaskloomError as exc:
            self._fail(task, exc)
            await self._record_quietly(task_id, TaskStatus.FAILED, error=str(exc))
            return
        except Exception as exc:  # the task's own code raised
            error = TaskFailedError(f"task {task_id!r} ({task.type}) failed: "
                                    f"{type(exc).__name__}: {exc}", task_id)
            error.__cause__ = exc
            self._fail(task, error)
            await self._record_quietly(task_id, TaskStatus.FAILED, error=str(error))
            return
        if self._persist:
            try:
                await self._record(task_id, TaskStatus.COMPLETED, output=output)
            except TaskloomError as exc:
                # Not recorded means not done: resume will run it again.
                self._fail(task, exc)
                return
        self.result.outputs[task_id] = output
        statuses[task_id] = TaskStatus.COMPLETED
        if events_on:
            self._emit(EventKind.TASK_COMPLETE, task_id, progress=1.0, output=output)

    async def _record_quietly(self, task_id: str, status: TaskStatus, **fields: Any) -> None:
        """Record a failure; if the store is down too, the run's error already says why."""
        if not self._persist:
            return
        try:
            await self._record(task_id, status, **fields)
        except (TaskloomError, asyncio.CancelledError) as exc:
            self.logger.warning("could not record %s of task %r: %s", status, task_id, exc)

    def _fail(self, task: Task, error: TaskloomError) -> None:
        if isinstance(error, TaskError) and error.task_id is None:
            error.task_id = task.id
        self.result.statuses[task.id] = TaskStatus.FAILED
        self.result.errors[task.id] = error
        if self._first_error is None:
            self._first_error = error
        self._emit(EventKind.TASK_ERROR, task.id, error=str(error))

    def _gather_inputs(self, task: Task) -> dict[str, Any]:
        values = dict(task.defaults)
        dataflows = self.graph._inputs[task.id]
        if not dataflows:
            return values
        outputs, modes = self.result.outputs, self.graph._modes
        fed_lists: set[str] = set()
        by_name = task.input_ports.by_name
        for dataflow in dataflows:
            source = outputs[dataflow.source_task_id]
            if dataflow.source_port not in source:
                continue  # an optional output left empty; defaults or a missing-input error
            value = source[dataflow.source_port]
            port_name = dataflow.target_port
            port = by_name.get(port_name)
            if port is not None and port.is_list:
                if port_name not in fed_lists:
                    fed_lists.add(port_name)
                    values[port_name] = []
                if modes[dataflow] == "item":
                    values[port_name].append(value)
                else:
                    values[port_name].extend(value)
            else:
                values[port_name] = value
        return values

    @staticmethod
    def _missing_input(task: Task, values: dict[str, Any]) -> str | None:
        for port in task.input_ports:
            if port.required and port.name not in values:
                return port.name
        return None

    def _validate_input(self, task: Task, values: dict[str, Any]) -> BaseModel:
        try:
            return task.input_model.__pydantic_validator__.validate_python(values)
        except ValidationError as exc:
            missing = self._missing_input(task, values)
            if missing is not None:
                raise MissingInputError(
                    f"task {task.id!r} ({task.type}): required input {missing!r} has no value; "
                    "give it a default or connect a dataflow into it", task.id, missing) from None
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            raise TaskInputError(f"task {task.id!r} ({task.type}): input {where!r} is invalid: "
                                 f"{err.get('msg')}", task.id) from None

    async def _run_one(self, task: Task, values: dict[str, Any], ctx: TaskContext,
                       ) -> dict[str, Any]:
        model = self._validate_input(task, values)
        if self._reactive:
            preview = await task.run_reactive(model, ctx)
            if preview is None:
                return {}
            return preview.model_dump(mode="json") if isinstance(preview, BaseModel) \
                else dict(preview)
        repo = self.output_repository
        key = None
        if repo is not None and task.is_cacheable:
            key = cache_key(task.type, task.version, model.model_dump(mode="json"))
            hit = await repo.get_output(key)
            if hit is not None:
                self.result.cache_hits.add(task.id)
                self._emit(EventKind.TASK_CACHE_HIT, task.id, output=hit)
                return hit
        if task.timeout is not None:
            timeout = asyncio.timeout(task.timeout)
            try:
                async with timeout:
                    raw = await task.run(model, ctx)
            except TimeoutError:
                if not timeout.expired():
                    raise
                raise TaskTimeoutError(f"task {task.id!r} ({task.type}) timed out after "
                                       f"{task.timeout} s", task.id) from None
        else:
            raw = await task.run(model, ctx)
        output = self._validate_output(task, raw)
        if key is not None:
            await repo.put_output(key, output)
        return output

    @staticmethod
    def _validate_output(task: Task, raw: Any) -> dict[str, Any]:
        model = task.output_model
        try:
            if type(raw) is dict:
                checked = model.__pydantic_validator__.validate_python(raw)
            elif isinstance(raw, model):
                checked = raw
            elif isinstance(raw, BaseModel):
                checked = model.model_validate(raw.model_dump())
            elif isinstance(raw, dict):
                checked = model.model_validate(raw)
            elif raw is None and not model.model_fields:
                checked = model()
            else:
                raise TaskOutputError(
                    f"task {task.id!r} ({task.type}) returned {type(raw).__name__}; "
                    f"run() must return {model.__name__} or a dict", task.id)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err.get("loc", ()))
            raise TaskOutputError(f"task {task.id!r} ({task.type}) returned a bad output "
                                  f"{where!r}: {err.get('msg')}", task.id) from None
        return model.__pydantic_serializer__.to_python(checked, mode="json")

    async def _run_expanded(self, task: Task, values: dict[str, Any], expand: list[str],
                            ctx: TaskContext) -> dict[str, Any]:
        """Run ``task`` once per combination of the list values on ``expand`` ports."""
        combos = list(itertools.product(*(values[name] for name in expand)))
        fractions = [0.0] * len(combos)
        report = ctx._on_progress

        def child_context(index: int) -> TaskContext:
            def on_progress(fraction: float, message: str | None, details: Any) -> None:
                fractions[index] = fraction
                if report is not None:
                    report(sum(fractions) / len(fractions), message,
                           {"item": index, **(details or {})})

            return TaskContext(ctx.run_id, ctx.task_id, ctx.signal, on_progress, ctx.logger,
                               ctx.services)

        async def child(index: int, combo: tuple[Any, ...]) -> dict[str, Any]:
            child_values = dict(values)
            child_values.update(zip(expand, combo, strict=True))
            out = await self._run_one(task, child_values, child_context(index))
            fractions[index] = 1.0
            if report is not None:
                report(sum(fractions) / len(fractions), None, {"item": index})
            return out

        children = [asyncio.ensure_future(child(i, combo)) for i, combo in enumerate(combos)]
        try:
            results = await asyncio.gather(*children)
        except BaseException:
            for c in children:
                c.cancel()
            await asyncio.gather(*children, return_exceptions=True)
            raise
        names = list(task.output_ports.names())
        for out in results:
            for name in out:
                if name not in names:
                    names.append(name)
        return {name: [out.get(name) for out in results] for name in names}

    # -- events ----------------------------------------------------------------------

    def _progress_reporter(self, task_id: str):
        def report(fraction: float, message: str | None, details: dict[str, Any] | None) -> None:
            self._progress[task_id] = fraction
            self._emit(EventKind.TASK_PROGRESS, task_id, progress=fraction, message=message,
                       details=details)
            if self.events.wants(EventKind.GRAPH_PROGRESS):
                self._emit_graph_progress()

        return report

    def _emit_graph_progress(self) -> None:
        total = len(self.result.statuses) or 1
        done = self._finished + sum(self._progress.values())
        # At most ~1000 graph_progress events per run, however many tasks it has.
        step = int(done * 1000 / total)
        if step == self._progress_step and self._finished < total:
            return
        self._progress_step = step
        self._emit(EventKind.GRAPH_PROGRESS, progress=min(1.0, done / total),
                   details={"finished": self._finished, "total": total})

    def _emit(self, kind: EventKind, task_id: str | None = None, **fields: Any) -> None:
        if self.events.wants(kind):
            self.events.emit(Event(kind, self.run_id, task_id, **fields))
