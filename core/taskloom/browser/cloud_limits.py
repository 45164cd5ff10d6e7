"""Per-provider limits for the page's cloud queues, set from the Settings panel.

taskloom.ai.cloud.limits gives each cloud provider's queue (``ai:openai``,
``ai:anthropic``) a pace: requests per minute and calls at once, defaulting
to the first paid tier. The page's user may be on another tier, so the
Settings panel edits both numbers and the engine applies them here:

- to the queues already registered, in place: the limiter objects keep
  their state (the calls running now, the rate window so far), only their
  bounds change, so a job that holds a slot releases it where it took it;
- to queues made later, through ``DEFAULT_LIMITS``, which both the page's
  durable queues (page_store.PageStore.install_queues) and the in-memory
  ones (taskloom.ai.workers) read when they create a provider's queue. In
  the page's worker those defaults *are* the page's settings; ``reset``
  puts back the shipped values.
"""

from __future__ import annotations

from typing import Any

from ..ai.cloud.limits import DEFAULT_LIMITS, ProviderLimits, provider_limiter
from ..queue.limiters import CompositeLimiter, ConcurrencyLimiter, RateLimiter

#: The limits as taskloom ships them, before any page setting.
SHIPPED: dict[str, ProviderLimits] = dict(DEFAULT_LIMITS)
#: Bounds the panel accepts: past these a number is a typo, not a tier.
MAX_REQUESTS_PER_MINUTE = 1_000_000
MAX_CONCURRENT = 256
FIELDS = ("requests_per_minute", "max_concurrent")


def describe() -> dict[str, Any]:
    """``{provider: {requests_per_minute, max_concurrent, default: {…}}}``."""
    return {provider: {"requests_per_minute": DEFAULT_LIMITS[provider].requests_per_minute,
                       "max_concurrent": DEFAULT_LIMITS[provider].max_concurrent,
                       "default": {"requests_per_minute": shipped.requests_per_minute,
                                   "max_concurrent": shipped.max_concurrent}}
            for provider, shipped in sorted(SHIPPED.items())}


def _number(provider: str, field: str, value: Any, bound: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{provider} {field.replace('_', ' ')} must be a whole number, "
                         f"not {value!r}")
    if not 1 <= value <= bound:
        raise ValueError(f"{provider} {field.replace('_', ' ')} must be between 1 and {bound}, "
                         f"not {int(value)}")
    return int(value)


def parse(raw: Any) -> dict[str, ProviderLimits]:
    """The page's ``{provider: {requests_per_minute?, max_concurrent?} | null}``; a missing
    number or a null provider means the shipped default. ValueError says what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("the limits must be a JSON object of providers")
    unknown = sorted(set(raw) - set(SHIPPED))
    if unknown:
        raise ValueError(f"no limits for provider(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(SHIPPED))})")
    limits = {}
    for provider, shipped in SHIPPED.items():
        given = raw.get(provider) or {}
        if not isinstance(given, dict):
            raise ValueError(f"the {provider} limits must be an object")
        extra = sorted(set(given) - set(FIELDS))
        if extra:
            raise ValueError(f"unknown {provider} limit(s): {', '.join(extra)}")
        rpm = given.get("requests_per_minute")
        concurrent = given.get("max_concurrent")
        limits[provider] = ProviderLimits(
            requests_per_minute=shipped.requests_per_minute if rpm is None else
            _number(provider, "requests_per_minute", rpm, MAX_REQUESTS_PER_MINUTE),
            max_concurrent=shipped.max_concurrent if concurrent is None else
            _number(provider, "max_concurrent", concurrent, MAX_CONCURRENT))
    return limits


def apply_to_queue(queue: Any, provider: str, limits: ProviderLimits) -> None:
    """Change the bounds of ``queue``'s limiter in place (or give it one)."""
    limiter = queue.limiter
    if limiter is None:
        queue.limiter = provider_limiter(provider, requests_per_minute=limits.requests_per_minute,
                                         max_concurrent=limits.max_concurrent)
        return
    parts = limiter.limiters if isinstance(limiter, CompositeLimiter) else [limiter]
    for part in parts:
        if isinstance(part, ConcurrencyLimiter):
            part.max_concurrent = limits.max_concurrent
            part._freed.set()  # a waiter for a slot looks again: there may be more now
        elif isinstance(part, RateLimiter):
            part.max_requests = limits.requests_per_minute


def configure(raw: Any, registered: Any = None) -> dict[str, Any]:
    """Apply the page's limits to ``registered`` (default: taskloom.queue.queues) and to
    the queues made from now on; answer :func:`describe`."""
    if registered is None:
        from ..queue import queues as registered
    limits = parse(raw)
    DEFAULT_LIMITS.update(limits)
    for provider, provider_limits in limits.items():
        name = f"ai:{provider}"
        if name in registered:
            apply_to_queue(registered.get(name), provider, provider_limits)
    return describe()


def reset() -> None:
    DEFAULT_LIMITS.update(SHIPPED)
