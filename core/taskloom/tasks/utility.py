"""Utility tasks: DebugLog (inspect what flows) and Lambda (wrap a Python callable)."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..errors import SerializationError
from ..registry import functions
from ..task import Task, TaskContext

log = logging.getLogger("taskloom.debug")


class DebugLog(Task):
    """Logs every input it receives and passes it through unchanged."""

    category = "utility"
    cacheable = False

    class Input(BaseModel):
        # Open model: any port name is accepted and passed through.
        model_config = ConfigDict(extra="allow")
        log_level: Literal["debug", "info", "warning", "error"] = "info"

    class Output(BaseModel):
        model_config = ConfigDict(extra="allow")

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        values = dict(input.model_extra or {})
        level = getattr(logging, input.log_level.upper())
        ctx.logger.log(level, "[%s] %s", ctx.task_id, values)
        log.log(level, "[%s] %s", ctx.task_id, values)
        return values

    async def run_reactive(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        return dict(input.model_extra or {})


class Lambda(Task):
    """Runs a Python callable on its input dict; returns its dict.

    The callable is code, so graph JSON stores only its registered name:
    register it with ``@taskloom.register_function`` to reload a graph that
    uses it. An unregistered callable exports as ``"function": null`` with a
    note, and that JSON cannot be loaded back.
    """

    category = "utility"

    class Input(BaseModel):
        model_config = ConfigDict(extra="allow")

    class Output(BaseModel):
        model_config = ConfigDict(extra="allow")

    def __init__(self, fn: Callable[..., Any] | str | None = None, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        super().__init__(id=id, defaults=defaults, **config)
        if fn is None:
            raise ValueError("Lambda needs a callable (or the name of a registered one)")
        self.fn = functions.get(fn) if isinstance(fn, str) else fn
        self.function_name = fn if isinstance(fn, str) else functions.name_of(fn)

    async def run(self, input: BaseModel, ctx: TaskContext) -> Any:
        values = input.model_dump()
        params = inspect.signature(self.fn).parameters
        result = self.fn(values, ctx) if len(params) >= 2 else self.fn(values)
        if inspect.isawaitable(result):
            result = await result
        return result

    def to_json(self) -> dict[str, Any]:
        entry = super().to_json()
        entry["function"] = self.function_name
        if self.function_name is None:
            qualname = getattr(self.fn, "__qualname__", repr(self.fn))
            entry["note"] = (f"the callable {qualname} is not registered; register it with "
                             "@taskloom.register_function to reload this graph")
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], registry: Any = None) -> Lambda:
        name = entry.get("function")
        if not name:
            raise SerializationError(
                f"Lambda task {entry.get('id')!r} names no registered function: "
                "its callable was not registered with @taskloom.register_function when the "
                "graph was saved, so it cannot be reloaded")
        return cls(name, id=entry["id"], defaults=entry.get("defaults") or {},
                   **(entry.get("config") or {}))
