"""The batcher: concurrent one-text requests become batched model calls.

An array expansion puts many texts on a worker at once (an items job, or
many jobs run concurrently), and each asks for one answer: a vector, a
translation, a language. The texts that arrive while a model call runs go
into the next call together, up to ``max_batch`` of them, so a wide
expansion costs a few batched calls.

When a batch fails, each of its texts is tried again alone: the text that
broke the batch (too long, say) fails its own request, and the others get
their answers. Every runtime uses this one batcher; it calls the runtime
adapter's batch methods (``embed``, and ``translate_many`` or
``detect_languages`` where an adapter has them: see ``local``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

#: How many texts one batched call takes (and the unit in which a job's own texts are sent).
EMBED_BATCH = 32

#: ``call(model, texts, option)``: one answer per text, in order (``embed(model, texts,
#: truncate)`` is one).
BatchFunction = Callable[[Any, list[str], Any], Awaitable[list[Any]]]


class Batcher:
    """Merges concurrent single-text requests into batched calls of ``call``."""

    def __init__(self, call: BatchFunction, max_batch: int = EMBED_BATCH) -> None:
        self._call = call
        self.max_batch = max_batch
        self._waiting: dict[tuple[Any, ...], list[tuple[str, asyncio.Future]]] = {}
        self._drains: set[asyncio.Task[None]] = set()  # held so that they are not collected

    async def ask(self, model: Hashable, text: str, option: Hashable) -> Any:
        """The answer for ``text``; ``model`` is the adapter's handle and ``option`` what
        else the call takes (texts batch per handle and option)."""
        loop = asyncio.get_running_loop()
        # Futures belong to one loop: a batcher shared by successive asyncio.run()s
        # keeps each loop's requests apart.
        key = (id(loop), model, option)
        future: asyncio.Future = loop.create_future()
        waiting = self._waiting.setdefault(key, [])
        waiting.append((text, future))
        if len(waiting) == 1:
            drain = loop.create_task(self._drain(key, model, option))
            self._drains.add(drain)
            drain.add_done_callback(self._drains.discard)
        return await future

    async def _drain(self, key: tuple[Any, ...], model: Hashable, option: Hashable) -> None:
        await asyncio.sleep(0)  # let the jobs claimed together join this batch
        while True:
            waiting = self._waiting.get(key)
            if not waiting:
                self._waiting.pop(key, None)
                return
            batch = [(t, f) for t, f in waiting[: self.max_batch] if not f.done()]
            del waiting[: self.max_batch]
            if batch:
                await self._run(batch, model, option)

    async def _run(self, batch: list[tuple[str, asyncio.Future]], model: Hashable,
                   option: Hashable) -> None:
        try:
            answers = await self._call(model, [text for text, _ in batch], option)
        except Exception as error:
            if len(batch) == 1:
                _settle(batch[0][1], exception=error)
                return
            for one in batch:  # find whose text broke it: only that request fails
                if not one[1].done():
                    await self._run([one], model, option)
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            _settle(future, result=answer)


def _settle(future: asyncio.Future, *, result: Any = None,
            exception: BaseException | None = None) -> None:
    if future.done():  # its job was aborted meanwhile
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result)
