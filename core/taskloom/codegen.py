"""Graph ↔ code: ``to_code`` writes the ``Workflow`` code that builds a graph,
``from_code`` builds the graph back from such code without running it.

    code = to_code(graph)          # readable Python; `ruff format` leaves it unchanged
    graph == from_code(code)       # True for every graph

``to_code`` writes one call per task, in a topological order that follows
chains, and relies on auto-connect wherever it reproduces the graph's edges
exactly; ``rename``, ``connect`` and ``after`` say the rest. Branches that
leave one task and meet again in the next become ``parallel(...)``, and a
``GraphAsTask``'s body is a Workflow of its own, written before the task that
uses it (a Fallback's ``alternatives`` are a list of them). An edge with a
transform is written ``rename(out, in, transform=[...])`` or ``connect(...,
transform=[...])``. Defaults and metadata are Python literals. Which code comes out
depends only on the graph (``==``), never on the order it was built in.

``from_code`` reads code as data: it walks the syntax tree and performs the
builder calls it finds, and refuses everything else with a
:class:`RefusedCodeError` naming line and column. Allowed are: ``from
taskloom import Workflow``; assignments to plain names; ``Workflow(...)``;
calls of the builder methods (``rename``, ``connect``, ``after``,
``parallel``, ``add_task``, ``pop``, ``reset``) and of the task methods of
registered types on a Workflow; ``lambda w: ...`` as a ``parallel`` branch;
literals (str, int, float, bool, None, lists and dicts of them); names bound
earlier in the same code. Nothing is imported, evaluated or executed, so code
from elsewhere is as safe to load as graph JSON.
"""

from __future__ import annotations

import ast
import heapq
import inspect
import keyword
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .compound import GraphAsTask
from .errors import (
    CodeError,
    RefusedCodeError,
    SerializationError,
    TaskloomError,
)
from .graph import TaskGraph
from .registry import TaskRegistry, snake_case
from .registry import registry as default_registry
from .workflow import _INSTANCE_SETTINGS, Workflow

#: ruff format's default line length: the code is laid out to be left unchanged by it.
WIDTH = 88
_INDENT = "    "
#: Builder methods from_code performs, besides the task methods of registered types.
_BUILDER_METHODS = {"rename", "connect", "after", "parallel", "add_task", "pop", "reset"}
#: Keys of a task's JSON entry that to_code writes, and what it ignores.
_ENTRY_KEYS = {"id", "type", "defaults", "config", "metadata", "subgraph", "function",
               "alternatives"}
_IGNORED_KEYS = {"note"}  # Lambda's explanation that its callable is unregistered
_CONFIG_ORDER = ("title", "cacheable", "timeout", "queue")
_WORKFLOW = "Workflow"


# == to_code ==========================================================================


def to_code(graph: TaskGraph, *, registry: TaskRegistry | None = None) -> str:
    """Python source that builds ``graph`` with :class:`Workflow` (as ``wf``)."""
    writer = _Writer(registry or default_registry)
    writer.workflow(graph, "wf")
    return "\n".join([f"from taskloom import {_WORKFLOW}", "", *writer.lines]).rstrip() + "\n"


@dataclass
class _Raw:
    """Code text that is not a literal: a variable name, a lambda."""

    text: str


@dataclass
class _Link:
    """One method call of a chain: ``name(args)``."""

    name: str
    args: list[tuple[str | None, Any]] = field(default_factory=list)


@dataclass
class _Step:
    """How one task is added: where it continues from, what is staged, the call."""

    task_id: str
    anchor: list[str] | None  # after(*anchor) first; None: continue from the previous task
    # rename (None) or connect (source id): (source, output, input, transform or None)
    staged: list[tuple[str | None, str, str, Any]]
    before: list[str]  # the previous tasks it connects from


