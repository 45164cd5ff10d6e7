"""Job: one unit of queued work, and the statuses it moves through.

    pending ──claim──▶ processing ──▶ completed
       ▲                  │  │ └────▶ failed   (permanent error; attempts or delivery cap used up)
       └──retry/lease─────┘  └─abort─▶ aborting ──▶ aborted
    pending ──abort──▶ aborted

Times are seconds since the epoch on the *storage's* clock (SQLite's
julianday, Postgres' clock_timestamp), so that leases mean the same thing to
every worker whatever its own clock says.

A job's error is kept twice over: ``error`` is the text a person reads
("ContextLengthError: …", or the storage's own reason such as "lease
expired…"), and ``error_data`` is the same failure as data (``JobFailure``:
type, message, retryable, retry_after, details) when a job body raised it —
what a producer rebuilds the exception from. A job stored before
``error_data`` existed, or ended by the storage itself, has None there.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    ABORTING = "aborting"
    ABORTED = "aborted"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.ABORTED})

#: Jobs with these statuses take part in de-duplication: adding the same input
#: again returns them. A failed or aborted job does not block a fresh try.
ACTIVE_STATUSES = frozenset({JobStatus.PENDING, JobStatus.PROCESSING, JobStatus.ABORTING,
                             JobStatus.COMPLETED})


@dataclass(frozen=True)
class JobFailure:
    """An exception a job body raised, as data that every backend can store."""

    #: The exception's class name (``ContextLengthError``); a producer finds the
    #: class by this name among taskloom's errors.
    type: str
    message: str
    retryable: bool = True
    #: Seconds the error asked to wait before another try (a Retry-After).
    retry_after: float | None = None
    #: The exception's own JSON-scalar attributes: a provider's ``status_code``,
    #: ContextLengthError's ``n_tokens`` and ``limit``, a missing model's ``path``.
    details: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    @classmethod
    def of(cls, exc: BaseException, *, retryable: bool = True,
           retry_after: float | None = None) -> JobFailure:
        details = {name: value for name, value in vars(exc).items()
                   if not name.startswith("_") and name not in ("retryable", "retry_after")
                   and _is_json_scalar(value)}
        extra = getattr(exc, "details", None)
        if isinstance(extra, dict):  # a provider's own details, where it attaches them
            details.pop("details", None)
            details.update({str(k): v for k, v in extra.items() if _is_json_scalar(v)})
        return cls(type=type(exc).__name__, message=str(exc), retryable=retryable,
                   retry_after=retry_after, details=details)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobFailure:
        return cls(type=str(data.get("type", "")), message=str(data.get("message", "")),
                   retryable=bool(data.get("retryable", True)),
                   retry_after=data.get("retry_after"), details=dict(data.get("details") or {}))

    @classmethod
    def from_json(cls, text: str | None) -> JobFailure | None:
        return None if text is None else cls.from_dict(json.loads(text))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def _is_json_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return value is None or isinstance(value, str | int | bool)


@dataclass
class Job:
    id: str
    queue: str
    task_type: str
    input: dict[str, Any]
    fingerprint: str
    status: JobStatus = JobStatus.PENDING
    #: Attempts that ended without success (an error that was retried, an expired lease).
    attempts: int = 0
    max_attempts: int = 3
    #: Times a worker claimed the job. Each claim gets the next number, and a
    #: worker's heartbeat or completion must carry it (fencing).
    deliveries: int = 0
    max_deliveries: int = 10
    run_after: float = 0.0
    deadline: float | None = None
    lease_expires_at: float | None = None
    worker_id: str | None = None
    progress: float = 0.0
    progress_message: str | None = None
    output: dict[str, Any] | None = None
    error: str | None = None
    error_data: JobFailure | None = None
    run_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)
        if isinstance(self.error_data, dict):  # as read back from a backend's JSON
            self.error_data = JobFailure.from_dict(self.error_data)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELDS}
        out["status"] = str(self.status)
        out["error_data"] = None if self.error_data is None else self.error_data.to_dict()
        return out


_FIELDS = list(Job.__dataclass_fields__)
JOB_COLUMNS = tuple(_FIELDS)
