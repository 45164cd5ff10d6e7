"""Output caching: cache keys and the repository the runner reads and writes.

A key is (task type, task version, sha256 of the canonical JSON of the
validated input). Canonical JSON sorts keys, has no spaces, and refuses
NaN/Infinity, so the same input always hashes the same in CPython and Pyodide.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .errors import SerializationError

#: What ``json.dumps`` with these options builds at every call; made once, it is a
#: third of the time of a small value's key.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


def canonical_json(value: Any) -> str:
    """The one JSON spelling of ``value``: sorted keys, no spaces, no NaN."""
    try:
        return _CANONICAL.encode(value)
    except ValueError as exc:
        raise SerializationError(f"value is not valid JSON (NaN or Infinity?): {exc}") from exc
    except TypeError as exc:
        raise SerializationError(f"value is not JSON-serialisable: {exc}") from exc


def input_fingerprint(value: Any) -> str:
    """sha256 hex digest of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def cache_key(task_type: str, version: str | int, input: dict[str, Any]) -> str:
    """The cache key of one task input: ``type:version:sha256``."""
    return f"{task_type}:{version}:{input_fingerprint(input)}"


@runtime_checkable
class TaskOutputRepository(Protocol):
    """Where cached task outputs live. Every storage backend provides one.

    Outputs are JSON-compatible dicts. Keys come from :func:`cache_key`.
    """

    async def get_output(self, key: str) -> dict[str, Any] | None:
        """The cached output under ``key``, or None."""
        ...

    async def put_output(self, key: str, output: dict[str, Any]) -> None:
        """Store ``output`` under ``key``, replacing what was there."""
        ...

    async def get_outputs(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        """``get_output`` of each key, in order, in one read (an expansion's items)."""
        ...

    async def put_outputs(self, outputs: Mapping[str, dict[str, Any]]) -> None:
        """``put_output`` of each item, in one write."""
        ...

    async def count(self) -> int: ...

    async def size(self) -> int:
        """Bytes used by the stored outputs (their canonical JSON)."""
        ...

    async def clear(self) -> None: ...

    async def clear_older_than(self, seconds: float) -> int:
        """Remove outputs stored more than ``seconds`` ago; return how many."""
        ...


class MemoryOutputRepository:
    """A TaskOutputRepository in a dict. Fast, not durable."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get_output(self, key: str) -> dict[str, Any] | None:
        hit = self._items.get(key)
        return None if hit is None else hit[1]

    async def put_output(self, key: str, output: dict[str, Any]) -> None:
        import time

        self._items[key] = (time.time(), output)

    async def get_outputs(self, keys: Sequence[str]) -> list[dict[str, Any] | None]:
        return [None if (hit := self._items.get(key)) is None else hit[1] for key in keys]

    async def put_outputs(self, outputs: Mapping[str, dict[str, Any]]) -> None:
        import time

        now = time.time()
        self._items.update((key, (now, output)) for key, output in outputs.items())

    async def count(self) -> int:
        return len(self._items)

    async def size(self) -> int:
        return sum(len(canonical_json(v).encode()) for _, v in self._items.values())

    async def clear(self) -> None:
        self._items.clear()

    async def clear_older_than(self, seconds: float) -> int:
        import time

        cutoff = time.time() - seconds
        old = [k for k, (t, _) in self._items.items() if t < cutoff]
        for k in old:
            del self._items[k]
        return len(old)
