"""Running one task of a run: its input gathered and validated, the cache asked,
the body run under its timeout, its output validated.

The scheduler (``runner.py``) decides when a task runs and what its status
becomes; this module only turns input values into an output dict or an error.
Array expansion (``expansion.py``) calls :meth:`TaskExecutor.run_one` once per
combination.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from .cache import TaskOutputRepository, cache_key
from .errors import (
    MissingInputError,
    TaskInputError,
    TaskOutputError,
    TaskTimeoutError,
    format_validation_error,
)
from .events import EventKind
from .ports import json_native
from .streams import TextStream
from .task import TaskContext
from .transforms import apply_transform

if TYPE_CHECKING:
    from .graph import TaskGraph
    from .result import RunResult
    from .task import Task


class TaskExecutor:
    """Runs single tasks for one run of a graph."""

    __slots__ = ("_emit", "graph", "reactive", "repository", "result")

    def __init__(self, graph: TaskGraph, result: RunResult,
                 repository: TaskOutputRepository | None, *, reactive: bool,
                 emit: Callable[..., None]) -> None:
        self.graph = graph
        self.result = result
        self.repository = repository
        self.reactive = reactive
        self._emit = emit

    def gather_inputs(self, task: Task) -> dict[str, Any]:
        """The task's defaults overlaid with what its dataflows bring."""
        values = task.default_values()
        dataflows = self.graph._inputs[task.id]
        if not dataflows:
            return values
        outputs, modes = self.result.outputs, self.graph._modes
        transforms = self.graph._transforms
        fed_lists: set[str] = set()
        by_name = task.input_ports.by_name
        for dataflow in dataflows:
            source_id, source_port, _, port_name = dataflow  # (faster than its attributes)
            source = outputs.get(source_id)
            if source is None or source_port not in source:
                # An optional output left empty, or a skipped branch into a task that
                # joins branches: defaults or a missing-input error.
                continue
            value = source[source_port]
            if transforms and dataflow in transforms:
                value = apply_transform(value, transforms[dataflow], f"dataflow {dataflow}",
                                        task.id)
            port = by_name.get(port_name)
            if port is not None and port.is_list:
                if port_name not in fed_lists:
                    fed_lists.add(port_name)
                    values[port_name] = []
                if modes[dataflow] == "item" or not isinstance(value, list):
                    # (an untyped output into a list input: one item unless it is a list)
                    values[port_name].append(value)
                else:
                    values[port_name].extend(value)
            else:
                values[port_name] = value
        return values

    async def run_one(self, task: Task, values: dict[str, Any], ctx: TaskContext,
                      ) -> dict[str, Any]:
        """Validate ``values``, answer from the cache or run the body, validate the output."""
        model = validate_input(task, values)
        if self.reactive:
            preview = await task.run_reactive(model, ctx)
            if preview is None:
                return {}
            return preview.model_dump(mode="json") if isinstance(preview, BaseModel) \
                else dict(preview)
        repo = self.repository
        key = None
        streaming = [v for v in values.values() if isinstance(v, TextStream) and not v.done]
        if streaming and repo is not None and task.is_cacheable:
            # Reading a stream still arriving: no key before its text is whole. Run, then
            # keep the output under the whole input's key (if the streams completed).
            output = await self._run_body(task, model, ctx)
            if all(stream.done for stream in streaming):
                whole = validate_input(task, {k: v.value if isinstance(v, TextStream) else v
                                              for k, v in values.items()})
                await repo.put_output(cache_key(task.type, task.version,
                                                whole.model_dump(mode="json")), output)
            return output
        if repo is not None and task.is_cacheable:
            key = cache_key(task.type, task.version, model.model_dump(mode="json"))
            hit = await repo.get_output(key)
            if hit is not None:
                self.result.cache_hits.add(task.id)
                self._emit(EventKind.TASK_CACHE_HIT, task.id, output=hit)
                return hit
        output = await self._run_body(task, model, ctx)
        if key is not None:
            await repo.put_output(key, output)
        return output

    async def run_many(self, task: Task, items: list[dict[str, Any]], ctx: TaskContext,
                       ) -> list[dict[str, Any]]:
        """``run_one`` for each of ``items``, the cache asked per item, the rest in one
        ``task.run_many`` (its caller, the expansion, keeps timeouts and streams out)."""
        models = [validate_input(task, values) for values in items]
        repo = self.repository if task.is_cacheable else None
        if repo is not None:
            keys = [cache_key(task.type, task.version, model.model_dump(mode="json"))
                    for model in models]
            outputs = await repo.get_outputs(keys)
            for hit in outputs:
                if hit is not None:
                    self.result.cache_hits.add(task.id)
                    self._emit(EventKind.TASK_CACHE_HIT, task.id, output=hit)
        else:
            outputs = [None] * len(models)
        todo = [index for index, output in enumerate(outputs) if output is None]
        if todo:
            raws = await task.run_many([models[index] for index in todo], ctx)
            if len(raws) != len(todo):
                raise TaskOutputError(f"task {task.id!r} ({task.type}) answered {len(raws)} "
                                      f"outputs for {len(todo)} inputs", task.id)
            for index, raw in zip(todo, raws, strict=True):
                outputs[index] = validate_output(task, raw)
            if repo is not None:
                await repo.put_outputs({keys[index]: outputs[index] for index in todo})
        # Each item done, as an expansion run item by item reports it (the page draws
        # the items as the task's group from these).
        for index in range(len(models)):
            ctx.progress(1.0, None, item=index)
        return outputs  # type: ignore[return-value]  # every slot is filled

    async def _run_body(self, task: Task, model: BaseModel, ctx: TaskContext,
                        ) -> dict[str, Any]:
        """The task's own ``run`` under its timeout, its output validated."""
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
        return validate_output(task, raw)


