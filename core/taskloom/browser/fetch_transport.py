"""An httpx2 transport over the browser's ``fetch``, for the OpenAI and Anthropic SDKs in
the page's worker.

httpx2 ships one (``httpx2-jsfetch``), but it hands response chunks over as
``memoryview``s, which the Anthropic SDK's SSE decoder cannot split into lines:
streaming breaks. This one gives ``bytes``, and ties each request to an
``AbortController``, so that a cancelled call (an aborted task, a timeout, a
stream closed early) ends the HTTP exchange in the browser too and the server
sees the connection go.

    client = httpx2.AsyncClient(transport=FetchTransport())

Pyodide only: ``js`` and ``pyodide.ffi`` are imported here, never by ``taskloom``'s
import.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import js  # type: ignore[import-not-found]
from pyodide.ffi import JsException, to_js  # type: ignore[import-not-found]

#: Request headers the browser sets itself (it refuses or ignores ours), or that would
#: force a CORS preflight for nothing.
REQUEST_HEADERS_DROPPED = frozenset({"host", "content-length", "user-agent", "accept-encoding",
                                     "connection"})
#: fetch() has already decoded the body, so these describe bytes we never see.
RESPONSE_HEADERS_DROPPED = frozenset({"content-encoding", "content-length"})


def _timeout_for(request: httpx2.Request, phase: str) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get(phase)
    return float(value) if value else None


async def _await_js(promise: Any, controller: Any, timeout: float | None,
                    timeout_error: type[httpx2.TimeoutException],
                    failure: type[httpx2.TransportError], request: httpx2.Request) -> Any:
    """Await a JS promise; a timeout or a cancellation aborts the fetch behind it."""
    try:
        async with asyncio.timeout(timeout):
            return await promise
    except TimeoutError:
        controller.abort()
        raise timeout_error("the request timed out", request=request) from None
    except asyncio.CancelledError:
        controller.abort()
        raise
    except JsException as error:
        # "TypeError: Failed to fetch" (refused, CORS, offline) and friends; the JS
        # message names no header, so no key can ride along.
        raise failure(f"fetch failed: {error}", request=request) from None


class FetchResponseStream(httpx2.AsyncByteStream):
    """A response body read chunk by chunk from ``Response.body.getReader()``."""

    def __init__(self, reader: Any, controller: Any, request: httpx2.Request) -> None:
        self._reader = reader
        self._controller = controller
        self._request = request
        self._finished = reader is None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        timeout = _timeout_for(self._request, "read")
        while not self._finished:
            chunk = await _await_js(self._reader.read(), self._controller, timeout,
                                    httpx2.ReadTimeout, httpx2.ReadError, self._request)
            if chunk.done:
                self._finished = True
                return
            data = chunk.value.to_bytes()
            if data:
                yield data

    async def aclose(self) -> None:
        # Closed before the end (a stream the caller stopped reading, an abort):
        # hang up, so the server stops generating tokens nobody reads.
        if not self._finished:
            self._finished = True
            self._controller.abort()


class FetchTransport(httpx2.AsyncBaseTransport):
    """Sends each request with ``js.fetch``; the response body streams as it arrives."""

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        headers = js.Headers.new()
        for name, value in request.headers.multi_items():
            if name.lower() not in REQUEST_HEADERS_DROPPED:
                headers.append(name, value)
        controller = js.AbortController.new()
        options = {"method": request.method, "headers": headers,
                   "signal": controller.signal, "redirect": "follow"}
        if body:
            options["body"] = to_js(body)
        promise = js.fetch(str(request.url), to_js(options, dict_converter=js.Object.fromEntries))
        response = await _await_js(promise, controller, _timeout_for(request, "connect"),
                                   httpx2.ConnectTimeout, httpx2.ConnectError, request)
        response_headers = [(name, value) for name, value in response.headers.entries()
                            if name.lower() not in RESPONSE_HEADERS_DROPPED]
        reader = response.body.getReader() if response.body is not None else None
        return httpx2.Response(status_code=response.status, headers=response_headers,
                               stream=FetchResponseStream(reader, controller, request),
                               request=request)


def fetch_client(**options: Any) -> httpx2.AsyncClient:
    """An ``httpx2.AsyncClient`` over fetch, for ``http_client=`` of the cloud providers."""
    options.setdefault("follow_redirects", True)
    return httpx2.AsyncClient(transport=FetchTransport(), **options)


__all__ = ["FetchResponseStream", "FetchTransport", "fetch_client"]
