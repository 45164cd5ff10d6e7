"""What the CLI's progress display shows, rendered to a captured console.

Its cost is the benchmark's business (scripts/bench/cli_display.py); here a
fake clock stands in for time, so that nothing depends on how fast this runs.
"""

import io

import pytest
from rich.console import Console

from support import TAdd, TFail
from taskloom import TaskGraph, TaskGraphRunner
from taskloom.cli_display import ProgressDisplay
from taskloom.events import Event, EventKind


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def text_of(display: ProgressDisplay, width: int = 100) -> str:
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(display.renderable())
    return console.export_text()


def event(kind: EventKind, task_id: str, **fields) -> Event:
    return Event(kind, "run", task_id, **fields)


def terminal(height: int = 40) -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=100, height=height,
                   color_system=None)


def chain(n: int) -> TaskGraph:
    graph = TaskGraph(TAdd(f"t{i}", {"a": 1} if i == 0 else {}) for i in range(n))
    for i in range(1, n):
        graph.add_dataflow((f"t{i - 1}", "a", f"t{i}", "a"))
    return graph


async def test_a_graph_that_fits_shows_a_row_per_task_after_a_real_run():
    graph = TaskGraph([TAdd("first", {"a": 1}), TFail("boom"), TAdd("after", {"a": 2})])
    display = ProgressDisplay(graph.task_ids(), console=terminal())
    runner = TaskGraphRunner(graph, continue_on_error=True)
    display.attach(runner.events)
    await runner.run()
    rows = [line.rstrip() for line in text_of(display).splitlines()]
    assert [row.split()[0] for row in rows] == ["first", "boom", "after"]
    assert rows[0].endswith(" done") and rows[2].endswith(" done")
    # The error beside the failed task.
    assert rows[1].endswith(" failed: task 'boom' (TFail) failed: RuntimeError: boom")


def test_a_running_task_shows_its_progress_message():
    display = ProgressDisplay(["a", "b"], console=terminal())
    display.on_event(event(EventKind.TASK_START, "a"))
    display.on_event(event(EventKind.TASK_PROGRESS, "a", progress=0.5, message="halfway"))
    lines = [line.rstrip() for line in text_of(display).splitlines()]
    assert lines[0].split()[0] == "a" and lines[0].endswith(" running: halfway")
    assert lines[1].split()[0] == "b" and lines[1].endswith(" pending")


def test_beyond_a_screenful_a_summary_line_and_the_running_tasks():
    ids = [f"t{i}" for i in range(1000)]
    display = ProgressDisplay(ids, console=terminal(height=12))
    assert display.rows == 10 and not display.fits
    for task_id in ids[:600]:
        display.on_event(event(EventKind.TASK_START, task_id))
        display.on_event(event(EventKind.TASK_COMPLETE, task_id, progress=1.0))
    display.on_event(event(EventKind.TASK_START, "t600"))
    display.on_event(event(EventKind.TASK_ERROR, "t600", error="it broke"))
    display.on_event(event(EventKind.TASK_CACHE_HIT, "t601"))
    display.on_event(event(EventKind.TASK_COMPLETE, "t601", progress=1.0))
    for task_id in ("t700", "t701"):
        display.on_event(event(EventKind.TASK_START, task_id))
    display.on_event(event(EventKind.TASK_PROGRESS, "t701", progress=0.25, message="reading"))
    lines = [line.rstrip() for line in text_of(display).splitlines()]
    assert lines[0] == (
        "602 of 1,000 tasks finished: 600 done, 1 cached, 2 running, 1 failed, 396 pending")
    assert [line.split()[0] for line in lines[1:]] == ["t700", "t701"]
    assert lines[1].endswith("running") and lines[2].endswith("running: reading")


def test_more_running_tasks_than_rows_are_counted_not_listed():
    ids = [f"t{i}" for i in range(100)]
    display = ProgressDisplay(ids, console=terminal(height=7))  # 5 rows: summary + 4
    for task_id in ids[:30]:
        display.on_event(event(EventKind.TASK_START, task_id))
    lines = [line.rstrip() for line in text_of(display).splitlines()]
    assert len(lines) == 5
    assert [line.split()[0] for line in lines[1:4]] == ["t0", "t1", "t2"]
    assert lines[4].strip() == "… 27 more running"


def test_a_resumed_run_counts_its_finished_tasks_as_done():
    display = ProgressDisplay(["a", "b", "c"], already_done={"a": {}, "b": {}},
                              console=terminal())
    display.on_event(event(EventKind.TASK_START, "c"))
    assert display.state.summary() == "2 of 3 tasks finished: 2 done, 1 running"
    rows = [line.rstrip() for line in text_of(display).splitlines()]
    assert [(row.split()[0], row.split()[-1]) for row in rows] == [
        ("a", "done"), ("b", "done"), ("c", "running")]


def test_redraws_follow_the_clock_not_the_events():
    clock = FakeClock()
    console = terminal(height=12)
    display = ProgressDisplay([f"t{i}" for i in range(10_000)], console=console, clock=clock,
                              interval=0.2)
    with display:
        for i in range(5_000):  # no time passes: the first event draws, no other does
            display.on_event(event(EventKind.TASK_START, f"t{i}"))
            display.on_event(event(EventKind.TASK_COMPLETE, f"t{i}", progress=1.0))
        assert display.redraws == 1
        for i in range(5_000, 10_000):
            if i % 1000 == 0:
                clock.now += 0.2
            display.on_event(event(EventKind.TASK_START, f"t{i}"))
            display.on_event(event(EventKind.TASK_COMPLETE, f"t{i}", progress=1.0))
        assert display.redraws == 6
    assert display.redraws == 7  # the last state is drawn on the way out
    assert "10,000 of 10,000 tasks finished: 10,000 done" in console.file.getvalue()


async def test_a_real_100_task_chain_on_a_small_screen_ends_with_the_summary():
    clock = FakeClock()
    console = terminal(height=8)
    graph = chain(100)
    runner = TaskGraphRunner(graph)
    with ProgressDisplay(graph.task_ids(), console=console, clock=clock) as display:
        display.attach(runner.events)
        await runner.run()
    assert display.redraws == 2  # the first event, and the end: the clock never moved
    output = console.file.getvalue()
    assert "100 of 100 tasks finished: 100 done" in output
    assert "t50 " not in output  # no per-task rows beyond a screenful


@pytest.mark.parametrize("fits", [True, False])
def test_without_a_terminal_it_writes_plain_lines(fits):
    clock = FakeClock()
    stream = io.StringIO()
    ids = ["a", "b"] if fits else [f"t{i}" for i in range(1000)]
    not_a_terminal = Console(file=stream, force_terminal=False)
    with ProgressDisplay(ids, console=not_a_terminal, stream=stream, clock=clock,
                         line_interval=5.0) as display:
        for task_id in ids:
            display.on_event(event(EventKind.TASK_START, task_id))
            display.on_event(event(EventKind.TASK_COMPLETE, task_id, progress=1.0))
    lines = stream.getvalue().splitlines()
    if fits:
        assert lines == ["[done] a", "[done] b", "2 of 2 tasks finished: 2 done"]
    else:  # one summary at the start, none while the clock stands still, one at the end
        assert lines == ["0 of 1,000 tasks finished: 1 running, 999 pending",
                         "1,000 of 1,000 tasks finished: 1,000 done"]
