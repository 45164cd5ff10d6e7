"""The CLI's progress display on stderr: O(1) per event, redrawn on a throttle.

An event only updates counts and the set of running tasks. What is drawn is
built from that state at most every ``interval`` seconds, so a 100,000-task
chain costs a dict update per event and a few hundred redraws in all, not a
redraw of every row on every event.

    a graph that fits on the screen    one row per task: id, bar, status
    a larger one                       one summary line of counts, then the
                                       running tasks (as many as fit)

On a terminal with rich installed the drawing is a ``rich.live.Live``;
elsewhere (a pipe, a log file, no rich) it is plain lines: one per task
that finishes, fails or is skipped for a graph that fits on a screen, else a
summary line at most every ``line_interval`` seconds; both end with a final
summary.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable
from typing import IO, Any

#: What each task event makes of its task.
STATUS_OF_EVENT = {"task_start": "running", "task_progress": "running",
                   "task_complete": "done", "task_cache_hit": "cached",
                   "task_error": "failed", "task_abort": "aborted",
                   "task_skipped": "skipped"}
#: The statuses the summary counts, in the order it lists them.
COUNTED = ("done", "cached", "running", "failed", "aborted", "skipped")
FINISHED = frozenset({"done", "cached", "failed", "aborted", "skipped"})
_NOT_STARTED = (0.0, None)
#: Rows a display that is not a terminal pretends to have.
DEFAULT_ROWS = 24


class ProgressState:
    """Counts of tasks by status, and the running tasks with their progress; O(1) per event."""

    def __init__(self, task_ids: Iterable[str], already_done: Iterable[str] = ()):
        self.order = list(task_ids)
        self.total = len(self.order)
        self.status: dict[str, str] = dict.fromkeys(already_done, "done")
        self.counts = dict.fromkeys(COUNTED, 0)
        self.counts["done"] = len(self.status)
        #: Running tasks in the order they started: id -> (fraction, message).
        self.running: dict[str, tuple[float, str | None]] = {}
        self.errors: dict[str, str] = {}

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in FINISHED)

    @property
    def pending(self) -> int:
        return self.total - self.finished - self.counts["running"]

    def apply(self, event: Any) -> str | None:
        """Take one event; return the task's new status when it changed, else None."""
        status = STATUS_OF_EVENT.get(event.kind)  # EventKind is a str: no conversion
        task_id = event.task_id
        if status is None or task_id is None:
            return None
        if status != "running":
            return self.finish(task_id, status, event.error)
        if event.kind == "task_progress":
            return self.progress(task_id, event.progress, event.message)
        return self.start(task_id)

    def start(self, task_id: str) -> str | None:
        self.running.setdefault(task_id, _NOT_STARTED)
        return self._move(task_id, "running")

    def progress(self, task_id: str, fraction: float | None, message: str | None,
                 ) -> str | None:
        old_fraction, old_message = self.running.get(task_id, (0.0, None))
        self.running[task_id] = (old_fraction if fraction is None else fraction,
                                 old_message if message is None else message)
        return self._move(task_id, "running")

    def finish(self, task_id: str, status: str, error: str | None = None) -> str | None:
        self.running.pop(task_id, None)
        if error and status == "failed":
            self.errors[task_id] = error
        return self._move(task_id, status)

    def _move(self, task_id: str, status: str) -> str | None:
        statuses = self.status
        old = statuses.get(task_id)
        if old is None:
            self.counts[status] += 1
        elif old == status or (old == "cached" and status == "done"):
            return None  # a cache hit is followed by its completion
        else:
            counts = self.counts
            counts[old] -= 1
            counts[status] += 1
        statuses[task_id] = status
        return status

    def summary(self) -> str:
        """``"3 of 10 tasks finished: 2 done, 1 failed, 1 running, 6 pending"``."""
        counts = [f"{self.counts[s]:,} {s}" for s in COUNTED if self.counts[s]]
        if self.pending:
            counts.append(f"{self.pending:,} pending")
        return f"{self.finished:,} of {self.total:,} tasks finished: {', '.join(counts)}"