class _Writer:
    def __init__(self, registry: TaskRegistry):
        self.registry = registry
        self.methods = registry.by_method_name()
        self.lines: list[str] = []
        self.names = {"wf", _WORKFLOW}
        self.bodies: dict[int, tuple[str, list[str]]] = {}

    # -- one workflow ------------------------------------------------------------------

    def workflow(self, graph: TaskGraph, var: str) -> None:
        require = not _has_unfed_required(graph)
        header: list[tuple[str | None, Any]] = []
        if graph.metadata:
            header.append(("metadata", graph.metadata))
        if not require:
            header.append(("require_inputs", False))
        self._blank()
        self._statement(f"{var} = ", [_Link(_WORKFLOW, header)], joiner="")
        steps = self._plan(graph, require)
        statement: list[_Link] = []
        for item in self._with_parallel(graph, steps):
            if isinstance(item, _Block):  # a GraphAsTask's body, written before its task
                self._flush(var, statement)
                statement = []
                self._blank()
                self.lines += item.lines
                self._blank()
                continue
            statement = self._add_unit(var, statement, item)
        self._flush(var, statement)

    def _add_unit(self, var: str, statement: list[_Link], unit: list[_Link]) -> list[_Link]:
        """Chain one task's calls onto the statement while the line has room.

        A unit (after/rename/connect and the task call) is never split across
        statements when it fits on a line, and after() always starts one: it
        reads as "from here"."""
        joined = [*statement, *unit]
        if unit[0].name != "after" and _fits(var, joined):
            return joined
        self._flush(var, statement)
        if _fits(var, unit):
            return unit
        for link in unit:
            self._statement(var, [link])
        return []

    def _flush(self, var: str, statement: list[_Link]) -> None:
        if statement:
            self._statement(var, statement)

    def _statement(self, lead: str, links: list[_Link], joiner: str = ".") -> None:
        flat = lead + "".join(joiner + _flat_call(x) for x in links)
        if _width(flat) <= WIDTH or len(links) > 1 or not links[0].args:
            self.lines.append(flat)
            return
        # One call too long for a line: one argument per line, with the trailing
        # comma that tells ruff to keep it so.
        link = links[0]
        self.lines.append(f"{lead}{joiner}{link.name}(")
        for key, value in link.args:
            self.lines += _render(value, 1, f"{_INDENT}{key}=" if key else _INDENT, ",")
        self.lines.append(")")

    def _blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    # -- planning ----------------------------------------------------------------------

    def _plan(self, graph: TaskGraph, require: bool) -> list[_Step]:
        scratch = Workflow(graph, registry=self.registry, require_inputs=require)
        steps = []
        previous: list[str] = []
        for task_id in _chain_order(graph):
            task = graph.get_task(task_id)
            want = _incoming(graph, task)
            anchor, staged = self._choose(scratch, task, want, previous)
            before = previous if anchor is None else anchor
            steps.append(_Step(task_id, anchor, staged, before))
            previous = [task_id]
        return steps

    def _choose(self, scratch: Workflow, task: Any, want: dict[str, list[tuple[str, str, Any]]],
                previous: list[str],
                ) -> tuple[list[str] | None, list[tuple[str | None, str, str, Any]]]:
        explicit = set(task.defaults)
        sources = list(dict.fromkeys(s for flows in want.values() for s, *_ in flows))

        def made(before: list[str], staged: list[tuple[str | None, str, str, Any]]) -> Any:
            scratch._previous, scratch._renames = before, staged
            try:
                flows = scratch._connections(task, explicit)
            except TaskloomError:
                return None
            transforms = scratch._transforms
            got: dict[str, list[tuple[str, str, Any]]] = {}
            for d in flows:
                steps = transforms.get(d)
                got.setdefault(d.target_port, []).append(
                    (d.source_task_id, d.source_port, list(steps) if steps else None))
            return got

        def staging(before: list[str], ports: list[str],
                    ) -> list[tuple[str | None, str, str, Any]]:
            out = []
            for port in ports:
                for source, out_port, steps in want[port]:
                    single = len(before) == 1 and before[0] == source
                    out.append((None if single else source, out_port, port, steps))
            return out

        anchors: list[list[str] | None] = []
        if not want and previous:
            anchors.append([])  # a new source says so, rather than "connects to nothing"
        anchors.append(None)
        if sources and sources != previous:
            anchors.append(sources)
        for anchor in anchors:
            if made(previous if anchor is None else anchor, []) == want:
                return anchor, []
        for anchor in anchors:
            before = previous if anchor is None else anchor
            if not before:
                continue
            auto = made(before, [])
            keep = set() if auto is None else {p for p in want if auto.get(p) == want[p]}
            staged = staging(before, [p for p in want if p not in keep])
            if made(before, staged) == want:
                return anchor, staged
        staged = staging([], list(want))
        if made([], staged) != want:  # cannot happen: every edge is said explicitly
            raise SerializationError(f"to_code cannot express the inputs of task {task.id!r}")
        return ([] if previous else None), staged

    # -- parallel(...) -----------------------------------------------------------------

    def _with_parallel(self, graph: TaskGraph, steps: list[_Step]) -> list[Any]:
        """The links of every step, with fork-and-join runs as ``parallel(...)``.

        A run fits when k ≥ 2 consecutive tasks each connect only from the same
        tasks P (auto-connect, nothing staged) and the next task continues from
        exactly those k: that is what ``parallel`` does, with one task a branch.
        """
        out: list[Any] = []
        by_id = {step.task_id: step for step in steps}
        i = 0
        while i < len(steps):
            run = self._parallel_run(steps, i)
            if run:
                join = steps[i + run]
                blocks: list[Any] = []
                # Branch order is the join's fan-in order; the branches are independent.
                branches = [self._task_links(graph, by_id[t], blocks)[-1]
                            for t in join.anchor]
                lambdas = [(None, _Raw("lambda w: w." + _flat_call(b))) for b in branches]
                if all(_width(f"{_INDENT}{lam.text},") <= WIDTH for _, lam in lambdas):
                    out += blocks
                    unit = [_Link("parallel", lambdas)]
                    if steps[i].anchor is not None:
                        unit.insert(0, _Link("after", [(None, t) for t in steps[i].before]))
                    out.append(unit)
                    join.anchor = None  # parallel leaves the workflow at its branch ends
                    i += run
                    continue
            out.append(self._step_links(graph, steps[i], out))
            i += 1
        return out

    @staticmethod
    def _parallel_run(steps: list[_Step], i: int) -> int:
        start = steps[i].before
        if steps[i].staged:
            return 0
        k = 1
        while i + k < len(steps) and not steps[i + k].staged and steps[i + k].before == start \
                and steps[i + k].anchor is not None:
            k += 1
        if k < 2 or i + k >= len(steps):
            return 0
        branch_ids = {s.task_id for s in steps[i:i + k]}
        join = steps[i + k]
        ok = join.anchor is not None and len(join.anchor) == k and set(join.anchor) == branch_ids
        return k if ok else 0

    # -- links -------------------------------------------------------------------------

    def _step_links(self, graph: TaskGraph, step: _Step, out: list[Any]) -> list[_Link]:
        links = []
        if step.anchor is not None:
            links.append(_Link("after", [(None, t) for t in step.anchor]))
        for source, out_port, in_port, steps in step.staged:
            extra = [("transform", steps)] if steps else []
            if source is None:
                links.append(_Link("rename", [(None, out_port), (None, in_port), *extra]))
            else:
                links.append(_Link("connect", [(None, source), (None, out_port),
                                               (None, in_port), *extra]))
        return links + self._task_links(graph, step, out)

    def _task_links(self, graph: TaskGraph, step: _Step, out: list[Any]) -> list[_Link]:
        task = graph.get_task(step.task_id)
        entry = task.to_json()
        extra = set(entry) - _ENTRY_KEYS - _IGNORED_KEYS
        if extra:
            raise SerializationError(
                f"task {task.id!r} ({task.type}) stores {sorted(extra)} in its JSON, which "
                "to_code cannot write as Workflow code")
        cls = type(task)
        ports = cls.Input.model_fields if hasattr(cls, "Input") else {}
        declared = _port_order(task)
        args: list[tuple[str | None, Any]] = [("id", task.id)]
        config = entry.get("config") or {}
        for key in _CONFIG_ORDER:
            if key in config:
                if key in ports:
                    raise SerializationError(
                        f"task {task.id!r} ({task.type}) has a port named {key!r}, so its "
                        f"{key} setting cannot be written as a Workflow argument")
                args.append((key, config[key]))
        if "function" in entry:
            if not entry["function"]:
                raise SerializationError(
                    f"Lambda task {task.id!r} has an unregistered callable, which code cannot "
                    "name: register it with @taskloom.register_function first")
            args.append(("fn", entry["function"]))
        if "subgraph" in entry:
            name, lines = self._body(task)
            out.append(_Block(lines))
            args.append(("subgraph", _Raw(name)))
        if "alternatives" in entry:  # a Fallback's bodies, one Workflow each
            names = []
            for n, body in enumerate(task.alternatives):
                name, lines = self._body(task, body, f"alt{n}")
                out.append(_Block(lines))
                names.append(_Raw(name))
            args.append(("alternatives", names))
        defaults = entry.get("defaults") or {}
        order = [k for k in declared if k in defaults] + sorted(k for k in defaults
                                                                 if k not in declared)
        splat = {}
        for key in order:
            if _plain_keyword(key) and key not in _INSTANCE_SETTINGS:
                args.append((key, defaults[key]))
            elif key in declared or key not in _ctor_names(cls):
                splat[key] = defaults[key]
            else:
                raise SerializationError(
                    f"task {task.id!r} ({task.type}): input {key!r} has the name of a task "
                    "setting, so Workflow code cannot give it a default")
        if entry.get("metadata"):
            args.append(("metadata", entry["metadata"]))
        if splat:
            args.append((None, _Splat(splat)))
        method = self._method(task)
        if method == "add_task":
            args.insert(0, (None, task.type))
        return [_Link(method, args)]

    def _method(self, task: Any) -> str:
        name = snake_case(task.type)
        if self.methods.get(name) is type(task) and name.isidentifier() and \
                not name.startswith("_") and unicodedata.normalize("NFKC", name) == name:
            method = f"{name}_" if keyword.iskeyword(name) else name
            if not hasattr(Workflow, method):
                return method
        return "add_task"

    def _body(self, task: Any, graph: TaskGraph | None = None,
              label: str = "body") -> tuple[str, list[str]]:
        graph = task.subgraph if graph is None else graph
        if id(graph) in self.bodies:
            return self.bodies[id(graph)]
        base = re.sub(r"\W", "_", task.id, flags=re.ASCII).strip("_") or "task"
        if base[0].isdigit():
            base = f"t_{base}"
        name, n = f"{base}_{label}", 2
        while name in self.names or keyword.iskeyword(name):
            name, n = f"{base}_{label}_{n}", n + 1
        self.names.add(name)
        saved, self.lines = self.lines, []
        self.workflow(graph, name)
        body, self.lines = self.lines, saved
        while body and body[0] == "":
            body.pop(0)
        self.bodies[id(graph)] = name, body
        return name, body


