"""Workflow: the fluent way to build (and run) a TaskGraph.

    wf = Workflow()
    wf.lambda_(fn=load).debug_log().add_task(Summarise, max_words=50)
    result = await wf.run()

Each registered task type is a snake_case method (``TextEmbedding`` →
``wf.text_embedding(...)``; a Python keyword gets a trailing underscore, as
``wf.lambda_``). Keyword arguments are the task's input defaults, except the
instance settings ``id``, ``title``, ``cacheable``, ``timeout``, ``queue`` and
any argument the task's constructor names (``fn`` for Lambda).

Auto-connect links the new task to the previous one only, and never feeds an
input given explicitly:

1. an output with the same name and a compatible schema, else
2. an output with the same semantic format (model, vector, …) under any name.

A primitive of another name is never connected; ``rename(out, in)`` says it
explicitly. Several candidates for one input is an error listing them; a
required input left without a value is an error naming it (unless the
workflow was made with ``require_inputs=False``, as a graph being drawn is).

What the fluent form cannot say has explicit calls, which ``to_code`` uses:
``connect(task_id, out, in)`` feeds the next task from an older one (in call
order: that is a fan-in list's order), and ``after(*task_ids)`` makes the next
task continue from other tasks, or from none (a new source).
"""

from __future__ import annotations

import inspect
import keyword
from collections.abc import Callable
from typing import Any

from .dataflow import Dataflow
from .errors import TaskloomError, WorkflowError
from .events import Event, EventEmitter, EventKind
from .graph import ERROR_PORT, TaskGraph
from .ports import Port, connection_mode
from .registry import TaskRegistry
from .registry import registry as default_registry
from .runner import RunResult, TaskGraphRunner
from .task import Task

_INSTANCE_SETTINGS = {"id", "title", "cacheable", "timeout", "queue", "metadata"}


