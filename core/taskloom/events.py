"""Events a run emits, and the small emitter that delivers them.

Listeners are plain callables (sync); an async listener's coroutine is
scheduled as a task. A listener that raises is logged and never breaks the
run.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

log = logging.getLogger("taskloom.events")


class EventKind(StrEnum):
    GRAPH_START = "graph_start"
    GRAPH_PROGRESS = "graph_progress"
    GRAPH_COMPLETE = "graph_complete"
    GRAPH_ERROR = "graph_error"
    GRAPH_ABORT = "graph_abort"
    TASK_START = "task_start"
    TASK_PROGRESS = "task_progress"
    TASK_COMPLETE = "task_complete"
    TASK_ERROR = "task_error"
    TASK_ABORT = "task_abort"
    TASK_CACHE_HIT = "task_cache_hit"
    TASK_SKIPPED = "task_skipped"
    #: A delta of a streaming output port: details {port, delta, index}, in order.
    TASK_STREAM = "task_stream"


@dataclass(slots=True)
class Event:
    kind: EventKind
    run_id: str
    task_id: str | None = None
    progress: float | None = None
    message: str | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    details: dict[str, Any] | None = None
    time: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": str(self.kind), "run_id": self.run_id,
                               "time": self.time}
        for name in ("task_id", "progress", "message", "output", "error", "details"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.kind is EventKind.TASK_STREAM and self.details is not None:
            out.update(self.details)  # {task_id, port, delta, index} at the top, for the page
        return out


Listener = Callable[[Event], Any]

_new = object.__new__
_now = time.time


class EventEmitter:
    # The listener collections are tuples, replaced (never changed) when a listener
    # comes or goes: sending iterates them as they are, with no copy to protect it from
    # a listener that unsubscribes while it is called.
    __slots__ = ("_all", "_by_kind", "_pending")

    def __init__(self) -> None:
        self._all: tuple[Listener, ...] = ()
        self._by_kind: dict[str, tuple[Listener, ...]] = {}
        self._pending: set[asyncio.Task] = set()

    @property
    def active(self) -> bool:
        """True when someone listens; emitters skip building events otherwise."""
        return bool(self._all or self._by_kind)

    def wants(self, kind: EventKind) -> bool:
        return bool(self._all) or kind in self._by_kind

    def on(self, kind: EventKind | str, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for events of ``kind``; returns an unsubscribe function."""
        kind = EventKind(kind)
        self._by_kind[kind] = (*self._by_kind.get(kind, ()), listener)

        def off() -> None:
            listeners = _without(self._by_kind.get(kind, ()), listener)
            if listeners:
                self._by_kind[kind] = listeners
            else:
                self._by_kind.pop(kind, None)

        return off

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` for every event; returns an unsubscribe function."""
        self._all = (*self._all, listener)

        def off() -> None:
            self._all = _without(self._all, listener)

        return off

    def send(self, kind: EventKind, run_id: str, task_id: str | None = None,
             progress: float | None = None, message: str | None = None,
             output: dict[str, Any] | None = None, error: str | None = None,
             details: dict[str, Any] | None = None) -> None:
        """Build and emit an event of ``kind``, only if someone listens to that kind."""
        specific = self._by_kind.get(kind) if self._by_kind else None
        if specific is None:
            listeners = self._all
            if not listeners:
                return
        else:
            listeners = specific + self._all if self._all else specific
        # The Event its constructor builds, in half the time: the generated __init__'s
        # keyword and default-factory handling was a third of the cost of an event in a
        # run of no-op tasks (which sends two or three a task, hence inlined here).
        event = _new(Event)
        event.kind = kind
        event.run_id = run_id
        event.task_id = task_id
        event.progress = progress
        event.message = message
        event.output = output
        event.error = error
        event.details = details
        event.time = _now()
        for listener in listeners:
            try:
                result = listener(event)
            except Exception:  # a broken listener must not break the run
                log.exception("event listener %r failed on %s", listener, kind)
                continue
            if result is not None:
                self._schedule(result)

    def emit(self, event: Event) -> None:
        specific = self._by_kind.get(event.kind)
        for listener in self._all if specific is None else specific + self._all:
            self._call(listener, event)

    def _call(self, listener: Listener, event: Event) -> None:
        try:
            result = listener(event)
            if result is not None:
                self._schedule(result)
        except Exception:  # a broken listener must not break the run
            log.exception("event listener %r failed on %s", listener, event.kind)

    def _schedule(self, result: Any) -> None:
        """An async listener's coroutine runs as a task of its own."""
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)


def _without(listeners: tuple[Listener, ...], listener: Listener) -> tuple[Listener, ...]:
    """``listeners`` less the first ``listener`` in it (all of them if it is not there)."""
    for n, candidate in enumerate(listeners):
        if candidate == listener:
            return listeners[:n] + listeners[n + 1:]
    return listeners
