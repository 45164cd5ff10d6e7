"""``memory://``: a store in dicts. Fast, per process, gone when the process ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from .protocol import Entry, JSONValue, check_key, decode_value, encode_value


class MemoryStore:
    """A KeyValueStore in dicts.

    Values are kept as canonical JSON text, not as the objects given: a
    caller that mutates what it put or got cannot change the stored record,
    and non-JSON values fail here as they would in a durable backend.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        # collection -> key -> (json text, bytes of that text, updated_at)
        self._collections: dict[str, dict[str, tuple[str, int, float]]] = {}

    def _records(self, collection: str) -> dict[str, tuple[str, int, float]]:
        records = self._collections.get(collection)
        if records is None:
            records = self._collections[collection] = {}
        return records

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def get(self, collection: str, key: str) -> JSONValue | None:
        record = self._records(collection).get(key)
        return None if record is None else decode_value(collection, key, record[0])

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        records = self._records(collection)
        found = [records.get(key) for key in keys]
        return [None if record is None else decode_value(collection, key, record[0])
                for key, record in zip(keys, found, strict=True)]

    async def put(self, collection: str, key: str, value: JSONValue) -> None:
        text = encode_value(value)
        self._records(collection)[check_key(key)] = (text, len(text.encode()), self._clock())

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        now = self._clock()
        encoded = {check_key(k): encode_value(v) for k, v in items.items()}  # all or none
        records = self._records(collection)
        for key, text in encoded.items():
            records[key] = (text, len(text.encode()), now)

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        now = self._clock()
        encoded = [(c, check_key(k), encode_value(v)) for c, k, v in records]  # all or none
        for collection, key, text in encoded:
            self._records(collection)[key] = (text, len(text.encode()), now)

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        want = None if expected is None else encode_value(expected)
        text = None if value is None else encode_value(value)
        # No await between the read and the write: atomic within the event loop.
        records = self._records(collection)
        current = records.get(check_key(key))
        if (None if current is None else current[0]) != want:
            return False
        if text is None:
            records.pop(key, None)
        else:
            records[key] = (text, len(text.encode()), self._clock())
        return True

    async def delete(self, collection: str, key: str) -> bool:
        return self._records(collection).pop(key, None) is not None

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        return sorted(k for k in self._records(collection) if k.startswith(prefix))

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        records = self._records(collection)
        return [
            Entry(collection, key, records[key][0], records[key][2])
            for key in sorted(k for k in records if k.startswith(prefix))
        ]

    async def count(self, collection: str) -> int:
        return len(self._records(collection))

    async def size(self, collection: str) -> int:
        return sum(nbytes for _, nbytes, _ in self._records(collection).values())

    async def clear(self, collection: str, prefix: str = "") -> int:
        records = self._records(collection)
        doomed = [k for k in records if k.startswith(prefix)]
        for key in doomed:
            del records[key]
        return len(doomed)

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        records = self._records(collection)
        doomed = [k for k, (_, _, at) in records.items() if at < cutoff]
        for key in doomed:
            del records[key]
        return len(doomed)
