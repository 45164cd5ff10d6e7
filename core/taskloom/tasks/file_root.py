"""The folder a run may read and write files in, and the check that keeps paths inside it.

A graph may come from anywhere, so it never names its own root: the person
running it does, through the runner's ``services={"file_root": path}``, the
``TASKLOOM_FILE_ROOT`` environment variable, or (neither given) the current
directory. A path in a graph is relative to that root; an absolute one must
lie inside it. Every path is resolved first, so neither ``..`` nor a
symlink can lead out.

A task that wrote under the root awaits :func:`written` before it completes:
where files only reach their storage later (the page keeps OPFS files in
memory until a sync, ``taskloom.browser.files``), the hook installed with
:func:`use_write_hook` makes the write durable there and then.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ..errors import FileAccessError

ENV_VAR = "TASKLOOM_FILE_ROOT"

#: Awaited with the written path after every file task's write (None: nothing to do, as
#: under CPython, where the write itself reached the disk). The core never imports the page.
_write_hook: Callable[[Path], Awaitable[None]] | None = None


def use_write_hook(hook: Callable[[Path], Awaitable[None]] | None) -> Any:
    """Installs ``await hook(path)``, run after each write under a file root (None removes
    it); answers the hook it replaced, to put back."""
    global _write_hook
    previous, _write_hook = _write_hook, hook
    return previous


async def written(real: Path) -> None:
    """A file task wrote ``real``: make it durable before the task completes."""
    if _write_hook is not None:
        await _write_hook(real)


def file_root(services: dict[str, Any] | None = None) -> Path:
    """The root this run's file tasks keep to, resolved."""
    configured = (services or {}).get("file_root") or os.environ.get(ENV_VAR) or os.getcwd()
    root = Path(configured).expanduser()
    if not root.is_dir():
        raise FileAccessError(
            f"the file root {str(root)!r} is not a folder: set services['file_root'] or "
            f"{ENV_VAR} to an existing folder", path=str(root))
    return root.resolve()


def inside_root(root: Path, path: str) -> Path:
    """``path`` resolved (symlinks and ``..`` followed); FileAccessError if it leaves ``root``."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise FileAccessError(f"not a file path: {path!r}", path=str(path))
    candidate = Path(path).expanduser()
    full = candidate if candidate.is_absolute() else root / candidate
    try:
        real = full.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise FileAccessError(f"cannot resolve the path {path!r}: {exc}", path=path) from exc
    if not real.is_relative_to(root):
        raise FileAccessError(
            f"the path {path!r} leads outside the file root {str(root)!r}; name a file "
            f"under it, or run with another root (services['file_root'] or {ENV_VAR})",
            path=path)
    return real


def relative_to_root(root: Path, real: Path) -> str:
    """How outputs name a file: relative to the root, with forward slashes."""
    return real.relative_to(root).as_posix()
