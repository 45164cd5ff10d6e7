"""Run records: what a resumable run persists as it progresses.

Three collections, so each write is small:

- ``runs``:      run id -> the run's header (status, timestamps, error)
- ``run_graphs``: run id -> the graph JSON the run executes
- ``run_task_ids``: run id -> the ids of the run's tasks (each is pending
  until it has a row)
- ``run_tasks``: ``<run id>/<task id>`` -> one task's record
- ``run_owners``: run id -> the owner lease of the runner executing it

Creating a run writes one record per collection but ``run_tasks``, in one
transaction: a 100,000-task run starts with five writes, not 100,005. A
task update writes its own row only, never the whole run; ``batch()``
gathers many updates into one transaction. The repository remembers the
task rows it wrote or read so that an update never has to read before it
writes.

One owner per run: a runner holds the run's owner lease (``claim``), renews
it while it runs and releases it at the end. Another runner may take the run
over only once the lease has expired, or at once when the owner is known to
be dead: on this host with no such process, or a lease of this process that
no live runner holds. Every change of the lease is a compare-and-set on the
backend, so of two processes claiming at once exactly one wins. Expiry is
judged by the claimer's clock, which is why leases last tens of seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from ..errors import (
    CorruptRecordError,
    RecordNotFoundError,
    RunOwnedError,
    StorageError,
    format_validation_error,
)
from .graphs import graph_json
from .protocol import KeyValueStore

RUNS = "runs"
RUN_GRAPHS = "run_graphs"
RUN_TASKS = "run_tasks"
RUN_TASK_IDS = "run_task_ids"
RUN_OWNERS = "run_owners"

#: Seconds an owner lease lasts unless renewed; runners renew it every third of that.
DEFAULT_LEASE = 30.0

TASK_STATUSES = ("pending", "processing", "completed", "failed", "aborted", "skipped")
RUN_STATUSES = ("pending", "processing", "completed", "failed", "aborted")
_TERMINAL = {"completed", "failed", "aborted", "skipped"}

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)


def _now() -> datetime:
    return datetime.now(UTC)


def _status(value: Any, allowed: tuple[str, ...]) -> str:
    if isinstance(value, Enum):  # TaskStatus and friends are str enums
        value = value.value
    if value not in allowed:
        raise ValueError(f"status must be one of {', '.join(allowed)}, not {value!r}")
    return value


class TaskRecord(BaseModel):
    """One task of a run. ``output`` holds the output itself; ``output_key``
    may instead point at it in the output cache."""

    task_id: str
    status: str = "pending"
    output: dict[str, Any] | None = None
    output_key: str | None = None
    error: str | None = None
    job_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime = Field(default_factory=_now)

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: Any) -> str:
        return _status(value, TASK_STATUSES)


class RunOwner(BaseModel):
    """The owner lease of a run: who executes it, and until when unless renewed."""

    #: ``host:pid`` of the owning process.
    owner: str
    #: Tells apart two runners of one process (and a lease from its successor).
    token: str
    #: Epoch seconds.
    expires_at: float

    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


class RunSummary(BaseModel):
    """A run's header: what ``RunRepository.list`` returns."""

    run_id: str
    status: str = "pending"
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    error: str | None = None
    #: The owner lease, if a runner claimed the run and has not released it
    #: (it may have expired: compare ``owner.expires_at`` with the time).
    owner: RunOwner | None = Field(default=None, exclude=True)

    @field_validator("status", mode="before")
    @classmethod
    def _known_status(cls, value: Any) -> str:
        return _status(value, RUN_STATUSES)


class RunRecord(RunSummary):
    """A whole run: header, graph JSON and every task's record.

    ``updated_at`` is the latest change to the header or to any task.
    """

    graph: dict[str, Any]
    tasks: dict[str, TaskRecord] = Field(default_factory=dict)

    def task_status(self, task_id: str) -> str:
        task = self.tasks.get(task_id)
        return "pending" if task is None else task.status

    def completed_outputs(self) -> dict[str, dict[str, Any]]:
        """Outputs of the completed tasks that stored theirs inline, by task id."""
        return {
            task_id: task.output
            for task_id, task in self.tasks.items()
            if task.status == "completed" and task.output is not None
        }


