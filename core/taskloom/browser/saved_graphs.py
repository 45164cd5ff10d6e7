"""Graphs the page saved by name: the code box text, in an IndexedDB object store.

A stop-gap until the storage protocols land (core/taskloom/storage/): then
this becomes a TaskGraphRepository on the IndexedDB backend.
"""

from __future__ import annotations

import json
import time
from typing import Any

from taskloom.errors import CorruptRecordError, RecordNotFoundError

DATABASE = "taskloom-page"
STORE = "saved_graphs"
VERSION = 1


def _create_store(database: Any, _old_version: int, _new_version: int) -> None:
    if not database.objectStoreNames.contains(STORE):
        database.createObjectStore(STORE)


class SavedGraphs:
    def __init__(self, database_name: str = DATABASE):
        self._database_name = database_name
        self._store: Any = None

    async def _open(self) -> Any:
        if self._store is None:
            from . import idb  # needs the browser's `js`; imported on first use

            database = await idb.open_database(self._database_name, VERSION, _create_store)
            self._store = idb.KeyValueStore(database, STORE)
        return self._store

    async def save(self, name: str, code: str) -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise ValueError("a saved graph needs a name")
        record = {"name": name, "code": code, "saved_at": time.time()}
        await (await self._open()).put(name, json.dumps(record))
        return record

    async def load(self, name: str) -> dict[str, Any]:
        text = await (await self._open()).get(name)
        if text is None:
            raise RecordNotFoundError(f"no saved graph named {name!r}")
        try:
            return json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise CorruptRecordError(f"saved graph {name!r} is not valid JSON: {error}",
                                     key=name) from error

    async def delete(self, name: str) -> None:
        await (await self._open()).delete(name)

    async def names(self) -> list[str]:
        return sorted(await (await self._open()).keys())
