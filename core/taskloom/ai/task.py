"""AiTask: a task whose model call runs as a job on its provider's queue.

In the graph runner, ``run``:

1. resolves ``input.model`` to a ModelRecord (the ``models`` service or the
   runner store's ``store.models`` first, then the catalog) and checks that
   the model serves this task type and that a provider here can run it —
   so an unknown model or a wrong task fails before anything is queued;
2. enqueues the input plus the record on ``ai:<provider>`` (or the task's
   ``queue=``), starting an in-process worker if needed (see ``workers.py``);
3. waits, forwarding the job's progress and, on abort, aborting the job —
   the one submit / wait / abort path of ``JobQueueTask.submit_job``.

An array expansion of a task that streams nothing (embeddings, translation,
language id…) goes through ``run_many``: the model is resolved once and the
items travel ``items_per_job`` to a job (an *items job*, see
``queue/task.py``), so a thousand texts cost sixteen jobs, not a thousand. On
a rate-limited queue (a cloud provider's) each item stays its own job, so
that the limits keep counting requests.

On the worker, ``execute`` looks up the run function for (task type,
provider) and calls it. The job carries the record, so a worker in another
process runs the same model without sharing the producer's catalog.

An error the model raised on the worker (an AiError such as
ContextLengthError) comes back as that same error class, not as a bare
JobFailedError: the job stores it as data (``job.error_data``), and its
attributes (a ContextLengthError's sizes) come back with it. AI input errors
are not retried (``retryable = False``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel

from .. import errors
from ..errors import AiError, JobFailedError, ModelInputError
from ..ports import Format
from ..queue import job_fingerprint
from ..queue.task import JobQueueTask
from ..storage.models import ModelRecord
from ..task import TaskContext, gather_or_cancel
from .catalog import ModelCatalog, catalog
from .providers import ModelCall, ProviderRegistry, providers
from .workers import ensure_queue, queue_name_for

ModelId = Annotated[str, Format("model")]


def model_repository(ctx: TaskContext) -> Any:
    """The ModelRepository the runner was given, if any (``models`` or ``store`` service)."""
    services = ctx.services
    if services.get("models") is not None:
        return services["models"]
    store = services.get("store")
    return getattr(store, "models", None)


class AiTask(JobQueueTask, register=False):
    """Base of the AI tasks: every one takes ``model`` (a model id)."""

    category: ClassVar[str] = "ai"
    #: Which task type's records and run functions apply (default: the class's type).
    serves_as: ClassVar[str | None] = None
    #: The output port that ``ModelCall.stream`` deltas go to (generation tasks).
    stream_port: ClassVar[str | None] = None
    #: How many items of an array expansion share one job (``run_many``).
    items_per_job: ClassVar[int] = 64
    #: Where records and run functions are looked up; tests and runtimes may swap them.
    catalog: ClassVar[ModelCatalog] = catalog
    providers: ClassVar[ProviderRegistry] = providers

    class Input(BaseModel):
        model: ModelId

    @property
    def ai_task_type(self) -> str:
        return self.serves_as or self.type

    # -- producer side (the graph runner) -------------------------------------------------

    def check_input(self, input: Any) -> None:
        """Cheap checks before queueing (empty text…): raise ModelInputError."""

    def check_record(self, record: ModelRecord, input: Any) -> None:
        """Checks of the input against its model's record before queueing (a pair the
        model does not translate): raise ModelTaskError."""

    async def resolve(self, model_id: str, ctx: TaskContext) -> ModelRecord:
        repository = model_repository(ctx)
        record = await self.catalog.resolve(model_id, repository)
        await self.catalog.check_serves(record, self.ai_task_type, repository)
        self.providers.get(self.ai_task_type, record.provider)
        return record

    def queue_for(self, record: ModelRecord) -> str:
        return self.queue or queue_name_for(record.provider)

    async def run(self, input: Any, ctx: TaskContext) -> Any:
        record = await self.resolve(input.model, ctx)
        self.check_record(record, input)
        self.check_input(input)
        port = self.stream_port
        streamed: list[str] = []
        if port is not None:
            ctx = _recording_stream(ctx, streamed)
        output = await self.submit(self.queue_for(record), {
            **input.model_dump(mode="json"), "model_record": record.to_json()}, ctx)
        if port is not None:
            _stream_rest(ctx, port, "".join(streamed), output.get(port))
        await self.after_job(record, output, ctx)
        return output

    @property
    def runs_many(self) -> bool:
        return self.stream_port is None and self.items_per_job > 1

    async def run_many(self, inputs: list[Any], ctx: TaskContext) -> list[Any]:
        """The outputs of an expansion's inputs: per model, resolved and checked once;
        equal inputs asked once (unless the task has side effects); then
        ``items_per_job`` to a job, the jobs waited for together. Progress is the share
        of items done."""
        by_model: dict[str, dict[Any, list[int]]] = {}
        items: list[dict[str, Any]] = []
        for index, input in enumerate(inputs):
            item = input.model_dump(mode="json", exclude={"model"})
            items.append(item)
            key = _item_key(item) if self.is_cacheable else index
            by_model.setdefault(input.model, {}).setdefault(key, []).append(index)
        chunks: list[tuple[str, ModelRecord, list[list[int]]]] = []
        for model_id, equal in by_model.items():  # every check before anything is queued
            record = await self.resolve(model_id, ctx)
            for index in (indices[0] for indices in equal.values()):
                self.check_record(record, inputs[index])
                self.check_input(inputs[index])
            size = 1 if ensure_queue(self.queue_for(record)).limiter is not None \
                else self.items_per_job
            groups = list(equal.values())
            chunks += [(model_id, record, groups[i:i + size])
                       for i in range(0, len(groups), size)]
        outputs: list[Any] = [None] * len(inputs)
        done = [0.0] * len(chunks)

        def chunk_context(number: int, weight: int) -> TaskContext:
            def on_progress(fraction: float, message: str | None, _details: Any) -> None:
                done[number] = fraction * weight
                ctx.progress(sum(done) / len(inputs), message)

            return TaskContext(ctx.run_id, ctx.task_id, ctx.signal, on_progress, ctx.logger,
                               ctx.services, ctx._on_stream)

        async def run_chunk(number: int, model_id: str, record: ModelRecord,
                            groups: list[list[int]]) -> None:
            chunk_ctx = chunk_context(number, sum(map(len, groups)))
            shared = {"model": model_id, "model_record": record.to_json()}
            queue_name = self.queue_for(record)
            if len(groups) == 1:  # the plain job that ``run`` would submit
                results = [await self.submit(queue_name, {**items[groups[0][0]], **shared},
                                             chunk_ctx)]
            else:
                mine = [items[indices[0]] for indices in groups]
                fingerprint = None if self.is_cacheable else job_fingerprint(
                    self.type, {"input": {**shared, "items": mine}, "run": ctx.run_id})
                with _model_errors():
                    results = await self.submit_items(ensure_queue(queue_name), mine, shared,
                                                      chunk_ctx, fingerprint=fingerprint)
            for indices, output in zip(groups, results, strict=True):
                await self.after_job(record, output, ctx)
                for index in indices:
                    outputs[index] = output
            chunk_ctx.progress(1.0)

        await gather_or_cancel(run_chunk(number, *chunk) for number, chunk in enumerate(chunks))
        return outputs

    async def after_job(self, record: ModelRecord, output: dict[str, Any],
                        ctx: TaskContext) -> None:
        """Hook for producer-side bookkeeping once the job completed."""

    async def submit(self, queue_name: str, payload: dict[str, Any],
                     ctx: TaskContext) -> dict[str, Any]:
        """Enqueue ``payload`` on ``queue_name`` (served in this loop if nobody else does)
        and wait for its output, forwarding progress and aborts (``submit_job``)."""
        queue = ensure_queue(queue_name)
        fingerprint = None
        if not self.is_cacheable:
            # The queue replays a completed job with the same input; a task with side
            # effects runs again in every run (but a resumed run still finds its job).
            fingerprint = job_fingerprint(self.type, {"input": payload, "run": ctx.run_id})
        with _model_errors():
            return await self.submit_job(queue, payload, ctx, fingerprint=fingerprint)

    # -- worker side ----------------------------------------------------------------------

    async def execute(self, input: Any, ctx: TaskContext) -> Any:
        job = ctx.services.get("job")
        carried = getattr(job, "input", {}).get("model_record") if job is not None else None
        # An items job's inputs share one record: read it, and find its files, once
        # (this task object lives for one job).
        cached = self.__dict__.get("_model")
        if cached is None or cached[0] is not carried or not carried:
            record = ModelRecord.from_json(carried) if carried else \
                await self.catalog.resolve(input.model)
            cached = self.__dict__["_model"] = (carried, record, self.local_path(record),
                                                self.catalog.models_dir)
        _, record, path, models_dir = cached
        run = self.providers.get(self.ai_task_type, record.provider)
        call = ModelCall(
            task_type=self.ai_task_type,
            record=record,
            input=input,
            models_dir=models_dir,
            path=path,
            signal=ctx.signal,
            progress=lambda fraction, message=None: ctx.progress(fraction, message),
            stream=(lambda delta: ctx.stream(port, delta)) if (port := self.stream_port)
            else (lambda delta: None),
            logger=ctx.logger,
        )
        return await run(call)

    async def execute_many(self, inputs: list[Any], ctx: TaskContext) -> list[Any]:
        """An items job's inputs in one go where the provider answers many calls at once
        (``ProviderRegistry.register_many``), else one by one, concurrently."""
        job = ctx.services.get("job")
        carried = getattr(job, "input", {}).get("model_record") if job is not None else None
        if not carried:
            return await super().execute_many(inputs, ctx)
        record = ModelRecord.from_json(carried)
        many = self.providers.get_many(self.ai_task_type, record.provider)
        if many is None:
            return await super().execute_many(inputs, ctx)
        path, models_dir = self.local_path(record), self.catalog.models_dir
        calls = [ModelCall(task_type=self.ai_task_type, record=record, input=input,
                           models_dir=models_dir, path=path, signal=ctx.signal,
                           logger=ctx.logger) for input in inputs]
        return await many(calls, lambda fraction: ctx.progress(fraction))

    def local_path(self, record: ModelRecord) -> Any:
        """The model's folder if its record names local files (a cloud model has none)."""
        if not record.location or "://" in record.location:
            return None
        return self.catalog.locate(record)


