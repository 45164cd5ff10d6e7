"""``indexeddb://name``: the KeyValueStore on the browser's IndexedDB (Pyodide only).

One IndexedDB database per URL name. Every collection shares one object
store, ``records``, keyed by ``[collection, key]``: collections come and go
without schema upgrades (an upgrade would need every other tab to close the
database), and a key range over ``[collection, prefix]`` is a prefix scan.
Each record holds the canonical JSON text (as the other backends do), its
UTF-8 size and the time it was put.

IndexedDB compares strings by UTF-16 code units, which disagrees with the
protocol's code-point order only between characters above U+FFFF and those
from U+E000 to U+FFFF; so results are filtered by prefix and sorted here,
and a range whose bound would be wrong in UTF-16 order scans to the
collection's end instead.

Browser only: imports ``js`` through ``idb``. The same database also holds
the queue's object stores (``indexeddb_queue.py``), created by ``_upgrade``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from js import IDBKeyRange, Object  # type: ignore[import-not-found]
from pyodide.ffi import to_js  # type: ignore[import-not-found]

from ..errors import StoreURLError
from ..storage.protocol import Entry, JSONValue, check_key, encode_value, prefix_end
from ..storage.protocol import decode_value as _decode
from . import idb

RECORDS = "records"
JOBS = "jobs"
RATE_LIMITS = "rate_limits"
#: Bump with a new step in ``_upgrade`` when the object stores change.
VERSION = 1


def database_name(url: str) -> str:
    """The IndexedDB database an ``indexeddb://name`` URL names."""
    name = url.split("://", 1)[1] if "://" in url else ""
    if not name or "/" in name.strip("/"):
        raise StoreURLError(f"{url!r}: an IndexedDB URL names one database: indexeddb://name")
    return name.strip("/")


def _upgrade(database: Any, old_version: int, _new_version: int) -> None:
    if old_version < 1:
        database.createObjectStore(RECORDS, to_js({"keyPath": ["c", "k"]},
                                                  dict_converter=Object.fromEntries))
        jobs = database.createObjectStore(JOBS, to_js({"keyPath": "id"},
                                                      dict_converter=Object.fromEntries))
        jobs.createIndex("queue", "queue")
        # A step reads only the jobs its rule looks at: a queue's pending jobs
        # to claim, the jobs of one fingerprint to de-duplicate.
        jobs.createIndex("queue_status", _js(["queue", "status"]))
        jobs.createIndex("queue_fingerprint", _js(["queue", "fingerprint"]))
        database.createObjectStore(RATE_LIMITS, to_js({"keyPath": "limiter"},
                                                      dict_converter=Object.fromEntries))


async def open_taskloom_database(name: str) -> Any:
    """The named database, with every object store taskloom uses."""
    return await idb.open_database(name, VERSION, _upgrade)


def _js(value: Any) -> Any:
    return to_js(value, dict_converter=Object.fromEntries)


def _range(collection: str, prefix: str) -> Any:
    """A key range holding every ``[collection, key]`` whose key starts with ``prefix``
    (and maybe more: callers keep only the keys that do)."""
    end = prefix_end(prefix)
    if end is not None and _utf16(end) <= _utf16(prefix):
        end = None  # e.g. a prefix ending in U+FFFF: U+10000 sorts below it in UTF-16
    # In IndexedDB an array sorts after every string, so [collection, []]
    # bounds the whole collection from above.
    upper = [collection, end] if end is not None else [collection, []]
    return IDBKeyRange.bound(_js([collection, prefix]), _js(upper), False, True)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")


def _field(record: Any, name: str) -> Any:
    try:
        return getattr(record, name)
    except AttributeError:
        return None


