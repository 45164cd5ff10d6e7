"""Dataflow: one edge, from a task's output port to another task's input port."""

from __future__ import annotations

from typing import Any, NamedTuple


class Dataflow(NamedTuple):
    source_task_id: str
    source_port: str
    target_task_id: str
    target_port: str

    @property
    def id(self) -> str:
        return (f"{self.source_task_id}[{self.source_port}]"
                f"->{self.target_task_id}[{self.target_port}]")

    def to_json(self) -> dict[str, Any]:
        return self._asdict()

    def __str__(self) -> str:
        return self.id
