"""GraphAsTask: a whole subgraph used as one task.

Its ports derive from the subgraph's open ports:
- inputs: every input port of an inner task that no inner dataflow feeds;
- outputs: every output port of the inner leaves (tasks no dataflow leaves).
A port keeps its inner name when that name is unique among the open ports,
and becomes ``<task_id>__<port>`` when two inner tasks share it.
(Array expansion, the other compound form, lives in the runner.)
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from .graph import TaskGraph
from .task import Task, TaskContext


class GraphAsTask(Task):
    """Runs a subgraph as a single task."""

    category = "compound"

    def __init__(self, subgraph: TaskGraph, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self.subgraph = subgraph
        self._input_map, self._input_model = _open_inputs(subgraph)
        self._output_map, self._output_model = _open_outputs(subgraph)
        super().__init__(id=id, defaults=defaults, **config)

    @property
    def input_model(self) -> type[BaseModel]:
        return self._input_model

    @property
    def output_model(self) -> type[BaseModel]:
        return self._output_model

    @property
    def is_cacheable(self) -> bool:
        inner = all(t.is_cacheable for t in self.subgraph.tasks)
        return inner if self.config_cacheable is None else self.config_cacheable

    @property
    def version(self) -> str:  # type: ignore[override]
        # The cache key must change when the subgraph's meaning does, and only then:
        # not when a canvas moves an inner node (metadata) or builds it in another order.
        from .cache import input_fingerprint

        return input_fingerprint(_meaning(self.subgraph.canonical_json()))[:16]

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        from .runner import TaskGraphRunner

        graph = self.subgraph.copy()
        given = input.model_dump(exclude_unset=False)
        for outer, (task_id, port) in self._input_map.items():
            if outer in given and (outer in input.model_fields_set or given[outer] is not None):
                graph.get_task(task_id).defaults[port] = given[outer]
        runner = TaskGraphRunner(graph, run_id=f"{ctx.run_id}/{self.id}", services=ctx.services,
                                 output_repository=ctx.services.get("output_repository"))
        total = len(graph)

        def forward(event: Any) -> None:
            if event.kind == "task_complete":
                done = sum(1 for s in runner.result.statuses.values() if s.is_terminal)
                ctx.progress(done / total, f"{event.task_id} done")

        runner.events.on("task_complete", forward)
        # Cancelling this coroutine (an abort of the outer run) aborts the inner run too.
        result = await runner.run()
        return {outer: result.outputs[task_id][port]
                for outer, (task_id, port) in self._output_map.items()
                if port in result.outputs.get(task_id, {})}

    def to_json(self) -> dict[str, Any]:
        entry = super().to_json()
        entry["subgraph"] = self.subgraph.to_json()
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], registry: Any = None) -> GraphAsTask:
        from .errors import SerializationError

        if not isinstance(entry.get("subgraph"), dict):
            raise SerializationError(f"GraphAsTask {entry.get('id')!r} has no 'subgraph' object")
        subgraph = TaskGraph.from_json(entry["subgraph"], registry)
        return cls(subgraph, id=entry["id"], defaults=entry.get("defaults") or {},
                   **(entry.get("config") or {}))


def _meaning(doc: dict[str, Any]) -> dict[str, Any]:
    """A canonical graph document without its metadata (positions, notes), at every depth."""
    tasks = []
    for entry in doc["tasks"]:
        entry = {k: v for k, v in entry.items() if k != "metadata"}
        if isinstance(entry.get("subgraph"), dict):
            entry["subgraph"] = _meaning(entry["subgraph"])
        tasks.append(entry)
    return {"tasks": tasks, "dataflows": doc["dataflows"]}


def _naming(candidates: list[tuple[str, str]]) -> dict[str, tuple[str, str]]:
    counts: dict[str, int] = {}
    for _, port in candidates:
        counts[port] = counts.get(port, 0) + 1
    names = {(port if counts[port] == 1 else f"{task_id}__{port}"): (task_id, port)
             for task_id, port in candidates}
    for name, (task_id, port) in names.items():
        if name.startswith("_"):  # pydantic keeps such names private: no port could carry it
            from .errors import GraphError

            raise GraphError(
                f"inner task {task_id!r} shares port {port!r} with another inner task, so "
                f"the GraphAsTask port would be {name!r}; a port name cannot start with '_': "
                f"rename task {task_id!r}")
    return names


def _open_inputs(graph: TaskGraph) -> tuple[dict[str, tuple[str, str]], type[BaseModel]]:
    candidates = []
    for task in graph.tasks:
        fed = {d.target_port for d in graph.dataflows_into(task.id)}
        candidates += [(task.id, p.name) for p in task.input_ports if p.name not in fed]
    mapping = _naming(candidates)
    fields: dict[str, Any] = {}
    for outer, (task_id, port_name) in mapping.items():
        task = graph.get_task(task_id)
        field = task.input_model.model_fields[port_name]
        if port_name in task.defaults or not field.is_required():
            # Optional from outside: the inner default (or the task's own) applies.
            fields[outer] = _optional(field)
        else:
            fields[outer] = (field.annotation, field)
    return mapping, create_model("GraphInput", __config__=ConfigDict(), **fields)


def _open_outputs(graph: TaskGraph) -> tuple[dict[str, tuple[str, str]], type[BaseModel]]:
    candidates = []
    for task_id in graph.sinks():
        task = graph.get_task(task_id)
        candidates += [(task_id, p.name) for p in task.output_ports]
    mapping = _naming(candidates)
    fields: dict[str, Any] = {}
    for outer, (task_id, port_name) in mapping.items():
        field = graph.get_task(task_id).output_model.model_fields[port_name]
        fields[outer] = _optional(field)
    return mapping, create_model("GraphOutput", **fields)


def _optional(field: FieldInfo) -> tuple[Any, FieldInfo]:
    """The same port, optional: keeps its description and semantic format."""
    return (Optional[field.annotation],  # noqa: UP045  (annotation is a runtime object)
            Field(default=None, description=field.description,
                  json_schema_extra=field.json_schema_extra))