class Workflow:
    def __init__(self, graph: TaskGraph | None = None, *, registry: TaskRegistry | None = None,
                 metadata: dict[str, Any] | None = None, require_inputs: bool = True,
                 **runner_options: Any):
        self.graph = graph if graph is not None else TaskGraph()
        if metadata is not None:
            self.graph.metadata = dict(metadata)
        self.registry = registry or default_registry
        #: False lets a task be added with a required input that nothing feeds yet.
        self.require_inputs = require_inputs
        self.runner_options = runner_options
        self.events = EventEmitter()
        self.last_result: RunResult | None = None
        self._previous: list[str] = []
        # Staged for the next task: (source task id, or None for the previous ones,
        # output, input, transform or None), in call order.
        self._renames: list[tuple[str | None, str, str, Any]] = []
        # The transforms of the dataflows the last _connections() call made.
        self._transforms: dict[Dataflow, Any] = {}
        self._history: list[tuple[str, list[str]]] = []
        self._runner: TaskGraphRunner | None = None

    # -- building ----------------------------------------------------------------------

    def __getattr__(self, name: str) -> Callable[..., Workflow]:
        if name.startswith("__"):
            raise AttributeError(name)
        lookup = name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
        cls = self.registry.by_method_name().get(lookup)
        if cls is None:
            raise AttributeError(f"Workflow has no method {name!r}: no registered task type "
                                 f"maps to it (known: {', '.join(sorted(self._methods()))})")

        def add(**kwargs: Any) -> Workflow:
            return self.add_task(cls, **kwargs)

        add.__name__ = name
        add.__doc__ = cls.description or cls.__doc__
        return add

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._methods()})

    def _methods(self) -> list[str]:
        return [f"{m}_" if keyword.iskeyword(m) else m for m in self.registry.by_method_name()]

    def add_task(self, task: Task | type[Task] | str, /, **kwargs: Any) -> Workflow:
        """Add a task (instance, class or registered type name) and auto-connect it."""
        if isinstance(task, str):
            task = self.registry.get(task)
        if isinstance(task, type):
            instance, explicit = self._instantiate(task, kwargs)
        else:
            instance = task
            unknown = set(kwargs) & _INSTANCE_SETTINGS
            if unknown:
                raise WorkflowError(f"{sorted(unknown)} are settings of a new task; set them on "
                                    "the instance you pass instead")
            instance.set_defaults(kwargs)
            explicit = set(instance.defaults)
        dataflows = self._connections(instance, explicit)
        graph = self.graph
        graph.add_task(instance)
        try:
            for dataflow in dataflows:
                graph.add_dataflow(dataflow, self._transforms.get(dataflow))
        except TaskloomError:
            graph.remove_task(instance.id)
            raise
        self._history.append((instance.id, self._previous))
        self._previous = [instance.id]
        self._renames = []
        return self

    def rename(self, source_port: str, target_port: str, *,
               transform: list[dict[str, Any]] | None = None) -> Workflow:
        """Connect ``source_port`` of the previous task to ``target_port`` of the next one
        (through ``transform``, transforms.py, if given)."""
        if not self._previous:
            raise WorkflowError("rename() needs a previous task to connect from; "
                                "connect(task_id, output, input) names the source instead")
        self._renames.append((None, source_port, target_port, transform))
        return self

    def connect(self, source_task_id: str, source_port: str, target_port: str, *,
                transform: list[dict[str, Any]] | None = None) -> Workflow:
        """Connect ``source_port`` of the earlier task ``source_task_id`` to
        ``target_port`` of the next task.

        For what auto-connect cannot say: an edge from a task other than the
        previous one, or the order of a fan-in list (connects apply in call order).
        """
        if source_task_id not in self.graph:
            raise WorkflowError(f"connect({source_task_id!r}, {source_port!r}, "
                                f"{target_port!r}): the workflow has no task "
                                f"{source_task_id!r} yet")
        self._renames.append((source_task_id, source_port, target_port, transform))
        return self

    def after(self, *task_ids: str) -> Workflow:
        """Make the next task continue from ``task_ids`` (auto-connect and rename
        use them); with none, the next task starts a new branch fed by nothing."""
        missing = [t for t in task_ids if t not in self.graph]
        if missing:
            raise WorkflowError(f"after(): the workflow has no task {missing[0]!r}")
        self._previous = list(dict.fromkeys(task_ids))
        return self

    def parallel(self, *branches: Callable[[Workflow], Any] | type[Task] | Task) -> Workflow:
        """Build branches that all start from the current task.

        Each branch is a task class or instance, or a function that receives
        this workflow and adds tasks to it. The next task then auto-connects
        from the end of every branch (an input fed by several branches must be
        list-typed: fan-in, in branch order).
        """
        start = self._previous
        ends: list[str] = []
        for branch in branches:
            self._previous = start
            if isinstance(branch, Task) or (isinstance(branch, type) and issubclass(branch, Task)):
                self.add_task(branch)
            else:
                branch(self)
            ends += [t for t in self._previous if t not in ends]
        self._previous = ends
        return self

    def pop(self) -> Workflow:
        """Remove the last task added (and its dataflows)."""
        if not self._history:
            raise WorkflowError("pop() on a workflow with no task added")
        task_id, previous = self._history.pop()
        if task_id in self.graph:
            self.graph.remove_task(task_id)
        self._previous = [t for t in previous if t in self.graph]
        self._renames = []
        return self

    def reset(self) -> Workflow:
        """Start again from an empty graph."""
        self.graph = TaskGraph()
        self._previous, self._renames, self._history = [], [], []
        self.last_result = None
        return self

    @property
    def last_task(self) -> Task | None:
        return self.graph.get_task(self._previous[-1]) if self._previous else None

    # -- output ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return self.graph.to_json()

    def to_dependency_json(self) -> list[dict[str, Any]]:
        return self.graph.to_dependency_json()

    def on(self, kind: EventKind | str, listener: Callable[[Event], Any]) -> Callable[[], None]:
        return self.events.on(kind, listener)

    def subscribe(self, listener: Callable[[Event], Any]) -> Callable[[], None]:
        return self.events.subscribe(listener)

    async def run(self, **runner_options: Any) -> RunResult:
        """Run the graph; options go to :class:`TaskGraphRunner`."""
        options = {**self.runner_options, **runner_options}
        runner = TaskGraphRunner(self.graph, **options)
        runner.events.subscribe(self.events.emit)
        self._runner = runner
        try:
            self.last_result = await runner.run()
        except TaskloomError as exc:
            self.last_result = exc.result
            raise
        finally:
            self._runner = None
        return self.last_result

    def abort(self, reason: str = "aborted") -> None:
        if self._runner is not None:
            self._runner.abort(reason)

    # -- internals --------------------------------------------------------------------

    def _instantiate(self, cls: type[Task], kwargs: dict[str, Any]) -> tuple[Task, set[str]]:
        params = inspect.signature(cls.__init__).parameters
        ctor_names = {n for n, p in params.items()
                      if n not in ("self", "defaults") and p.kind in
                      (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} | _INSTANCE_SETTINGS
        ports = cls.Input.model_fields
        ctor = {k: _graph_of(v)  # a nested builder's graph (or a list of them)
                for k, v in kwargs.items() if k in ctor_names and k not in ports}
        defaults = {k: v for k, v in kwargs.items() if k not in ctor}
        if "id" in ctor and ctor["id"] in self.graph:
            raise WorkflowError(f"the workflow already has a task with id {ctor['id']!r}")
        return cls(defaults=defaults, **ctor), set(defaults)

    def _connections(self, task: Task, explicit: set[str]) -> list[Dataflow]:
        previous = [self.graph.get_task(t) for t in self._previous]
        dataflows: list[Dataflow] = []
        self._transforms = transforms = {}
        fed: set[str] = set()
        for source_id, source_port, target_port, *rest in self._renames:
            transform = rest[0] if rest else None
            call = (f"rename({source_port!r}, {target_port!r})" if source_id is None else
                    f"connect({source_id!r}, {source_port!r}, {target_port!r})")
            pool = previous if source_id is None else [self.graph.get_task(source_id)]
            sources = [p for p in pool if p.output_ports.get(source_port) is not None
                       or source_port == ERROR_PORT]
            if not sources:
                which = "the previous task" if source_id is None else f"task {source_id!r}"
                raise WorkflowError(f"{call}: {which} has no output {source_port!r}")
            if task.input_ports.get(target_port) is None:
                raise WorkflowError(f"{call}: task {task.id!r} ({task.type}) has no input "
                                    f"{target_port!r}")
            made = [Dataflow(p.id, source_port, task.id, target_port) for p in sources]
            if transform is not None:
                transforms.update(dict.fromkeys(made, transform))
            dataflows += made
            fed.add(target_port)
        inputs = task.input_ports
        for port in inputs:
            if port.name in explicit or port.name in fed:
                continue
            matches = [(p.id, m) for p in previous for m in self._candidates(p, port)]
            if not matches:
                continue
            by_source: dict[str, list[str]] = {}
            for source_id, name in matches:
                by_source.setdefault(source_id, []).append(name)
            for source_id, names in by_source.items():
                if len(names) > 1:
                    raise WorkflowError(
                        f"input {port.name!r} of {task.id!r} ({task.type}) matches several "
                        f"outputs of {source_id!r}: {', '.join(names)}; use "
                        f"rename(output, {port.name!r}) to pick one")
            if len(by_source) > 1 and not port.is_list:
                raise WorkflowError(
                    f"input {port.name!r} of {task.id!r} takes one value but several "
                    f"branches offer one ({', '.join(by_source)}); make it a list input or "
                    "rename() explicitly")
            dataflows += [Dataflow(s, names[0], task.id, port.name)
                          for s, names in by_source.items()]
            fed.add(port.name)
        if inputs.open:
            # An open input (pass-through) takes every output of the previous task.
            for prev in previous:
                for out in prev.output_ports:
                    if out.name not in explicit and out.name not in fed \
                            and out.name not in inputs.by_name:
                        dataflows.append(Dataflow(prev.id, out.name, task.id, out.name))
                        fed.add(out.name)
        for port in inputs if self.require_inputs else ():
            if port.required and port.name not in explicit and port.name not in fed \
                    and port.name not in task.defaults:
                source = f" from {', '.join(self._previous)}" if self._previous else ""
                raise WorkflowError(
                    f"required input {port.name!r} of {task.id!r} ({task.type}) has no value: "
                    f"nothing{source} connects to it; pass {port.name}=... or rename() an "
                    "output into it")
        return dataflows

    @staticmethod
    def _candidates(source: Task, port: Port) -> list[str]:
        same_name = source.output_ports.get(port.name) if port.name in \
            source.output_ports.by_name else None
        if same_name is not None and connection_mode(same_name, port) is not None:
            return [port.name]
        if port.format:
            base = port.format.split(":")[0]
            return [out.name for out in source.output_ports
                    if out.format and out.format.split(":")[0] == base
                    and connection_mode(out, port) is not None]
        return []


def _graph_of(value: Any) -> Any:
    if isinstance(value, Workflow):
        return value.graph
    if isinstance(value, list) and value and all(isinstance(v, Workflow) for v in value):
        return [v.graph for v in value]
    return value
