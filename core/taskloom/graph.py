"""TaskGraph: tasks and the dataflows between them, on a networkx DiGraph.

The DiGraph has a node per task and one edge per pair of tasks that dataflows
join, however many: which ports they join, in what order, is taskloom's own
index (``_inputs``), so the graph holds no per-dataflow dicts.

Every mutation validates first and changes the graph only once it is known to
be valid, so an error leaves the graph exactly as it was. All traversals are
iterative (networkx's topological sort and BFS), so a 100,000-task chain is
fine.

Fan-in: a list-typed input port accepts several dataflows; its value is built
in the order the dataflows were added.
"""

from __future__ import annotations

import copy
import gc
import io
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .dataflow import Dataflow
from .errors import (
    CycleError,
    DataflowError,
    DuplicateTaskError,
    GraphError,
    PortError,
    PortTypeError,
    SchemaVersionError,
    SerializationError,
    TaskloomError,
    TaskNotFoundError,
    format_path,
    format_validation_error,
)
from .ports import connection_mode, describe
from .registry import registry as default_registry
from .transforms import check_transform

if TYPE_CHECKING:
    import networkx

    from .registry import TaskRegistry
    from .task import Task

SCHEMA_VERSION = 1

#: Every task's extra output: a dataflow from it carries the task's error
#: ``{type, message, task_id}`` when the task fails, and the run goes on down it.
ERROR_PORT = "error"

#: Graph JSON nested deeper than this is refused when loaded. pydantic, the
#: stores' JSON encoders and a GraphAsTask's copy of its subgraph all recurse on
#: the document, so a limit well under Python's recursion limit makes a deep
#: document a clear error instead of a RecursionError somewhere later.
MAX_JSON_DEPTH = 200

#: CPython refuses to convert integers longer than this to or from text.
_MAX_INT_BITS = int(4300 * math.log2(10))

# Set while a document is being loaded: a GraphAsTask's subgraph is part of the
# document already checked, so nested from_json calls do not scan it again.
_loading: ContextVar[bool] = ContextVar("taskloom_graph_loading", default=False)


_networkx: Any = None
_graph_class: Any = None
#: The one attribute dict every node and edge shares: taskloom keeps its data in
#: its own dicts, so a 100,000-task graph need not hold 200,000 empty ones
#: (networkx's documented ``*_attr_dict_factory`` hook).
_NO_ATTRS: dict[str, Any] = {}


def _nx() -> networkx:
    # Imported on first use: networkx is the largest import of the core, and in
    # Pyodide the page can say "ready" before it is needed.
    global _networkx
    if _networkx is None:
        import networkx

        _networkx = networkx
    return _networkx


def _new_nx_graph() -> networkx.DiGraph:
    global _graph_class
    if _graph_class is None:
        def shared(self: Any) -> dict[str, Any]:
            return _NO_ATTRS

        _graph_class = type("_TaskDiGraph", (_nx().DiGraph,), {
            "node_attr_dict_factory": shared, "edge_attr_dict_factory": shared})
    return _graph_class()


def _add_plain_nodes(g: networkx.DiGraph, ids: list[str]) -> None:
    """``g.add_nodes_from(ids)`` for ids new to ``g``, written straight into its
    dict-of-dicts (the structure networkx documents, with the shared attribute dict
    of ``_new_nx_graph``): networkx's own loop was a fifth of the time of building a
    100,000-task graph. Task ids are non-empty strings, never None."""
    succ, pred, node = g._succ, g._pred, g._node
    for n in ids:
        succ[n] = {}
        pred[n] = {}
    node.update(dict.fromkeys(ids, _NO_ATTRS))
    _clear_nx_cache(g)


def _clear_nx_cache(g: networkx.DiGraph) -> None:
    """What networkx does after each change: drop the backend conversions it cached."""
    cache = getattr(g, "__networkx_cache__", None)
    if cache:
        cache.clear()


