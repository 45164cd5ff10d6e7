"""Tasks on queues: run a registered task type as a job, and JobQueueTask.

A job that names a ``task_type`` is run by ``task_type_handler()``: it looks
the type up in ``taskloom.registry`` (so any worker that imported the same
task modules can run it), validates the input against the task's ``Input``,
and returns its ``Output`` as a dict.

``JobQueueTask`` is a Task whose body runs as such a job: its ``run`` (in the
graph runner) enqueues the input on ``queue`` and waits, forwarding
progress and aborts; the worker calls its ``execute`` — the real body.
``submit_job`` is that enqueue-and-wait path, the one every task that runs
as a job goes through (``AiTask`` too).

An *items job* carries several inputs of one task type: ``{"items": [...],
**shared}``, each input being ``{**shared, **item}``. The worker runs them
concurrently and answers ``{"items": [output, ...]}`` in order; one failing
input fails the job. It lets an array expansion pay one job for many
inputs (``submit_items``).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from ..errors import (
    JobPermanentError,
    TaskInputError,
    TaskOutputError,
    format_validation_error,
)
from ..registry import TaskRegistry
from ..registry import registry as default_registry
from ..task import Task, TaskContext, gather_or_cancel
from . import streams
from .job import Job
from .queue import JobQueue, queues
from .worker import Handler, JobContext


def task_type_handler(registry: TaskRegistry | None = None) -> Handler:
    """A worker handler that runs ``job.task_type`` from ``registry``."""
    types = registry or default_registry

    async def run_task_job(job: Job, ctx: JobContext) -> dict[str, Any]:
        try:
            cls = types.get(job.task_type)
        except Exception as exc:  # UnknownTaskTypeError: this worker cannot ever run it
            raise JobPermanentError(str(exc)) from exc
        task = cls(id=f"job-{job.id}")
        items = job.input.get("items") if isinstance(task, JobQueueTask) \
            and "items" not in task.input_model.model_fields else None
        if isinstance(items, list):
            shared = {k: v for k, v in job.input.items() if k != "items"}
            inputs = [_validated(task, job, {**shared, **item}) for item in items]
        else:
            inputs = None
            input = _validated(task, job, job.input)
        task_ctx = TaskContext(run_id=job.run_id or "", task_id=task.id, signal=ctx.signal,
                               on_progress=lambda fraction, message, _d: ctx.progress(fraction,
                                                                                      message),
                               logger=ctx.logger, services={"job": job, "job_context": ctx},
                               on_stream=lambda port, delta: streams.publish(job.id, port,
                                                                             delta))
        body = task.execute if isinstance(task, JobQueueTask) else task.run
        try:
            if inputs is not None:
                results = await task.execute_many(inputs, task_ctx)
                return {"items": [_output_dict(task, result) for result in results]}
            result = await body(input, task_ctx)
        finally:
            streams.ended(job.id)
        return _output_dict(task, result)

    return run_task_job


def _validated(task: Task, job: Job, data: Any) -> BaseModel:
    try:
        return task.input_model.model_validate(data)
    except ValidationError as exc:
        raise TaskInputError(format_validation_error(
            exc, where=f"job {job.id} ({job.task_type}): bad input"), task.id) from None


def _output_dict(task: Task, result: Any) -> dict[str, Any]:
    try:
        model = result if isinstance(result, BaseModel) \
            else task.output_model.model_validate(result or {})
    except ValidationError as exc:
        raise TaskOutputError(format_validation_error(
            exc, where=f"{task.type} returned an invalid output"), task.id) from None
    return model.model_dump(mode="json")


class JobQueueTask(Task, register=False):
    """A task whose body runs on a worker of the named queue.

    Subclasses set ``queue_name`` (or an instance's ``queue=``) and implement
    ``execute(input, ctx)`` instead of ``run``.
    """

    queue_name: ClassVar[str] = "default"

    @property
    def queue_to_use(self) -> str:
        return self.queue or self.queue_name

    async def execute(self, input: Any, ctx: TaskContext) -> Any:
        raise NotImplementedError(f"{type(self).__name__}.execute is not implemented")

    async def execute_many(self, inputs: list[BaseModel], ctx: TaskContext) -> list[Any]:
        """An items job's inputs: by default each through ``execute``, concurrently (so
        that a provider's batcher merges their model calls); the job's progress is their
        mean. The first failure cancels the rest and is the job's error."""
        fractions = [0.0] * len(inputs)

        def item_context(index: int) -> TaskContext:
            def on_progress(fraction: float, message: str | None, _details: Any) -> None:
                fractions[index] = fraction
                ctx.progress(sum(fractions) / len(fractions), message)

            return TaskContext(ctx.run_id, ctx.task_id, ctx.signal, on_progress, ctx.logger,
                               ctx.services, ctx._on_stream)

        async def one(index: int, input: BaseModel) -> Any:
            item_ctx = item_context(index)
            result = await self.execute(input, item_ctx)
            item_ctx.progress(1.0)
            return result

        return await gather_or_cancel(one(i, input) for i, input in enumerate(inputs))

    async def run(self, input: Any, ctx: TaskContext) -> Any:
        queue = queues.get(self.queue_to_use)
        payload = input.model_dump(mode="json") if isinstance(input, BaseModel) else dict(input)
        return await self.submit_job(queue, payload, ctx)

    async def submit_items(self, queue: JobQueue, items: list[dict[str, Any]],
                           shared: dict[str, Any], ctx: TaskContext, *,
                           fingerprint: str | None = None) -> list[dict[str, Any]]:
        """Enqueue ``items`` (with what they ``shared``) as one items job and return their
        outputs, in order; otherwise as ``submit_job``."""
        output = await self.submit_job(queue, {**shared, "items": items}, ctx,
                                       fingerprint=fingerprint)
        results = output.get("items")
        if not isinstance(results, list) or len(results) != len(items):
            raise TaskOutputError(f"the items job of {self.id!r} ({self.type}) answered "
                                  f"{len(results) if isinstance(results, list) else 'no'} "
                                  f"outputs for {len(items)} inputs", self.id)
        return results

    async def submit_job(self, queue: JobQueue, payload: dict[str, Any], ctx: TaskContext, *,
                         fingerprint: str | None = None) -> dict[str, Any]:
        """Enqueue ``payload`` as a job of this task's type on ``queue`` and return its
        output, forwarding the job's progress to ``ctx`` and ``ctx``'s abort to the job.
        JobFailedError if the job fails or is aborted."""
        job = await queue.add(payload, task_type=self.type, run_id=ctx.run_id or None,
                              fingerprint=fingerprint)
        # The run record keeps the job id so that a resumed run re-attaches.
        on_job = ctx.services.get("on_job")
        if callable(on_job):
            on_job(self.id, queue.name, job.id)

        async def abort_when_signalled() -> None:
            await ctx.signal.wait()
            with contextlib.suppress(Exception):
                await queue.abort(job.id)

        watcher = asyncio.create_task(abort_when_signalled())
        # Deltas its body streams, when it runs in this process (queue/streams.py).
        stop_listening = streams.listen(job.id, ctx.stream)
        try:
            return await queue.wait(
                job.id, on_progress=lambda j: ctx.progress(j.progress, j.progress_message))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(queue.abort(job.id))
            raise
        finally:
            stop_listening()
            watcher.cancel()
