"""Streaming ports: text that arrives in deltas while its task runs.

An output port streams when its field is marked ``Streaming()``; its task
sends deltas with ``ctx.stream(port, delta)`` while it runs, and returns the
whole text as usual::

    class Generate(Task):
        class Output(BaseModel):
            text: Annotated[str, Streaming()]        # or taskloom.streams.StreamingText
        async def run(self, input, ctx):
            for piece in ("Hel", "lo"):
                ctx.stream("text", piece)            # a ``task_stream`` event each
            return {"text": "Hello"}

An input port typed :class:`TextStream` accepts a stream: fed by a streaming
output, its task starts as soon as the producer has started and reads the
deltas as they come (``async for delta in input.text``); given a plain
string (a default, a cached or resumed producer, a non-streaming source) it
is a stream that is already complete. ``await input.text.text()`` is the
whole text either way. A plain ``str`` input fed by a streaming output gets
the accumulated text once the producer completes, as any input does.

Both sides carry ``"stream": true`` in their JSON Schema, which is how the
page and ``registry.describe()`` tell which ports stream. Outputs hold the
accumulated text, so caches and run records never see deltas.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from pydantic import Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from .errors import StreamClosedError

#: The JSON Schema key that marks a streaming port.
STREAM_KEY = "stream"


def Streaming() -> Any:
    """Mark a str field as a streaming port: ``Annotated[str, Streaming()]``."""
    return Field(json_schema_extra={STREAM_KEY: True})


#: A streaming text output port.
StreamingText = Annotated[str, Streaming()]


class TextStream:
    """Text that may still be arriving: an async iterable of its deltas, in order.

    Each ``async for`` replays the stream from its first delta, so a task that
    runs once per item of an array expansion reads all of it every time.
    """

    __slots__ = ("_changed", "_deltas", "_error", "_final", "source")

    def __init__(self, source: str | None = None) -> None:
        #: "task_id.port" of the producer, for messages.
        self.source = source
        self._deltas: list[str] = []
        self._final: str | None = None
        self._error: BaseException | None = None
        self._changed: asyncio.Event | None = None

    @classmethod
    def completed(cls, text: str) -> TextStream:
        stream = cls()
        if text:
            stream._deltas.append(text)
        stream._final = text
        return stream

    # -- producing (the runner) ----------------------------------------------------------

    def push(self, delta: str) -> None:
        if self.done or not delta:
            return
        self._deltas.append(delta)
        self._wake()

    def finish(self, text: str) -> None:
        """The producer completed with ``text``: what the deltas have not said yet is the
        last delta (all of it when nothing streamed, as on a cache hit)."""
        if self.done:
            return
        so_far = self.value
        if text.startswith(so_far) and len(text) > len(so_far):
            self._deltas.append(text[len(so_far):])
        self._final = text
        self._wake()

    def fail(self, error: BaseException) -> None:
        if self.done:
            return
        self._error = error
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- consuming (the task) ------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self._final is not None or self._error is not None

    @property
    def value(self) -> str:
        """The text so far (the whole text once the stream is done)."""
        return self._final if self._final is not None else "".join(self._deltas)

    async def __aiter__(self) -> AsyncIterator[str]:
        index = 0
        while True:
            while index < len(self._deltas):
                index += 1
                yield self._deltas[index - 1]
            if self._error is not None:
                raise StreamClosedError(f"the stream from {self.source or 'upstream'} "
                                        f"ended early: {self._error}") from self._error
            if self._final is not None:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    async def text(self) -> str:
        """The whole text, once the producer completed."""
        async for _ in self:
            pass
        return self.value

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        state = "done" if self.done else "open"
        return f"<TextStream {state} {self.value[:40]!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextStream):
            return self.done and other.done and self.value == other.value
        if isinstance(other, str):
            return self.done and self.value == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.value)

    # -- pydantic ------------------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any,
                                     handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        from_str = core_schema.no_info_after_validator_function(
            cls.completed, core_schema.str_schema())
        return core_schema.json_or_python_schema(
            json_schema=from_str,
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(cls), from_str]),
            # Dumped, a stream is its text: cache keys and records hold plain strings.
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda stream: stream.value, when_used="always"),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema,
                                     handler: GetJsonSchemaHandler) -> dict[str, Any]:
        return {"type": "string", STREAM_KEY: True}
