"""Graphs the page saved by name: the code box's text, in the page store's
TaskGraphRepository (IndexedDB in the browser; see page_store.py)."""

from __future__ import annotations

import time
from typing import Any

from taskloom.errors import CorruptRecordError

from .page_store import PageStore


class SavedGraphs:
    def __init__(self, page: PageStore | None = None):
        self.page = page or PageStore()
        self._graphs = self.page.store.graphs

    async def save(self, name: str, code: str) -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise ValueError("a saved graph needs a name")
        record = {"name": name, "code": code, "saved_at": time.time()}
        await self._graphs.save(name, record)
        return record

    async def load(self, name: str) -> dict[str, Any]:
        record = await self._graphs.load(name)  # RecordNotFoundError names a missing one
        if not isinstance(record.get("code"), str):
            raise CorruptRecordError(
                f"the graph saved as {name!r} holds no code; delete it and save it again",
                key=name)
        return record

    async def delete(self, name: str) -> None:
        await self._graphs.delete(name)

    async def names(self) -> list[str]:
        return await self._graphs.list()
