"""Web Locks from Pyodide: who is alive, and who owns a run (browser only).

A Web Lock (``navigator.locks``) is held by the JavaScript agent that asked
for it — here the engine's Web Worker — and the browser releases it when
that agent goes away: a reload, a closed tab, a terminated worker. So a lock
answers "is its holder still alive?" with no lease, no clock and no
heartbeat, which is exactly what a busy event loop cannot keep up.

- ``hold(name)`` takes a lock for the life of this worker (the page's queue
  workers hold one each: ``page_queue.py``).
- ``try_acquire(name)`` takes a lock only if it is free and returns a
  ``Held`` to release it (a run's owner: ``page_store.py``).
- ``wait_until_free(name, timeout)`` waits, up to ``timeout``, for nobody to hold it.
- ``held_names()`` lists every lock held in this origin, by any tab.

Imports ``js`` and ``pyodide``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from js import Object, Promise, navigator  # type: ignore[import-not-found]
from pyodide.ffi import create_proxy, to_js  # type: ignore[import-not-found]

#: Lock names taskloom uses; one prefix per kind of owner.
WORKER_LOCK = "taskloom-worker:"
RUN_LOCK = "taskloom-run:"


class Held:
    """A lock this worker holds until ``release()`` (or until the worker dies)."""

    def __init__(self, name: str, release: Any) -> None:
        self.name = name
        self._release = release

    def release(self) -> None:
        if self._release is not None:
            self._release()
            self._release = None


async def _request(name: str, if_available: bool) -> Held | None:
    loop = asyncio.get_running_loop()
    granted: asyncio.Future[Held | None] = loop.create_future()
    keep: list[Any] = []

    def on_grant(lock: Any) -> Any:
        if lock is None or getattr(lock, "name", None) is None:  # ifAvailable and taken
            if not granted.done():
                granted.set_result(None)
            return None

        # The lock lasts as long as the promise returned here stays pending.
        def executor(resolve: Any, _reject: Any) -> None:
            keep.append(resolve)

        executor_proxy = create_proxy(executor)
        pending = Promise.new(executor_proxy)
        executor_proxy.destroy()
        resolve = keep[0]

        def release() -> None:
            resolve()
            grant_proxy.destroy()

        if not granted.done():
            granted.set_result(Held(name, release))
        return pending

    grant_proxy = create_proxy(on_grant)
    options = to_js({"ifAvailable": if_available}, dict_converter=Object.fromEntries)
    navigator.locks.request(name, options, grant_proxy)
    held = await granted
    if held is None:
        grant_proxy.destroy()
    return held


async def hold(name: str) -> Held:
    """Waits for the lock ``name`` and holds it (until released, or this worker ends)."""
    held = await _request(name, if_available=False)
    assert held is not None  # a waiting request is only ever granted
    return held


async def try_acquire(name: str) -> Held | None:
    """The lock ``name`` if nobody holds it, else None (never waits)."""
    return await _request(name, if_available=True)


async def wait_until_free(name: str, timeout: float) -> bool:
    """True once nobody holds the lock ``name`` (taken and given back at once), False if it
    is still held after ``timeout`` seconds (the request is withdrawn, nothing is kept)."""
    from js import AbortSignal  # type: ignore[import-not-found]
    from pyodide.ffi import JsException  # type: ignore[import-not-found]

    options = to_js({"signal": AbortSignal.timeout(max(1, int(timeout * 1000)))},
                    dict_converter=Object.fromEntries)
    grant = create_proxy(lambda lock: None)  # returns at once: the lock is given back
    try:
        await navigator.locks.request(name, options, grant)
        return True
    except JsException:  # the signal's TimeoutError: someone still holds it
        return False
    finally:
        grant.destroy()


async def held_names(prefix: str = "") -> set[str]:
    """Names of the locks held right now in this origin (every tab), starting with ``prefix``."""
    snapshot = await navigator.locks.query()
    return {str(lock.name) for lock in snapshot.held if str(lock.name).startswith(prefix)}
