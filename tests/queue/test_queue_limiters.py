"""Limiters, and the rate-limit storage contract on every backend."""

from __future__ import annotations

import asyncio

import pytest

from taskloom.queue import CompositeLimiter, ConcurrencyLimiter, DelayLimiter, RateLimiter


async def test_rate_limiter_grants_max_requests_per_window(storage):
    limiter = RateLimiter(3, 30, name="api", storage=storage)
    assert [await limiter.try_acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.try_acquire()
    assert 29 < wait <= 30
    # Another limiter name has its own window on the same storage.
    assert await RateLimiter(1, 30, name="other", storage=storage).try_acquire() == 0.0


async def test_rate_limiter_window_slides(storage):
    limiter = RateLimiter(2, 0.3, name="sliding", storage=storage)
    await limiter.acquire()
    first = limiter.last_granted_at
    await limiter.acquire()
    await limiter.acquire()  # has to wait for the first grant to leave the window
    assert limiter.last_granted_at >= first + 0.3


async def test_two_limiter_objects_on_one_storage_share_the_limit(storage):
    a = RateLimiter(2, 30, name="shared", storage=storage)
    b = RateLimiter(2, 30, name="shared", storage=storage)
    assert await a.try_acquire() == 0.0
    assert await b.try_acquire() == 0.0
    assert await a.try_acquire() > 0 and await b.try_acquire() > 0


async def test_block_for_refuses_until_it_ends_and_clear_forgets(storage):
    limiter = RateLimiter(100, 1, name="blocked", storage=storage)
    await limiter.block_for(60)
    await limiter.block_for(5)  # a shorter block never shortens a longer one
    assert 55 < await limiter.try_acquire() <= 60
    await limiter.clear()
    assert await limiter.try_acquire() == 0.0


async def test_concurrency_limiter_counts_running_holders():
    limiter = ConcurrencyLimiter(2)
    assert await limiter.try_acquire() == 0.0
    assert await limiter.try_acquire() == 0.0
    assert await limiter.try_acquire() > 0
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)  # one turn of the loop: the waiter asks, and waits for a release
    assert not waiter.done() and limiter.running == 2
    await limiter.release()
    await asyncio.wait_for(waiter, 5)
    assert limiter.running == 2


async def test_delay_limiter_spaces_starts():
    limiter = DelayLimiter(30)
    assert await limiter.try_acquire() == 0.0
    assert 29 < await limiter.try_acquire() <= 30
    assert await DelayLimiter(0).try_acquire() == 0.0


async def test_composite_needs_all_and_refunds_partial_grants():
    concurrency = ConcurrencyLimiter(1)
    rate = RateLimiter(1, 60)
    both = CompositeLimiter(concurrency, rate)
    assert await both.try_acquire() == 0.0
    assert concurrency.running == 1
    await both.release()
    assert concurrency.running == 0
    assert await both.try_acquire() > 50  # the rate limiter says no…
    assert concurrency.running == 0  # …so the concurrency slot went back
    await both.block_for(5)
    assert await concurrency.try_acquire() > 4


async def test_acquire_waits_with_backoff_instead_of_failing():
    limiter = RateLimiter(1, 0.2)
    async with limiter:
        pass
    async with limiter:
        pass
    assert await limiter.try_acquire() > 0


def test_bad_limiter_settings_are_refused():
    with pytest.raises(ValueError):
        RateLimiter(0, 1)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)
    with pytest.raises(ValueError):
        ConcurrencyLimiter(0)
    with pytest.raises(ValueError):
        DelayLimiter(-1)