class TaskGraph:
    def __init__(self, tasks: Iterable[Task] = (), dataflows: Iterable[Dataflow] = (),
                 metadata: dict[str, Any] | None = None):
        self._g = _new_nx_graph()
        self._tasks: dict[str, Task] = {}
        # A task's dataflows in, in order; a shared empty tuple until it has one.
        self._inputs: dict[str, list[Dataflow] | tuple[()]] = {}
        self._modes: dict[Dataflow, str] = {}
        #: Edge transforms (transforms.py), for the dataflows that have one.
        self._transforms: dict[Dataflow, tuple[dict[str, Any], ...]] = {}
        #: Free-form data that travels with the graph (e.g. node positions on the page).
        self.metadata: dict[str, Any] = dict(metadata or {})
        with _gc_paused():
            self.add_tasks(tasks)
            self._add_in_bulk((dataflow, None) for dataflow in dataflows)

    # -- tasks ---------------------------------------------------------------------

    def add_task(self, task: Task) -> Task:
        if task.id in self._tasks:
            raise DuplicateTaskError(f"the graph already has a task with id {task.id!r}")
        self._tasks[task.id] = task
        self._g.add_node(task.id)
        self._inputs[task.id] = ()
        return task

    def add_tasks(self, tasks: Iterable[Task]) -> list[Task]:
        tasks = list(tasks)
        own, inputs = self._tasks, self._inputs
        for n, task in enumerate(tasks):
            if task.id in own:
                for added in tasks[:n]:  # as it was: none of them
                    del own[added.id], inputs[added.id]
                raise DuplicateTaskError(f"the graph already has a task with id {task.id!r}")
            own[task.id] = task
            inputs[task.id] = ()
        _add_plain_nodes(self._g, [task.id for task in tasks])
        return tasks

    def remove_task(self, task_id: str) -> Task:
        self.get_task(task_id)
        for dataflow in self.dataflows_into(task_id) + self.dataflows_out_of(task_id):
            self.remove_dataflow(dataflow)
        self._g.remove_node(task_id)
        del self._inputs[task_id]
        return self._tasks.pop(task_id)

    def get_task(self, task_id: str) -> Task:
        try:
            return self._tasks[task_id]
        except KeyError:
            raise TaskNotFoundError(f"the graph has no task {task_id!r}") from None

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._tasks

    def __len__(self) -> int:
        return len(self._tasks)

    @property
    def tasks(self) -> list[Task]:
        return list(self._tasks.values())

    def task_ids(self) -> list[str]:
        return list(self._tasks)

    # -- dataflows -------------------------------------------------------------------

    def add_dataflow(self, dataflow: Dataflow | tuple[str, str, str, str],
                     transform: list[dict[str, Any]] | None = None) -> Dataflow:
        """Add ``dataflow``; ``transform`` (see transforms.py) changes its value on the way."""
        dataflow = Dataflow(*dataflow)
        steps = None if transform is None else check_transform(transform, f"dataflow {dataflow}")
        mode, dataflow = self._validate_dataflow(dataflow, steps)
        self._g.add_edge(dataflow.source_task_id, dataflow.target_task_id)
        self._record(dataflow, mode, steps)
        return dataflow

    def _record(self, dataflow: Dataflow, mode: str,
                steps: tuple[dict[str, Any], ...] | None) -> None:
        """Keep a validated dataflow in taskloom's own indexes (its edge is added apart)."""
        flows = self._inputs[dataflow.target_task_id]
        if flows:
            flows.append(dataflow)
        else:
            self._inputs[dataflow.target_task_id] = [dataflow]
        self._modes[dataflow] = mode
        if steps:
            self._transforms[dataflow] = steps

    def _add_in_bulk(self, items: Iterator[tuple[Any, Any]]) -> None:
        """Add ``(dataflow, transform)`` items to a graph that has no dataflows yet, as
        a loaded document or the constructor gives them: each is validated but for
        cycles, their edges go straight into networkx's dicts, and the whole is checked
        for a cycle once. When any is refused it starts again one by one, so that the
        error raised (naming the first dataflow at fault) is the one adding them in
        order always raised."""
        tasks, modes, inputs = self._tasks, self._modes, self._inputs
        refused = None
        rules: dict[tuple, tuple] = {}
        validate, record = self._validate_dataflow, self._record
        # Each edge goes straight into networkx's adjacency dicts as its dataflow is
        # recorded (see _add_plain_nodes); a pair joined twice is one edge.
        succ, pred = self._g._succ, self._g._pred
        for item in items:
            dataflow, transform = item
            if type(dataflow) is not Dataflow and len(dataflow) != 4:
                dataflow = Dataflow(*dataflow)  # raises, as add_dataflow would
            src_id, src_port, tgt_id, tgt_port = dataflow
            source, target = tasks.get(src_id), tasks.get(tgt_id)
            rule = None if source is None or target is None or transform is not None \
                else rules.get((source.output_model, src_port, target.input_model, tgt_port))
            if rule is not None and src_id != tgt_id:
                # Ports already known to fit: only what depends on the graph is left.
                mode, out_name, in_name, takes_list = rule
                flow = _new_tuple(Dataflow, (source.id, out_name, target.id, in_name))
                flows = inputs[tgt_id]
                if flow in modes or (not takes_list and flows and any(
                        d.target_port == in_name for d in flows)):
                    refused = item
                    break
                modes[flow] = mode
                if flows:
                    flows.append(flow)
                else:
                    inputs[tgt_id] = [flow]
                src_id, tgt_id = flow[0], flow[2]  # (the graph's own strings)
                succ[src_id][tgt_id] = pred[tgt_id][src_id] = _NO_ATTRS
                continue
            dataflow = Dataflow(*dataflow)
            if source is None or target is None:
                refused = item
                break
            try:
                steps = None if transform is None else check_transform(
                    transform, f"dataflow {dataflow}")
                mode, dataflow = validate(dataflow, steps, False, rules)
            except GraphError:
                refused = item
                break
            record(dataflow, mode, steps)
            src_id, tgt_id = dataflow[0], dataflow[2]
            succ[src_id][tgt_id] = pred[tgt_id][src_id] = _NO_ATTRS
        else:
            _clear_nx_cache(self._g)
            if self._in_task_order() or _nx().is_directed_acyclic_graph(self._g):
                return
        done = [(d, [dict(step) for step in self._transforms[d]]
                 if d in self._transforms else None) for d in self._modes]
        self._modes.clear()
        self._transforms.clear()
        self._inputs = dict.fromkeys(self._inputs, ())
        self._g = _new_nx_graph()
        _add_plain_nodes(self._g, list(tasks))
        for dataflow, transform in itertools.chain(done, [refused] if refused else [], items):
            self.add_dataflow(dataflow, transform)

    def _in_task_order(self) -> bool:
        """Whether every dataflow goes from a task added earlier to one added later
        (what ``to_json`` writes, and how Workflow builds): then the order of the tasks
        is a topological order, and the graph has no cycle."""
        position = dict(zip(self._tasks, range(len(self._tasks)), strict=True))
        return all(position[d[0]] < position[d[2]] for d in self._modes)

    def connect(self, source_task_id: str, source_port: str, target_task_id: str,
                target_port: str, transform: list[dict[str, Any]] | None = None) -> Dataflow:
        return self.add_dataflow(Dataflow(source_task_id, source_port, target_task_id,
                                          target_port), transform)

    def transform_of(self, dataflow: Dataflow) -> tuple[dict[str, Any], ...]:
        """The dataflow's transform steps; empty when it passes its value as it is."""
        return self._transforms.get(dataflow, ())

    def check_dataflow(self, source_task_id: str, source_port: str, target_task_id: str,
                       target_port: str, transform: list[dict[str, Any]] | None = None,
                       ) -> DataflowCheck:
        """Whether this dataflow could be added, and if not why: what a canvas asks
        before it draws an edge. The rule is add_dataflow's own; nothing changes."""
        dataflow = Dataflow(source_task_id, source_port, target_task_id, target_port)
        try:
            steps = None if transform is None else check_transform(transform,
                                                                   f"dataflow {dataflow}")
            mode = self._validate_dataflow(dataflow, steps)[0]
        except GraphError as exc:
            return DataflowCheck(False, None, str(exc), type(exc).__name__)
        return DataflowCheck(True, mode)

    def _validate_dataflow(self, dataflow: Dataflow,
                           steps: tuple[dict[str, Any], ...] | None = None,
                           cycles: bool = True, rules: dict[tuple, tuple] | None = None,
                           ) -> tuple[str, Dataflow]:
        """Raise if ``dataflow`` cannot be added; else return its connection mode, and
        the dataflow made of the strings the graph holds already (its tasks' ids, its
        ports' names): a big graph then keeps one string per id, not one per mention.

        ``rules`` memoises what the ports decide (mode, names, whether the input takes
        a list) per pair of port models and names, for a bulk load."""
        src_id, src_port, tgt_id, tgt_port = dataflow
        for task_id in (src_id, tgt_id):
            if task_id not in self._tasks:
                raise TaskNotFoundError(
                    f"dataflow {dataflow} is dangling: the graph has no task {task_id!r}")
        source, target = self._tasks[src_id], self._tasks[tgt_id]
        key = None
        if rules is not None and not steps:
            key = (source.output_model, src_port, target.input_model, tgt_port)
            rule = rules.get(key)
            if rule is None:
                rule = rules[key] = self._port_rule(dataflow, source, target, None)
        else:
            rule = self._port_rule(dataflow, source, target, steps)
        mode, out_name, in_name, takes_list = rule
        if dataflow in self._modes:
            raise DataflowError(f"dataflow {dataflow} is already in the graph")
        if not takes_list:
            for existing in self._inputs[tgt_id]:
                if existing.target_port == tgt_port:
                    raise DataflowError(
                        f"input {tgt_port!r} of task {tgt_id!r} takes one value and is "
                        f"already fed by {existing}; only list-typed inputs accept several "
                        "dataflows")
        if src_id == tgt_id:
            raise CycleError(f"dataflow {dataflow} connects task {src_id!r} to itself",
                             [src_id])
        if cycles and self._reaches(tgt_id, src_id):
            path = _nx().shortest_path(self._g, tgt_id, src_id)
            raise CycleError(f"dataflow {dataflow} would close a cycle: "
                             f"{' -> '.join([*path, tgt_id])}", path)
        return mode, Dataflow(source.id, out_name, target.id, in_name)

    def _port_rule(self, dataflow: Dataflow, source: Task, target: Task,
                   steps: tuple[dict[str, Any], ...] | None) -> tuple[str, str, str, bool]:
        """What the two ports say of ``dataflow``: (mode, output name, input name,
        whether the input takes a list); raises when they cannot be joined."""
        src_id, src_port, tgt_id, tgt_port = dataflow
        out_port = source.output_ports.get(src_port)
        if out_port is None and src_port == ERROR_PORT:
            out_port = _error_port()
        if out_port is None:
            raise PortError(f"dataflow {dataflow}: task {src_id!r} ({source.type}) has no "
                            f"output port {src_port!r}; its outputs are: "
                            f"{', '.join(source.output_ports.names()) or 'none'}")
        in_port = target.input_ports.get(tgt_port)
        if in_port is None:
            raise PortError(f"dataflow {dataflow}: task {tgt_id!r} ({target.type}) has no "
                            f"input port {tgt_port!r}; its inputs are: "
                            f"{', '.join(target.input_ports.names()) or 'none'}")
        if steps:
            # What a transform yields is known only at run time: it is checked then.
            mode = "item" if in_port.is_list else "value"
        else:
            mode = connection_mode(out_port, in_port)
        if mode is None:
            raise PortTypeError(
                f"dataflow {dataflow}: output {src_port!r} of {src_id!r} is "
                f"{describe(out_port)}, but input {tgt_port!r} of {tgt_id!r} takes "
                f"{describe(in_port)}")
        return mode, out_port.name, in_port.name, in_port.is_list

    def _reaches(self, start: str, goal: str) -> bool:
        """Whether a path leads from ``start`` to ``goal``: a plain search over networkx's
        successor dicts. Usually ``start`` is a task just added, with no successors."""
        succ = self._g._succ
        if not succ[start] or not self._g._pred[goal]:
            return False
        seen = {start}
        stack = [start]
        while stack:
            for nxt in succ[stack.pop()]:
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def remove_dataflow(self, dataflow: Dataflow | tuple[str, str, str, str]) -> None:
        dataflow = Dataflow(*dataflow)
        if dataflow not in self._modes:
            raise DataflowError(f"dataflow {dataflow} is not in the graph")
        source, target = dataflow.source_task_id, dataflow.target_task_id
        flows = self._inputs[target]
        flows.remove(dataflow)
        if not any(d.source_task_id == source for d in flows):
            self._g.remove_edge(source, target)  # the last dataflow between the two
        del self._modes[dataflow]
        self._transforms.pop(dataflow, None)

    def connection_mode(self, dataflow: Dataflow) -> str:
        return self._modes[dataflow]

    @property
    def dataflows(self) -> list[Dataflow]:
        return list(self._modes)

    def dataflows_into(self, task_id: str) -> list[Dataflow]:
        """Dataflows into ``task_id``, in the order they were added."""
        self.get_task(task_id)
        return list(self._inputs[task_id])

    def dataflows_out_of(self, task_id: str) -> list[Dataflow]:
        self.get_task(task_id)
        inputs = self._inputs
        # By successor in the order each was first connected, then in the order added.
        return [d for target in self._g._succ[task_id] for d in inputs[target]
                if d.source_task_id == task_id]

    # -- queries ---------------------------------------------------------------------

    def upstream(self, task_id: str, transitive: bool = False) -> list[str]:
        """Tasks feeding ``task_id`` directly (or, transitively, all ancestors)."""
        self.get_task(task_id)
        if transitive:
            found = _nx().ancestors(self._g, task_id)
            return [t for t in self._tasks if t in found]
        return list(dict.fromkeys(self._g.predecessors(task_id)))

    def downstream(self, task_id: str, transitive: bool = False) -> list[str]:
        self.get_task(task_id)
        if transitive:
            found = _nx().descendants(self._g, task_id)
            return [t for t in self._tasks if t in found]
        return list(dict.fromkeys(self._g.successors(task_id)))

    def sources(self) -> list[str]:
        return [t for t in self._tasks if self._g.in_degree(t) == 0]

    def sinks(self) -> list[str]:
        """Tasks no dataflow leaves: the graph's leaves."""
        return [t for t in self._tasks if self._g.out_degree(t) == 0]

    def topological_order(self) -> list[str]:
        return list(_nx().topological_sort(self._g))

    def layers(self) -> list[list[str]]:
        """Tasks grouped by depth, for display; the runner does not wait on layers."""
        return [list(layer) for layer in _nx().topological_generations(self._g)]

    def predecessor_counts(self) -> dict[str, int]:
        """Distinct upstream tasks per task (what the runner waits for)."""
        return {t: len(before) for t, before in self._g._pred.items()}

    def successors_of(self, task_id: str) -> list[str]:
        return list(self._g.succ[task_id])

    def successor_map(self) -> Mapping[str, Iterable[str]]:
        """Task id -> its distinct downstream tasks, in the order of ``successor_lists``:
        a live view of the graph (not to be changed), so a run of a big graph need not
        copy it."""
        return self._g._succ

    def successor_lists(self) -> dict[str, list[str]]:
        """Distinct downstream tasks of every task, computed once per run."""
        out: dict[str, dict[str, None]] = {t: {} for t in self._tasks}
        for d in self._modes:
            out[d.source_task_id][d.target_task_id] = None
        return {t: list(targets) for t, targets in out.items()}

    # -- copies and serialisation ---------------------------------------------------

    def copy(self) -> TaskGraph:
        return TaskGraph.from_json(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict with a ``schema_version``."""
        doc = {
            "schema_version": SCHEMA_VERSION,
            "tasks": [task.to_json() for task in self._tasks.values()],
            "dataflows": [self._dataflow_json(d) for d in self._modes],
        }
        if self.metadata:
            doc["metadata"] = self.metadata
        # Only what may hold something JSON cannot carry is written out to check: an
        # entry that is just {id, type, defaults: {}} is JSON by construction.
        suspect: list[Any] = [e for e in doc["tasks"] if len(e) != 3 or e.get("defaults") != {}]
        suspect += [d for d in doc["dataflows"] if len(d) != 4]  # a transform
        suspect.append(self.metadata)
        _ensure_json(suspect)
        return doc

    def _dataflow_json(self, dataflow: Dataflow) -> dict[str, Any]:
        entry = dataflow.to_json()
        steps = self._transforms.get(dataflow)
        if steps:
            entry["transform"] = [dict(step) for step in steps]
        return entry

    def to_json_string(self, indent: int | str | None = 2) -> str:
        """``json.dumps(self.to_json(), indent=indent)``: the same text, written entry by
        entry. A plain task (an id, a type, no defaults, config or metadata) or dataflow
        (no transform) goes straight to text, so a big graph's document is never in
        memory as dicts; anything else is ``json.dumps`` of its ``to_json()`` entry."""
        enc = json.encoder.encode_basestring_ascii  # what json.dumps uses (ensure_ascii)
        if indent is None:
            pad, sep, p1, p2, p3 = "", ", ", "", "", ""
        else:
            pad = " " * indent if isinstance(indent, int) else indent
            sep, p1, p2, p3 = ",", "\n" + pad, "\n" + pad * 2, "\n" + pad * 3
        q2, q3 = p2.replace("%", "%%"), p3.replace("%", "%%")
        task_text = f'{{{q3}"id": %s,{q3}"type": %s,{q3}"defaults": {{}}{q2}}}'
        flow_text = (f'{{{q3}"source_task_id": %s,{q3}"source_port": %s,'
                     f'{q3}"target_task_id": %s,{q3}"target_port": %s{q2}}}')
        if indent is None:
            task_text = task_text.replace(",", ", ")
            flow_text = flow_text.replace(",", ", ")

        def dumped(value: Any, prefix: str) -> str:
            text = json.dumps(value, indent=indent, allow_nan=False)
            return text.replace("\n", prefix) if indent is not None else text

        out = io.StringIO()  # one growing buffer: no list of 200,000 pieces to join
        write = out.write

        def listed(items: Iterable[str]) -> None:
            first = True
            for item in items:
                write(f"[{p2}" if first else f"{sep}{p2}")
                write(item)
                first = False
            write("[]" if first else f"{p1}]")

        transforms = self._transforms
        try:
            write(f'{{{p1}"schema_version": {SCHEMA_VERSION}{sep}{p1}"tasks": ')
            listed(task_text % (enc(task.id), enc(task.type)) if task._plain_entry()
                   else dumped(task.to_json(), p2) for task in self._tasks.values())
            write(f'{sep}{p1}"dataflows": ')
            listed(flow_text % (enc(d[0]), enc(d[1]), enc(d[2]), enc(d[3]))
                   if d not in transforms else dumped(self._dataflow_json(d), p2)
                   for d in self._modes)
            if self.metadata:
                write(f'{sep}{p1}"metadata": {dumped(self.metadata, p1)}')
        except ValueError as exc:
            raise SerializationError(f"graph cannot be written as JSON: {exc} "
                                     "(NaN and Infinity are not JSON)") from None
        except TypeError as exc:
            raise SerializationError(f"graph cannot be written as JSON: {exc}") from None
        write("\n}" if indent is not None else "}")
        return out.getvalue()

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes,
                  registry: TaskRegistry | None = None) -> TaskGraph:
        """Build a graph from ``to_json()`` output (a dict or a JSON string).

        Only registered task types are instantiated. Every way a document can be
        wrong raises a :class:`TaskloomError` that names the place (task id, port or
        JSON path); nothing else escapes.
        """
        doc = _parse(data)
        # A document parsed here from text is this call's alone: nothing to copy.
        owned = isinstance(data, str | bytes | bytearray)
        nested = _loading.get()
        plain = _plain_document(doc, check=not nested)
        if nested:
            return cls._from_document(doc, registry, plain, owned)
        if plain is None:
            _check_document(doc)
        token = _loading.set(True)
        try:
            with _gc_paused():
                return cls._from_document(doc, registry, plain, owned)
        finally:
            _loading.reset(token)

    @classmethod
    def _from_document(cls, doc: Any, registry: TaskRegistry | None,
                       plain: tuple[list[dict], list[dict], dict] | None = None,
                       owned: bool = False) -> TaskGraph:
        if plain is not None:
            return cls._from_plain(*plain, registry, owned)
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        if isinstance(doc, dict) and "schema_version" in doc and version != SCHEMA_VERSION:
            raise SchemaVersionError(
                f"graph JSON has schema_version {version!r}; this taskloom reads "
                f"version {SCHEMA_VERSION}")
        try:
            parsed = _GraphDocument.model_validate(doc)
        except ValidationError as exc:
            raise SerializationError(
                format_validation_error(exc, where="not a taskloom graph")) from None
        graph = cls(metadata=copy.deepcopy(parsed.metadata))  # shares nothing with the doc
        graph.add_tasks(_task_from_entry(entry.model_dump(), registry)
                        for entry in parsed.tasks)
        for d in parsed.dataflows:
            graph.add_dataflow(Dataflow(d.source_task_id, d.source_port, d.target_task_id,
                                        d.target_port), d.transform)
        return graph

    @classmethod
    def _from_plain(cls, entries: list[dict], flows: list[dict], metadata: dict,
                    registry: TaskRegistry | None, owned: bool) -> TaskGraph:
        """Load a document of the plain shape (``_plain_document``): what the pydantic
        model of the document would give, without a model per entry, and the
        dataflows in bulk."""
        graph = cls(metadata=metadata if owned else copy.deepcopy(metadata))
        graph.add_tasks(_task_from_entry(_entry_of(entry, owned), registry)
                        for entry in _consumed(entries, owned))
        graph._add_in_bulk(((d["source_task_id"], d["source_port"], d["target_task_id"],
                             d["target_port"]), d.get("transform"))
                           for d in _consumed(flows, owned))
        return graph

    def to_dependency_json(self) -> list[dict[str, Any]]:
        """One item per task with its ``dependencies``: ``{input: {id, output} | [...]}``."""
        items = []
        for task in self._tasks.values():
            item = task.to_json()
            deps: dict[str, Any] = {}
            for d in self._inputs[task.id]:
                ref = {"id": d.source_task_id, "output": d.source_port}
                if d in self._transforms:
                    ref["transform"] = [dict(step) for step in self._transforms[d]]
                port = task.input_ports.get(d.target_port)
                if port is not None and port.is_list:
                    deps.setdefault(d.target_port, []).append(ref)
                else:
                    deps[d.target_port] = ref
            item["dependencies"] = deps
            items.append(item)
        _ensure_json(items)
        return items

    @classmethod
    def from_dependency_json(cls, data: list[dict[str, Any]] | str | bytes,
                             registry: TaskRegistry | None = None) -> TaskGraph:
        items = _parse(data)
        if not isinstance(items, list):
            raise SerializationError("dependency JSON must be a list of tasks")
        dataflows = []
        entries = []
        for n, item in enumerate(items):
            if not isinstance(item, dict):
                raise SerializationError(f"dependency JSON item {n} is not an object")
            item = dict(item)
            deps = item.pop("dependencies", {}) or {}
            if not isinstance(deps, dict):
                raise SerializationError(f"dependencies of item {n} must be an object")
            entries.append(item)
            for port, refs in deps.items():
                for ref in refs if isinstance(refs, list) else [refs]:
                    if not isinstance(ref, dict) or "id" not in ref or "output" not in ref:
                        raise SerializationError(
                            f"dependency {port!r} of item {n} must be {{id, output}}")
                    flow = {"source_task_id": ref["id"], "source_port": ref["output"],
                            "target_task_id": item.get("id"), "target_port": port}
                    if "transform" in ref:
                        flow["transform"] = ref["transform"]
                    dataflows.append(flow)
        return cls.from_json({"schema_version": SCHEMA_VERSION, "tasks": entries,
                              "dataflows": dataflows}, registry)

    # -- equality ----------------------------------------------------------------------

    def canonical_json(self) -> dict[str, Any]:
        """``to_json()`` with insertion order removed where it carries no meaning.

        Tasks are sorted by id and dataflows by target port; the order of the
        dataflows into one port is kept, since it is a fan-in list's order.
        """
        return _canonical(self.to_json())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TaskGraph):
            return NotImplemented
        return self.canonical_json() == other.canonical_json()

    __hash__ = None  # type: ignore[assignment]  (mutable, compared by value)

    def __repr__(self) -> str:
        return f"<TaskGraph tasks={len(self._tasks)} dataflows={len(self._modes)}>"


@dataclass(frozen=True, slots=True)
class DataflowCheck:
    """The answer of :meth:`TaskGraph.check_dataflow`; true when the edge may be added."""

    ok: bool
    #: How the value would pass ("value", "item" or "expand"), when ok.
    mode: str | None = None
    #: Why not, in the words add_dataflow would raise, and that error's class name.
    reason: str | None = None
    error: str | None = None

    def __bool__(self) -> bool:
        return self.ok

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "mode": self.mode, "reason": self.reason, "error": self.error}


@cache
def _error_port() -> Any:
    from pydantic import create_model

    from .ports import ports_of

    model = create_model("ErrorOutput", error=(dict[str, Any], ...))
    return ports_of(model).by_name[ERROR_PORT]


def _canonical(doc: dict[str, Any]) -> dict[str, Any]:
    tasks = []
    for entry in sorted(doc.get("tasks", []), key=lambda e: e["id"]):
        if isinstance(entry.get("subgraph"), dict):
            entry = {**entry, "subgraph": _canonical(entry["subgraph"])}
        if isinstance(entry.get("alternatives"), list):  # a Fallback's bodies, tried in order
            entry = {**entry, "alternatives": [_canonical(a) if isinstance(a, dict) else a
                                               for a in entry["alternatives"]]}
        tasks.append(entry)
    # sorted() is stable: the dataflows into one port keep their order.
    flows = sorted(doc.get("dataflows", []),
                   key=lambda d: (d["target_task_id"], d["target_port"]))
    return {"tasks": tasks, "dataflows": flows, "metadata": doc.get("metadata") or {}}


# -- JSON document shape --------------------------------------------------------------


class _TaskEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: Annotated[str, Field(min_length=1)]
    type: str
    # default_factory: a plain {} default is deep-copied for every entry.
    defaults: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class _DataflowEntry(BaseModel):
    source_task_id: str
    source_port: str
    target_task_id: str
    target_port: str
    transform: Any = None  # checked by add_dataflow, which names the dataflow


class _GraphDocument(BaseModel):
    schema_version: int
    tasks: list[_TaskEntry]
    dataflows: list[_DataflowEntry] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a graph is built in bulk. Loading creates
    no garbage cycles, but every full collection on the way walks each object made so
    far: that was a third of the time of building a 100,000-task graph."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _consumed(items: list[Any], owned: bool) -> Iterable[Any]:
    """The items of ``items``; with ``owned``, each is dropped from the list once read."""
    if not owned:
        yield from items
        return
    for n, item in enumerate(items):
        items[n] = None
        yield item


def _entry_of(entry: dict[str, Any], owned: bool) -> dict[str, Any]:
    """A plain task entry as ``_TaskEntry.model_dump()`` gives it: every key present,
    and nothing shared with a document the caller still holds."""
    full = {"defaults": {}, "config": {}, "metadata": {}, **entry}
    if not owned and (len(entry) > 3 or entry.get("defaults")):
        full = copy.deepcopy(full)
    return full


def _task_from_entry(entry: dict[str, Any], registry: TaskRegistry | None) -> Task:
    cls = (registry or default_registry).get(entry["type"])
    try:
        task = cls.from_json(entry, registry=registry)
        metadata = entry.get("metadata")
        if metadata and not task.metadata:
            # A type's own from_json may not know about metadata; it travels anyway.
            task.metadata = copy.deepcopy(metadata)
        return task
    except TaskloomError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        # A task type's own constructor refused the entry in its own words.
        raise SerializationError(f"task {entry['id']!r} ({entry['type']}) cannot be loaded: "
                                 f"{_one_line(exc)}") from exc


_new_tuple = tuple.__new__  # a Dataflow without its generated __new__'s arguments

_ENTRY_DICTS = ("defaults", "config", "metadata")


def _plain_document(doc: Any, check: bool) -> tuple[list, list, dict] | None:
    """(task entries, dataflow entries, metadata) when ``doc`` has the plain shape of
    graph JSON and, with ``check``, holds nothing ``_check_document`` refuses; else
    None, and the slow path (the full scan, then pydantic) names what is off.

    One pass over the document, that looks inside an entry only when it holds more
    than an id, a type and empty defaults: a 100,000-task chain is read in a fraction
    of the time a generic walk of its million values takes.
    """
    if type(doc) is not dict or type(doc.get("schema_version")) is not int \
            or doc["schema_version"] != SCHEMA_VERSION:
        return None
    tasks, flows = doc.get("tasks"), doc.get("dataflows", [])
    metadata = doc.get("metadata", {})
    if type(tasks) is not list or type(flows) is not list or type(metadata) is not dict:
        return None
    if check and (len(doc) > 3 or metadata) and not _looks_clean(
            {k: v for k, v in doc.items() if k != "tasks" and k != "dataflows"}):
        return None
    for entry in tasks:
        if type(entry) is not dict:
            return None
        task_id, task_type = entry.get("id"), entry.get("type")
        if type(task_id) is not str or not task_id or type(task_type) is not str:
            return None
        defaults = entry.get("defaults")
        if len(entry) == 3 and type(defaults) is dict and not defaults:
            if check and not (task_id.isascii() and task_type.isascii()) \
                    and not _looks_clean(entry, 2):
                return None
            continue
        for key in _ENTRY_DICTS:
            if key in entry and type(entry[key]) is not dict:
                return None
        if check and not _looks_clean(entry, 2):
            return None
    for flow in flows:
        if type(flow) is not dict:
            return None
        a, b = flow.get("source_task_id"), flow.get("source_port")
        c, d = flow.get("target_task_id"), flow.get("target_port")
        if type(a) is not str or type(b) is not str or type(c) is not str \
                or type(d) is not str:
            return None
        if check and (len(flow) != 4 or not (a.isascii() and b.isascii() and c.isascii()
                                             and d.isascii())) \
                and not _looks_clean(flow, 2):
            return None
    return tasks, flows, metadata


def _reject_constant(name: str) -> Any:
    raise SerializationError(f"graph JSON contains {name}, which is not valid JSON")


def _parse(data: Any) -> Any:
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise SerializationError(
                f"graph JSON is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset "
                f"{exc.start} ({exc.reason}); save the file as UTF-8") from None
    if isinstance(data, str):
        try:
            return json.loads(data, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            raise SerializationError(f"malformed graph JSON: {exc}") from None
        except RecursionError:
            raise SerializationError(
                f"graph JSON is nested too deeply to read; taskloom reads at most "
                f"{MAX_JSON_DEPTH} levels") from None
        except ValueError as exc:  # int longer than sys.get_int_max_str_digits()
            if "digits" in str(exc):
                raise SerializationError(
                    "graph JSON has an integer with more than 4,300 digits, which Python "
                    "refuses to read; write such a number as a string") from None
            raise SerializationError(f"malformed graph JSON: {_one_line(exc)}") from None
    return data


def _check_document(doc: Any) -> None:
    """Refuse what JSON can carry but a graph cannot hold, naming its JSON path.

    Checked once per loaded document, without recursion: nesting deeper than
    ``MAX_JSON_DEPTH``, integers too long to write back, non-finite floats
    (``1e999`` parses as infinity), strings with lone surrogates (``"\\ud800"``
    parses, but cannot be encoded to store or print), and non-string keys.
    """
    if _looks_clean(doc):
        return
    # Something is wrong (or unusual, like a tuple): scan again, keeping paths.
    stack: list[tuple[Any, tuple[Any, ...]]] = [(doc, ())]
    while stack:
        value, loc = stack.pop()
        if isinstance(value, str):
            if not value.isascii():
                _check_text(value, loc)
        elif isinstance(value, dict):
            if len(loc) >= MAX_JSON_DEPTH:
                _too_deep(loc)
            for key, item in value.items():
                if not isinstance(key, str):
                    raise SerializationError(
                        f"graph JSON has a key {key!r} that is not a string at "
                        f"{_where(loc)}")
                if not key.isascii():
                    _check_text(key, (*loc, key))
                stack.append((item, (*loc, key)))
        elif isinstance(value, list | tuple):
            if len(loc) >= MAX_JSON_DEPTH:
                _too_deep(loc)
            stack.extend((item, (*loc, n)) for n, item in enumerate(value))
        elif isinstance(value, int):
            if value.bit_length() > _MAX_INT_BITS:
                raise SerializationError(
                    f"graph JSON has an integer with more than 4,300 digits at "
                    f"{_where(loc)}; write such a number as a string")
        elif isinstance(value, float) and not math.isfinite(value):
            raise SerializationError(
                f"graph JSON has a number too large for a float (or NaN) at "
                f"{_where(loc)}; JSON has no Infinity")


def _looks_clean(doc: Any, depth: int = 0) -> bool:
    """The fast pass of ``_check_document``: no paths kept, plain JSON types only.

    A 100,000-task graph is a million values; building a path for each one
    would cost more than the rest of loading.
    """
    if type(doc) is not dict and type(doc) is not list:
        return False
    stack = [(doc, depth)]
    pop, push, isfinite = stack.pop, stack.append, math.isfinite
    while stack:
        value, depth = pop()
        if depth >= MAX_JSON_DEPTH:
            return False
        if type(value) is dict:
            for key in value:
                if type(key) is not str or not (key.isascii() or _encodes(key)):
                    return False
            value = value.values()
        depth += 1
        for item in value:
            kind = type(item)
            if kind is str:
                if not (item.isascii() or _encodes(item)):
                    return False
            elif kind is dict or kind is list:
                push((item, depth))
            elif kind is int:
                if item.bit_length() > _MAX_INT_BITS:
                    return False
            elif kind is float:
                if not isfinite(item):
                    return False
            elif kind is not bool and item is not None:
                return False
    return True


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str, loc: tuple[Any, ...]) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise SerializationError(
            f"graph JSON has a lone surrogate ({text[exc.start]!r}) in a string at "
            f"{_where(loc)}; text must be valid Unicode") from None


def _too_deep(loc: tuple[Any, ...]) -> None:
    raise SerializationError(
        f"graph JSON is nested more than {MAX_JSON_DEPTH} levels deep at {_where(loc)}; "
        "flatten the data or nest fewer GraphAsTasks")


def _where(loc: tuple[Any, ...]) -> str:
    path = format_path(loc)
    if not path:
        return "the top level"
    if len(path) > 120:  # a path 200 levels deep is no help in full
        path = f"{path[:50]}…{path[-60:]}"
    return path


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _ensure_json(doc: Any) -> None:
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError as exc:
        raise SerializationError(f"graph cannot be written as JSON: {exc} "
                                 "(NaN and Infinity are not JSON)") from None
    except TypeError as exc:
        raise SerializationError(f"graph cannot be written as JSON: {exc}") from None