def _item_key(item: dict[str, Any]) -> Any:
    """A hashable key for an item's JSON: equal items, equal keys."""
    key = tuple(item.items())
    try:
        hash(key)
    except TypeError:  # a list among the values (TextClassification's labels)
        return json.dumps(item, sort_keys=True)
    return key


@contextlib.contextmanager
def _model_errors() -> Iterator[None]:
    """A job that failed with an AiError raises that error (see ``_model_error``)."""
    try:
        yield
    except JobFailedError as exc:
        error = _model_error(exc)
        if error is exc:
            raise
        raise error from exc


def _model_error(exc: JobFailedError) -> Exception:
    """The AiError a job failed with, rebuilt from the job's ``error_data``: the class
    of that name in ``taskloom.errors``, with the attributes it declares (a
    ContextLengthError's ``n_tokens`` and ``limit``) set from the stored details.
    Anything else stays the JobFailedError."""
    data = getattr(getattr(exc, "job", None), "error_data", None)
    cls = getattr(errors, data.type, None) if data is not None else None
    if not (isinstance(cls, type) and issubclass(cls, AiError)):
        return exc
    error = cls(data.message)
    for name, value in data.details.items():
        if name in vars(error):  # only what the class itself declares
            setattr(error, name, value)
    return error


def _recording_stream(ctx: TaskContext, streamed: list[str]) -> TaskContext:
    """``ctx``, whose stream also keeps what went out (to stream the rest at the end)."""
    def on_stream(port: str, delta: str) -> None:
        streamed.append(delta)
        ctx.stream(port, delta)

    return TaskContext(ctx.run_id, ctx.task_id, ctx.signal, ctx._on_progress, ctx.logger,
                       ctx.services, on_stream)


def _stream_rest(ctx: TaskContext, port: str, sent: str, text: Any) -> None:
    """Stream what the job's deltas did not say: all of it when none reached us (a
    worker in another process, a job the queue had done already)."""
    if not isinstance(text, str):
        return
    if text.startswith(sent):
        ctx.stream(port, text[len(sent):])
    else:
        ctx.logger.warning("the streamed text of %r differs from its output; the output "
                           "stands", port)


def check_text(value: str, port: str) -> None:
    if not value.strip():
        raise ModelInputError(f"{port!r} is empty: give some text")

