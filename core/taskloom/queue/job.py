"""Job: one unit of queued work, and the statuses it moves through.

    pending ──claim──▶ processing ──▶ completed
       ▲                  │  │ └────▶ failed   (permanent error; attempts or delivery cap used up)
       └──retry/lease─────┘  └─abort─▶ aborting ──▶ aborted
    pending ──abort──▶ aborted

Times are seconds since the epoch on the *storage's* clock (SQLite's
julianday, Postgres' clock_timestamp), so that leases mean the same thing to
every worker whatever its own clock says.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    run_id: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    def __post_init__(self) -> None:
        self.status = JobStatus(self.status)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELDS}
        out["status"] = str(self.status)
        return out


_FIELDS = list(Job.__dataclass_fields__)
JOB_COLUMNS = tuple(_FIELDS)
