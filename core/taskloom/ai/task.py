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

from typing import Annotated, Any, ClassVar

from pydantic import BaseModel

from .. import errors
from ..errors import AiError, JobFailedError, ModelInputError
from ..ports import Format
from ..queue import job_fingerprint
from ..queue.task import JobQueueTask
from ..storage.models import ModelRecord
from ..task import TaskContext
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
        try:
            return await self.submit_job(queue, payload, ctx, fingerprint=fingerprint)
        except JobFailedError as exc:
            error = _model_error(exc)
            if error is exc:
                raise
            raise error from exc

    # -- worker side ----------------------------------------------------------------------

    async def execute(self, input: Any, ctx: TaskContext) -> Any:
        job = ctx.services.get("job")
        carried = getattr(job, "input", {}).get("model_record") if job is not None else None
        record = ModelRecord.from_json(carried) if carried else \
            await self.catalog.resolve(input.model)
        run = self.providers.get(self.ai_task_type, record.provider)
        call = ModelCall(
            task_type=self.ai_task_type,
            record=record,
            input=input,
            models_dir=self.catalog.models_dir,
            path=self.local_path(record),
            signal=ctx.signal,
            progress=lambda fraction, message=None: ctx.progress(fraction, message),
            stream=(lambda delta: ctx.stream(port, delta)) if (port := self.stream_port)
            else (lambda delta: None),
            logger=ctx.logger,
        )
        return await run(call)

    def local_path(self, record: ModelRecord) -> Any:
        """The model's folder if its record names local files (a cloud model has none)."""
        if not record.location or "://" in record.location:
            return None
        return self.catalog.locate(record)


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

