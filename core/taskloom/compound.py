"""GraphAsTask: a whole subgraph used as one task.

Its ports derive from the subgraph's open ports:
- inputs: every input port of an inner task that no inner dataflow feeds;
- outputs: every output port of the inner leaves (tasks no dataflow leaves).
A port keeps its inner name when that name is unique among the open ports,
and becomes ``<task_id>__<port>`` when two inner tasks share it.
(Array expansion, the other compound form, lives in the runner.)

:class:`Body` runs such a subgraph once: a GraphAsTask's body, and each item,
iteration or alternative of the control-flow constructs (tasks/control.py).
Its inner tasks' stream deltas go out as the outer task's ``task_stream``
events, the inner task named: ``{port, delta, index, inner}`` plus the step
(``item``, ``iteration`` or ``alternative``) when the body runs per step.
``inner`` is a path (``a/b`` through nested bodies, ``a[2]/b`` where ``a``
ran per step) and each stream — one path, port and step — counts its own
``index`` from 0. An inner sink's streaming output that is a GraphAsTask's
own output streams as that output, so the tasks reading it get its deltas.
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
    #: Its inner tasks' stream deltas go out as its own task_stream events (the runner asks).
    forwards_streams = True

    def __init__(self, subgraph: TaskGraph, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self.subgraph = subgraph
        body = getattr(self, "_body", None)  # a subclass (Map, While) may have made it
        self._body = body if isinstance(body, Body) and body.graph is subgraph \
            else Body(subgraph)
        self._input_model = self._body.input_model
        self._output_model = self._body.output_model
        super().__init__(id=id, defaults=defaults, **config)

    @property
    def input_model(self) -> type[BaseModel]:
        return self._input_model

    @property
    def output_model(self) -> type[BaseModel]:
        return self._output_model

    @property
    def is_cacheable(self) -> bool:
        inner = self._body.cacheable
        return inner if self.config_cacheable is None else self.config_cacheable

    @property
    def version(self) -> str:  # type: ignore[override]
        # The cache key must change when the subgraph's meaning does, and only then:
        # not when a canvas moves an inner node (metadata) or builds it in another order.
        return self._body.fingerprint()

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        given = input.model_dump(exclude_unset=False)
        values = {outer: given[outer] for outer in self._body.input_map
                  if outer in given and (outer in input.model_fields_set
                                         or given[outer] is not None)}
        # Cancelling this coroutine (an abort of the outer run) aborts the inner run too.
        return await self._body.run(values, ctx, f"{ctx.run_id}/{self.id}", progress=True,
                                    own_streams=True)

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


#: The details of a ``task_stream`` event that say which step of its task sent it.
STEP_KEYS = ("item", "iteration", "alternative")


class Body:
    """A subgraph run through its open ports, once per call, as a run of its own that
    shares the outer run's services and cache."""

    def __init__(self, graph: TaskGraph):
        self.graph = graph
        self.input_map, self.input_model = _open_inputs(graph)
        self.output_map, self.output_model = _open_outputs(graph)

    @property
    def cacheable(self) -> bool:
        return all(t.is_cacheable for t in self.graph.tasks)

    def fingerprint(self) -> str:
        from .cache import input_fingerprint

        return input_fingerprint(_meaning(self.graph.canonical_json()))[:16]

    async def run(self, values: dict[str, Any], ctx: TaskContext, run_id: str, *,
                  step: tuple[str, int] | None = None, progress: bool = False,
                  own_streams: bool = False) -> dict[str, Any]:
        """Run the body with ``values`` on its open inputs (outer port names); answer its
        open outputs. ``step`` (("item", 3)) tags the inner streams' events;
        ``progress`` reports inner completions as the outer task's progress;
        ``own_streams`` streams inner sinks' outputs as the outer task's own ports."""
        from .runner import TaskGraphRunner

        graph = self.graph.copy()
        for name, value in values.items():
            task_id, port = self.input_map[name]
            graph.get_task(task_id).defaults[port] = value
        runner = TaskGraphRunner(graph, run_id=run_id, services=ctx.services,
                                 output_repository=ctx.services.get("output_repository"))
        if ctx._on_stream is not None:
            runner.events.on("task_stream", self._forwarder(ctx, step, own_streams))
        if progress:
            total = len(graph)

            def forward(event: Any) -> None:
                done = sum(1 for s in runner.result.statuses.values() if s.is_terminal)
                ctx.progress(done / total, f"{event.task_id} done")

            runner.events.on("task_complete", forward)
        result = await runner.run()
        return {outer: result.outputs[task_id][port]
                for outer, (task_id, port) in self.output_map.items()
                if port in result.outputs.get(task_id, {})}

    def _forwarder(self, ctx: TaskContext, step: tuple[str, int] | None,
                   own_streams: bool) -> Any:
        report = ctx._on_stream
        own = {inner: outer for outer, inner in self.output_map.items()} if own_streams \
            else {}

        def forward(event: Any) -> None:
            details = event.details
            port, delta = details["port"], details["delta"]
            nested = "inner" in details or any(k in details for k in STEP_KEYS)
            if own and not nested and (event.task_id, port) in own:
                report(own[(event.task_id, port)], delta)  # one of the outer task's ports
                return
            segment = event.task_id + "".join(f"[{details[k]}]" for k in STEP_KEYS
                                              if k in details)
            where = {"inner": f"{segment}/{details['inner']}" if "inner" in details
                     else segment}
            if step is not None:
                where[step[0]] = step[1]
            report(port, delta, where)

        return forward


def _meaning(doc: dict[str, Any]) -> dict[str, Any]:
    """A graph document in canonical order without its metadata (positions, notes), at
    every depth: a GraphAsTask's, Map's … ``subgraph`` and a Fallback's ``alternatives``."""
    tasks = []
    for entry in sorted(doc["tasks"], key=lambda e: e["id"]):
        entry = {k: v for k, v in entry.items() if k != "metadata"}
        if isinstance(entry.get("subgraph"), dict):
            entry["subgraph"] = _meaning(entry["subgraph"])
        if isinstance(entry.get("alternatives"), list):
            entry["alternatives"] = [_meaning(a) for a in entry["alternatives"]]
        tasks.append(entry)
    # sorted() is stable: the dataflows into one port keep their (fan-in) order.
    flows = sorted(doc["dataflows"], key=lambda d: (d["target_task_id"], d["target_port"]))
    return {"tasks": tasks, "dataflows": flows}


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
