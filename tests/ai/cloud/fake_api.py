"""A local stand-in for the OpenAI and Anthropic HTTP APIs, for the real SDKs to talk to.

    with FakeApi() as api:                       # 127.0.0.1, a free port, a daemon thread
        api.script("/v1/chat/completions", Reply(429, headers={"Retry-After": "1"}))
        OpenAIProvider(base_url=api.openai_url, api_key="sk-test")...
        api.requests                             # what arrived, with monotonic times

Routes (both wire formats, JSON and SSE):

    POST /v1/chat/completions   OpenAI chat; ``"stream": true`` answers SSE chunks + [DONE]
    POST /v1/embeddings         OpenAI embeddings (float or base64), 8 deterministic dims
    POST /v1/messages           Anthropic Messages; ``"stream": true`` answers typed events
    OPTIONS *                   CORS preflight (echoes Access-Control-Request-Headers)

Without a script, a route answers success: the reply text is ``echo: <last
user message>``, streamed a word per chunk. ``script(path, *replies)`` queues
replies the route gives first, in order (errors, delays, held streams,
streams that break off with an error event).
With ``expected_key`` set, a request with another key gets the vendor's 401,
whose message echoes the key it was given (as real servers half do) — so a
test can check that nobody passes that on.

Run ``python tests/ai/cloud/fake_api.py [--port N]`` to serve it for a browser.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import re
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_CHAT = "/v1/chat/completions"
OPENAI_EMBEDDINGS = "/v1/embeddings"
ANTHROPIC_MESSAGES = "/v1/messages"
EMBEDDING_DIMENSIONS = 8
#: Longest a held stream waits for release() before it carries on by itself.
HOLD_LIMIT_SECONDS = 10.0


@dataclass
class Reply:
    """One scripted answer. ``status`` 200 with no ``body`` gives the route's normal answer."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    #: An error body (JSON); None builds the vendor's error shape from ``message``.
    body: Any = None
    message: str = "scripted failure"
    #: The reply text for a success (default: echo of the last user message).
    text: str | None = None
    #: Seconds to wait before answering at all (for client timeouts).
    delay: float = 0.0
    #: Stream: after this many text chunks, wait for ``release()`` or the client to hang up.
    hold_after: int | None = None
    #: Stream: seconds between chunks.
    chunk_delay: float = 0.0
    #: Stream: after this many text chunks, send an error event of ``error_type`` and end.
    error_after: int | None = None
    error_type: str = "overloaded_error"


@dataclass
class RecordedRequest:
    at: float  # time.monotonic() when the request had fully arrived
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: Any
    #: The client's port: the same one twice means a kept-alive connection was reused.
    client_port: int = 0


@dataclass
class StreamRecord:
    path: str
    total_chunks: int
    chunks_sent: int = 0
    finished: bool = False
    #: The client closed the connection before the stream ended.
    client_closed: bool = False
    closed_at: float | None = None


