"""IndexedDB from Pyodide: the one place that turns IDBRequests into awaitables.

The pitfall this module exists for: a transaction commits by itself as soon
as control returns to the event loop with no request pending. Awaiting one
request and then issuing another in the same transaction therefore raises
``TransactionInactiveError``. So every helper here either uses one
transaction per operation, or issues all of a transaction's requests
synchronously and then awaits the transaction's completion.

Browser only: imports ``js`` and ``pyodide``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from js import indexedDB  # type: ignore[import-not-found]
from pyodide.ffi import JsException, create_proxy, to_js  # type: ignore[import-not-found]

from taskloom.errors import StorageError, StoreUnavailableError


def _error_text(target: Any) -> str:
    error = getattr(target, "error", None)
    # JavaScript's null arrives as ``jsnull`` (not None), which has no name: a
    # transaction aborted on purpose (``transaction.abort()``) has a null error.
    name = getattr(error, "name", None)
    if error is None or name is None:
        return "aborted on purpose (a step refused to write)"
    return f"{name}: {getattr(error, 'message', error)}"


def _settle(target: Any, events: dict[str, Callable[[Any], None]]) -> None:
    """Sets target.on<event> handlers that are destroyed after the first one fires."""
    proxies = []

    def wrap(handler: Callable[[Any], None]) -> Callable[[Any], None]:
        def once(event: Any) -> None:
            for name in events:
                setattr(target, f"on{name}", None)
            for proxy in proxies:
                proxy.destroy()
            handler(event)
        return once

    for name, handler in events.items():
        proxy = create_proxy(wrap(handler))
        proxies.append(proxy)
        setattr(target, f"on{name}", proxy)


def request_result(request: Any) -> asyncio.Future:
    """A future for an IDBRequest's result. Create it before yielding to the loop."""
    future = asyncio.get_running_loop().create_future()

    def succeeded(_event: Any) -> None:
        if not future.done():
            future.set_result(request.result)

    def failed(event: Any) -> None:
        event.preventDefault()  # the error is reported here; don't also abort loudly
        if not future.done():
            future.set_exception(StorageError(f"IndexedDB request failed: {_error_text(request)}"))

    _settle(request, {"success": succeeded, "error": failed})
    return future


def transaction_done(transaction: Any) -> asyncio.Future:
    """A future that resolves when the transaction commits, and fails if it aborts."""
    future = asyncio.get_running_loop().create_future()

    def completed(_event: Any) -> None:
        if not future.done():
            future.set_result(None)

    def aborted(_event: Any) -> None:
        if not future.done():
            future.set_exception(
                StorageError(f"IndexedDB transaction aborted: {_error_text(transaction)}"))

    _settle(transaction, {"complete": completed, "error": aborted, "abort": aborted})
    return future


async def open_database(
    name: str, version: int, upgrade: Callable[[Any, int, int], None]
) -> Any:
    """Opens (and creates or upgrades, through ``upgrade(db, old, new)``) a database."""
    try:
        request = indexedDB.open(name, version)
    except JsException as error:  # e.g. a version below 1
        raise StoreUnavailableError(f"cannot open IndexedDB database {name!r}: {error}") from None
    future = asyncio.get_running_loop().create_future()

    def upgrade_needed(event: Any) -> None:
        upgrade(request.result, event.oldVersion, event.newVersion)

    upgrade_proxy = create_proxy(upgrade_needed)
    request.onupgradeneeded = upgrade_proxy

    def opened(_event: Any) -> None:
        if not future.done():
            future.set_result(request.result)

    def failed(_event: Any) -> None:
        if not future.done():
            future.set_exception(StoreUnavailableError(
                f"cannot open IndexedDB database {name!r}: {_error_text(request)}"))

    def blocked(_event: Any) -> None:
        if not future.done():
            future.set_exception(StoreUnavailableError(
                f"IndexedDB database {name!r} is held open at an older version by another tab"))

    _settle(request, {"success": opened, "error": failed, "blocked": blocked})
    try:
        return await future
    finally:
        request.onupgradeneeded = None
        upgrade_proxy.destroy()


