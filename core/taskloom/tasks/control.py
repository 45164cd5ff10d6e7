"""Control flow: If, Fallback, Map, Reduce and While.

- ``If`` routes its ``value`` to ``then`` or ``otherwise`` by a condition
  (conditions.py); the tasks fed by the other port are *skipped*, as is what
  only they feed. A run with a skipped branch still completes.
- ``Fallback`` tries alternatives in order. Given ``alternatives`` (bodies,
  e.g. a cloud model, then a local one) it runs each until one succeeds; with
  none it joins data: its ``values`` (a fan-in list) are the branches that
  produced something, and the first that is not null wins.
- ``Map`` runs its body once per item of its list inputs (zipped when there
  are several, which must have one length), at most ``concurrency`` at once,
  keeping the items' order. An empty list gives empty lists.
- ``Reduce`` folds ``items`` into ``initial`` with a body (inputs
  ``accumulator`` and ``item``, output ``accumulator``) or a registered
  function ``f(accumulator, item)``.
- ``While`` runs its body while ``condition`` holds on its state: the inputs,
  then each iteration's outputs of the same name. Reaching ``max_iterations``
  with the condition still true is an error (:class:`WhileLimitError`): a
  loop that has not converged must not pass for one that has.

A recorded run checkpoints a Map's items and a While's or Reduce's iterations
in the run record (``ctx.services["checkpoints"]``), so a resumed run goes
on from the last one recorded. Each body run is a run of its own, with the
run's output cache: pure bodies are cached item by item, and the whole
construct is cacheable when its body is. Bodies run through
:class:`~taskloom.compound.Body`: their inner tasks' stream deltas go out as
this task's ``task_stream`` events, tagged with their ``item``, ``iteration``
or ``alternative`` and the ``inner`` task.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, ClassVar, Optional

from pydantic import AfterValidator, BaseModel, Field, create_model

from ..compound import Body, GraphAsTask
from ..conditions import Condition
from ..errors import GraphError, SerializationError, TaskError, TaskFailedError, TaskloomError
from ..graph import TaskGraph
from ..registry import functions
from ..task import Task, TaskContext, gather_or_cancel

__all__ = ["Fallback", "If", "Map", "Reduce", "While", "WhileLimitError"]


class WhileLimitError(TaskError):
    """A While reached ``max_iterations`` with its condition still true."""


def _valid_condition(spec: Any) -> Any:
    Condition(spec)  # raises ConditionError (a ValueError) naming the column
    return spec


#: A condition port: an expression string, or {"function": "<registered name>"}.
ConditionSpec = Annotated[str | dict[str, str], AfterValidator(_valid_condition),
                          Field(description="an expression over the input, or "
                                            "{\"function\": name}")]


def _namespace(value: Any) -> dict[str, Any]:
    return {**value, "value": value} if isinstance(value, dict) else {"value": value}


# -- If -------------------------------------------------------------------------------


class If(Task):
    """Routes its value to ``then`` or ``otherwise`` by a condition; the other branch is
    skipped."""

    category = "control"
    #: Output ports that only one run of the task fills: what they feed is skipped otherwise.
    branch_ports: ClassVar[frozenset[str]] = frozenset({"then", "otherwise"})

    class Input(BaseModel):
        value: Any = None
        # The value's fields are names in the condition, and `value` is the value itself.
        condition: ConditionSpec

    class Output(BaseModel):
        then: Any = None
        otherwise: Any = None

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        taken = Condition(input.condition).evaluate(_namespace(input.value))
        return {"then" if taken else "otherwise": input.value}


# -- running a body ---------------------------------------------------------------------


async def _run_step(body: Body, values: dict[str, Any], ctx: TaskContext, owner: Task,
                    key: str, n: int) -> dict[str, Any]:
    """One item, iteration or alternative ``n`` of ``owner``: its body run on ``values``."""
    given = {k: v for k, v in values.items() if k in body.input_map and v is not None}
    step = f"{key} {n}"
    try:
        return await body.run(given, ctx, f"{ctx.run_id}/{owner.id}/{step}", step=(key, n))
    except TaskloomError as exc:
        raise TaskFailedError(f"{owner.type} {owner.id!r} {step}: {exc}", owner.id) from exc


def _body_entry(entry: dict[str, Any], registry: Any, key: str = "subgraph") -> TaskGraph:
    if not isinstance(entry.get(key), dict):
        raise SerializationError(f"{entry.get('type')} {entry.get('id')!r} has no {key!r} "
                                 "object")
    return TaskGraph.from_json(entry[key], registry)


def _checkpoints(ctx: TaskContext) -> Any:
    return ctx.services.get("checkpoints")


def _fingerprint(values: Any) -> str:
    # A checkpoint counts only for the input it was made from: an upstream task that
    # ran again on resume may have produced another one.
    from ..cache import input_fingerprint

    return input_fingerprint(values)[:16]


def _no_clash(kind: str, body_ports: dict[str, Any], own: set[str]) -> None:
    clash = sorted(set(body_ports) & own)
    if clash:
        raise GraphError(f"a {kind} body cannot have an open port named {clash[0]!r}: the "
                         f"{kind} has a port of that name; rename the inner port")


# -- Fallback ---------------------------------------------------------------------------


class Fallback(Task):
    """Tries alternatives in order (tasks, or data from branches); the first that works
    wins."""

    category = "control"
    forwards_streams = True  # its bodies' deltas (compound.Body)

    class Input(BaseModel):
        values: list[Any] = []

    class Output(BaseModel):
        value: Any = None
        #: Which alternative answered, from 0.
        alternative: int

    def __init__(self, alternatives: list[TaskGraph] | None = None, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self.alternatives = list(alternatives or [])
        self._bodies = [Body(g) for g in self.alternatives]
        if self._bodies:
            inputs: dict[str, Any] = {}
            for body in self._bodies:  # every alternative's inputs, first one's type first
                for name, field in body.input_model.model_fields.items():
                    inputs.setdefault(name, (Optional[field.annotation],  # noqa: UP045
                                             Field(default=None,
                                                   description=field.description)))
            first = self._bodies[0].output_model.model_fields
            _no_clash("Fallback", first, {"alternative"})
            self._input_model = create_model("FallbackInput", **inputs)
            self._output_model = create_model(
                "FallbackOutput", alternative=(int, ...),
                **{n: (f.annotation, f) for n, f in first.items()})
        else:
            self._input_model, self._output_model = self.Input, self.Output
        super().__init__(id=id, defaults=defaults, **config)

    @property
    def input_model(self) -> type[BaseModel]:
        return self._input_model

    @property
    def output_model(self) -> type[BaseModel]:
        return self._output_model

    @property
    def joins_branches(self) -> bool:
        """Over data, it runs when any of its inputs' branches was taken (the others
        count as empty); with alternatives, it needs its inputs as any task does."""
        return not self._bodies

    @property
    def is_cacheable(self) -> bool:
        inner = all(b.cacheable for b in self._bodies)
        return inner if self.config_cacheable is None else self.config_cacheable

    @property
    def version(self) -> str:  # type: ignore[override]
        return "1:" + ",".join(b.fingerprint() for b in self._bodies)

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        if not self._bodies:
            for n, value in enumerate(input.values):
                if value is not None:
                    return {"value": value, "alternative": n}
            raise TaskFailedError(f"Fallback {self.id!r}: none of its {len(input.values)} "
                                  "values is there (every branch was skipped or null)",
                                  self.id)
        given = input.model_dump()
        errors = []
        for n, body in enumerate(self._bodies):
            try:
                out = await _run_step(body, given, ctx, self, "alternative", n)
            except TaskloomError as exc:
                ctx.logger.warning("Fallback %s: alternative %d failed: %s", self.id, n, exc)
                ctx.progress((n + 1) / len(self._bodies), f"alternative {n} failed")
                errors.append(f"alternative {n}: {exc}")
                continue
            return {**out, "alternative": n}
        raise TaskFailedError(f"Fallback {self.id!r}: every alternative failed: "
                              + "; ".join(errors), self.id)

    def to_json(self) -> dict[str, Any]:
        entry = super().to_json()
        if self.alternatives:
            entry["alternatives"] = [g.to_json() for g in self.alternatives]
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], registry: Any = None) -> Fallback:
        alternatives = entry.get("alternatives") or []
        if not isinstance(alternatives, list) or not all(isinstance(a, dict)
                                                         for a in alternatives):
            raise SerializationError(f"Fallback {entry.get('id')!r}: 'alternatives' must be "
                                     "a list of graph objects")
        return cls([TaskGraph.from_json(a, registry) for a in alternatives], id=entry["id"],
                    defaults=entry.get("defaults") or {}, **(entry.get("config") or {}))


# -- Map --------------------------------------------------------------------------------


class Map(GraphAsTask):
    """Runs its body once per item of its list inputs (zipped), keeping their order."""

    category = "control"
    _OWN = {"concurrency"}

    def __init__(self, subgraph: TaskGraph, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self._body = Body(subgraph)
        _no_clash("Map", self._body.input_model.model_fields, self._OWN)
        lists = {name: (Optional[list[field.annotation]],  # noqa: UP045
                        Field(default=None, description=field.description))
                 for name, field in self._body.input_model.model_fields.items()}
        self._map_input = create_model(
            "MapInput", concurrency=(int, Field(default=4, ge=1, le=256)), **lists)
        self._map_output = create_model(
            "MapOutput", **{name: (list[field.annotation], Field(default=[]))
                            for name, field in self._body.output_model.model_fields.items()})
        super().__init__(subgraph, id=id, defaults=defaults, **config)

    @property
    def input_model(self) -> type[BaseModel]:
        return self._map_input

    @property
    def output_model(self) -> type[BaseModel]:
        return self._map_output

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        lists = {name: value for name, value in input.model_dump().items()
                 if name not in self._OWN and value is not None}
        if not lists:
            raise TaskFailedError(f"Map {self.id!r} got no list: connect a list to one of "
                                  f"its inputs ({', '.join(self._body.input_map)})", self.id)
        lengths = {name: len(value) for name, value in lists.items()}
        if len(set(lengths.values())) > 1:
            raise TaskFailedError(f"Map {self.id!r} zips lists of different lengths: "
                                  + ", ".join(f"{k} has {n}" for k, n in lengths.items()),
                                  self.id)
        count = next(iter(lengths.values()))
        outputs = list(self._body.output_map)
        if count == 0:
            return {name: [] for name in outputs}
        checkpoints = _checkpoints(ctx)
        saved = checkpoints.saved(ctx.run_id, self.id) if checkpoints else {}
        items = [{k: v[n] for k, v in lists.items()} for n in range(count)]
        results: list[dict[str, Any] | None] = [None] * count
        for key, data in saved.items():
            if key.isdigit() and int(key) < count \
                    and data.get("input") == _fingerprint(items[int(key)]):
                results[int(key)] = data.get("output", {})
        done = sum(r is not None for r in results)
        limit = asyncio.Semaphore(input.concurrency)

        async def item(n: int) -> None:
            nonlocal done
            async with limit:
                out = await _run_step(self._body, items[n], ctx, self, "item", n)
            results[n] = out
            done += 1
            if checkpoints is not None:
                checkpoints.save(ctx.run_id, self.id, str(n),
                                 {"output": out, "input": _fingerprint(items[n])})
            ctx.progress(done / count, f"item {n} done", item=n)

        await gather_or_cancel(item(n) for n in range(count) if results[n] is None)
        return {name: [r.get(name) for r in results if r is not None] for name in outputs}


# -- Reduce -----------------------------------------------------------------------------


def _known_function(name: str | None) -> str | None:
    if name is not None:
        functions.get(name)
    return name


class Reduce(Task):
    """Folds ``items`` into ``initial`` with a body or a registered function."""

    category = "control"
    forwards_streams = True  # its bodies' deltas (compound.Body)

    class Input(BaseModel):
        items: list[Any]
        initial: Any = None
        #: A function registered with @taskloom.register_function: f(accumulator, item).
        function: Annotated[str | None, AfterValidator(_known_function)] = None

    class Output(BaseModel):
        result: Any = None

    def __init__(self, subgraph: TaskGraph | None = None, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self.subgraph = subgraph
        self._body = None
        if subgraph is not None:
            self._body = Body(subgraph)
            missing = [p for p in ("accumulator", "item") if p not in self._body.input_map]
            if missing or "accumulator" not in self._body.output_map:
                raise GraphError("a Reduce body needs open inputs 'accumulator' and 'item' and "
                                 "an output 'accumulator' (missing: "
                                 f"{', '.join(missing) or 'output accumulator'})")
        super().__init__(id=id, defaults=defaults, **config)

    @property
    def is_cacheable(self) -> bool:
        inner = self._body.cacheable if self._body is not None else True
        return inner if self.config_cacheable is None else self.config_cacheable

    @property
    def version(self) -> str:  # type: ignore[override]
        return "1" if self._body is None else "1:" + self._body.fingerprint()

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        if (self._body is None) == (input.function is None):
            raise TaskFailedError(f"Reduce {self.id!r} needs exactly one of a body "
                                  "(subgraph) and a registered function", self.id)
        checkpoints = _checkpoints(ctx)
        acc, start = input.initial, 0
        saved = checkpoints.saved(ctx.run_id, self.id).get("state") if checkpoints else None
        given = _fingerprint(input.model_dump(mode="json"))
        if saved and saved.get("input") == given:
            acc, start = saved["accumulator"], saved["next"]
        fn = functions.get(input.function) if input.function else None
        for n in range(start, len(input.items)):
            item = input.items[n]
            if fn is not None:
                acc = fn(acc, item)
                if asyncio.iscoroutine(acc):
                    acc = await acc
            else:
                out = await _run_step(self._body, {"accumulator": acc, "item": item}, ctx,
                                      self, "item", n)
                acc = out.get("accumulator")
                if checkpoints is not None:
                    checkpoints.save(ctx.run_id, self.id, "state", {
                        "accumulator": acc, "next": n + 1, "input": given})
            ctx.progress((n + 1) / len(input.items), None, item=n)
        return {"result": acc}

    def to_json(self) -> dict[str, Any]:
        entry = super().to_json()
        if self.subgraph is not None:
            entry["subgraph"] = self.subgraph.to_json()
        return entry

    @classmethod
    def from_json(cls, entry: dict[str, Any], registry: Any = None) -> Reduce:
        body = _body_entry(entry, registry) if "subgraph" in entry else None
        return cls(body, id=entry["id"], defaults=entry.get("defaults") or {},
                   **(entry.get("config") or {}))


# -- While ------------------------------------------------------------------------------


class While(GraphAsTask):
    """Runs its body while a condition holds on its state, at most ``max_iterations``
    times."""

    category = "control"
    _OWN = {"condition", "max_iterations", "iterations"}

    def __init__(self, subgraph: TaskGraph, id: str | None = None,
                 defaults: dict[str, Any] | None = None, **config: Any):
        self._body = Body(subgraph)
        inputs = self._body.input_model.model_fields
        outputs = self._body.output_model.model_fields
        _no_clash("While", inputs, self._OWN)
        _no_clash("While", outputs, self._OWN)
        if not set(inputs) & set(outputs):
            raise GraphError("a While body must have an output named like one of its inputs "
                             f"(inputs: {', '.join(inputs) or 'none'}; outputs: "
                             f"{', '.join(outputs) or 'none'}): that is the state each "
                             "iteration passes to the next")
        fields = {n: (f.annotation, f) for n, f in inputs.items()}
        self._while_input = create_model(
            "WhileInput", condition=(ConditionSpec, ...),
            max_iterations=(int, Field(default=100, ge=1, le=1_000_000)), **fields)
        self._while_output = create_model(
            "WhileOutput", iterations=(int, ...),
            **{n: (Optional[f.annotation], Field(default=None))  # noqa: UP045
               for n, f in outputs.items()})
        super().__init__(subgraph, id=id, defaults=defaults, **config)

    @property
    def input_model(self) -> type[BaseModel]:
        return self._while_input

    @property
    def output_model(self) -> type[BaseModel]:
        return self._while_output

    async def run(self, input: BaseModel, ctx: TaskContext) -> dict[str, Any]:
        condition = Condition(input.condition)
        given = input.model_dump()
        state = {k: v for k, v in given.items() if k not in self._OWN
                 and (k in input.model_fields_set or v is not None)}
        iteration = 0
        checkpoints = _checkpoints(ctx)
        saved = checkpoints.saved(ctx.run_id, self.id).get("state") if checkpoints else None
        fingerprint = _fingerprint(input.model_dump(mode="json"))
        if saved and saved.get("input") == fingerprint:
            iteration, state = saved["iteration"], saved["state"]
        while condition.evaluate({**state, "iteration": iteration}):
            if iteration >= input.max_iterations:
                raise WhileLimitError(
                    f"While {self.id!r} reached max_iterations={input.max_iterations} with "
                    f"its condition {condition.spec!r} still true; raise max_iterations or "
                    "fix the condition", self.id)
            out = await _run_step(self._body, state, ctx, self, "iteration", iteration)
            state.update(out)
            iteration += 1
            if checkpoints is not None:
                checkpoints.save(ctx.run_id, self.id, "state",
                                 {"iteration": iteration, "state": state,
                                  "input": fingerprint})
            ctx.progress(iteration / input.max_iterations, f"iteration {iteration} done")
        names = self._body.output_map
        return {"iterations": iteration, **{n: state.get(n) for n in names}}