class FakeApi:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 expected_key: str | None = None) -> None:
        self.expected_key = expected_key
        self.requests: list[RecordedRequest] = []
        self.streams: list[StreamRecord] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- life ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def anthropic_url(self) -> str:
        return self.url

    def start(self) -> FakeApi:
        # A short poll interval: shutdown() waits up to one of them.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,),
                                        name="fake-api", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting and looking -------------------------------------------------------

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def release(self) -> None:
        """Let held streams carry on."""
        self._release.set()

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path and r.method == "POST"]

    async def until(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll ``predicate()`` until true, without blocking the event loop (the client
        may still have work to do there; the server runs in its own thread)."""
        give_up = time.monotonic() + timeout
        while not predicate() and time.monotonic() < give_up:
            await asyncio.sleep(0.01)
        return bool(predicate())

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(path)
            return queue.pop(0) if queue else Reply()

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)


# -- the handler ----------------------------------------------------------------------

def _handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.api = api
    return Handler


class _Handler(BaseHTTPRequestHandler):
    api: FakeApi
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, the second waits
    # for a delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    # CORS, for the page's worker calling this server from another origin.
    def _cors(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "*")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        asked = self.headers.get("Access-Control-Request-Headers")
        self.send_header("Access-Control-Allow-Headers", asked or "*")
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = raw.decode("utf-8", "replace")
        path = self.path.split("?", 1)[0]
        self.api._record(RecordedRequest(time.monotonic(), "POST", path,
                                         {k.lower(): v for k, v in self.headers.items()}, body,
                                         self.client_address[1]))
        vendor = "anthropic" if path == ANTHROPIC_MESSAGES else "openai"
        if path not in (OPENAI_CHAT, OPENAI_EMBEDDINGS, ANTHROPIC_MESSAGES):
            self._send_json(404, _error_body(vendor, 404, f"no route {path}"), {})
            return
        reply = self.api._next_reply(path)
        if reply.delay and self.api._stopping.wait(reply.delay):
            return
        key = self._key(vendor)
        if self.api.expected_key is not None and key != self.api.expected_key:
            self._send_json(401, _error_body(
                vendor, 401, f"Incorrect API key provided: {key}. You can find your API key "
                "in your account settings."), {})
            return
        if reply.status != 200:
            error = reply.body if reply.body is not None \
                else _error_body(vendor, reply.status, reply.message)
            self._send_json(reply.status, error, reply.headers)
            return
        if not isinstance(body, dict):
            self._send_json(400, _error_body(vendor, 400, "body is not JSON"), {})
            return
        if path == OPENAI_EMBEDDINGS:
            self._send_json(200, _embeddings(body), reply.headers)
            return
        text = reply.text if reply.text is not None else f"echo: {_last_user_text(body)}"
        model = str(body.get("model", "fake-model"))
        if body.get("stream"):
            events = (_anthropic_stream(model, text) if vendor == "anthropic"
                      else _openai_stream(model, text, body))
            self._stream(path, events, reply)
        elif vendor == "anthropic":
            self._send_json(200, _anthropic_message(model, text), reply.headers)
        else:
            self._send_json(200, _openai_completion(model, text), reply.headers)

    def _key(self, vendor: str) -> str:
        # Anthropic's API takes x-api-key; its SDK 2.x sends "Authorization: Bearer".
        if vendor == "anthropic" and self.headers.get("x-api-key"):
            return self.headers["x-api-key"]
        auth = self.headers.get("Authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else auth

    def _send_json(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _stream(self, path: str, events: list[tuple[bytes, bool]], reply: Reply) -> None:
        """Send SSE events in chunked encoding; ``events`` flags which ones carry text."""
        record = StreamRecord(path, total_chunks=sum(1 for _, is_text in events if is_text))
        with self.api._lock:
            self.api.streams.append(record)
        self.close_connection = True
        try:
            self.send_response(200)
            self._cors()
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if reply.error_after is not None:
                events = _break_off(events, reply.error_after, path, reply.error_type)
            for event, is_text in events:
                if is_text and reply.hold_after is not None \
                        and record.chunks_sent == reply.hold_after and not self._hold():
                    break
                if is_text and reply.chunk_delay and record.chunks_sent:
                    time.sleep(reply.chunk_delay)
                if is_text:  # counted first, so a client that has it sees it counted
                    record.chunks_sent += 1
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            else:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                record.finished = True
                return
        except OSError:
            pass
        record.client_closed = True
        record.closed_at = time.monotonic()

    def _hold(self) -> bool:
        """Wait for release(); False if the client hung up meanwhile."""
        give_up = time.monotonic() + HOLD_LIMIT_SECONDS
        while not self.api._release.is_set() and time.monotonic() < give_up:
            if _peer_closed(self.connection):
                return False
            self.api._release.wait(0.02)
        return not _peer_closed(self.connection)


def _peer_closed(conn: socket.socket) -> bool:
    readable, _, _ = select.select([conn], [], [], 0)
    if not readable:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


# -- wire formats ---------------------------------------------------------------------

def _error_body(vendor: str, status: int, message: str) -> dict[str, Any]:
    if vendor == "anthropic":
        kind = {400: "invalid_request_error", 401: "authentication_error",
                403: "permission_error", 404: "not_found_error", 429: "rate_limit_error",
                529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "server_error"
                                                                       if status >= 500
                                                                       else "invalid_request")
    return {"error": {"message": message, "type": kind, "param": None,
                      "code": "invalid_api_key" if status == 401 else None}}


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(part.get("text", "") for part in content
                               if isinstance(part, dict))
            return str(content)
    return ""


def _words(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or [text]


def _tokens(text: str) -> int:
    return max(1, len(text.split()))


def _openai_completion(model: str, text: str) -> dict[str, Any]:
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop", "logprobs": None}],
            "usage": {"prompt_tokens": 5, "completion_tokens": _tokens(text),
                      "total_tokens": 5 + _tokens(text)}}


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def _openai_stream(model: str, text: str, body: dict[str, Any]) -> list[tuple[bytes, bool]]:
    def chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}

    events = [(_sse(chunk({"role": "assistant", "content": ""}, None)), False)]
    events += [(_sse(chunk({"content": word}, None)), True) for word in _words(text)]
    events.append((_sse(chunk({}, "stop")), False))
    if (body.get("stream_options") or {}).get("include_usage"):
        events.append((_sse({"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                             "created": 0, "model": model, "choices": [],
                             "usage": {"prompt_tokens": 5, "completion_tokens": _tokens(text),
                                       "total_tokens": 5 + _tokens(text)}}), False))
    events.append((_sse("[DONE]"), False))
    return events


def _break_off(events: list[tuple[bytes, bool]], after: int, path: str,
               kind: str) -> list[tuple[bytes, bool]]:
    """The first events up to ``after`` text chunks, then the vendor's error event."""
    kept, texts = [], 0
    for event, is_text in events:
        if is_text and texts == after:
            break
        kept.append((event, is_text))
        texts += is_text
    if path == ANTHROPIC_MESSAGES:
        error = _sse({"type": "error", "error": {"type": kind, "message": "Overloaded"}},
                     "error")
    else:
        error = _sse({"error": {"message": "The server had an error", "type": kind}})
    return [*kept, (error, False)]


def _anthropic_message(model: str, text: str) -> dict[str, Any]:
    return {"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": _tokens(text)}}


