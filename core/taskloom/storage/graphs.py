"""Saved task graphs, as JSON, by name."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import CorruptRecordError, RecordNotFoundError, StorageError
from .protocol import KeyValueStore

COLLECTION = "graphs"
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GraphChange:
    """What a TaskGraphRepository subscriber is told after a change."""

    kind: Literal["saved", "deleted"]
    name: str


GraphListener = Callable[[GraphChange], Awaitable[None] | None]


def graph_json(graph: Any) -> dict[str, Any]:
    """The JSON dict of ``graph``: a dict as is, else ``graph.to_json()``."""
    if isinstance(graph, dict):
        return graph
    to_json = getattr(graph, "to_json", None)
    if to_json is None:
        raise StorageError(
            f"cannot store a {type(graph).__name__} as a graph: pass a JSON dict "
            "or an object with .to_json()"
        )
    data = to_json()
    if isinstance(data, str):  # tolerate a to_json() that returns text
        data = json.loads(data)
    return data


class TaskGraphRepository:
    """Save, load, list and delete graphs by name; subscribers hear of changes.

    Change events are in-process: they tell this repository's subscribers
    what was done through it, not what another process did to the store.
    """

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._listeners: list[GraphListener] = []

    async def save(self, name: str, graph: Any) -> None:
        """Store ``graph`` (a JSON dict or anything with ``.to_json()``) as ``name``."""
        await self._store.put(COLLECTION, name, graph_json(graph))
        await self._notify(GraphChange("saved", name))

    async def load(self, name: str) -> dict[str, Any]:
        """The graph JSON saved as ``name``; RecordNotFoundError if there is none."""
        data = await self._store.get(COLLECTION, name)
        if data is None:
            raise RecordNotFoundError(f"no graph saved as {name!r}")
        if not isinstance(data, dict):
            raise CorruptRecordError(
                f"the graph saved as {name!r} is not a JSON object; delete it and save it again",
                key=name,
            )
        return data

    async def load_graph(self, name: str) -> Any:
        """The graph saved as ``name``, as a ``taskloom.graph.TaskGraph``."""
        from ..graph import TaskGraph  # not at import time: storage must not need the graph

        return TaskGraph.from_json(await self.load(name))

    async def list(self) -> list[str]:
        """Names of the saved graphs, sorted."""
        return await self._store.keys(COLLECTION)

    async def delete(self, name: str) -> bool:
        """Remove the graph saved as ``name``; True if there was one."""
        removed = await self._store.delete(COLLECTION, name)
        if removed:
            await self._notify(GraphChange("deleted", name))
        return removed

    def subscribe(self, listener: GraphListener) -> Callable[[], None]:
        """Call ``listener(change)`` after every save or delete; returns an unsubscribe."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    async def _notify(self, change: GraphChange) -> None:
        for listener in list(self._listeners):
            try:
                result = listener(change)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # a broken listener must not undo or hide the change
                logger.exception("graph change listener %r failed on %s", listener, change)
