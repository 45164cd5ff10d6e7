"""Backoff: one jittered exponential helper for every wait in the queue package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import taskloom.queue
from taskloom.queue.retry import Backoff, RetryPolicy, jitter


def test_jitter_stays_inside_its_bounds_and_spreads():
    draws = [jitter(2.0, 0.5, 1.5) for _ in range(500)]
    assert all(1.0 <= d <= 3.0 for d in draws)
    assert len(set(draws)) > 400  # spread out, not one value for everyone
    assert jitter(-1.0) == 0.0


def test_backoff_doubles_up_to_its_cap_and_resets():
    backoff = Backoff(0.1, 0.8, low=1.0, high=1.0)  # no jitter: the sequence itself
    assert [backoff.next() for _ in range(6)] == pytest.approx([0.1, 0.2, 0.4, 0.8, 0.8, 0.8])
    backoff.reset()
    assert backoff.next() == pytest.approx(0.1)
    jittered = Backoff(1.0, 4.0)
    assert [0.5 <= jittered.next() <= 1.5, 1.0 <= jittered.next() <= 3.0] == [True, True]
    with pytest.raises(ValueError):
        Backoff(0.0, 1.0)


def test_retry_policy_backs_off_through_the_same_jitter():
    policy = RetryPolicy(base_delay=1.0, multiplier=2.0, max_delay=5.0, jitter=0.5)
    delays = [policy.backoff(attempt) for attempt in range(5)]
    for delay, plain in zip(delays, [1, 2, 4, 5, 5], strict=True):
        assert 0.5 * plain <= delay <= 1.5 * plain


def test_no_module_of_the_queue_package_draws_its_own_jitter():
    package = Path(taskloom.queue.__file__).parent
    drawing = re.compile(r"\brandom\.|\buniform\(")
    copies = [str(path.relative_to(package)) for path in package.rglob("*.py")
              if path.name != "retry.py" and drawing.search(path.read_text())]
    assert copies == []