def _anthropic_stream(model: str, text: str) -> list[tuple[bytes, bool]]:
    start = {"type": "message_start",
             "message": {"id": "msg_fake", "type": "message", "role": "assistant",
                         "model": model, "content": [], "stop_reason": None,
                         "stop_sequence": None, "usage": {"input_tokens": 5,
                                                          "output_tokens": 1}}}
    events = [(_sse(start, "message_start"), False),
              (_sse({"type": "content_block_start", "index": 0,
                     "content_block": {"type": "text", "text": ""}}, "content_block_start"),
               False),
              (_sse({"type": "ping"}, "ping"), False)]
    events += [(_sse({"type": "content_block_delta", "index": 0,
                      "delta": {"type": "text_delta", "text": word}}, "content_block_delta"),
                True) for word in _words(text)]
    events += [(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"), False),
               (_sse({"type": "message_delta",
                      "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                      "usage": {"output_tokens": _tokens(text)}}, "message_delta"), False),
               (_sse({"type": "message_stop"}, "message_stop"), False)]
    return events


def fake_vector(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """A deterministic unit vector from the text's sha256 (same text, same vector)."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(digest[i % len(digest)] - 127.5) / 127.5 for i in range(dimensions)]
    norm = sum(x * x for x in raw) ** 0.5 or 1.0
    return [x / norm for x in raw]


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
    rows = []
    for i, text in enumerate(texts):
        vector = fake_vector(str(text), dimensions)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        rows.append({"object": "embedding", "index": i, "embedding": vector})
    return {"object": "list", "data": rows, "model": body.get("model", "fake-embedding"),
            "usage": {"prompt_tokens": sum(_tokens(str(t)) for t in texts),
                      "total_tokens": sum(_tokens(str(t)) for t in texts)}}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--expected-key", default=None)
    args = parser.parse_args()
    server = FakeApi(port=args.port, expected_key=args.expected_key)
    print(server.url, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server._server.serve_forever()