@dataclass
class _Block:
    """Lines written as they are: a GraphAsTask's body."""

    lines: list[str]


def _fits(var: str, links: list[_Link]) -> bool:
    return _width(var + "".join("." + _flat_call(x) for x in links)) <= WIDTH


@dataclass
class _Splat:
    """``**{...}``: defaults whose port names are not Python keywords."""

    values: dict[str, Any]


@cache
def _ctor_names(cls: type) -> frozenset[str]:
    params = inspect.signature(cls.__init__).parameters
    return frozenset({n for n in params if n not in ("self", "defaults")} | _INSTANCE_SETTINGS)


def _plain_keyword(name: str) -> bool:
    # Python reads identifiers NFKC-normalised ("ª" is "a"): such a name must stay a string.
    return name.isidentifier() and not keyword.iskeyword(name) \
        and not name.startswith("__") and unicodedata.normalize("NFKC", name) == name


def _flat_call(link: _Link) -> str:
    parts = [_flat_arg(k, v) for k, v in link.args]
    return f"{link.name}({', '.join(parts)})"


def _flat_arg(key: str | None, value: Any) -> str:
    if isinstance(value, _Splat):
        return "**" + _flat(value.values)
    return f"{key}={_flat(value)}" if key else _flat(value)


def _flat(value: Any) -> str:
    if isinstance(value, _Raw):
        return value.text
    if isinstance(value, _Splat):
        return "**" + _flat(value.values)
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializationError(f"{value!r} is not a JSON number")
        return repr(value).replace("e+", "e")  # ruff writes exponents without "+"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_flat(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)}: {_flat(v)}" for k, v in value.items()) + "}"
    raise SerializationError(f"to_code cannot write a {type(value).__name__} as a literal")


