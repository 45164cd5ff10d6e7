"""Run recording: the persisted run record, kept up to date from the runner's events.

A :class:`RunRecorder` listens to one run's task events and writes what they
say to ``store.runs``. Writes are batched: changes are staged in memory and
flushed in one transaction every ``FLUSH_INTERVAL`` seconds, at the end of
the run, and at once for a queued job's id (so that a resume re-attaches to
the job instead of queueing it again). A 100,000-task chain then costs a few
hundred transactions instead of 200,000.

Resume stays at-least-once: a task is done on resume only if its completion
reached the store, so a task that finished within the last flush interval
before a crash runs again, as one that was running does. A flush is a prefix
of the run's history (changes are written in the order they happened), so a
resumed run never sees a task completed whose inputs are not.

While the run runs, the recorder holds the run's owner lease and renews it
(see ``storage/runs.py``). If a write fails, the run is aborted (work that
cannot be recorded would only be done again) and ``run()`` raises the storage
error; tasks whose completion never reached the store are reported failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .errors import RunOwnedError, StorageError, TaskloomError
from .events import Event, EventEmitter, EventKind
from .task import TaskStatus

if TYPE_CHECKING:
    from collections.abc import Callable

    from .graph import TaskGraph
    from .result import RunResult
    from .storage.runs import RunOwner

#: Seconds a change may wait in memory before it is written.
FLUSH_INTERVAL = 0.02

_RECORDED = {
    EventKind.TASK_START: "processing",
    EventKind.TASK_COMPLETE: "completed",
    EventKind.TASK_ERROR: "failed",
    EventKind.TASK_ABORT: "aborted",
    EventKind.TASK_SKIPPED: "skipped",
}


class RunRecorder:
    """Keeps one run's record in ``store`` from the events of its runner."""

    def __init__(self, store: Any, run_id: str, graph: TaskGraph, result: RunResult, *,
                 lease: float, owner: RunOwner | None, abort: Callable[[str], None],
                 logger: logging.Logger) -> None:
        self.store = store
        self.run_id = run_id
        self.graph = graph
        self.result = result
        #: The first write or lease error; ``close()`` raises it.
        self.error: TaskloomError | None = None
        self._lease = lease
        self._owner = owner
        self._lost = False
        self._abort = abort
        self._logger = logger
        # task id -> the changes not yet written, oldest first
        self._staged: dict[str, list[dict[str, Any]]] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Future | None = None
        self._urgent = False
        self._renewing: asyncio.Task | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # -- lifecycle -----------------------------------------------------------------------

    async def open(self, events: EventEmitter, *, resuming: bool) -> None:
        """Create the record (or take up an existing one) and start listening."""
        runs = self.store.runs
        if not resuming:
            self._owner = await runs.begin(self.graph, run_id=self.run_id,
                                           task_ids=self.graph.task_ids(), lease=self._lease)
        else:
            if self._owner is None:
                # run(outputs=...) without resume(): the caller has decided that it owns
                # the run (the page, holding the run's Web Lock).
                self._owner = await runs.claim(self.run_id, lease=self._lease, take_over=True)
            else:  # claimed by TaskGraphRunner.resume(): still ours?
                self._owner = await runs.renew(self.run_id, self._owner, lease=self._lease)
            try:
                await runs.set_status(self.run_id, "processing")
            except BaseException:
                await self._release()
                raise
        for kind in _RECORDED:
            self._unsubscribe.append(events.on(kind, self._on_event))
        self._renewing = asyncio.ensure_future(self._renew())

    async def close(self, status: str, error: str | None) -> None:
        """Write what is left and the run's final status, then give the run up.

        Raises the first storage or lease error of the run, if there was one.
        """
        for off in self._unsubscribe:
            off()
        self._unsubscribe.clear()
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        if self._lost:
            # Another runner owns the run now: its record is no longer ours to write.
            self._staged.clear()
            self._report_unwritten({})
            raise self.error
        unwritten, self._staged = self._staged, {}
        try:
            if unwritten:  # also retries what an earlier failed flush left
                await self._write(unwritten)
            unwritten = {}
        except Exception as exc:
            self.error = self.error or (exc if isinstance(exc, TaskloomError) else StorageError(
                f"the record of run {self.run_id!r} could not be written: {exc}"))
        if self.error is not None:
            # The header still says how the run ended, if the store takes that write:
            # a run whose rows were refused must not stay "processing".
            status = "aborted" if status == "aborted" else "failed"
            if str(self.error) not in (error or ""):
                error = f"{error}; {self.error}" if error else str(self.error)
        try:
            await self.store.runs.set_status(self.run_id, status, error=error)
        except TaskloomError as exc:
            self.error = self.error or exc
        finally:
            await self._release()
        if self.error is not None:
            self._report_unwritten(unwritten)
            raise self.error

    # -- listening ---------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        status = _RECORDED[event.kind]
        change: dict[str, Any] = {"status": status, "at": event.time}
        if status == "completed":
            change["output"] = event.output
        elif status == "failed":
            change["error"] = event.error
        elif status == "aborted":
            change["error"] = event.message
        self._stage(event.task_id, change)

    def on_job(self, task_id: str, queue_name: str, job_id: str) -> None:
        """A task put a job on a queue: the record keeps its id, written at once."""
        self._stage(task_id, {"job_id": f"{queue_name}/{job_id}"}, urgent=True)

    # -- writing -----------------------------------------------------------------------

    def _stage(self, task_id: str, change: dict[str, Any], urgent: bool = False) -> None:
        if self._lost:
            return
        changes = self._staged.get(task_id)
        if changes is None:
            self._staged[task_id] = [change]
        else:
            changes.append(change)
        if urgent:
            self._flush_now()
        elif self._timer is None and self._flushing is None and self.error is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL,
                                                                self._flush_now)

    def _flush_now(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush())
        else:
            self._urgent = True  # the running flush goes round once more

    async def _flush(self) -> None:
        try:
            while self._staged and self.error is None:
                self._urgent = False
                batch, self._staged = self._staged, {}
                try:
                    await self._write(batch)
                except Exception as exc:  # kept for close(), which retries the batch
                    for task_id, changes in self._staged.items():
                        batch.setdefault(task_id, []).extend(changes)
                    self._staged = batch
                    self._failed(exc if isinstance(exc, TaskloomError) else StorageError(
                        f"the record of run {self.run_id!r} could not be written: {exc}"))
                    return
                if not self._urgent:
                    break  # what came in meanwhile waits for the next tick
        finally:
            self._flushing = None
            if self._staged and self.error is None and self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL,
                                                                    self._flush_now)

    async def _write(self, batch: dict[str, list[dict[str, Any]]]) -> None:
        runs, run_id = self.store.runs, self.run_id
        async with runs.batch():
            for task_id, changes in batch.items():
                if len(changes) == 1:
                    await runs.update_task(run_id, task_id, **changes[0])
                    continue
                # One update sums up the task's changes since the last flush.
                merged: dict[str, Any] = {}
                for change in changes:
                    if change.get("status") == "processing":
                        merged["started_at"] = change["at"]
                    merged.update(change)
                await runs.update_task(run_id, task_id, **merged)

    def _failed(self, error: TaskloomError) -> None:
        if self.error is None:
            self.error = error
            self._logger.warning("run %s: %s; aborting the run", self.run_id, error)
            self._abort(f"the run record cannot be written: {error}")

    def _report_unwritten(self, unwritten: dict[str, list[dict[str, Any]]]) -> None:
        """Tasks that finished but whose completion the store never got are not done."""
        result = self.result
        for task_id, changes in unwritten.items():
            if result.statuses.get(task_id) is not TaskStatus.COMPLETED or not any(
                    change.get("status") == "completed" for change in changes):
                continue
            result.statuses[task_id] = TaskStatus.FAILED
            result.outputs.pop(task_id, None)
            result.errors[task_id] = StorageError(
                f"task {task_id!r} finished, but its completion could not be recorded "
                f"({self.error}); resuming the run runs it again")

    # -- the owner lease ---------------------------------------------------------------

    async def _renew(self) -> None:
        runs = self.store.runs
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                self._owner = await runs.renew(self.run_id, self._owner, lease=self._lease)
            except RunOwnedError as exc:
                self._lost = True
                self._staged.clear()
                self._failed(exc)
                return
            except TaskloomError as exc:
                # The store is down for now; the lease still counts until it expires.
                if runs.is_expired(self._owner):
                    self._failed(exc)
                    return
                self._logger.warning("run %s: could not renew its owner lease: %s",
                                     self.run_id, exc)

    async def _release(self) -> None:
        if self._owner is None:
            return
        owner, self._owner = self._owner, None
        try:
            await self.store.runs.release(self.run_id, owner)
        except TaskloomError as exc:  # it expires by itself
            self._logger.warning("run %s: could not release its owner lease: %s",
                                 self.run_id, exc)