_UNCHANGED: Any = object()

#: The open ``batch()`` of the current asyncio task: (repository, rows by key).
_BATCH: ContextVar[tuple[Any, dict[str, Any]] | None] = ContextVar("taskloom_run_batch",
                                                                    default=None)
#: Tokens of the owner leases that live runners of this process hold.
_HELD: set[str] = set()


class RunRepository:
    """Create, update, get and list run records on any KeyValueStore.

    ``clock`` (epoch seconds) dates owner leases; tests pass a fake one.
    """

    def __init__(self, store: KeyValueStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        # run id -> task id -> the row (JSON) last written for it by this repository
        self._written: dict[str, dict[str, dict[str, Any]]] = {}
        # runs whose every row is in _written: a task without one there has none
        self._complete: set[str] = set()

    async def create(
        self,
        graph: Any,
        *,
        run_id: str | None = None,
        task_ids: Any = (),
        status: str = "pending",
        lease: float | None = None,
    ) -> RunRecord:
        """Record a new run of ``graph`` (a JSON dict or anything with ``.to_json()``).

        ``task_ids`` are the run's tasks, each pending until it has a row, so
        that listings know the total. With ``lease`` (seconds) the new run is
        owned by this process from the start (``record.owner``; renew and
        release it as for ``claim``). Everything is written in one
        transaction: a write the database refuses leaves no trace of the run,
        and an id no backend can key a record by is refused before any write.
        """
        task_ids = list(task_ids)
        header, graph, owner = await self._create(graph, run_id, task_ids, status, lease)
        tasks = {task_id: _pending_record(task_id, header.created_at) for task_id in task_ids}
        return RunRecord.model_construct(**header.model_dump(), graph=graph, tasks=tasks,
                                         owner=owner)

    async def begin(self, graph: Any, *, run_id: str, task_ids: Any, lease: float,
                    ) -> RunOwner:
        """``create`` for a runner starting a run now: status ``processing``, owned by
        this process; returns the owner lease (and builds no record to return)."""
        _, _, owner = await self._create(graph, run_id, list(task_ids), "processing", lease)
        assert owner is not None
        return owner

    async def _create(self, graph: Any, run_id: str | None, task_ids: list[Any], status: str,
                      lease: float | None) -> tuple[RunSummary, Any, RunOwner | None]:
        run_id = _check_run_id(run_id or uuid.uuid4().hex)
        for task_id in task_ids:
            _check_key_part(task_id, "task id", len(run_id) + 1)
        if await self._store.get(RUNS, run_id) is not None:
            raise StorageError(f"a run {run_id!r} already exists; resume it or use a new run id")
        graph = graph_json(graph)
        header = RunSummary(run_id=run_id, status=status)
        owner = None if lease is None else self._new_lease(lease)
        records: list[tuple[str, str, Any]] = [
            (RUN_GRAPHS, run_id, graph), (RUN_TASK_IDS, run_id, {"task_ids": task_ids})]
        if owner is not None:
            records.append((RUN_OWNERS, run_id, owner.model_dump()))
        # The header last: where writes are not one transaction (files), a crash
        # part-way leaves records that no listing shows, not a run without its graph.
        records.append((RUNS, run_id, header.model_dump(mode="json")))
        await self._store.put_records(records)
        if owner is not None:
            _HELD.add(owner.token)
        self._written[run_id] = {}  # no task has a row yet: updates need not read one
        self._complete.add(run_id)
        return header, graph, owner

    async def get(self, run_id: str) -> RunRecord:
        """The run's full record; RecordNotFoundError if there is none."""
        header = await self._header(run_id)
        graph = await self._store.get(RUN_GRAPHS, run_id)
        if not isinstance(graph, dict):
            raise CorruptRecordError(
                f"the graph of run {run_id!r} is missing or not a JSON object", key=run_id
            )
        listed = await self._store.get(RUN_TASK_IDS, run_id)
        if listed is not None and not (isinstance(listed, dict)
                                       and isinstance(listed.get("task_ids"), list)):
            raise CorruptRecordError(f"the task list of run {run_id!r} is not a list of ids",
                                     key=run_id)
        tasks: dict[str, TaskRecord] = {
            task_id: _pending_record(task_id, header.created_at)
            for task_id in (listed or {}).get("task_ids", ())
        }
        rows: dict[str, dict[str, Any]] = {}
        for entry in await self._store.scan(RUN_TASKS, f"{run_id}/"):
            task = _parse(TaskRecord, entry.value, entry.key, "task record")
            tasks[task.task_id] = task
            rows[task.task_id] = entry.value
        if run_id not in self._written:
            # Whoever reads a run before updating it (resume) then writes without reading.
            self._written[run_id] = rows
            self._complete.add(run_id)
        updated_at = max([header.updated_at, *(t.updated_at for t in tasks.values())])
        fields = header.model_dump() | {"updated_at": updated_at}
        return RunRecord(**fields, graph=graph, tasks=tasks, owner=await self.owner(run_id))

    async def list(self, *, status: str | None = None) -> list[RunSummary]:
        """Every run's header, newest first. Unreadable headers are logged and left out."""
        runs = []
        owners = {}
        for entry in await self._store.scan(RUN_OWNERS):
            try:
                owners[entry.key] = _parse(RunOwner, entry.value, entry.key, "owner lease")
            except CorruptRecordError as exc:
                logger.warning("%s", exc)
        for entry in await self._store.scan(RUNS):
            try:
                run = _parse(RunSummary, entry.value, entry.key, "run header")
            except CorruptRecordError as exc:
                logger.warning("%s", exc)
                continue
            run.owner = owners.get(run.run_id)
            runs.append(run)
        if status is not None:
            wanted = _status(status, RUN_STATUSES)
            runs = [run for run in runs if run.status == wanted]
        return sorted(runs, key=lambda run: (run.created_at, run.run_id), reverse=True)

    async def set_status(self, run_id: str, status: str, *, error: str | None = None) -> None:
        """Change the run's status (and error message)."""
        header = await self._header(run_id)
        header.status = _status(status, RUN_STATUSES)
        header.error = error
        header.updated_at = _now()
        await self._store.put(RUNS, run_id, header.model_dump(mode="json"))
        if header.status in _TERMINAL:
            self._written.pop(run_id, None)
            self._complete.discard(run_id)

    @contextlib.asynccontextmanager
    async def batch(self) -> AsyncIterator[None]:
        """Gather the ``update_task`` calls made inside into one transaction.

        The rows are written on leaving the block (the last version of each
        row once); an error inside writes none of them. Only the asyncio task
        that opened the batch writes into it.
        """
        rows: dict[str, Any] = {}
        token = _BATCH.set((self, rows))
        try:
            yield
        finally:
            _BATCH.reset(token)
        if rows:
            await self._store.put_many(RUN_TASKS, rows)

    async def update_task(
        self,
        run_id: str,
        task_id: str,
        *,
        status: str = _UNCHANGED,
        output: dict[str, Any] | None = _UNCHANGED,
        output_key: str | None = _UNCHANGED,
        error: str | None = _UNCHANGED,
        job_id: str | None = _UNCHANGED,
        at: float | None = None,
        started_at: float | None = None,
    ) -> None:
        """Write one task's row. Fields not given keep their value.

        Moving to ``processing`` stamps ``started_at`` (and clears the result
        of an earlier attempt); a terminal status stamps ``finished_at``.
        ``at`` (epoch seconds) is when the change happened, if not now;
        ``started_at`` says that an attempt started then, for one update that
        sums up a start and what followed it.
        """
        known = self._written.get(run_id)
        if known is None:
            await self._header(run_id)  # once per run and process: refuse unknown runs
            known = self._written[run_id] = {}
        key = f"{run_id}/{task_id}"
        row = known.get(task_id)
        if row is None:
            stored = None if run_id in self._complete else await self._store.get(RUN_TASKS, key)
            row = (
                _pending_row(task_id, time.time())
                if stored is None
                else _parse(TaskRecord, stored, key, "task record").model_dump(mode="json")
            )
        # Rows are kept and written as JSON dicts: no model round trip per update.
        row = dict(row)
        # Times are epoch seconds (TaskRecord reads them, and ISO text from older rows, as
        # UTC datetimes): formatting ISO text would cost as much as encoding the row.
        row["updated_at"] = now = time.time() if at is None else at
        if started_at is not None:
            row.update(started_at=started_at, finished_at=None, error=None, output=None,
                       output_key=None)
        if status is not _UNCHANGED:
            row["status"] = status = _status(status, TASK_STATUSES)
            if status == "processing":
                if started_at is None:
                    row.update(started_at=now, finished_at=None, error=None, output=None)
                    row["output_key"] = None
            elif status in _TERMINAL:
                row["finished_at"] = now
        if output is not _UNCHANGED:
            if output is not None and not isinstance(output, dict):
                raise StorageError(f"the output of task {task_id!r} must be a dict or None")
            row["output"] = output
        for name, value in (("output_key", output_key), ("error", error), ("job_id", job_id)):
            if value is not _UNCHANGED:
                row[name] = value
        batch = _BATCH.get()
        if batch is not None and batch[0] is self:
            batch[1][key] = row
        else:
            await self._store.put(RUN_TASKS, key, row)
        known[task_id] = row

    async def delete(self, run_id: str) -> bool:
        """Remove the run, its task rows and its owner lease; True if it existed."""
        self._written.pop(run_id, None)
        self._complete.discard(run_id)
        await self._store.clear(RUN_TASKS, f"{_check_run_id(run_id)}/")
        await self._store.delete(RUN_GRAPHS, run_id)
        await self._store.delete(RUN_TASK_IDS, run_id)
        await self._store.delete(RUN_OWNERS, run_id)
        return await self._store.delete(RUNS, run_id)

    # -- the owner lease ----------------------------------------------------------------

    async def owner(self, run_id: str) -> RunOwner | None:
        """The run's owner lease as stored (possibly expired), or None."""
        data = await self._store.get(RUN_OWNERS, _check_run_id(run_id))
        return None if data is None else _parse(RunOwner, data, run_id, "owner lease")

    async def claim(self, run_id: str, *, lease: float = DEFAULT_LEASE,
                    take_over: bool = False) -> RunOwner:
        """Become the run's owner for ``lease`` seconds.

        Refuses with RunOwnedError while another owner's lease is live, unless
        that owner is known to be dead (see the module docstring) or
        ``take_over=True``: the caller knows it is (the page: the run's Web
        Lock was free).
        """
        await self._header(run_id)
        for _ in range(3):
            stored = await self._store.get(RUN_OWNERS, run_id)
            current = None if stored is None else _parse(RunOwner, stored, run_id,
                                                          "owner lease")
            if current is not None and not take_over and self._live(current):
                raise self._owned(run_id, current)
            claimed = self._new_lease(lease)
            if await self._store.compare_and_set(RUN_OWNERS, run_id, stored,
                                                 claimed.model_dump()):
                _HELD.add(claimed.token)
                return claimed
        # Changed under us three times: someone else is claiming it right now.
        current = await self.owner(run_id)
        raise self._owned(run_id, current or claimed)

    async def renew(self, run_id: str, held: RunOwner, *,
                    lease: float = DEFAULT_LEASE) -> RunOwner:
        """Extend a lease this runner holds; RunOwnedError if it was taken over."""
        renewed = held.model_copy(update={"expires_at": self._clock() + lease})
        if await self._store.compare_and_set(RUN_OWNERS, run_id, held.model_dump(),
                                             renewed.model_dump()):
            return renewed
        _HELD.discard(held.token)
        current = await self.owner(run_id)
        raise RunOwnedError(
            f"run {run_id!r} lost its owner lease"
            + (f" to {current.owner}" if current is not None else "")
            + "; this runner stops so that two runners never execute it at once",
            owner=None if current is None else current.owner,
            expires_at=None if current is None else current.expires_at,
        )

    async def release(self, run_id: str, held: RunOwner) -> bool:
        """Give the run up; False if the lease was no longer this runner's."""
        _HELD.discard(held.token)
        return await self._store.compare_and_set(RUN_OWNERS, run_id, held.model_dump(), None)

    def is_expired(self, lease: RunOwner) -> bool:
        return lease.expires_at <= self._clock()

    def _new_lease(self, seconds: float) -> RunOwner:
        if not seconds > 0:
            raise ValueError(f"an owner lease lasts a positive number of seconds, not {seconds}")
        return RunOwner(owner=process_owner(), token=uuid.uuid4().hex,
                        expires_at=self._clock() + seconds)

    def _live(self, lease: RunOwner) -> bool:
        return lease.expires_at > self._clock() and not _known_dead(lease)

    def _owned(self, run_id: str, lease: RunOwner) -> RunOwnedError:
        left = max(0.0, lease.expires_at - self._clock())
        when = lease.expires().strftime("%Y-%m-%d %H:%M:%S UTC")
        return RunOwnedError(
            f"run {run_id!r} is being run by {lease.owner}: its owner lease expires at "
            f"{when} (in {left:.0f} s) unless renewed. Wait for that run to finish, or "
            "resume after the lease expires; if you know its process is dead, take the run "
            "over (`taskloom resume --take-over`, or resume(..., take_over=True)).",
            owner=lease.owner,
            expires_at=lease.expires_at,
        )

    async def _header(self, run_id: str) -> RunSummary:
        data = await self._store.get(RUNS, _check_run_id(run_id))
        if data is None:
            raise RecordNotFoundError(f"no run {run_id!r} in this store")
        return _parse(RunSummary, data, run_id, "run header")


def process_owner() -> str:
    """This process as a lease owner: ``host:pid``."""
    try:
        host = socket.gethostname()
    except OSError:  # pragma: no cover
        host = "localhost"
    return f"{host}:{os.getpid()}"


def _known_dead(lease: RunOwner) -> bool:
    """Whether the lease's owner surely stopped: it ran on this host and is gone."""
    if sys.platform == "emscripten":
        return False  # every tab is "pid 42" here: the page asks Web Locks instead
    host, _, pid_text = lease.owner.rpartition(":")
    mine_host, _, mine_pid = process_owner().rpartition(":")
    if host != mine_host or not pid_text.isdigit():
        return False
    if pid_text == mine_pid:
        return lease.token not in _HELD  # a runner of this process that has ended
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError, OSError):
        return False  # it exists (owned by another user), or we cannot tell
    return False