def _render(value: Any, depth: int, lead: str, trail: str) -> list[str]:
    """``lead + value + trail``, over several lines where one is too long (ruff's way)."""
    flat = _flat(value)
    if _width(lead + flat + trail) <= WIDTH:
        return [lead + flat + trail]
    indent = _INDENT * depth
    inner = _INDENT * (depth + 1)
    if isinstance(value, _Splat):
        return [lead + "**{", *_items(value.values, depth, inner), indent + "}" + trail]
    if isinstance(value, list) and value:
        lines = [lead + "["]
        for item in value:
            lines += _render(item, depth + 1, inner, ",")
        return [*lines, indent + "]" + trail]
    if isinstance(value, dict) and value:
        return [lead + "{", *_items(value, depth, inner), indent + "}" + trail]
    return [lead + flat + trail]  # a long string or number stays whole


def _items(values: dict[str, Any], depth: int, inner: str) -> list[str]:
    lines = []
    for key, item in values.items():
        lines += _render(item, depth + 1, f"{inner}{_string(key)}: ", ",")
    return lines


def _string(text: str) -> str:
    # ruff's choice: double quotes unless the text holds more double than single quotes.
    quote = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote:
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])  # \n, \x0b, \u2028, \ud800: never a raw control
    return quote + "".join(out) + quote