def missing_input(task: Task, values: dict[str, Any]) -> str | None:
    """The first required input port that has no value, if any."""
    for port in task.input_ports:
        if port.required and port.name not in values:
            return port.name
    return None


def validate_input(task: Task, values: dict[str, Any]) -> BaseModel:
    try:
        return task.input_model.__pydantic_validator__.validate_python(values)
    except ValidationError as exc:
        missing = missing_input(task, values)
        if missing is not None:
            raise MissingInputError(
                f"task {task.id!r} ({task.type}): required input {missing!r} has no value; "
                "give it a default or connect a dataflow into it", task.id, missing) from None
        raise TaskInputError(_message(exc, f"task {task.id!r} ({task.type}): input",
                                      "is invalid"), task.id) from None


def validate_output(task: Task, raw: Any) -> dict[str, Any]:
    """``raw`` (the Output model, a dict, or None for no ports) as checked JSON."""
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
        raise TaskOutputError(_message(exc, f"task {task.id!r} ({task.type}) returned output",
                                       "that is invalid"), task.id) from None
    cls = type(task)
    branchy = _BRANCHY.get(cls)
    if branchy is None:
        branchy = _BRANCHY[cls] = bool(getattr(cls, "branch_ports", None))
    # A task with branch ports (If) fills one of them: the others stay absent, not null.
    if not branchy and json_native(model):
        return dict(checked.__dict__)  # what the serialiser gives, at a third of its cost
    return model.__pydantic_serializer__.to_python(checked, mode="json", exclude_unset=branchy)


#: Task class -> whether it declares branch ports (asked once per class, not per run).
_BRANCHY: dict[type, bool] = {}


def _message(exc: ValidationError, prefix: str, verdict: str) -> str:
    """Name the port in ``where`` when every problem is in one port, as graph loading does."""
    ports = {err["loc"][0] for err in exc.errors(include_url=False) if err.get("loc")}
    if len(ports) == 1:
        return format_validation_error(exc, where=f"{prefix} {next(iter(ports))!r} {verdict}",
                                       skip=1)
    return format_validation_error(exc, where=f"{prefix} {verdict}")
