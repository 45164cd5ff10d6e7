"""What happens after a job body raises: retry later, or fail now.

Retryable errors back off exponentially with jitter (so that a crowd of
failed jobs does not come back at the same instant). A ``Retry-After``
carried by the error — ``exc.retry_after`` or an HTTP response header, as
the OpenAI and Anthropic SDKs attach — replaces the computed delay and is
also handed to the queue's limiter, so the whole queue slows down, not only
this job.
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
        return max(0.0, delay * random.uniform(1 - self.jitter, 1 + self.jitter))

    def decide(self, exc: BaseException, attempts_done: int, max_attempts: int) -> RetryDecision:
        """``attempts_done`` counts failed attempts before this one."""
        retry_after = retry_after_of(exc)
        if not is_retryable(exc) or attempts_done + 1 >= max_attempts:
            return RetryDecision(False, 0.0, retry_after)
        delay = retry_after if retry_after is not None else self.backoff(attempts_done)
        return RetryDecision(True, delay, retry_after)


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