def _pending_record(task_id: str, now: datetime) -> TaskRecord:
    # Built without validation: a run of 100,000 tasks starts with 100,000 of these.
    return TaskRecord.model_construct(
        task_id=task_id, status="pending", output=None, output_key=None, error=None,
        job_id=None, started_at=None, finished_at=None, updated_at=now)


def _pending_row(task_id: str, now: float) -> dict[str, Any]:
    """The JSON of a new TaskRecord (as ``TaskRecord(...).model_dump(mode="json")``)."""
    return {
        "task_id": task_id,
        "status": "pending",
        "output": None,
        "output_key": None,
        "error": None,
        "job_id": None,
        "started_at": None,
        "finished_at": None,
        "updated_at": now,
    }


#: Longest key (UTF-8 bytes) of a run record: every backend can key that much (a
#: Postgres index row holds about 2.7 kB), and no sane id comes near it.
MAX_KEY_BYTES = 1000


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id or "/" in run_id:
        raise StorageError(f"a run id must be a non-empty string without '/', not {run_id!r}")
    return _check_key_part(run_id, "run id", 0)


def _check_key_part(text: Any, what: str, prefix_bytes: int) -> str:
    """Refuse, before anything is written, an id that no backend can key a record by."""
    if not isinstance(text, str):
        raise StorageError(f"a {what} must be a string, not {type(text).__name__}")
    if "\x00" in text:
        raise StorageError(f"{what} {text[:60]!r} holds a NUL character, which Postgres text "
                           "cannot store; rename it")
    size = len(text.encode("utf-8", "surrogatepass")) + prefix_bytes
    if size > MAX_KEY_BYTES:
        raise StorageError(f"{what} {text[:40]!r}… is too long to key a run record "
                           f"({size} bytes with the run id, at most {MAX_KEY_BYTES}); "
                           "use a shorter id")
    return text


def _parse(model: type[_M], data: Any, key: str, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problem = format_validation_error(exc, where=f"the {what} {key!r} cannot be read")
        raise CorruptRecordError(f"{problem}. Delete it or restore it from a backup.",
                                 key=key) from exc
