"""Run records: what a resumable run persists as it progresses.

Three collections, so each write is small:

- ``runs``:      run id -> the run's header (status, timestamps, error)
- ``run_graphs``: run id -> the graph JSON the run executes
- ``run_tasks``: ``<run id>/<task id>`` -> one task's record

A task update writes its own row only, never the whole run. A run has one
writer at a time (its runner); the repository remembers the task rows it
wrote so that an update never has to read before it writes.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from ..errors import CorruptRecordError, RecordNotFoundError, StorageError
from .graphs import graph_json
from .protocol import KeyValueStore

RUNS = "runs"
RUN_GRAPHS = "run_graphs"
RUN_TASKS = "run_tasks"

TASK_STATUSES = ("pending", "processing", "completed", "failed", "aborted", "skipped")
RUN_STATUSES = ("pending", "processing", "completed", "failed", "aborted")
_TERMINAL = {"completed", "failed", "aborted", "skipped"}

logger = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    """The JSON spelling pydantic uses for a UTC datetime."""
    return moment.isoformat().replace("+00:00", "Z")


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


class RunSummary(BaseModel):
    """A run's header: what ``RunRepository.list`` returns."""

    run_id: str
    status: str = "pending"
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)
    error: str | None = None

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


class RunRepository:
    """Create, update, get and list run records on any KeyValueStore."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        # run id -> task id -> the row (JSON) last written for it by this repository
        self._written: dict[str, dict[str, dict[str, Any]]] = {}

    async def create(
        self,
        graph: Any,
        *,
        run_id: str | None = None,
        task_ids: Any = (),
        status: str = "pending",
    ) -> RunRecord:
        """Record a new run of ``graph`` (a JSON dict or anything with ``.to_json()``).

        ``task_ids`` get a pending row each, so that listings know the total.
        """
        run_id = _check_run_id(run_id or uuid.uuid4().hex)
        if await self._store.get(RUNS, run_id) is not None:
            raise StorageError(f"a run {run_id!r} already exists; resume it or use a new run id")
        graph = graph_json(graph)
        header = RunSummary(run_id=run_id, status=status)
        now = header.created_at
        rows = {task_id: _pending_row(task_id, _iso(now)) for task_id in task_ids}
        await self._store.put(RUN_GRAPHS, run_id, graph)
        await self._store.put(RUNS, run_id, header.model_dump(mode="json"))
        if rows:
            await self._store.put_many(
                RUN_TASKS, {f"{run_id}/{task_id}": row for task_id, row in rows.items()}
            )
        self._written[run_id] = rows
        tasks = {task_id: TaskRecord(task_id=task_id, updated_at=now) for task_id in rows}
        return RunRecord(**header.model_dump(), graph=graph, tasks=tasks)

    async def get(self, run_id: str) -> RunRecord:
        """The run's full record; RecordNotFoundError if there is none."""
        header = await self._header(run_id)
        graph = await self._store.get(RUN_GRAPHS, run_id)
        if not isinstance(graph, dict):
            raise CorruptRecordError(
                f"the graph of run {run_id!r} is missing or not a JSON object", key=run_id
            )
        tasks: dict[str, TaskRecord] = {}
        for entry in await self._store.scan(RUN_TASKS, f"{run_id}/"):
            task = _parse(TaskRecord, entry.value, entry.key, "task record")
            tasks[task.task_id] = task
        updated_at = max([header.updated_at, *(t.updated_at for t in tasks.values())])
        fields = header.model_dump() | {"updated_at": updated_at}
        return RunRecord(**fields, graph=graph, tasks=tasks)

    async def list(self, *, status: str | None = None) -> list[RunSummary]:
        """Every run's header, newest first. Unreadable headers are logged and left out."""
        runs = []
        for entry in await self._store.scan(RUNS):
            try:
                runs.append(_parse(RunSummary, entry.value, entry.key, "run header"))
            except CorruptRecordError as exc:
                logger.warning("%s", exc)
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
    ) -> None:
        """Write one task's row. Fields not given keep their value.

        Moving to ``processing`` stamps ``started_at`` (and clears the result
        of an earlier attempt); a terminal status stamps ``finished_at``.
        """
        known = self._written.get(run_id)
        if known is None:
            await self._header(run_id)  # once per run and process: refuse unknown runs
            known = self._written[run_id] = {}
        key = f"{run_id}/{task_id}"
        row = known.get(task_id)
        if row is None:
            stored = await self._store.get(RUN_TASKS, key)
            row = (
                _pending_row(task_id, _iso(_now()))
                if stored is None
                else _parse(TaskRecord, stored, key, "task record").model_dump(mode="json")
            )
        # Rows are kept and written as JSON dicts: no model round trip per update.
        row = dict(row)
        row["updated_at"] = now = _iso(_now())
        if status is not _UNCHANGED:
            row["status"] = status = _status(status, TASK_STATUSES)
            if status == "processing":
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
        await self._store.put(RUN_TASKS, key, row)
        known[task_id] = row

    async def delete(self, run_id: str) -> bool:
        """Remove the run and its task rows; True if it existed."""
        self._written.pop(run_id, None)
        await self._store.clear(RUN_TASKS, f"{_check_run_id(run_id)}/")
        await self._store.delete(RUN_GRAPHS, run_id)
        return await self._store.delete(RUNS, run_id)

    async def _header(self, run_id: str) -> RunSummary:
        data = await self._store.get(RUNS, _check_run_id(run_id))
        if data is None:
            raise RecordNotFoundError(f"no run {run_id!r} in this store")
        return _parse(RunSummary, data, run_id, "run header")


def _pending_row(task_id: str, now: str) -> dict[str, Any]:
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


def _check_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not run_id or "/" in run_id:
        raise StorageError(f"a run id must be a non-empty string without '/', not {run_id!r}")
    return run_id


def _parse(model: type[_M], data: Any, key: str, what: str) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CorruptRecordError(
            f"the {what} {key!r} cannot be read: {exc.errors()[0]['msg']} "
            f"at {'.'.join(map(str, exc.errors()[0]['loc'])) or 'top level'}. "
            "Delete it or restore it from a backup.",
            key=key,
        ) from exc
