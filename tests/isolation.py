"""Each test leaves the process-wide registries as it found them (a pytest plugin).

The task, function, queue and provider registries are module globals: a Task
class or a queue a test defines would otherwise stay registered for every
later test. After each test, what the test added is removed and what it
replaced is put back, except what importing a module defined: an imported
module stays in ``sys.modules`` and is never imported again, so undoing its
registrations would leave its types unreachable for the rest of the session.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

#: (module, registry object, attribute holding its dict). The provider registry
#: belongs to taskloom.ai, which the core does not import: it is only restored
#: when something loaded it. ``_lazy`` (type names whose module is imported on
#: first use) comes after ``_types``: a lazy name whose type is now loaded stays
#: loaded, not lazy.
REGISTRIES = (
    ("taskloom.registry", "registry", "_types"),
    ("taskloom.registry", "registry", "_lazy"),
    ("taskloom.registry", "functions", "_functions"),
    ("taskloom.queue.queue", "queues", "_queues"),
    ("taskloom.ai.providers", "providers", "_functions"),
)


def _entries(module: str, name: str, attribute: str) -> dict | None:
    loaded = sys.modules.get(module)
    registry = getattr(loaded, name, None)
    return None if registry is None else getattr(registry, attribute)


def _defined_by_an_import(value: Any, modules_before: set[str]) -> bool:
    """Whether ``value`` was registered by importing its module, not by a test's own code."""
    module_name = getattr(value, "__module__", None)
    if module_name is None or not callable(value):
        return False  # e.g. a JobQueue: always made by the code that registers it
    if module_name not in modules_before:
        return True  # its module was imported during the test
    module = sys.modules.get(module_name)
    target: Any = module
    for part in getattr(value, "__qualname__", "<locals>").split("."):
        target = getattr(target, part, None)
    return target is value


def restore(entries: dict, before: dict, modules_before: set[str]) -> None:
    for key in [k for k in entries if k not in before or entries[k] is not before[k]]:
        if _defined_by_an_import(entries[key], modules_before):
            continue
        if key in before:
            entries[key] = before[key]
        else:
            del entries[key]
    for key, value in before.items():
        entries.setdefault(key, value)


def restore_lazy(lazy: dict[str, str], before: dict[str, str], modules_before: set[str]) -> None:
    loaded = _entries("taskloom.registry", "registry", "_types") or {}
    imported_something = not set(sys.modules) <= modules_before
    added = {name: module for name, module in lazy.items()
             if name not in before and imported_something}  # an import may have added them
    lazy.clear()
    lazy.update({name: module for name, module in {**before, **added}.items()
                 if name not in loaded})


@pytest.fixture(autouse=True)
def _restore_global_registries() -> Iterator[None]:
    modules_before = set(sys.modules)
    snapshots = {spec: dict(entries) for spec in REGISTRIES
                 if (entries := _entries(*spec)) is not None}
    yield
    for spec in REGISTRIES:
        entries = _entries(*spec)
        if entries is not None:
            undo = restore_lazy if spec[2] == "_lazy" else restore
            undo(entries, snapshots.get(spec, {}), modules_before)
