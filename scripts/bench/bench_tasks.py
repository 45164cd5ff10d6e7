"""The no-op tasks and graph shapes the benchmarks share.

Importing this module registers ``BenchStep`` (cacheable) and
``BenchUncachedStep`` (never cached, so every run does the work); the CLI
benchmark imports it in its child process with ``--import bench_tasks``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

import taskloom as tl


class Step(tl.Task):
    type = "BenchStep"

    class Input(BaseModel):
        x: int = 0

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        return {"x": input.x + 1}


class UncachedStep(Step):
    type = "BenchUncachedStep"
    cacheable = False


def chain(n: int, cls: type[Step] = Step) -> tl.TaskGraph:
    """t0 -> t1 -> … -> t{n-1}, each feeding ``x`` to the next, built in bulk (the
    constructor takes the tasks and the dataflows at once)."""
    return tl.TaskGraph([cls(id=f"t{i}") for i in range(n)],
                        (tl.Dataflow(f"t{i - 1}", "x", f"t{i}", "x") for i in range(1, n)))


def chain_one_by_one(n: int, cls: type[Step] = Step) -> tl.TaskGraph:
    """``chain(n, cls)``, built by one ``add_task`` and one ``add_dataflow`` per task."""
    graph = tl.TaskGraph()
    for i in range(n):
        graph.add_task(cls(id=f"t{i}"))
        if i:
            graph.add_dataflow(tl.Dataflow(f"t{i - 1}", "x", f"t{i}", "x"))
    return graph


def wide(n: int, cls: type[Step] = Step) -> tl.TaskGraph:
    """n independent tasks."""
    return tl.TaskGraph(cls(id=f"t{i}") for i in range(n))


def chain_json(n: int, cls: type[Step] = Step) -> dict[str, Any]:
    """The graph JSON of ``chain(n, cls)``, written without building the graph."""
    tasks = [{"id": f"t{i}", "type": cls.type, "defaults": {}} for i in range(n)]
    flows = [{"source_task_id": f"t{i - 1}", "source_port": "x", "target_task_id": f"t{i}",
              "target_port": "x"} for i in range(1, n)]
    return {"schema_version": 1, "tasks": tasks, "dataflows": flows}
