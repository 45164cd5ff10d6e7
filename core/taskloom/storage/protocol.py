"""The one small protocol every storage backend implements.

A backend is an async key-value store split into named collections
("graphs", "outputs", "runs", "run_tasks", later "models"). Values are
JSON; backends keep them as canonical JSON text, so every backend refuses
the same non-JSON values and ``size`` means the same bytes everywhere.
The repositories (graphs.py, outputs.py, runs.py) are written once on top
of this protocol, so a new backend (IndexedDB: one object store per
collection, a key range for ``prefix``) is one module.

Keys are non-empty strings. ``prefix`` scans use plain code-point order:
SQL backends compare keys bytewise (SQLite's BINARY, Postgres ``COLLATE "C"``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from ..cache import canonical_json
from ..errors import CorruptRecordError, StorageError

#: A value a store holds: anything ``json.dumps`` accepts (in practice, a dict).
JSONValue = Any


class Entry:
    """One stored record as a scan returns it.

    The value is decoded when first read, so one corrupt record raises
    :class:`CorruptRecordError` (naming its key) only where it is read and
    leaves the other entries of the same scan readable.
    """

    __slots__ = ("_decoded", "_text", "collection", "key", "updated_at")

    def __init__(self, collection: str, key: str, text: Any, updated_at: float) -> None:
        self.collection = collection
        self.key = key
        self.updated_at = updated_at
        self._text = text
        self._decoded: Any = _UNSET

    @property
    def value(self) -> JSONValue:
        if self._decoded is _UNSET:
            self._decoded = decode_value(self.collection, self.key, self._text)
        return self._decoded

    def __repr__(self) -> str:
        return f"Entry({self.collection!r}, {self.key!r}, updated_at={self.updated_at})"


_UNSET = object()


@runtime_checkable
class KeyValueStore(Protocol):
    """What a storage backend provides. All methods are coroutines.

    ``get`` returns None for a missing key and raises CorruptRecordError for
    a record it cannot decode. ``put`` replaces. ``updated_at`` is the
    backend clock's time (seconds since the epoch) of the last put.
    """

    async def open(self) -> None:
        """Connect and create the schema. Every other method opens on first use."""
        ...

    async def close(self) -> None: ...

    async def get(self, collection: str, key: str) -> JSONValue | None: ...

    async def put(self, collection: str, key: str, value: JSONValue) -> None: ...

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        """``get`` of each key, in order, in one read (None where a key is missing)."""
        ...

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        """Put several records; all or none where the backend has transactions."""
        ...

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        """Put ``(collection, key, value)`` records of several collections in one
        transaction: all or none (the file backend writes whole records one by one)."""
        ...

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        """Atomically replace the record if it still holds ``expected``.

        ``expected=None`` means "absent" (create), ``value=None`` deletes. Returns
        False, changing nothing, when the record holds anything else. Values compare
        as canonical JSON, so ``expected`` is what ``get`` returned. Other processes
        sharing the backend see one winner: SQL backends use one conditional
        statement, the file backend a lock file, IndexedDB one transaction.
        """
        ...

    async def delete(self, collection: str, key: str) -> bool:
        """Remove one record; True if it existed."""
        ...

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        ...

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        """Records whose key starts with ``prefix``, sorted by key."""
        ...

    async def count(self, collection: str) -> int: ...

    async def size(self, collection: str) -> int:
        """Bytes of the stored JSON text of every record in the collection."""
        ...

    async def clear(self, collection: str, prefix: str = "") -> int:
        """Remove the records whose key starts with ``prefix``; return how many."""
        ...

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        """Remove records last put before ``cutoff`` (epoch seconds); return how many."""
        ...


# -- helpers every backend shares ---------------------------------------------


#: canonical_json's spelling, built once: json.dumps would build an encoder per call,
#: which is most of the cost of encoding a small record.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                            allow_nan=False)


def encode_value(value: JSONValue) -> str:
    """Canonical JSON text of ``value`` (as ``canonical_json``); SerializationError if it
    is not JSON."""
    try:
        return _ENCODER.encode(value)
    except (ValueError, TypeError):
        return canonical_json(value)  # raises the SerializationError that says why


def decode_value(collection: str, key: str, text: Any) -> JSONValue:
    """Parse stored text; a record that is not JSON raises CorruptRecordError."""
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _corrupt(collection, key, f"it is not UTF-8 text ({exc})") from exc
    if not isinstance(text, str):
        raise _corrupt(collection, key, f"it holds {type(text).__name__}, not JSON text")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise _corrupt(collection, key, f"it is not valid JSON ({exc})") from exc


def _corrupt(collection: str, key: str, why: str) -> CorruptRecordError:
    return CorruptRecordError(
        f"stored record {key!r} in {collection!r} cannot be read: {why}. "
        "Delete it (it will be recomputed or must be saved again) or restore it from a backup.",
        key=key,
    )


def check_key(key: str) -> str:
    if not isinstance(key, str) or not key:
        raise StorageError(f"a storage key must be a non-empty string, not {key!r}")
    return key


def prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``.

    None when there is no such bound (an empty prefix): scan to the end.
    """
    while prefix and ord(prefix[-1]) == 0x10FFFF:
        prefix = prefix[:-1]
    if not prefix:
        return None
    following = ord(prefix[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be encoded as UTF-8
        following = 0xE000
    return prefix[:-1] + chr(following)
