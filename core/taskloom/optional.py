"""Optional dependencies, imported where a task first needs one.

Under CPython a package is installed or it is not. In the page, the wheels the
site ships (build/browser.toml) are not all loaded at start-up: the browser
layer installs a loader with :func:`use_loader` that fetches one from the site
on first use (Pyodide's ``loadPackage``). The core never imports the page.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from types import ModuleType

from .errors import ModelDependencyError

#: Awaited with a distribution name when its module is missing; None under CPython.
_loader: Callable[[str], Awaitable[None]] | None = None


Loader = Callable[[str], Awaitable[None]]


def use_loader(loader: Loader | None) -> Loader | None:
    """Installs ``await loader(distribution)`` (None removes it); answers the one it replaced."""
    global _loader
    previous, _loader = _loader, loader
    return previous


async def import_optional(module: str, *, purpose: str, extra: str,
                          distribution: str | None = None) -> ModuleType:
    """``module``, loading its wheel first where a loader is installed; a missing one is a
    :class:`ModelDependencyError` that names the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if _loader is None:
            raise ModelDependencyError(f"{purpose} needs {distribution or module}: pip install "
                                       f"'taskloom[{extra}]'") from exc
    await _loader(distribution or module)
    importlib.invalidate_caches()
    return importlib.import_module(module)
