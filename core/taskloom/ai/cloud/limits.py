"""Default pace for each cloud provider's queue, and the limiter that enforces it.

The defaults are the first paid tier's request limits (OpenAI: 500 requests a
minute for most models; Anthropic: 50), so that a fresh account is not
flooded with 429s, and a few calls at once. Raise them for a higher tier:

    limiter = provider_limiter("openai", requests_per_minute=5000, max_concurrent=32)
    queues.register(provider_queue("openai", storage))   # what AiTask then uses

The rate window's state lives in ``storage`` (the queue's storage), so
workers sharing a SQLite file or a Postgres database share one limit; a
``Retry-After`` from the server reaches it through ``block_for``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...queue.limiters import CompositeLimiter, ConcurrencyLimiter, RateLimiter
from ...queue.queue import JobQueue
from ...queue.storage.base import QueueStorage, RateLimitStorage


@dataclass(frozen=True)
class ProviderLimits:
    requests_per_minute: int
    max_concurrent: int

    def __post_init__(self) -> None:
        if self.requests_per_minute < 1 or self.max_concurrent < 1:
            raise ValueError("provider limits need requests_per_minute >= 1 and "
                             "max_concurrent >= 1")


DEFAULT_LIMITS: dict[str, ProviderLimits] = {
    "openai": ProviderLimits(requests_per_minute=500, max_concurrent=8),
    "anthropic": ProviderLimits(requests_per_minute=50, max_concurrent=4),
}


def provider_limits(provider: str, *, requests_per_minute: int | None = None,
                    max_concurrent: int | None = None) -> ProviderLimits:
    """The provider's defaults with any of the given values in their place."""
    try:
        limits = DEFAULT_LIMITS[provider]
    except KeyError:
        known = ", ".join(sorted(DEFAULT_LIMITS))
        raise ValueError(f"no default limits for provider {provider!r} (known: {known})") \
            from None
    changes = {name: value for name, value in (("requests_per_minute", requests_per_minute),
                                                ("max_concurrent", max_concurrent))
               if value is not None}
    return replace(limits, **changes) if changes else limits


def provider_limiter(provider: str, *, storage: RateLimitStorage | None = None,
                     requests_per_minute: int | None = None,
                     max_concurrent: int | None = None) -> CompositeLimiter:
    """Concurrency first (refundable), then the shared per-minute window."""
    limits = provider_limits(provider, requests_per_minute=requests_per_minute,
                             max_concurrent=max_concurrent)
    return CompositeLimiter(
        ConcurrencyLimiter(limits.max_concurrent),
        RateLimiter(limits.requests_per_minute, 60.0, name=f"provider:{provider}",
                    storage=storage),
    )


def provider_queue(provider: str, storage: QueueStorage, *,
                   requests_per_minute: int | None = None, max_concurrent: int | None = None,
                   **queue_options: Any) -> JobQueue:
    """The provider's job queue, ``ai:<provider>``, paced by its limiter (state in
    ``storage``, when that storage keeps rate-limit state too)."""
    rate_storage = storage if hasattr(storage, "rate_acquire") else None
    limiter = provider_limiter(provider, storage=rate_storage,
                               requests_per_minute=requests_per_minute,
                               max_concurrent=max_concurrent)
    return JobQueue(f"ai:{provider}", storage, limiter=limiter, **queue_options)