class ProgressDisplay:
    """``attach()`` it to a runner's events; use it as a context manager around the run.

    ``console`` (a ``rich.console.Console``) and ``clock`` are for tests; by
    default it draws on stderr and throttles by ``time.monotonic``.
    """

    def __init__(self, task_ids: Iterable[str], *, already_done: Iterable[str] = (),
                 console: Any = None, stream: IO[str] | None = None,
                 interval: float = 0.2, line_interval: float = 5.0,
                 clock: Callable[[], float] = time.monotonic, rows: int | None = None):
        self.state = ProgressState(task_ids, already_done)
        self.clock = clock
        self.interval = interval
        self.line_interval = line_interval
        self.stream = stream if stream is not None else sys.stderr
        self.console = console if console is not None else _stderr_console(self.stream)
        self.live_mode = self.console is not None and self.console.is_terminal
        height = self.console.size.height if self.live_mode else DEFAULT_ROWS
        #: Lines the display may use: a graph with more tasks gets the summary form.
        self.rows = rows if rows is not None else max(4, height - 2)
        self.redraws = 0
        self._live: Any = None
        self._last = float("-inf")

    @property
    def fits(self) -> bool:
        return self.state.total <= self.rows

    # -- events ------------------------------------------------------------------------

    def attach(self, events: Any) -> None:
        """Listen to a runner's task events only. Listening to every event would make
        the runner build graph-progress events, which this display does not need."""
        for kind in STATUS_OF_EVENT:
            events.on(kind, self._listener(kind))

    def _listener(self, kind: str) -> Callable[[Any], None]:
        """``on_event`` for events of ``kind`` alone, what it is decided once: a
        100,000-task chain sends 200,000 task events."""
        state, status = self.state, STATUS_OF_EVENT[kind]
        if kind == "task_progress":
            return self.on_event
        start, finish = state.start, state.finish

        def listener(event: Any) -> None:
            task_id = event.task_id
            if task_id is None:
                return
            changed = start(task_id) if kind == "task_start" else \
                finish(task_id, status, event.error)
            if self.live_mode:  # (what _after does, without the call)
                if self.clock() - self._last >= self.interval:
                    self._maybe_redraw()
            elif changed is not None:
                self._line(task_id, changed)

        return listener

    def on_event(self, event: Any) -> None:
        self._after(event.task_id, self.state.apply(event))

    def _after(self, task_id: str | None, changed: str | None) -> None:
        """What the display does once the state has taken an event of ``task_id``."""
        if self.live_mode:
            if self.clock() - self._last >= self.interval:
                self._maybe_redraw()
        elif changed is not None:
            self._line(task_id, changed)

    def _maybe_redraw(self, force: bool = False) -> None:
        now = self.clock()
        if self._live is None or (not force and now - self._last < self.interval):
            return
        self._last = now
        self.redraws += 1
        self._live.update(self.renderable(), refresh=True)

    def _line(self, task_id: str, status: str) -> None:
        if self.fits:
            if status == "running":
                return
            error = self.state.errors.get(task_id) if status == "failed" else None
            self._print(f"[{status}] {task_id}{': ' + error if error else ''}")
            return
        now = self.clock()
        if now - self._last >= self.line_interval:
            self._last = now
            self.redraws += 1
            self._print(self.state.summary())

    def _print(self, line: str) -> None:
        print(line, file=self.stream, flush=True)

    # -- drawing -----------------------------------------------------------------------

    def renderable(self) -> Any:
        """What the display shows now, as a rich renderable (built from the state alone)."""
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        state = self.state
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, max_width=32)
        table.add_column(width=24)
        table.add_column(no_wrap=True, overflow="ellipsis")
        if self.fits:
            for task_id in state.order:
                status = state.status.get(task_id, "pending")
                fraction, message = state.running.get(task_id, (0.0, None))
                if status in ("done", "cached"):
                    fraction = 1.0
                detail = message if status == "running" else state.errors.get(task_id)
                label = f"{status}: {detail}" if detail else status
                table.add_row(Text(task_id), ProgressBar(total=1.0, completed=fraction),
                              Text(label))
            return table
        room = self.rows - 1
        running = len(state.running)
        shown = room if running <= room else room - 1
        for task_id, (fraction, message) in itertools.islice(state.running.items(), shown):
            table.add_row(Text(f"  {task_id}"), ProgressBar(total=1.0, completed=fraction),
                          Text(f"running: {message}" if message else "running"))
        if running > shown:
            table.add_row(Text(f"  … {running - shown:,} more running"), Text(""), Text(""))
        return Group(Text(state.summary(), no_wrap=True, overflow="ellipsis"), table)

    # -- lifetime ----------------------------------------------------------------------

    def __enter__(self) -> ProgressDisplay:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(self.renderable(), console=self.console, auto_refresh=False,
                              transient=False, redirect_stdout=False, redirect_stderr=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._maybe_redraw(force=True)
            self._live.__exit__(*exc)
            self._live = None
        else:
            self._print(self.state.summary())


def _stderr_console(stream: IO[str]) -> Any:
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(file=stream)
