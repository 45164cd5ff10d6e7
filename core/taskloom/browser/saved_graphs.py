"""Graphs the page saved by name, in the page store's TaskGraphRepository
(IndexedDB in the browser; see page_store.py).

A saved graph is the page's *document* (web/document.js), with its name::

    {"name": ..., "mode": "graph" | "trusted", "graph": {...} | None, "code": "...",
     "saved_at": epoch seconds}

``mode: "graph"`` keeps the graph JSON (its metadata too: node positions) and
its code; ``"trusted"`` keeps the user's own Python as written. Records
written before documents existed hold only ``code``: they load with
``mode: None``, and the page opens their code as it opens any code (as a graph
when it is builder-only). Saving plain code, as the page does for code typed
but not applied yet, writes such a record too.
"""

from __future__ import annotations

import time
from typing import Any

from taskloom.errors import CorruptRecordError, RecordNotFoundError, TaskloomError

from .page_store import PageStore

GRAPH = "graph"
TRUSTED = "trusted"
MODES = (GRAPH, TRUSTED)
#: Longer names are a paste gone wrong, not a name.
MAX_NAME = 200


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a saved graph needs a name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise ValueError(f"a saved graph's name has at most {MAX_NAME} characters")
    return name


def _document(document: Any) -> dict[str, Any]:
    """The document to keep: checked, so that what is saved can be opened again."""
    if isinstance(document, str):  # plain code: opened as code (graph or trusted) later
        return {"mode": None, "graph": None, "code": document}
    if not isinstance(document, dict):
        raise ValueError("a saved graph is a document {mode, graph, code} or its code")
    mode = document.get("mode")
    code = document.get("code")
    if mode not in (*MODES, None):
        raise ValueError(f"a document's mode is 'graph' or 'trusted', not {mode!r}")
    if mode == GRAPH:
        from taskloom.codegen import to_code
        from taskloom.graph import TaskGraph

        graph = document.get("graph")
        if not isinstance(graph, dict):
            raise ValueError("a graph document needs its graph JSON (an object)")
        loaded = TaskGraph.from_json(graph)  # refuses what the runner would refuse
        return {"mode": GRAPH, "graph": graph,
                "code": code if isinstance(code, str) else to_code(loaded)}
    if not isinstance(code, str):
        raise ValueError("a trusted-Python document needs its code (a string)")
    return {"mode": mode, "graph": None, "code": code}


def _readable(name: str, record: Any) -> dict[str, Any]:
    """A stored record as the page reads it, older code-only records included."""
    if not isinstance(record, dict) or (not isinstance(record.get("code"), str) and not (
            record.get("mode") == GRAPH and isinstance(record.get("graph"), dict))):
        raise CorruptRecordError(
            f"the graph saved as {name!r} holds no code; delete it and save it again", key=name)
    mode = record.get("mode") if record.get("mode") in MODES else None
    return {"name": record.get("name") or name, "mode": mode,
            "graph": record.get("graph") if mode == GRAPH else None,
            "code": record.get("code") if isinstance(record.get("code"), str) else None,
            "saved_at": record.get("saved_at")}


class SavedGraphs:
    def __init__(self, page: PageStore | None = None):
        self.page = page or PageStore()
        self._graphs = self.page.store.graphs

    async def save(self, name: str, document: Any) -> dict[str, Any]:
        """Keeps ``document`` (or plain code) as ``name``, replacing one of that name."""
        record = {"name": _name(name), **_document(document), "saved_at": time.time()}
        await self._graphs.save(record["name"], record)
        return record

    async def load(self, name: str) -> dict[str, Any]:
        return _readable(name, await self._graphs.load(name))  # RecordNotFoundError if missing

    async def delete(self, name: str) -> dict[str, Any] | None:
        """Forgets ``name``; answers what it held (None if nothing), so that it can be undone."""
        try:
            record = await self._graphs.load(name)
        except RecordNotFoundError:
            return None
        except TaskloomError:  # a corrupt record goes too, and cannot be given back
            record = None
        await self._graphs.delete(name)
        return record

    async def restore(self, record: Any) -> dict[str, Any]:
        """Writes back a record ``delete`` answered (Undo): as it was, with its saved_at."""
        if not isinstance(record, dict):
            raise ValueError("restore takes the record that delete answered")
        name = _name(record.get("name"))
        kept = {"name": name, **_document(record), "saved_at": record.get("saved_at")}
        await self._graphs.save(name, kept)
        return kept

    async def rename(self, name: str, new_name: str) -> dict[str, Any]:
        new_name = _name(new_name)
        record = await self.load(name)
        if new_name == name:
            return record
        await self._refuse_taken(new_name)
        record = {**record, "name": new_name}
        await self._graphs.save(new_name, record)
        await self._graphs.delete(name)
        return record

    async def duplicate(self, name: str, new_name: str | None = None) -> dict[str, Any]:
        """A copy of ``name`` as ``new_name``, or as "<name> (copy)", "<name> (copy 2)", …"""
        record = await self.load(name)
        if new_name is None:
            taken = set(await self.names())
            new_name = f"{name} (copy)"
            number = 2
            while new_name in taken:
                new_name = f"{name} (copy {number})"
                number += 1
        new_name = _name(new_name)
        await self._refuse_taken(new_name)
        record = {**record, "name": new_name, "saved_at": time.time()}
        await self._graphs.save(new_name, record)
        return record

    async def _refuse_taken(self, name: str) -> None:
        if name in await self.names():
            raise ValueError(f"a graph is already saved as {name!r}: choose another name, "
                             "or delete that one first")

    async def names(self) -> list[str]:
        return await self._graphs.list()

    async def summaries(self) -> list[dict[str, Any]]:
        """Each saved graph's name, mode, saved_at and task count (the page's list), by name."""
        listed = []
        for name in await self.names():
            try:
                record = await self.load(name)
            except TaskloomError as error:  # listed, so that it can be deleted
                listed.append({"name": name, "mode": None, "saved_at": None, "tasks": None,
                               "error": str(error)})
                continue
            graph = record["graph"]
            listed.append({"name": name, "mode": record["mode"], "saved_at": record["saved_at"],
                           "tasks": len(graph.get("tasks", [])) if graph else None})
        return listed
