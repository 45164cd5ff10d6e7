"""Stream deltas from a job's body to the task waiting on it, in this process.

A job's output and progress travel through the queue's storage; text deltas
do not (a delta per token would be a write per token). When the worker that
runs a job is in the process of the task that queued it — the in-process
workers of ``taskloom.ai.workers``, the page's engine — its deltas go straight
to that task here. A task whose job runs in another process gets no deltas:
it streams the whole text when the job completes (``AiTask``).

Deltas a job sends before its waiter listens are kept until it listens or
the job's handler ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("taskloom.queue.streams")

#: (port, delta) -> None
StreamListener = Callable[[str, str], None]

_listeners: dict[str, StreamListener] = {}
_early: dict[str, list[tuple[str, str]]] = {}


def publish(job_id: str, port: str, delta: str) -> None:
    """A job's body streamed ``delta`` to ``port``."""
    listener = _listeners.get(job_id)
    if listener is None:
        _early.setdefault(job_id, []).append((port, delta))
        return
    try:
        listener(port, delta)
    except Exception:  # a broken listener must not fail the job
        log.exception("job %s: a stream listener failed", job_id)


def listen(job_id: str, listener: StreamListener) -> Callable[[], None]:
    """Send ``job_id``'s deltas to ``listener`` (those sent already first); returns the
    function that stops it."""
    for port, delta in _early.pop(job_id, ()):
        listener(port, delta)
    _listeners[job_id] = listener

    def stop() -> None:
        if _listeners.get(job_id) is listener:
            del _listeners[job_id]

    return stop


def ended(job_id: str) -> None:
    """The job's handler returned: forget deltas nobody listened to."""
    _early.pop(job_id, None)
