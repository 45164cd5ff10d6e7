"""What the drawer's Queue, Cache and Logs panels ask the engine (web/panels/).

- Queue: the jobs of every registered queue (the page's durable ``ai:<provider>``
  queues and any other), with the engine's clock so that the page counts a
  job's ``run_after`` down without trusting its own; abort one job or every
  job of a run. A job belongs to a task of a run, so aborting a job of the run
  this engine runs aborts that run: it ends *aborted*, not failed with a
  "job ended aborted" traceback.
- Cache: the cached outputs (``outputs`` collection of the page store), listed
  with the storage protocol's ``scan`` that every backend has, and cleared.
- Logs: while the code box's code executes and its Workflow runs, ``print()``
  output, log records of the ``taskloom`` loggers (DebugLog's included) and
  warnings become ``log`` events, tagged with the task whose code wrote them.

Browser-only in purpose, but plain Python: the CPython tests drive it through
BrowserEngine (tests/browser/test_panels_engine.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from taskloom.errors import TaskloomError
from taskloom.queue.job import Job, JobStatus
from taskloom.storage.outputs import COLLECTION as OUTPUTS
from taskloom.storage.protocol import encode_value
from taskloom.task import Task

#: Finished jobs shown per queue (newest first); active ones are always shown.
FINISHED_SHOWN = 20
#: Cache entries listed at most (newest first); the totals count them all.
ENTRIES_SHOWN = 200
#: A log line longer than this is cut (a runaway print must not flood the page).
LINE_LIMIT = 4000

_ACTIVE = (JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.ABORTING)


def _answer(value: dict[str, Any]) -> str:
    return json.dumps(value)


def _refused(error: BaseException) -> str:
    return _answer({"ok": False, "error": f"{type(error).__name__}: {error}"})


# -- Queue ----------------------------------------------------------------------------


def running_run_id(running: Any) -> str | None:
    """The run id of what BrowserEngine runs now (a page_store ``_Run``), if any.

    A fresh run's target is a Workflow, whose runner names the run once started;
    a resumed run's target is the TaskGraphRunner itself.
    """
    if running is None:
        return None
    target = getattr(running, "_target", running)
    runner = getattr(target, "_runner", None) or target
    run_id = getattr(runner, "run_id", None)
    return run_id if isinstance(run_id, str) else None


def _job_row(job: Job) -> dict[str, Any]:
    return {"id": job.id, "run_id": job.run_id, "task_type": job.task_type,
            "state": str(job.status), "attempts": job.attempts,
            "max_attempts": job.max_attempts, "progress": job.progress,
            "message": job.progress_message, "run_after": job.run_after,
            "error": job.error, "created_at": job.created_at, "updated_at": job.updated_at}


async def list_jobs() -> str:
    """Every registered queue with its active jobs and its newest finished ones.

    ``now`` is the engine's clock: a pending job waits ``run_after - now`` more seconds.
    """
    from taskloom.queue import queues

    listed = []
    for name in queues.names():
        queue = queues.get(name)
        jobs = await queue.list(limit=1_000_000)  # one read of the queue, in every backend
        active = sorted((j for j in jobs if j.status in _ACTIVE),
                        key=lambda j: (j.run_after, j.created_at))
        finished = sorted((j for j in jobs if j.status not in _ACTIVE),
                          key=lambda j: j.updated_at, reverse=True)[:FINISHED_SHOWN]
        listed.append({"name": name, "total": len(jobs),
                       "jobs": [_job_row(job) for job in active + finished]})
    return _answer({"ok": True, "now": time.time(), "queues": listed})


async def abort_job(running: Any, queue_name: str, job_id: str) -> str:
    """Aborts one job; if it belongs to the run in progress here, that run too."""
    from taskloom.errors import JobStateError
    from taskloom.queue import queues

    try:
        queue = queues.get(queue_name)
        job = await queue.get(job_id)
    except TaskloomError as error:
        return _refused(error)
    if job.is_terminal:
        return _answer({"ok": False, "error": f"job {job_id[:8]} already {job.status}: "
                                              "there is nothing to abort"})
    run_aborted = bool(job.run_id) and job.run_id == running_run_id(running)
    if run_aborted:
        # First the run (synchronously): its task then sees an abort, not a failed job.
        running.abort(f"job {job_id[:8]} aborted from the Queue panel")
    with contextlib.suppress(JobStateError):  # the run's own abort may have got there first
        await queue.abort(job_id)
    job = await queue.get(job_id)
    return _answer({"ok": True, "job": _job_row(job), "run_aborted": run_aborted})


async def abort_run_jobs(running: Any, run_id: str) -> str:
    """Aborts every unfinished job of ``run_id`` on every queue (and the run, if here)."""
    from taskloom.queue import queues

    if not isinstance(run_id, str) or not run_id:
        return _answer({"ok": False, "error": "abort_run_jobs needs a run id"})
    run_aborted = run_id == running_run_id(running)
    if run_aborted:
        running.abort(f"run {run_id[:8]} aborted from the Queue panel")
    aborted = 0
    for name in queues.names():
        aborted += await queues.get(name).abort_run(run_id)
    return _answer({"ok": True, "aborted": aborted, "run_aborted": run_aborted})


# -- Cache ----------------------------------------------------------------------------


def _entry_row(entry: Any) -> dict[str, Any]:
    # Keys are "type:version:fingerprint", or "type:code-<hash>:version:fingerprint"
    # for the code box's own types (page_store.CodeKeyedOutputs).
    task_type, _, rest = entry.key.partition(":")
    try:
        size: int | None = len(encode_value(entry.value).encode("utf-8"))
    except TaskloomError:  # a corrupt record: listed, so that clearing can remove it
        size = None
    return {"key": entry.key, "task_type": task_type, "code_box": rest.startswith("code-"),
            "size": size, "stored_at": entry.updated_at}


async def cache_stats(store: Any) -> str:
    """The output cache: entry count, bytes, and the newest entries."""
    entries = await store.backend.scan(OUTPUTS)
    entries.sort(key=lambda entry: entry.updated_at, reverse=True)
    return _answer({"ok": True, "count": await store.outputs.count(),
                    "size": await store.outputs.size(),
                    "entries": [_entry_row(entry) for entry in entries[:ENTRIES_SHOWN]]})


async def clear_cache(store: Any, older_than: float | None = None) -> str:
    """Removes every cached output, or those stored more than ``older_than`` s ago."""
    if older_than is not None:
        if isinstance(older_than, bool) or not isinstance(older_than, int | float) \
                or older_than < 0:
            return _answer({"ok": False, "error": "older_than must be a number of seconds "
                                                  f"(0 or more), not {older_than!r}"})
        return _answer({"ok": True, "cleared": await store.outputs.clear_older_than(older_than)})
    before = await store.outputs.count()
    await store.outputs.clear()
    return _answer({"ok": True, "cleared": before})


# -- Logs -----------------------------------------------------------------------------

_TASK_METHODS = frozenset({"run", "run_reactive", "execute"})


#: Where a line was written: (task id, run id, job id); None where not known.
Where = tuple[str | None, str | None, str | None]


def current_task() -> Where:
    """(task id, run id, job id) of the task whose code is running now, from the stack.

    Stack, not a context variable: the runner knows nothing of the panels, and
    a task's ``run`` frame is there whenever its code prints. A job's body (an AI
    task's call, run by a queue worker) is a stand-in task named after the job, not a
    task of the graph: its lines carry the job's id and no task id.
    """
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in _TASK_METHODS:
            task = frame.f_locals.get("self")
            if isinstance(task, Task):
                ctx = frame.f_locals.get("ctx")
                run_id = getattr(ctx, "run_id", None) or None
                job = getattr(ctx, "services", {}).get("job")
                if isinstance(job, Job):
                    return None, run_id, job.id
                return task.id, run_id, None
        frame = frame.f_back
    return None, None, None


class _Sink:
    """Turns text into ``log`` events; one per line."""

    def __init__(self, emit: Callable[[str], Any], fallback: Any) -> None:
        self._emit = emit
        self._fallback = fallback  # where text goes if emitting itself fails
        self._emitting = False

    def line(self, text: str, level: str, source: str, task_id: str | None,
             run_id: str | None, job_id: str | None = None) -> None:
        if len(text) > LINE_LIMIT:
            text = text[:LINE_LIMIT] + f"… ({len(text) - LINE_LIMIT} more characters)"
        event = {"kind": "log", "level": level, "source": source, "text": text,
                 "task_id": task_id, "run_id": run_id, "job_id": job_id, "time": time.time()}
        if self._emitting:  # the emit wrote something itself: never loop
            self._fallback.write(text + "\n")
            return
        self._emitting = True
        try:
            self._emit(json.dumps(event))
        finally:
            self._emitting = False


class _Stream(io.TextIOBase):
    """sys.stdout / sys.stderr during a run: whole lines, each with its task."""

    def __init__(self, sink: _Sink, level: str) -> None:
        super().__init__()
        self._sink = sink
        self._level = level
        # Unfinished lines by asyncio task: tasks that print at once keep their lines apart.
        self._partial: dict[Any, str] = {}

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        key = _asyncio_task()
        pending = self._partial.pop(key, "") + text
        if "\n" not in pending:
            self._partial[key] = pending
            return len(text)
        # The stack is walked once a line is whole (print writes its parts, then "\n").
        where = current_task()
        *lines, rest = pending.split("\n")
        for line in lines:
            self._sink.line(line, self._level, "print", *where)
        if rest:
            self._partial[key] = rest
        return len(text)

    def flush(self) -> None:
        rest = self._partial.pop(_asyncio_task(), None)
        if rest:
            self._sink.line(rest, self._level, "print", *current_task())

    def finish(self) -> None:
        """The capture ends: unfinished lines go out as they are."""
        partial, self._partial = self._partial, {}
        for rest in partial.values():
            self._sink.line(rest, self._level, "print", None, None, None)


def _asyncio_task() -> Any:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


class _Handler(logging.Handler):
    def __init__(self, sink: _Sink) -> None:
        super().__init__(logging.DEBUG)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a bad format string in someone's log call
            self.handleError(record)
            return
        task_id, run_id, job_id = current_task()
        if task_id is None and job_id is None and record.name.startswith("taskloom.task."):
            task_id = record.name.removeprefix("taskloom.task.")
        self._sink.line(text, record.levelname.lower(), record.name, task_id, run_id, job_id)


_capturing = 0


@contextlib.contextmanager
def capture_output(emit: Callable[[str], Any]) -> Iterator[None]:
    """While it is open, print(), taskloom's log records and warnings become ``log``
    events through ``emit``; the streams, the logger and the warning hook are put
    back after, however the block ends. Re-entrant: an inner capture changes nothing."""
    global _capturing
    if _capturing:
        yield
        return
    saved_out, saved_err, saved_showwarning = sys.stdout, sys.stderr, warnings.showwarning
    sink = _Sink(emit, saved_err)
    out, err = _Stream(sink, "stdout"), _Stream(sink, "stderr")
    logger = logging.getLogger("taskloom")
    saved_level = logger.level
    handler = _Handler(sink)

    def show_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                     file: Any = None, line: str | None = None) -> None:
        sink.line(f"{category.__name__}: {message}", "warning", "warnings", *current_task())

    _capturing += 1
    sys.stdout, sys.stderr, warnings.showwarning = out, err, show_warning
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)  # DebugLog asks isEnabledFor before it logs
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            out.finish()
            err.finish()
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        sys.stdout, sys.stderr, warnings.showwarning = saved_out, saved_err, saved_showwarning
        _capturing -= 1


def captures_output(method: Callable[..., Any]) -> Callable[..., Any]:
    """Runs a BrowserEngine coroutine method inside :func:`capture_output` of its emit."""

    @functools.wraps(method)
    async def captured(self: Any, *args: Any, **kwargs: Any) -> Any:
        with capture_output(self._emit):
            return await method(self, *args, **kwargs)

    return captured
