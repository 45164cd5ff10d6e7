"""RunResult: what a run produced, by task id."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import TaskloomError
from .task import TaskStatus

if TYPE_CHECKING:
    from .graph import TaskGraph


@dataclass(repr=False)
class RunResult:
    """What a run produced: outputs, statuses and errors by task id."""

    run_id: str
    graph: TaskGraph
    status: str = "running"
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    statuses: dict[str, TaskStatus] = field(default_factory=dict)
    errors: dict[str, TaskloomError] = field(default_factory=dict)
    #: Errors of failed tasks whose ``error`` port is connected: routed, so not run failures.
    handled: dict[str, TaskloomError] = field(default_factory=dict)
    cache_hits: set[str] = field(default_factory=set)
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "completed"

    def leaves(self) -> dict[str, dict[str, Any]]:
        """Outputs of the graph's leaves (tasks no dataflow leaves)."""
        return {t: self.outputs[t] for t in self.graph.sinks() if t in self.outputs}

    @property
    def output(self) -> dict[str, Any]:
        """The output of the only leaf; an error if the graph has several."""
        leaves = self.leaves()
        if len(leaves) != 1:
            raise ValueError(f"the graph has {len(leaves)} finished leaves; use .leaves() "
                             "or .outputs[task_id]")
        return next(iter(leaves.values()))

    def __getitem__(self, task_id: str) -> dict[str, Any]:
        return self.outputs[task_id]

    def __repr__(self) -> str:
        # Short and O(1) on purpose: asyncio.run reprs its finished main task (and so its
        # result) on the way out, and a run may hold 100,000 tasks.
        return (f"<RunResult {self.run_id} {self.status} tasks={len(self.statuses)} "
                f"errors={len(self.errors)}>")

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in self.statuses.values():
            counts[str(status)] = counts.get(str(status), 0) + 1
        return counts
