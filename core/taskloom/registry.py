"""TaskRegistry: the allowlist of task types that graph JSON may name.

Loading JSON only instantiates types found here, so a graph from elsewhere
never imports or runs code it names. Lambda functions have their own
allowlist, ``functions``, for the same reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .errors import DuplicateTaskTypeError, UnknownFunctionError, UnknownTaskTypeError

if TYPE_CHECKING:
    from .task import Task


def snake_case(name: str) -> str:
    """``TextEmbedding`` → ``text_embedding``; ``HTTPGet`` → ``http_get``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"\W+", "_", name).lower()


class TaskRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[Task]] = {}

    def register(self, cls: type[Task]) -> type[Task]:
        """Register ``cls`` under ``cls.type``; usable as a decorator."""
        existing = self._types.get(cls.type)
        if existing is not None and existing is not cls and not _same_definition(existing, cls):
            raise DuplicateTaskTypeError(
                f"task type {cls.type!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}; "
                f"{cls.__module__}.{cls.__qualname__} cannot take it "
                "(give one of them another `type`)")
        self._types[cls.type] = cls
        return cls

    def unregister(self, type_name: str) -> None:
        self._types.pop(type_name, None)

    def get(self, type_name: str) -> type[Task]:
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownTaskTypeError(
                f"unknown task type {type_name!r}: no such type is registered "
                "(import the module that defines it, e.g. `taskloom run --import MODULE`)"
            ) from None

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._types

    def __iter__(self) -> Iterator[type[Task]]:
        return iter(list(self._types.values()))

    def types(self) -> list[str]:
        return sorted(self._types)

    def by_method_name(self) -> dict[str, type[Task]]:
        """snake_case method name → class, for ``Workflow``'s fluent methods."""
        return {snake_case(name): cls for name, cls in self._types.items()}

    def describe(self) -> list[dict[str, Any]]:
        """Every type with its metadata and port schemas, for the page and docs."""
        out = []
        for name in self.types():
            cls = self._types[name]
            out.append({
                "type": name,
                "category": cls.category,
                "title": cls.title,
                "description": cls.description,
                "cacheable": cls.cacheable,
                "version": cls.version,
                "input_schema": cls.Input.model_json_schema(),
                "output_schema": cls.Output.model_json_schema(),
            })
        return out


def _same_definition(a: type, b: type) -> bool:
    # Re-running a module (reload, notebooks, parametrized tests) redefines the
    # same class; that replaces the old one instead of clashing.
    return a.__module__ == b.__module__ and a.__qualname__ == b.__qualname__


class FunctionRegistry:
    """Named callables that a ``Lambda`` task may reference from JSON."""

    def __init__(self) -> None:
        self._functions: dict[str, Callable[..., Any]] = {}

    def register(self, name: str | Callable[..., Any] | None = None):
        """``@functions.register`` or ``@functions.register("name")``."""
        if callable(name):
            fn = name
            self._functions[_function_name(fn)] = fn
            return fn

        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._functions[name or _function_name(fn)] = fn
            return fn

        return decorator

    def name_of(self, fn: Callable[..., Any]) -> str | None:
        for name, registered in self._functions.items():
            if registered is fn:
                return name
        return None

    def get(self, name: str) -> Callable[..., Any]:
        try:
            return self._functions[name]
        except KeyError:
            raise UnknownFunctionError(
                f"Lambda function {name!r} is not registered: register it with "
                "@taskloom.register_function before loading a graph that names it"
            ) from None


def _function_name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


registry = TaskRegistry()
functions = FunctionRegistry()
register_task = registry.register
register_function = functions.register
