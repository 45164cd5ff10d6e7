"""The page's main-thread long tasks, with the CPU time each one really took.

A ``longtask`` PerformanceObserver entry says how long a task held the main thread by the
wall clock; on a shared, loaded machine that includes the time the thread was descheduled.
Chromium's trace (category ``toplevel``) records every task the thread ran with its thread
CPU time (``tdur``), so each long task is matched to its trace task by time: the page and
the trace share one clock once a ``performance.mark`` (category ``blink.user_timing``) is
seen in both. Used by tests/browser/test_long_tasks.py and scripts/bench/browser_longtasks.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

#: Installed before the page's own scripts (add_init_script): every long task from the start.
OBSERVER = """(() => {
  const seen = (window.taskloomLongTasks = []);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) seen.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: "longtask", buffered: true });
})();"""

#: As few as the matching needs: tracing costs the page little.
CATEGORIES = ["toplevel", "blink.user_timing"]

TOP_TASKS = {"ThreadControllerImpl::RunTask", "RunTask"}

#: Over this the browser reports a long task; over this of CPU a test fails on one.
LONG_MS = 50

MARK = """name => {
  performance.mark(name);
  return performance.getEntriesByName(name).at(-1).startTime;
}"""

#: A fixed amount of work (`n` rounds of integer arithmetic) in a task of its own, marked
#: `name`: its CPU time does not depend on how loaded the machine is, its wall time does.
WORK = """([name, n]) => new Promise((done) => setTimeout(() => {
  performance.mark(name);
  let x = 1;
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  done([performance.getEntriesByName(name).at(-1).startTime, x]);
}, 0))"""


@dataclass
class LongTask:
    start: float  # ms, the page's clock
    wall: float  # ms, as the PerformanceObserver saw it
    cpu: float | None  # ms of main-thread CPU (trace tdur); None: no trace task matched

    def __str__(self) -> str:
        cpu = "no trace task" if self.cpu is None else f"{self.cpu:.0f} ms CPU"
        return f"at {self.start:.0f} ms: {self.wall:.0f} ms wall, {cpu}"


class MainThreadTrace:
    """The trace's tasks on the page's main thread (the thread that ran ``anchor``, a
    performance.mark name), on the page's clock."""

    def __init__(self, trace: bytes, anchor: str):
        events = json.loads(trace)
        events = events["traceEvents"] if isinstance(events, dict) else events
        marks = [e for e in events if e.get("cat") == "blink.user_timing"
                 and e.get("name") == anchor]
        if not marks:
            raise AssertionError(f"the trace has no mark {anchor!r}: was tracing on?")
        mark = marks[-1]
        self.thread = (mark["pid"], mark["tid"])
        # trace µs → page ms: the mark's trace time is its performance.now() time.
        self.offset = mark["ts"] / 1000 - mark["args"]["data"]["startTime"]
        tasks = sorted((e["ts"] / 1000 - self.offset, e["dur"] / 1000, e.get("tdur", 0) / 1000)
                       for e in events if e.get("ph") == "X" and e.get("name") in TOP_TASKS
                       and (e["pid"], e["tid"]) == self.thread and "dur" in e)
        if not any("tdur" in e for e in events if e.get("name") in TOP_TASKS):
            raise AssertionError("the trace's tasks carry no thread time (tdur)")
        # The outermost tasks only: a nested run loop's tasks are counted in their parent's.
        self.tasks: list[tuple[float, float, float]] = []
        for task in tasks:
            if not self.tasks or task[0] >= self.tasks[-1][0] + self.tasks[-1][1]:
                self.tasks.append(task)

    def cpu(self, start: float, wall: float) -> float | None:
        """The main thread's CPU time in the tasks that overlap [start, start + wall], in
        full, or None if none does. (A long task's wall time can end well after its trace
        task: the thread may be descheduled before the browser takes the end time.)"""
        overlapping = [cpu for begin, duration, cpu in self.tasks
                       if begin < start + wall and begin + duration > start]
        return sum(overlapping) if overlapping else None

    def task_at(self, instant: float) -> tuple[float, float] | None:
        """(wall, CPU) ms of the trace task running at ``instant`` (page ms), or None."""
        running = [(duration, cpu) for begin, duration, cpu in self.tasks
                   if begin <= instant <= begin + duration]
        return min(running) if running else None

    def long_tasks(self, entries: list[dict], since: float = 0.0,
                   until: float = float("inf")) -> list[LongTask]:
        return [LongTask(e["start"], e["duration"], self.cpu(e["start"], e["duration"]))
                for e in entries if since <= e["start"] < until]