class KeyValueStore:
    """One object store used as a string-keyed map, one transaction per call."""

    def __init__(self, database: Any, store: str):
        self._database = database
        self._store = store

    def _transaction(self, mode: str) -> tuple[Any, Any]:
        try:
            transaction = self._database.transaction(self._store, mode)
        except JsException as error:  # no such store, or the database was closed
            raise StorageError(f"IndexedDB store {self._store!r}: {error}") from None
        return transaction, transaction.objectStore(self._store)

    async def get(self, key: str) -> Any:
        _transaction, store = self._transaction("readonly")
        value = await request_result(store.get(key))
        return None if value is None else value

    async def put(self, key: str, value: Any) -> None:
        transaction, store = self._transaction("readwrite")
        done = transaction_done(transaction)
        store.put(value, key)
        await done

    async def put_many(self, items: dict[str, Any]) -> None:
        """All puts in one transaction: issued synchronously, then awaited together."""
        transaction, store = self._transaction("readwrite")
        done = transaction_done(transaction)
        for key, value in items.items():
            store.put(value, key)
        await done

    async def delete(self, key: str) -> None:
        transaction, store = self._transaction("readwrite")
        done = transaction_done(transaction)
        store.delete(key)
        await done

    async def keys(self) -> list[str]:
        _transaction, store = self._transaction("readonly")
        keys = await request_result(store.getAllKeys())
        return [str(key) for key in keys.to_py()]


def transact(
    database: Any,
    stores: list[str],
    reads: Callable[[dict[str, Any]], list[Any]],
    then: Callable[[list[Any], dict[str, Any]], Any],
) -> asyncio.Future:
    """One readwrite transaction that reads, decides and writes atomically.

    ``reads(object_stores)`` issues the read requests; when the last one
    succeeds, ``then(results, object_stores)`` runs synchronously inside that
    success event, where the transaction is still active, and issues the
    writes. The future resolves to what ``then`` returned once the
    transaction commits; if ``then`` raises, the transaction is aborted
    (nothing is written) and the future raises that error.
    """
    try:
        transaction = database.transaction(to_js(stores), "readwrite")
    except JsException as error:  # a missing store, or the database was closed
        raise StorageError(f"IndexedDB stores {stores}: {error}") from None
    objects = {name: transaction.objectStore(name) for name in stores}
    done = transaction_done(transaction)
    outcome: dict[str, Any] = {}

    def decide(_event: Any = None) -> None:
        try:
            outcome["value"] = then([request.result for request in requests], objects)
        except BaseException as error:  # re-raised to the awaiting caller
            outcome["error"] = error
            transaction.abort()

    requests = reads(objects)
    if requests:
        # A failed read is not prevented, so it aborts the transaction itself.
        _settle(requests[-1], {"success": decide, "error": lambda _event: None})
    else:
        decide()
    future = asyncio.get_running_loop().create_future()

    def finished(committed: asyncio.Future) -> None:
        # Always retrieve the commit's outcome: when ``then`` refused (say, a
        # stale delivery) the abort it caused is expected, and an unretrieved
        # exception would be logged as "Future exception was never retrieved".
        failure = committed.exception()
        if future.done():
            return
        if "error" in outcome:
            future.set_exception(outcome["error"])
        elif failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(outcome.get("value"))

    done.add_done_callback(finished)
    return future


async def read_many(database: Any, store: str, keys: list[Any]) -> list[Any]:
    """``get`` of each key in one readonly transaction; requests in one transaction
    succeed in order, so the last one's success means all are done."""
    try:
        transaction = database.transaction(store, "readonly")
    except JsException as error:  # a missing store, or the database was closed
        raise StorageError(f"IndexedDB store {store!r}: {error}") from None
    objects = transaction.objectStore(store)
    requests = [objects.get(key) for key in keys]
    await request_result(requests[-1])
    return [request.result for request in requests]


def read(database: Any, store: str, request: Callable[[Any], Any]) -> asyncio.Future:
    """One readonly transaction holding one request, ``request(object_store)``."""
    try:
        transaction = database.transaction(store, "readonly")
    except JsException as error:  # a missing store, or the database was closed
        raise StorageError(f"IndexedDB store {store!r}: {error}") from None
    return request_result(request(transaction.objectStore(store)))
