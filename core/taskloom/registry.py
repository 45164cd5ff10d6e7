"""TaskRegistry: the allowlist of task types that graph JSON may name.

Loading JSON only instantiates types found here, so a graph from elsewhere
never imports or runs code it names. Lambda functions have their own
allowlist, ``functions``, for the same reason.

Built-in types whose modules are costly to import (the AI tasks) are known by
name only — ``register_lazy(module, *type_names)`` — and their module is
imported the first time one of them is asked for or the registry is
enumerated. The allowlist is unchanged by this: the modules are the package's
own, named in code, never in JSON.

This module imports nothing of ``task.py``: ``task.py`` imports it, to register
each subclass it sees defined.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from .errors import DuplicateTaskTypeError, UnknownFunctionError, UnknownTaskTypeError

#: A Task subclass. Spelt structurally because this module cannot import task.py.
Task = Any


def snake_case(name: str) -> str:
    """``TextEmbedding`` → ``text_embedding``; ``HTTPGet`` → ``http_get``."""
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return re.sub(r"\W+", "_", name).lower()


class TaskRegistry:
    def __init__(self) -> None:
        self._types: dict[str, type[Task]] = {}
        #: type name → module that registers it when imported (not yet imported).
        self._lazy: dict[str, str] = {}

    def register_lazy(self, module: str, *type_names: str) -> None:
        """Know ``type_names`` now; import ``module`` (which registers them) on first use."""
        for name in type_names:
            if name not in self._types:
                self._lazy[name] = module

    def _load(self, type_name: str) -> None:
        module = self._lazy.get(type_name)
        if module is None:
            return
        importlib.import_module(module)
        # Whatever the import registered is no longer lazy; a name it did not
        # register stays unknown, as a plain get() would say.
        for name in [n for n, m in self._lazy.items() if m == module]:
            del self._lazy[name]

    def _load_all(self) -> None:
        for module in sorted(set(self._lazy.values())):
            importlib.import_module(module)
        self._lazy.clear()

    def register(self, cls: type[Task]) -> type[Task]:
        """Register ``cls`` under ``cls.type``; usable as a decorator."""
        lazy = self._lazy.get(cls.type)
        if lazy is not None and lazy != cls.__module__:
            # Load the built-in now, so that taking its name fails here, as it
            # did when the built-ins were imported up front.
            self._load(cls.type)
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
        self._lazy.pop(type_name, None)

    def get(self, type_name: str) -> type[Task]:
        if type_name not in self._types:
            self._load(type_name)
        try:
            return self._types[type_name]
        except KeyError:
            raise UnknownTaskTypeError(
                f"unknown task type {type_name!r}: no such type is registered "
                "(import the module that defines it, e.g. `taskloom run --import MODULE`)"
            ) from None

    def __contains__(self, type_name: str) -> bool:
        return type_name in self._types or type_name in self._lazy

    def __iter__(self) -> Iterator[type[Task]]:
        self._load_all()
        return iter(list(self._types.values()))

    def types(self) -> list[str]:
        self._load_all()
        return sorted(self._types)

    def by_method_name(self) -> dict[str, type[Task]]:
        """snake_case method name → class, for ``Workflow``'s fluent methods."""
        self._load_all()
        return {snake_case(name): cls for name, cls in self._types.items()}

    def describe(self) -> list[dict[str, Any]]:
        """Every type as JSON, for a palette and docs, sorted by name.

        Per type: ``name`` (also as ``type``), the ``method`` Workflow calls it
        by, ``category``, ``title``, ``description``, ``cacheable``, ``version``,
        the ``input_schema`` and ``output_schema`` (JSON Schema), ``formats``
        (port → semantic format, per side: what connects across names) and
        ``open_inputs`` (True when any input name is accepted, as DebugLog's),
        ``branch_outputs`` (ports of which a run fills one, as If's) and
        ``error_port`` (the output a failure goes down, or None if a port of
        that name is the task's own) and ``stream_ports`` (per side, the ports
        that stream text deltas).
        """
        from .ports import ports_of  # pydantic-only; kept off this module's import path

        out = []
        for name in self.types():
            cls = self._types[name]
            inputs, outputs = ports_of(cls.Input), ports_of(cls.Output)
            out.append({
                "name": name,
                "type": name,
                "method": snake_case(name),
                "category": cls.category,
                "title": cls.title,
                "description": cls.description,
                # A compound type computes these per instance (from its body): None.
                "cacheable": cls.cacheable if isinstance(cls.cacheable, bool) else None,
                "version": cls.version if isinstance(cls.version, str) else None,
                "input_schema": inputs.schema,
                "output_schema": outputs.schema,
                "formats": {
                    "inputs": {p.name: p.format for p in inputs if p.format},
                    "outputs": {p.name: p.format for p in outputs if p.format},
                },
                "open_inputs": inputs.open,
                # Ports that stream text deltas (``task_stream`` events; streams.py).
                "stream_ports": {
                    "inputs": [p.name for p in inputs if p.stream],
                    "outputs": [p.name for p in outputs if p.stream],
                },
                # Outputs only one of which a run fills (If's): label them as branches.
                "branch_outputs": sorted(getattr(cls, "branch_ports", ())),
                # Every task's extra output: its error, when it fails (graph.ERROR_PORT).
                "error_port": "error" if "error" not in outputs.by_name else None,
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
