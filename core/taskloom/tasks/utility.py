"""Utility tasks: DebugLog (inspect what flows) and Lambda (wrap a Python callable)."""

from __future__ import annotations

import inspect
import logging
import reprlib
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..errors import SerializationError, TaskConfigError
from ..registry import functions
from ..task import Task, TaskContext

log = logging.getLogger("taskloom.debug")


class DebugLog(Task):
    """Logs every input it receives and passes it through unchanged.

    One record on the ``taskloom.debug`` logger, at most ``max_chars`` long: a
    20 MB string is logged as its first characters and a note, while the output
    still carries all of it.
    """

    category = "utility"
    cacheable = False

    class Input(BaseModel):
        # Open model: any port name is accepted and passed through.
        model_config = ConfigDict(extra="allow")
        log_level: Literal["debug", "info", "warning", "error"] = "info"
        max_chars: int = Field(default=2000, ge=1)

    class Output(BaseModel):
        model_config = ConfigDict(extra="allow")

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        values = dict(input.model_extra or {})
        level = getattr(logging, input.log_level.upper())
        if log.isEnabledFor(level):
            log.log(level, "[%s] %s", ctx.task_id, _bounded_repr(values, input.max_chars))
        return values

    async def run_reactive(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        return dict(input.model_extra or {})


def _bounded_repr(value: Any, limit: int) -> str:
    """``repr(value)`` cut to ``limit`` characters, with a note when cut.

    Never builds the full repr of a large value: when a quick count says the
    value is larger than ``limit``, reprlib renders it with every string and
    collection shortened first.
    """
    if _size_at_most(value, limit):
        text = repr(value)
    else:
        short = reprlib.Repr()
        short.maxstring = short.maxother = short.maxlong = limit
        short.maxlist = short.maxdict = short.maxtuple = short.maxset = max(6, limit // 20)
        short.maxlevel = 8
        text = short.repr(value)
        if len(text) <= limit:
            return f"{text} [shortened: the value is over {limit:,} characters]"
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [truncated to {limit:,} characters; set max_chars to see more]"


def _size_at_most(value: Any, budget: int) -> bool:
    """Whether ``value`` roughly fits in ``budget`` characters, counted without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str | bytes):
            budget -= len(item) + 3
        elif isinstance(item, dict):
            budget -= 2 * len(item) + 2
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            budget -= 2 * len(item) + 2
            stack.extend(item)
        else:
            budget -= 8
        if budget < 0:
            return False
    return True


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
            raise TaskConfigError("Lambda needs a callable (or the name of a registered one)")
        if not isinstance(fn, str) and not callable(fn):
            raise TaskConfigError(f"Lambda {self.id!r}: function must be a callable or the name "
                                  f"of a registered one, not {type(fn).__name__}")
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
        if name is not None and (not isinstance(name, str) or not name):
            raise SerializationError(
                f"Lambda task {entry.get('id')!r}: 'function' must be the name a function "
                f"was registered under (a non-empty string), not {reprlib.repr(name)}")
        if not name:
            raise SerializationError(
                f"Lambda task {entry.get('id')!r} names no registered function: "
                "its callable was not registered with @taskloom.register_function when the "
                "graph was saved, so it cannot be reloaded")
        return cls(name, id=entry["id"], defaults=entry.get("defaults") or {},
                   **(entry.get("config") or {}))