class IndexedDBStore:
    """A KeyValueStore in one IndexedDB database."""

    def __init__(self, name: str, *, clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._clock = clock
        self._database: Any = None

    async def open(self) -> None:
        if self._database is None:
            self._database = await open_taskloom_database(self.name)

    async def close(self) -> None:
        if self._database is not None:
            self._database.close()
            self._database = None

    async def _db(self) -> Any:
        await self.open()
        return self._database

    def _record(self, collection: str, key: str, text: str, at: float) -> Any:
        return _js({"c": collection, "k": key, "text": text, "bytes": len(text.encode()),
                    "at": at})

    async def _write(self, records: list[Any]) -> None:
        database = await self._db()
        await idb.transact(database, [RECORDS], lambda _stores: [],
                           lambda _results, stores: [stores[RECORDS].put(r) for r in records])

    async def _put_text(self, collection: str, key: str, text: str) -> None:
        """Stores ``text`` as the record's JSON as is (tests use it to damage a record)."""
        await self._write([self._record(collection, check_key(key), text, self._clock())])

    async def get(self, collection: str, key: str) -> JSONValue | None:
        target = _js([collection, key])
        record = await idb.read(await self._db(), RECORDS, lambda store: store.get(target))
        if record is None:
            return None
        return _decode(collection, key, _field(record, "text"))

    async def get_many(self, collection: str, keys: Sequence[str]) -> list[JSONValue | None]:
        if not keys:
            return []
        records = await idb.read_many(await self._db(), RECORDS, [_js([collection, key])
                                                                  for key in keys])
        return [None if record is None else _decode(collection, key, _field(record, "text"))
                for key, record in zip(keys, records, strict=True)]

    async def put(self, collection: str, key: str, value: JSONValue) -> None:
        await self._put_text(collection, key, encode_value(value))

    async def put_many(self, collection: str, items: Mapping[str, JSONValue]) -> None:
        now = self._clock()
        encoded = {check_key(k): encode_value(v) for k, v in items.items()}  # all or none
        await self._write([self._record(collection, k, t, now) for k, t in encoded.items()])

    async def put_records(self, records: Iterable[tuple[str, str, JSONValue]]) -> None:
        now = self._clock()
        # Every collection lives in the one object store: one transaction holds them all.
        encoded = [(c, check_key(k), encode_value(v)) for c, k, v in records]
        await self._write([self._record(c, k, t, now) for c, k, t in encoded])

    async def compare_and_set(
        self, collection: str, key: str, expected: JSONValue | None, value: JSONValue | None
    ) -> bool:
        target = _js([collection, check_key(key)])
        want = None if expected is None else encode_value(expected)
        new = None if value is None else self._record(
            collection, key, encode_value(value), self._clock())

        def swap(results: list[Any], stores: dict[str, Any]) -> bool:
            current = results[0]
            if (None if current is None else _field(current, "text")) != want:
                return False
            if new is None:
                stores[RECORDS].delete(target)
            else:
                stores[RECORDS].put(new)
            return True

        return await idb.transact(await self._db(), [RECORDS],
                                  lambda stores: [stores[RECORDS].get(target)], swap)

    async def delete(self, collection: str, key: str) -> bool:
        target = _js([collection, key])

        def remove(results: list[Any], stores: dict[str, Any]) -> bool:
            stores[RECORDS].delete(target)
            return bool(results[0])

        return await idb.transact(await self._db(), [RECORDS],
                                  lambda stores: [stores[RECORDS].count(target)], remove)

    async def _read_all(self, collection: str, prefix: str, what: str) -> Any:
        span = _range(collection, prefix)
        return await idb.read(await self._db(), RECORDS,
                              lambda store: getattr(store, what)(span))

    async def keys(self, collection: str, prefix: str = "") -> list[str]:
        found = await self._read_all(collection, prefix, "getAllKeys")
        return sorted(key for _, key in found.to_py() if key.startswith(prefix))

    async def scan(self, collection: str, prefix: str = "") -> list[Entry]:
        records = await self._read_all(collection, prefix, "getAll")
        entries = [Entry(collection, r.k, _field(r, "text"), float(_field(r, "at") or 0.0))
                   for r in records if r.k.startswith(prefix)]
        return sorted(entries, key=lambda entry: entry.key)

    async def count(self, collection: str) -> int:
        return int(await self._read_all(collection, "", "count"))

    async def size(self, collection: str) -> int:
        records = await self._read_all(collection, "", "getAll")
        return sum(int(_field(r, "bytes") or 0) for r in records)

    async def clear(self, collection: str, prefix: str = "") -> int:
        span = _range(collection, prefix)

        def remove(results: list[Any], stores: dict[str, Any]) -> int:
            doomed = [key for _, key in results[0].to_py() if key.startswith(prefix)]
            for key in doomed:
                stores[RECORDS].delete(_js([collection, key]))
            return len(doomed)

        return await idb.transact(await self._db(), [RECORDS],
                                  lambda stores: [stores[RECORDS].getAllKeys(span)], remove)

    async def delete_older_than(self, collection: str, cutoff: float) -> int:
        span = _range(collection, "")

        def remove(results: list[Any], stores: dict[str, Any]) -> int:
            old = [r for r in results[0] if float(_field(r, "at") or 0.0) < cutoff]
            for record in old:
                stores[RECORDS].delete(_js([collection, record.k]))
            return len(old)

        return await idb.transact(await self._db(), [RECORDS],
                                  lambda stores: [stores[RECORDS].getAll(span)], remove)
