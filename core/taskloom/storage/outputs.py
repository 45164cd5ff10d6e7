"""Cached task outputs in a store: the runner's ``TaskOutputRepository``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import CorruptRecordError
from .protocol import KeyValueStore

COLLECTION = "outputs"


def _not_an_object(key: str) -> CorruptRecordError:
    return CorruptRecordError(f"the cached output {key!r} is not a JSON object; clear it "
                              "(the task will run again)", key=key)


class OutputRepository:
    """Satisfies ``taskloom.cache.TaskOutputRepository`` on any KeyValueStore."""

    def __init__(self, store: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def get_output(self, key: str) -> dict[str, Any] | None:
        output = await self._store.get(COLLECTION, key)
        if output is not None and not isinstance(output, dict):
            raise _not_an_object(key)
        return output

    async def put_output(self, key: str, output: dict[str, Any]) -> None:
        await self._store.put(COLLECTION, key, output)

    async def get_outputs(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        outputs = await self._store.get_many(COLLECTION, keys)
        for key, output in zip(keys, outputs, strict=True):
            if output is not None and not isinstance(output, dict):
                raise _not_an_object(key)
        return outputs

    async def put_outputs(self, outputs: Mapping[str, dict[str, Any]]) -> None:
        await self._store.put_many(COLLECTION, outputs)

    async def count(self) -> int:
        return await self._store.count(COLLECTION)

    async def size(self) -> int:
        """Bytes used by the stored outputs (their canonical JSON)."""
        return await self._store.size(COLLECTION)

    async def clear(self) -> None:
        await self._store.clear(COLLECTION)

    async def clear_older_than(self, seconds: float) -> int:
        """Remove outputs stored more than ``seconds`` ago; return how many."""
        return await self._store.delete_older_than(COLLECTION, self._clock() - seconds)

    async def delete_output(self, key: str) -> bool:
        """Forget one cached output (e.g. a corrupt one); True if it existed."""
        return await self._store.delete(COLLECTION, key)
