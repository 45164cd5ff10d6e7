"""TaskGraph: tasks and the dataflows between them, on a networkx MultiDiGraph.

Every mutation validates first and changes the graph only once it is known to
be valid, so an error leaves the graph exactly as it was. All traversals are
iterative (networkx's topological sort and BFS), so a 100,000-task chain is
fine.

Fan-in: a list-typed input port accepts several dataflows; its value is built
in the order the dataflows were added.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterable
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


def _nx() -> networkx:
    # Imported on first use: networkx is the largest import of the core, and in
    # Pyodide the page can say "ready" before it is needed.
    import networkx

    return networkx


class TaskGraph:
    def __init__(self, tasks: Iterable[Task] = (), dataflows: Iterable[Dataflow] = (),
                 metadata: dict[str, Any] | None = None):
        self._g = _nx().MultiDiGraph()
        self._tasks: dict[str, Task] = {}
        self._inputs: dict[str, list[Dataflow]] = {}
        self._modes: dict[Dataflow, str] = {}
        #: Edge transforms (transforms.py), for the dataflows that have one.
        self._transforms: dict[Dataflow, tuple[dict[str, Any], ...]] = {}
        #: Free-form data that travels with the graph (e.g. node positions on the page).
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.add_tasks(tasks)
        for dataflow in dataflows:
            self.add_dataflow(dataflow)

    # -- tasks ---------------------------------------------------------------------

    def add_task(self, task: Task) -> Task:
        if task.id in self._tasks:
            raise DuplicateTaskError(f"the graph already has a task with id {task.id!r}")
        self._tasks[task.id] = task
        self._g.add_node(task.id)
        self._inputs[task.id] = []
        return task

    def add_tasks(self, tasks: Iterable[Task]) -> list[Task]:
        tasks = list(tasks)
        seen: set[str] = set()
        for task in tasks:
            if task.id in self._tasks or task.id in seen:
                raise DuplicateTaskError(f"the graph already has a task with id {task.id!r}")
            seen.add(task.id)
        for task in tasks:
            self.add_task(task)
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
        mode = self._validate_dataflow(dataflow, steps)
        self._g.add_edge(dataflow.source_task_id, dataflow.target_task_id, key=dataflow)
        self._inputs[dataflow.target_task_id].append(dataflow)
        self._modes[dataflow] = mode
        if steps:
            self._transforms[dataflow] = steps
        return dataflow

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
            mode = self._validate_dataflow(dataflow, steps)
        except GraphError as exc:
            return DataflowCheck(False, None, str(exc), type(exc).__name__)
        return DataflowCheck(True, mode)

    def _validate_dataflow(self, dataflow: Dataflow,
                           steps: tuple[dict[str, Any], ...] | None = None) -> str:
        """Raise if ``dataflow`` cannot be added; else return its connection mode."""
        src_id, src_port, tgt_id, tgt_port = dataflow
        for task_id in (src_id, tgt_id):
            if task_id not in self._tasks:
                raise TaskNotFoundError(
                    f"dataflow {dataflow} is dangling: the graph has no task {task_id!r}")
        source, target = self._tasks[src_id], self._tasks[tgt_id]
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
        if dataflow in self._modes:
            raise DataflowError(f"dataflow {dataflow} is already in the graph")
        if not in_port.is_list:
            for existing in self._inputs[tgt_id]:
                if existing.target_port == tgt_port:
                    raise DataflowError(
                        f"input {tgt_port!r} of task {tgt_id!r} takes one value and is "
                        f"already fed by {existing}; only list-typed inputs accept several "
                        "dataflows")
        if src_id == tgt_id:
            raise CycleError(f"dataflow {dataflow} connects task {src_id!r} to itself",
                             [src_id])
        if _nx().has_path(self._g, tgt_id, src_id):
            path = _nx().shortest_path(self._g, tgt_id, src_id)
            raise CycleError(f"dataflow {dataflow} would close a cycle: "
                             f"{' -> '.join([*path, tgt_id])}", path)
        return mode

    def remove_dataflow(self, dataflow: Dataflow | tuple[str, str, str, str]) -> None:
        dataflow = Dataflow(*dataflow)
        if dataflow not in self._modes:
            raise DataflowError(f"dataflow {dataflow} is not in the graph")
        self._g.remove_edge(dataflow.source_task_id, dataflow.target_task_id, key=dataflow)
        self._inputs[dataflow.target_task_id].remove(dataflow)
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
        return [key for _, _, key in self._g.out_edges(task_id, keys=True)]

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
        return {t: len({d.source_task_id for d in flows}) if flows else 0
                for t, flows in self._inputs.items()}

    def successors_of(self, task_id: str) -> list[str]:
        return list(self._g.succ[task_id])

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
        _ensure_json(doc)
        return doc

    def _dataflow_json(self, dataflow: Dataflow) -> dict[str, Any]:
        entry = dataflow.to_json()
        steps = self._transforms.get(dataflow)
        if steps:
            entry["transform"] = [dict(step) for step in steps]
        return entry

    def to_json_string(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_json(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, data: dict[str, Any] | str | bytes,
                  registry: TaskRegistry | None = None) -> TaskGraph:
        """Build a graph from ``to_json()`` output (a dict or a JSON string).

        Only registered task types are instantiated. Every way a document can be
        wrong raises a :class:`TaskloomError` that names the place (task id, port or
        JSON path); nothing else escapes.
        """
        doc = _parse(data)
        if _loading.get():
            return cls._from_document(doc, registry)
        _check_document(doc)
        token = _loading.set(True)
        try:
            return cls._from_document(doc, registry)
        finally:
            _loading.reset(token)

    @classmethod
    def _from_document(cls, doc: Any, registry: TaskRegistry | None) -> TaskGraph:
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
        graph.add_tasks(_task_from_entry(entry, registry) for entry in parsed.tasks)
        for d in parsed.dataflows:
            graph.add_dataflow(Dataflow(d.source_task_id, d.source_port, d.target_task_id,
                                        d.target_port), d.transform)
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
    defaults: dict[str, Any] = {}
    config: dict[str, Any] = {}
    metadata: dict[str, Any] = {}


class _DataflowEntry(BaseModel):
    source_task_id: str
    source_port: str
    target_task_id: str
    target_port: str
    transform: Any = None  # checked by add_dataflow, which names the dataflow


class _GraphDocument(BaseModel):
    schema_version: int
    tasks: list[_TaskEntry]
    dataflows: list[_DataflowEntry] = []
    metadata: dict[str, Any] = {}


def _task_from_entry(entry: _TaskEntry, registry: TaskRegistry | None) -> Task:
    from .registry import registry as default_registry

    cls = (registry or default_registry).get(entry.type)
    try:
        task = cls.from_json(entry.model_dump(), registry=registry)
        metadata = getattr(entry, "metadata", None)
        if metadata and not task.metadata:
            # A type's own from_json may not know about metadata; it travels anyway.
            task.metadata = copy.deepcopy(metadata)
        return task
    except TaskloomError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        # A task type's own constructor refused the entry in its own words.
        raise SerializationError(f"task {entry.id!r} ({entry.type}) cannot be loaded: "
                                 f"{_one_line(exc)}") from exc


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


def _looks_clean(doc: Any) -> bool:
    """The fast pass of ``_check_document``: no paths kept, plain JSON types only.

    A 100,000-task graph is a million values; building a path for each one
    would cost more than the rest of loading.
    """
    if type(doc) is not dict and type(doc) is not list:
        return False
    stack = [(doc, 0)]
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
