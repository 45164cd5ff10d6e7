"""Abortable calls, and the partial-text callback.

An abort signal ends a request at once — mid-stream too — instead of at the
next chunk the server happens to send: the call's task is cancelled, the
pending read with it, and the stream's ``async with`` closes the HTTP
response, so the server sees the connection go. Plain asyncio tasks,
nothing CPython-only: this runs in Pyodide's event loop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ...task import AbortSignal

T = TypeVar("T")

#: Called with (delta, text so far) as streamed text arrives; may be async.
TextCallback = Callable[[str, str], Any]


async def until_aborted(awaitable: Awaitable[T], signal: AbortSignal | None) -> T:
    """Await ``awaitable``; if ``signal`` fires first, cancel it and raise CancelledError."""
    if signal is None:
        return await awaitable
    signal.raise_if_aborted()
    work = asyncio.ensure_future(awaitable)
    aborted = asyncio.ensure_future(signal.wait())
    try:
        await asyncio.wait({work, aborted}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        aborted.cancel()
        if not work.done():
            work.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await work
    if work.cancelled():
        raise asyncio.CancelledError(signal.reason or "aborted")
    return work.result()


async def deliver(on_text: TextCallback | None, delta: str, text: str) -> None:
    if on_text is None or not delta:
        return
    result = on_text(delta, text)
    if inspect.isawaitable(result):
        await result


def progress_callback(progress: Callable[[float, str | None], Any],
                      max_tokens: int | None = None) -> TextCallback:
    """An ``on_text`` that reports streamed text through ``progress(fraction, message)``
    (a TaskContext's, a JobContext's or a ModelCall's).

    The message is the text so far: it is the one field a job's progress
    carries back to the task waiting on it. The fraction is a guess from ~4
    characters a token, kept below 1 until the call returns.
    """
    def report(delta: str, text: str) -> None:
        tokens = len(text) / 4
        fraction = tokens / max_tokens if max_tokens else tokens / (tokens + 256)
        progress(min(fraction, 0.95), text)

    return report
