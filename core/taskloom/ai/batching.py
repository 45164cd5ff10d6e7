"""The embedding batcher: concurrent one-text requests become batched model calls.

An array expansion puts many TextEmbedding jobs on the queue at once, and a
worker runs them concurrently; each asks for one vector. The texts that
arrive while a model call runs go into the next call together, up to
``max_batch`` of them, so a wide expansion costs a few batched calls.

When a batch fails, each of its texts is tried again alone: the text that
broke the batch (too long, say) fails its own request, and the others get
their vectors. Every runtime uses this one batcher; it calls the runtime
adapter's ``embed`` (see ``local``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

#: How many texts one batched call takes (and the unit in which a job's own texts are sent).
EMBED_BATCH = 32

#: ``embed(model, texts, truncate)``: one vector per text, in order.
EmbedFunction = Callable[[Any, list[str], bool], Awaitable[list[list[float]]]]


class EmbeddingBatcher:
    """Merges concurrent single-text embedding requests into batched calls of ``embed``."""

    def __init__(self, embed: EmbedFunction, max_batch: int = EMBED_BATCH) -> None:
        self._embed = embed
        self.max_batch = max_batch
        self._waiting: dict[tuple[Any, ...], list[tuple[str, asyncio.Future]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # held so that they are not collected

    async def embed(self, model: Hashable, text: str, truncate: bool) -> list[float]:
        """The vector of ``text``; ``model`` is the adapter's handle (texts batch per handle)."""
        loop = asyncio.get_running_loop()
        # Futures belong to one loop: a batcher shared by successive asyncio.run()s
        # keeps each loop's requests apart.
        key = (id(loop), model, truncate)
        future: asyncio.Future = loop.create_future()
        waiting = self._waiting.setdefault(key, [])
        waiting.append((text, future))
        if len(waiting) == 1:
            drain = loop.create_task(self._drain(key, model, truncate))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self, key: tuple[Any, ...], model: Hashable, truncate: bool) -> None:
        await asyncio.sleep(0)  # let the jobs claimed together join this batch
        while True:
            waiting = self._waiting.get(key)
            if not waiting:
                self._waiting.pop(key, None)
                return
            batch = [(t, f) for t, f in waiting[: self.max_batch] if not f.done()]
            del waiting[: self.max_batch]
            if batch:
                await self._run(batch, model, truncate)

    async def _run(self, batch: list[tuple[str, asyncio.Future]], model: Hashable,
                   truncate: bool) -> None:
        try:
            vectors = await self._embed(model, [text for text, _ in batch], truncate)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], exception=error)
                return
            for one in batch:  # find whose text broke it: only that request fails
                if not one[1].done():
                    await self._run([one], model, truncate)
            return
        for (_, future), vector in zip(batch, vectors, strict=True):
            _settle(future, result=vector)


def _settle(future: asyncio.Future, *, result: Any = None,
            exception: BaseException | None = None) -> None:
    if future.done():  # its job was aborted meanwhile
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
