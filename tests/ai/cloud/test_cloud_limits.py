"""Per-provider default limits: what they are, how to change them, what they refuse."""

from __future__ import annotations

import pytest

from taskloom.ai.cloud import DEFAULT_LIMITS, provider_limiter, provider_limits, provider_queue
from taskloom.queue.storage import MemoryQueueStorage


def test_each_provider_has_defaults_that_can_be_overridden():
    assert provider_limits("openai") == DEFAULT_LIMITS["openai"]
    assert provider_limits("anthropic").requests_per_minute == 50
    changed = provider_limits("anthropic", requests_per_minute=4000)
    assert changed.requests_per_minute == 4000
    assert changed.max_concurrent == DEFAULT_LIMITS["anthropic"].max_concurrent
    with pytest.raises(ValueError, match="known: anthropic, openai"):
        provider_limits("acme")
    with pytest.raises(ValueError):
        provider_limits("openai", max_concurrent=0)


async def test_the_limiter_enforces_the_requests_per_minute():
    limiter = provider_limiter("openai", requests_per_minute=2, max_concurrent=10)
    for _ in range(2):
        assert await limiter.try_acquire() == 0
        await limiter.release()
    wait = await limiter.try_acquire()
    assert 0 < wait <= 60  # the third request of the minute waits for the window


async def test_the_limiter_enforces_max_concurrent():
    limiter = provider_limiter("anthropic", max_concurrent=1)
    assert await limiter.try_acquire() == 0
    assert await limiter.try_acquire() > 0  # the first call is still running
    await limiter.release()
    assert await limiter.try_acquire() == 0


async def test_retry_after_blocks_the_limiter():
    limiter = provider_limiter("openai")
    await limiter.block_for(30)
    assert await limiter.try_acquire() > 20


async def test_provider_queue_is_named_for_the_ai_tasks_and_shares_its_storages_window():
    storage = MemoryQueueStorage()
    queue = provider_queue("openai", storage, requests_per_minute=1, max_attempts=4)
    assert queue.name == "ai:openai" and queue.max_attempts == 4
    other_worker_view = provider_queue("openai", storage, requests_per_minute=1)
    assert await queue.limiter.try_acquire() == 0
    await queue.limiter.release()
    assert await other_worker_view.limiter.try_acquire() > 0  # one window, in the storage
