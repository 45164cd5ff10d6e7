"""Limiters: how fast and how many jobs may start.

Every limiter answers ``try_acquire()`` with 0.0 (go) or the seconds after
which asking again is worthwhile, and ``acquire()`` waits for a go, backing
off with jitter while saturated so that a crowd of waiting workers does not
retry in lock-step.

- RateLimiter: at most ``max_requests`` per sliding ``window`` seconds. Its
  state lives in a RateLimitStorage, so every process using the same
  SQLite file or Postgres database shares one limit.
- ConcurrencyLimiter: at most N at once in this process.
- DelayLimiter: at least ``delay`` seconds between two starts in this process.
- CompositeLimiter: all of its limiters must allow.

``block_for(seconds)`` is how a provider's Retry-After slows the whole queue.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol, runtime_checkable

from .retry import jitter
from .storage.base import RateLimitStorage
from .storage.memory import MemoryQueueStorage

#: The longest single nap while saturated; the limiter is asked again after it.
MAX_BACKOFF_SECONDS = 5.0


@runtime_checkable
class Limiter(Protocol):
    async def try_acquire(self) -> float: ...

    async def release(self) -> None: ...

    async def block_for(self, seconds: float) -> None: ...

    async def acquire(self) -> None: ...


class BaseLimiter:
    async def try_acquire(self) -> float:
        raise NotImplementedError

    async def release(self) -> None:
        """Give back what ``try_acquire`` took, where that means anything."""

    async def block_for(self, seconds: float) -> None:
        """Grant nothing for ``seconds``."""

    async def acquire(self) -> None:
        nap = 0.0
        while True:
            wait = await self.try_acquire()
            if wait <= 0:
                return
            # Sleep about as long as asked, spread out, and a bit longer each
            # time we lose a race for the freed slot.
            nap = min(MAX_BACKOFF_SECONDS, max(wait, nap * 1.5, 0.001))
            await asyncio.sleep(jitter(nap, 1.0, 1.3))

    async def __aenter__(self) -> BaseLimiter:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()


class RateLimiter(BaseLimiter):
    def __init__(self, max_requests: int, window: float, *, name: str = "default",
                 storage: RateLimitStorage | None = None) -> None:
        if max_requests < 1 or window <= 0:
            raise ValueError("RateLimiter needs max_requests >= 1 and window > 0 seconds")
        self.max_requests = max_requests
        self.window = float(window)
        self.name = name
        self.storage: RateLimitStorage = storage if storage is not None else MemoryQueueStorage()
        #: The storage's clock when the last slot was granted.
        self.last_granted_at: float | None = None

    async def try_acquire(self) -> float:
        wait, now = await self.storage.rate_acquire(self.name, self.max_requests, self.window)
        if wait <= 0:
            self.last_granted_at = now
        return wait

    async def block_for(self, seconds: float) -> None:
        if seconds > 0:
            await self.storage.rate_block(self.name, seconds)

    async def clear(self) -> None:
        await self.storage.rate_clear(self.name)

    def __repr__(self) -> str:
        return f"RateLimiter({self.max_requests}, {self.window}, name={self.name!r})"


class ConcurrencyLimiter(BaseLimiter):
    def __init__(self, max_concurrent: int) -> None:
        if max_concurrent < 1:
            raise ValueError("ConcurrencyLimiter needs max_concurrent >= 1")
        self.max_concurrent = max_concurrent
        self.running = 0
        self._blocked_until = 0.0
        self._freed = asyncio.Event()

    async def try_acquire(self) -> float:
        blocked = self._blocked_until - time.monotonic()
        if blocked > 0:
            return blocked
        if self.running >= self.max_concurrent:
            return 0.05
        self.running += 1
        return 0.0

    async def acquire(self) -> None:
        # Wake on a release instead of polling.
        while (wait := await self.try_acquire()) > 0:
            self._freed.clear()
            if self.running >= self.max_concurrent:
                await self._freed.wait()
            else:
                await asyncio.sleep(wait)

    async def release(self) -> None:
        if self.running > 0:
            self.running -= 1
        self._freed.set()

    async def block_for(self, seconds: float) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)


class DelayLimiter(BaseLimiter):
    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise ValueError("DelayLimiter needs delay >= 0 seconds")
        self.delay = float(delay)
        self._next_start = 0.0

    async def try_acquire(self) -> float:
        now = time.monotonic()
        if now < self._next_start:
            return self._next_start - now
        self._next_start = now + self.delay
        return 0.0

    async def block_for(self, seconds: float) -> None:
        self._next_start = max(self._next_start, time.monotonic() + seconds)


class CompositeLimiter(BaseLimiter):
    """All limiters must allow. Put refundable ones (concurrency) before rate
    limiters: when a later one refuses, the earlier grants are released, but a
    rate-window slot once taken stays spent."""

    def __init__(self, *limiters: Limiter) -> None:
        self.limiters = list(limiters)

    async def try_acquire(self) -> float:
        granted: list[Limiter] = []
        for limiter in self.limiters:
            wait = await limiter.try_acquire()
            if wait > 0:
                for done in reversed(granted):
                    await done.release()
                return wait
            granted.append(limiter)
        return 0.0

    async def release(self) -> None:
        for limiter in reversed(self.limiters):
            await limiter.release()

    async def block_for(self, seconds: float) -> None:
        for limiter in self.limiters:
            await limiter.block_for(seconds)
