"""The page's file root: a folder of the origin private file system (OPFS).

In the page, file tasks (LoadDocument, WriteFile, SqlQuery/SqlWrite on a
``sqlite:`` file) keep to a root like everywhere else (``tasks/file_root.py``);
here that root is ``/files`` in Pyodide's file system, mounted with
``pyodide.mountNativeFS`` on the OPFS folder ``taskloom-files`` (from
``navigator.storage.getDirectory()`` in the engine's worker). Files the user
picks or drops are written into it (:func:`put`), and what tasks write stays
there across reloads.

Pyodide's native file system keeps a copy in memory and writes it back to
OPFS on ``syncfs``: :func:`persist` does that. A task that writes under the
root (WriteFile, SqlWrite, a ``sqlite:``/``file:`` vector store) awaits it
before it completes (``file_root.use_write_hook``), so a tab closed later in
the run keeps the write; the engine also persists after every run and every
change from the Files list. Mounting reads OPFS back.

The root is handed to the tasks as ``TASKLOOM_FILE_ROOT``, the variable
``file_root`` reads when the runner names no root, so a graph cannot name
its own. Under CPython this module imports (for the engine's tests) and
works on an ordinary folder given to :class:`PageFiles`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import FileAccessError
from ..tasks.file_root import ENV_VAR, inside_root, relative_to_root, use_write_hook

#: Where the OPFS folder appears in Pyodide's file system.
MOUNT_POINT = "/files"
#: The OPFS folder the page keeps its files in.
OPFS_FOLDER = "taskloom-files"
#: A picked file larger than this is refused (it is held in memory twice while it crosses).
MAX_BYTES = 200 * 1024 * 1024


class PageFiles:
    """The Files list's operations on one root folder (OPFS in the page)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self._root = Path(root) if root is not None else None
        self._native: Any = None  # mountNativeFS's answer (its syncfs), in the page
        self._mounting: asyncio.Future[None] | None = None
        self._syncing: asyncio.Lock | None = None  # one syncfs at a time (tasks run side by side)

    @property
    def root(self) -> Path:
        if self._root is None:
            raise FileAccessError("the page's file root is not mounted yet", path=MOUNT_POINT)
        return self._root.resolve()

    async def ensure_mounted(self) -> Path:
        """Mounts OPFS at ``/files`` once (Pyodide), and makes it the tasks' file root."""
        if self._root is None:
            if sys.platform != "emscripten":
                raise FileAccessError("no page file root under CPython: give PageFiles a folder",
                                      path=MOUNT_POINT)
            # The Files list and a run may both ask at start-up: one mount, both wait on it.
            if self._mounting is None:
                self._mounting = asyncio.ensure_future(self._mount())
            try:
                await self._mounting
            except BaseException:
                self._mounting = None  # a failed mount may be tried again
                raise
        os.environ[ENV_VAR] = str(self._root)
        return self.root

    async def _mount(self) -> None:
        import js  # type: ignore[import-not-found]
        import pyodide_js  # type: ignore[import-not-found]

        opfs = await js.navigator.storage.getDirectory()
        folder = await opfs.getDirectoryHandle(OPFS_FOLDER, create=True)
        os.makedirs(MOUNT_POINT, exist_ok=True)
        self._native = await pyodide_js.mountNativeFS(MOUNT_POINT, folder)
        self._root = Path(MOUNT_POINT)
        use_write_hook(self._written)

    async def before_run(self) -> None:
        """In the page: the root is mounted before any task looks for it."""
        if sys.platform == "emscripten" or self._root is not None:
            await self.ensure_mounted()

    async def persist(self) -> None:
        """Writes what changed in memory back to OPFS (a no-op off the page)."""
        if self._native is None:
            return
        if self._syncing is None:
            self._syncing = asyncio.Lock()
        async with self._syncing:
            await self._native.syncfs()

    async def _written(self, real: Path) -> None:
        """A task wrote ``real``: if it lies under this root, on to OPFS before it completes."""
        if self._root is not None and Path(real).resolve().is_relative_to(self.root):
            await self.persist()

    def list(self) -> list[dict[str, Any]]:
        """Every file under the root: ``{path, size, modified}``, by path."""
        root = self.root
        found = []
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.startswith(".taskloom-"):
                stat = path.stat()
                found.append({"path": relative_to_root(root, path), "size": stat.st_size,
                              "modified": stat.st_mtime})
        return found

    async def put(self, name: str, data_base64: str) -> dict[str, Any]:
        """Writes a picked or dropped file under the root (replacing one of that name)."""
        try:
            data = base64.b64decode(data_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise FileAccessError(f"the bytes of {name!r} are not base64: {exc}",
                                  path=name) from exc
        if len(data) > MAX_BYTES:
            raise FileAccessError(f"{name!r} is larger than {MAX_BYTES:,} bytes", path=name)
        real = self._target(name)
        real.parent.mkdir(parents=True, exist_ok=True)
        temporary = real.with_name(f".taskloom-{real.name}.part")
        temporary.write_bytes(data)
        temporary.replace(real)
        await self.persist()
        return {"path": relative_to_root(self.root, real), "size": len(data)}

    async def delete(self, name: str) -> dict[str, Any]:
        real = self._target(name)
        if not real.is_file():
            raise FileAccessError(f"no file {name!r} in the page's files", path=name)
        real.unlink()
        await self.persist()
        return {"path": relative_to_root(self.root, real)}

    def _target(self, name: str) -> Path:
        real = inside_root(self.root, name)
        if real == self.root:
            raise FileAccessError(f"not a file name: {name!r}", path=name)
        return real


#: The engine's one instance (the worker has one OPFS root).
page_files = PageFiles()