def _width(text: str) -> int:
    # Wide characters take two columns for ruff; counting every non-ASCII one as two
    # errs on the side of breaking, which ruff keeps thanks to the trailing comma.
    return len(text) + sum(1 for ch in text if ord(ch) > 127)


def _incoming(graph: TaskGraph, task: Any) -> dict[str, list[tuple[str, str, Any]]]:
    """The edges into ``task`` by port (source, output, transform or None), ports in
    declaration order then by name."""
    by_port: dict[str, list[tuple[str, str, Any]]] = {}
    for d in graph.dataflows_into(task.id):
        steps = graph.transform_of(d)
        by_port.setdefault(d.target_port, []).append(
            (d.source_task_id, d.source_port, [dict(x) for x in steps] if steps else None))
    declared = _port_order(task)
    order = [p for p in declared if p in by_port] + sorted(p for p in by_port
                                                           if p not in declared)
    return {p: by_port[p] for p in order}


def _port_order(task: Any) -> list[str]:
    # A GraphAsTask's ports follow its body's insertion order, which == ignores.
    names = task.input_ports.names()
    derived = isinstance(task, GraphAsTask) or getattr(task, "alternatives", None)
    return sorted(names) if derived else names


def _has_unfed_required(graph: TaskGraph) -> bool:
    for task in graph.tasks:
        fed = {d.target_port for d in graph.dataflows_into(task.id)}
        for port in task.input_ports:
            if port.required and port.name not in fed and port.name not in task.defaults:
                return True
    return False


