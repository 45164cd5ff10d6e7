"""What happens after a job body raises: retry later, or fail now.

Retryable errors back off exponentially with jitter (so that a crowd of
failed jobs does not come back at the same instant). A ``Retry-After``
carried by the error — ``exc.retry_after`` or an HTTP response header, as
the OpenAI and Anthropic SDKs attach — replaces the computed delay and is
also handed to the queue's limiter, so the whole queue slows down, not only
this job.

Every other wait in the queue package that backs off (a busy SQLite file,
an unreachable database, a saturated limiter) uses ``jitter`` and
``Backoff`` from here too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from ..errors import JobPermanentError, JobRetryableError, TaskInputError


@dataclass(frozen=True)
class RetryDecision:
    retry: bool
    delay: float
    #: The error's own Retry-After, when it carried one (feeds the limiter).
    retry_after: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    base_delay: float = 1.0
    multiplier: float = 2.0
    max_delay: float = 300.0
    #: The delay is drawn from [delay * (1 - jitter), delay * (1 + jitter)].
    jitter: float = 0.5

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        delay = min(self.max_delay, self.base_delay * self.multiplier ** max(attempt, 0))
        return jitter(delay, 1 - self.jitter, 1 + self.jitter)

    def decide(self, exc: BaseException, attempts_done: int, max_attempts: int) -> RetryDecision:
        """``attempts_done`` counts failed attempts before this one."""
        retry_after = retry_after_of(exc)
        if not is_retryable(exc) or attempts_done + 1 >= max_attempts:
            return RetryDecision(False, 0.0, retry_after)
        delay = retry_after if retry_after is not None else self.backoff(attempts_done)
        return RetryDecision(True, delay, retry_after)


def jitter(seconds: float, low: float = 0.5, high: float = 1.5) -> float:
    """``seconds`` scaled by a random factor in [low, high], never below 0: waiters that
    started together then come back spread out instead of in lock-step."""
    return max(0.0, seconds * random.uniform(low, high))


class Backoff:
    """Jittered exponential delays for retrying one operation: ``first``, then
    ``multiplier`` times longer each call up to ``cap``; ``reset()`` after a success."""

    def __init__(self, first: float, cap: float, *, multiplier: float = 2.0,
                 low: float = 0.5, high: float = 1.5) -> None:
        if first <= 0 or cap < first or multiplier < 1:
            raise ValueError("Backoff needs 0 < first <= cap and multiplier >= 1")
        self.first, self.cap, self.multiplier = first, cap, multiplier
        self.low, self.high = low, high
        self.current = first

    def next(self) -> float:
        """The next delay (jittered); the one after it is longer, up to ``cap``."""
        delay = jitter(self.current, self.low, self.high)
        self.current = min(self.current * self.multiplier, self.cap)
        return delay

    def reset(self) -> None:
        self.current = self.first


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, JobRetryableError):
        return True
    # Input that failed validation fails again the same way.
    if isinstance(exc, JobPermanentError | TaskInputError):
        return False
    flag = getattr(exc, "retryable", None)
    return flag if isinstance(flag, bool) else True


def retry_after_of(exc: BaseException) -> float | None:
    """Seconds the error asks us to wait, from ``retry_after`` or a Retry-After header."""
    value: Any = getattr(exc, "retry_after", None)
    if value is None:
        headers = getattr(getattr(exc, "response", None), "headers", None)
        if headers is not None:
            try:
                value = headers.get("retry-after")
            except Exception:
                value = None
    return parse_retry_after(value)


def parse_retry_after(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(0.0, float(value))
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:  # the HTTP-date form
        import time

        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None