def _chain_order(graph: TaskGraph) -> list[str]:
    """A topological order that follows chains: after a task, one of its own
    successors if one is ready, else the nearest earlier task's; ties by id."""
    succ = {t: sorted(s) for t, s in graph.successor_lists().items()}
    waiting = graph.predecessor_counts()
    ready = [t for t, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    done: set[str] = set()
    stack: list[str] = []
    order: list[str] = []
    skip = dict.fromkeys(succ, 0)
    while len(order) < len(succ):
        pick = None
        while stack and pick is None:
            top = stack[-1]
            todo = succ[top]
            i = skip[top]
            while i < len(todo) and todo[i] in done:
                i += 1
            skip[top] = i
            pick = next((t for t in todo[i:] if t not in done and waiting[t] == 0), None)
            if pick is None:
                stack.pop()
        if pick is None:
            pick = heapq.heappop(ready)
            while pick in done:
                pick = heapq.heappop(ready)
        done.add(pick)
        order.append(pick)
        stack.append(pick)
        for t in succ[pick]:
            waiting[t] -= 1
            if waiting[t] == 0:
                heapq.heappush(ready, t)
    return order


# == from_code ========================================================================


def from_code(source: str, *, registry: TaskRegistry | None = None) -> TaskGraph:
    """The graph that Workflow code builds, read without running the code.

    The result is the Workflow named ``wf``, else the only one not used as a
    GraphAsTask body. Code outside the allowlist (see the module docstring)
    raises :class:`RefusedCodeError`; code the builder rejects (an unknown
    port, a cycle, …) raises :class:`CodeError`; both name line and column.
    """
    return _Reader(source, registry or default_registry).graph()


_Workflow = object()  # what the name `Workflow` is bound to in the code


class _Reader:
    def __init__(self, source: str, registry: TaskRegistry):
        if isinstance(source, bytes | bytearray):
            source = bytes(source).decode("utf-8-sig")
        self.source = source
        self.lines = re.split(r"\r\n|\r|\n", source)
        self.registry = registry
        self.methods = registry.by_method_name()
        # Bound with or without the import, as in the page's code box.
        self.env: dict[str, Any] = {_WORKFLOW: _Workflow}
        self.bodies: set[int] = set()

    def graph(self) -> TaskGraph:
        try:
            tree = ast.parse(self.source, "<workflow code>", "exec")
        except SyntaxError as exc:
            raise CodeError(f"not valid Python: {exc.msg}", exc.lineno,
                            exc.offset) from None
        except (RecursionError, MemoryError):
            raise CodeError("the code is nested too deeply to read") from None
        except ValueError as exc:  # e.g. an integer longer than Python reads
            raise CodeError(f"not valid Python: {exc}") from None
        try:
            for statement in tree.body:
                self._statement(statement)
        except RecursionError:  # parallel branches nested hundreds deep
            raise CodeError("the code is nested too deeply to read") from None
        named = self.env.get("wf")
        if isinstance(named, Workflow):
            return named.graph
        found = [v for v in self.env.values()
                 if isinstance(v, Workflow) and id(v) not in self.bodies]
        if len(found) == 1:
            return found[0].graph
        if not found:
            raise CodeError("the code builds no Workflow: start with `wf = Workflow()`")
        raise CodeError("the code builds several Workflows: name the one it is about `wf`")

    # -- errors ------------------------------------------------------------------------

    def _where(self, node: ast.AST) -> tuple[int | None, int | None]:
        line = getattr(node, "lineno", None)
        offset = getattr(node, "col_offset", None)
        if line is None or offset is None:
            return line, None
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        # col_offset counts UTF-8 bytes; people count characters, from 1.
        return line, len(text.encode()[:offset].decode("utf-8", "replace")) + 1

    def refuse(self, node: ast.AST, message: str) -> RefusedCodeError:
        return RefusedCodeError(message, *self._where(node))

    def fail(self, node: ast.AST, message: str) -> CodeError:
        return CodeError(message, *self._where(node))

    # -- statements --------------------------------------------------------------------

    def _statement(self, node: ast.stmt) -> None:
        if isinstance(node, ast.ImportFrom):
            self._import(node)
        elif isinstance(node, ast.Import):
            raise self.refuse(node, "imports are not allowed in workflow code; only "
                                    "`from taskloom import Workflow` is")
        elif isinstance(node, ast.Assign):
            if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
                raise self.refuse(node, "only `name = value` assignments are allowed")
            target = node.targets[0]
            self._check_name(target)
            if target.id == _WORKFLOW:
                raise self.refuse(target, "the name `Workflow` cannot be rebound")
            self.env[target.id] = self._value(node.value)
        elif isinstance(node, ast.Expr):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return  # a docstring
            self._value(node.value)
        elif isinstance(node, ast.Pass):
            return
        else:
            raise self.refuse(node, f"{_describe(node)} is not allowed in workflow code: "
                                    "only builder calls, literals and `name = ...`")

    def _import(self, node: ast.ImportFrom) -> None:
        if node.module != "taskloom" or node.level:
            raise self.refuse(node, "imports are not allowed in workflow code; only "
                                    "`from taskloom import Workflow` is")
        for alias in node.names:
            if alias.name != _WORKFLOW:
                raise self.refuse(alias, f"`from taskloom import {alias.name}` is not allowed: "
                                         "workflow code may import only Workflow")
            if alias.asname and alias.asname != _WORKFLOW:
                raise self.refuse(alias, "import Workflow under its own name")
            self.env[_WORKFLOW] = _Workflow

    def _check_name(self, node: ast.Name) -> None:
        if node.id.startswith("__") and node.id.endswith("__"):
            raise self.refuse(node, f"dunder names such as {node.id} are not allowed")

    # -- expressions -------------------------------------------------------------------

    def _value(self, node: ast.expr, scope: dict[str, Any] | None = None) -> Any:
        env = self.env if scope is None else scope
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None or isinstance(value, bool | int | str):
                return value
            if isinstance(value, float):
                if not math.isfinite(value):
                    raise self.refuse(node, "numbers must be finite (JSON has no Infinity)")
                return value
            raise self.refuse(node, f"a {type(value).__name__} literal is not JSON: use str, "
                                    "int, float, bool, None, lists and dicts")
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd) \
                and isinstance(node.operand, ast.Constant) \
                and type(node.operand.value) in (int, float):
            number = self._value(node.operand, scope)
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.List):
            for item in node.elts:
                if isinstance(item, ast.Starred):
                    raise self.refuse(item, "`*` unpacking is not allowed")
            return [self._value(item, scope) for item in node.elts]
        if isinstance(node, ast.Dict):
            out = {}
            for key, item in zip(node.keys, node.values, strict=True):
                if key is None:
                    raise self.refuse(item, "`**` unpacking is allowed only in a call")
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise self.refuse(key, "dict keys must be strings (JSON objects)")
                out[key.value] = self._value(item, scope)
            return out
        if isinstance(node, ast.Name):
            self._check_name(node)
            if node.id not in env:
                raise self.refuse(node, f"{node.id!r} is not bound in this code: only names "
                                        "the code assigns (and Workflow) can be used")
            return env[node.id]
        if isinstance(node, ast.Call):
            return self._call(node, scope)
        if isinstance(node, ast.Attribute):
            raise self.refuse(node, f"attribute access (.{node.attr}) is allowed only to call "
                                    "a builder method on a Workflow")
        if isinstance(node, ast.Lambda):
            raise self.refuse(node, "lambda is allowed only as a branch of parallel(...)")
        raise self.refuse(node, f"{_describe(node)} is not allowed in workflow code")

    def _call(self, node: ast.Call, scope: dict[str, Any] | None) -> Any:
        # A chain a.b(...).c(...) nests inside out; walk it without recursion, so a
        # long chain is no deeper for us than a short one.
        links: list[ast.Call] = []
        base: ast.expr = node
        while isinstance(base, ast.Call) and isinstance(base.func, ast.Attribute):
            links.append(base)
            base = base.func.value
        if links:
            target = self._value(base, scope)
        else:
            target = None
            if isinstance(base, ast.Call):
                func = base.func
                if isinstance(func, ast.Name) and (scope or self.env).get(func.id) is _Workflow:
                    target = self._workflow(base, scope)
                else:
                    raise self.refuse(base, "the only calls allowed are Workflow(...) and "
                                            "builder methods on a Workflow")
            return target
        for link in reversed(links):
            attr = link.func
            assert isinstance(attr, ast.Attribute)
            if not isinstance(target, Workflow):
                raise self.refuse(attr, f".{attr.attr}(...) is called on something that is "
                                        "not a Workflow")
            target = self._method(target, attr.attr, link, scope)
        return target

    def _workflow(self, node: ast.Call, scope: dict[str, Any] | None) -> Workflow:
        if node.args:
            raise self.refuse(node.args[0], "Workflow(...) takes keyword arguments only")
        kwargs = self._keywords(node, scope)
        unknown = set(kwargs) - {"metadata", "require_inputs"}
        if unknown:
            raise self.refuse(node, f"Workflow(...) in workflow code takes only metadata= and "
                                    f"require_inputs=, not {', '.join(sorted(unknown))}")
        metadata = kwargs.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise self.fail(node, "Workflow(metadata=...) must be a dict")
        return Workflow(registry=self.registry, metadata=metadata,
                        require_inputs=bool(kwargs.get("require_inputs", True)))

    def _keywords(self, node: ast.Call, scope: dict[str, Any] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                if not isinstance(kw.value, ast.Dict):
                    raise self.refuse(kw.value, "`**` takes a dict literal only")
                values = self._value(kw.value, scope)
            else:
                values = {kw.arg: self._value(kw.value, scope)}
            for key, value in values.items():
                if key in out:
                    raise self.fail(kw.value, f"argument {key!r} is given twice")
                if value is _Workflow:
                    raise self.refuse(kw.value, "Workflow itself cannot be an argument")
                out[key] = value
        return out

    def _method(self, wf: Workflow, name: str, node: ast.Call,
                scope: dict[str, Any] | None) -> Any:
        attr = node.func
        if name.startswith("_"):
            raise self.refuse(attr, f"private or dunder attributes (.{name}) are not allowed")
        if name == "parallel":
            branches = [self._branch(arg, scope) for arg in node.args]
            if node.keywords:
                raise self.refuse(node, "parallel(...) takes lambda branches only")
            return self._perform(attr, wf.parallel, branches, {})
        args = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.refuse(arg, "`*` unpacking is not allowed")
            args.append(self._value(arg, scope))
        kwargs = self._keywords(node, scope)
        for key, value in kwargs.items():
            if isinstance(value, Workflow):
                if key != "subgraph":
                    raise self.refuse(node, f"a Workflow can be passed only as subgraph= "
                                            f"(or in alternatives=[...]), not {key}=")
                self.bodies.add(id(value))
            elif isinstance(value, list) and any(isinstance(v, Workflow) for v in value):
                if key != "alternatives" or not all(isinstance(v, Workflow) for v in value):
                    raise self.refuse(node, "a list of Workflows can be passed only as "
                                            "alternatives=[...]")
                self.bodies.update(id(v) for v in value)
        if any(not isinstance(a, str) for a in args):
            raise self.refuse(node, f".{name}(...) takes strings as positional arguments")
        if name == "add_task":
            if len(args) != 1:
                raise self.fail(node, "add_task(...) takes the task type's name, then "
                                      "keyword arguments")
            cls = self._perform(attr, self.registry.get, args, {})
            self._check_constructor(cls, kwargs, node)
            return self._perform(attr, wf.add_task, [cls], kwargs)
        if name in _BUILDER_METHODS:
            return self._perform(attr, getattr(wf, name), args, kwargs)
        lookup = name[:-1] if name.endswith("_") and keyword.iskeyword(name[:-1]) else name
        cls = self.methods.get(lookup)
        if cls is None or hasattr(Workflow, name):
            what = ("is not a builder call: from_code builds a graph, it runs nothing"
                    if hasattr(Workflow, name) else "names no registered task type")
            raise self.refuse(attr, f".{name}(...) {what}")
        if args:
            raise self.refuse(node, f".{name}(...) takes keyword arguments only")
        self._check_constructor(cls, kwargs, node)
        return self._perform(attr, wf.add_task, [cls], kwargs)

    def _check_constructor(self, cls: type, kwargs: dict[str, Any], node: ast.Call) -> None:
        """Constructor arguments are limited to what graph JSON can hold too.

        A type's constructor may take more (a callable, a path), but code read
        here may set no more than a JSON document could."""
        ports = cls.Input.model_fields
        for key in set(kwargs) & _ctor_names(cls):
            if key in ports or key in _INSTANCE_SETTINGS:
                continue
            if key == "fn" and isinstance(kwargs[key], str):
                continue  # a Lambda names a registered function, as in JSON
            if key == "subgraph" and isinstance(kwargs[key], Workflow):
                continue
            if key == "alternatives" and isinstance(kwargs[key], list) \
                    and all(isinstance(v, Workflow) for v in kwargs[key]):
                continue  # a Fallback's bodies
            raise self.refuse(node, f"{cls.__name__}(...) argument {key}= cannot be set from "
                                    "workflow code (only ports, settings, fn= naming a "
                                    "registered function and subgraph=)")

    def _branch(self, node: ast.expr, scope: dict[str, Any] | None) -> Any:
        if not isinstance(node, ast.Lambda):
            raise self.refuse(node, "each branch of parallel(...) must be `lambda w: w....`")
        params = node.args
        if len(params.args) != 1 or params.posonlyargs or params.kwonlyargs \
                or params.vararg or params.kwarg or params.defaults:
            raise self.refuse(node, "a parallel branch takes exactly one argument: lambda w: …")
        name = params.args[0].arg
        if name.startswith("__"):
            raise self.refuse(node, f"dunder names such as {name} are not allowed")
        outer = self.env if scope is None else scope

        def branch(workflow: Workflow) -> Any:
            return self._value(node.body, {**outer, name: workflow})

        return branch

    def _perform(self, attr: ast.expr, method: Any, args: list[Any],
                 kwargs: dict[str, Any]) -> Any:
        try:
            return method(*args, **kwargs)
        except CodeError:
            raise
        except (TaskloomError, ValueError, TypeError, KeyError) as exc:
            assert isinstance(attr, ast.Attribute)
            message = " ".join(str(exc).split()) or type(exc).__name__
            raise CodeError(f".{attr.attr}(...): {message}", *self._method_where(attr)) \
                from exc

    def _method_where(self, attr: ast.Attribute) -> tuple[int | None, int | None]:
        # Point at the method's name, not at the start of the chain it ends.
        line, end = attr.end_lineno, attr.end_col_offset
        if line is None or end is None:
            return self._where(attr)
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        column = len(text.encode()[:end].decode("utf-8", "replace")) - len(attr.attr) + 1
        return line, max(column, 1)


def _describe(node: ast.AST) -> str:
    names = {
        ast.FunctionDef: "a function definition", ast.AsyncFunctionDef: "a function definition",
        ast.ClassDef: "a class definition", ast.For: "a for loop", ast.While: "a while loop",
        ast.If: "an if statement", ast.With: "a with statement", ast.Try: "a try statement",
        ast.Delete: "del", ast.Global: "global", ast.Nonlocal: "nonlocal",
        ast.AugAssign: "an augmented assignment", ast.AnnAssign: "an annotated assignment",
        ast.Raise: "raise", ast.Assert: "assert", ast.Return: "return",
        ast.Await: "await", ast.BinOp: "an operator expression", ast.BoolOp: "and/or",
        ast.Compare: "a comparison", ast.Subscript: "subscripting", ast.Tuple: "a tuple",
        ast.Set: "a set", ast.JoinedStr: "an f-string", ast.ListComp: "a comprehension",
        ast.DictComp: "a comprehension", ast.SetComp: "a comprehension",
        ast.GeneratorExp: "a generator", ast.IfExp: "a conditional expression",
        ast.NamedExpr: "an assignment expression", ast.Starred: "`*` unpacking",
    }
    return names.get(type(node), f"`{type(node).__name__}`")


__all__ = ["WIDTH", "from_code", "to_code"]
