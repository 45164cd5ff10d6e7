"""Array expansion: a task given a list where it takes one value runs once per item.

Over several such ports it runs once per combination (the cartesian product,
in input order); each output port becomes the list of the runs' values.

A task that answers many inputs at once (``Task.runs_many``: an AI task on a
local model, whose per-run cost is a job and a model call) gets them all in
one ``run_many`` instead, unless an item needs its own run: a stream to
read or to write, a timeout to keep per item.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .streams import TextStream
from .task import TaskContext, gather_or_cancel

if TYPE_CHECKING:
    from .task import Task

RunOne = Callable[["Task", dict[str, Any], TaskContext], Awaitable[dict[str, Any]]]
RunMany = Callable[["Task", list[dict[str, Any]], TaskContext], Awaitable[list[dict[str, Any]]]]


def expanded_ports(task: Task, values: dict[str, Any]) -> list[str] | None:
    """The ports given a list that take one value, or None when there are none."""
    expand = None
    for name, value in values.items():
        if value.__class__ is list or isinstance(value, list):
            port = task.input_ports.by_name.get(name)
            if port is not None and port.expandable:
                expand = [*(expand or ()), name]
    return expand


async def run_expanded(run_one: RunOne, task: Task, values: dict[str, Any], expand: list[str],
                       ctx: TaskContext, run_many: RunMany | None = None) -> dict[str, Any]:
    """Run ``task`` through ``run_one`` once per combination of the ``expand`` ports' lists
    (or all of them through one ``run_many``, when the task takes them together).

    The runs are concurrent; progress is their mean, each report tagged with
    its ``item``, and so is each stream delta: every item streams its own text,
    its deltas indexed from 0. If one fails, the others are cancelled and its
    error is raised.
    """
    combos = list(itertools.product(*(values[name] for name in expand)))
    if run_many is not None and _together(task, values, ctx):
        items = []
        for combo in combos:
            item = dict(values)
            item.update(zip(expand, combo, strict=True))
            items.append(item)
        return _columns(task, await run_many(task, items, ctx))
    fractions = [0.0] * len(combos)
    report = ctx._on_progress
    stream = ctx._on_stream

    def child_context(index: int) -> TaskContext:
        def on_progress(fraction: float, message: str | None, details: Any) -> None:
            fractions[index] = fraction
            if report is not None:
                report(sum(fractions) / len(fractions), message,
                       {"item": index, **(details or {})})

        def on_stream(port: str, delta: str, where: dict[str, Any] | None = None) -> None:
            stream(port, delta, {**(where or {}), "item": index})

        return TaskContext(ctx.run_id, ctx.task_id, ctx.signal, on_progress, ctx.logger,
                           ctx.services, on_stream if stream is not None else None)

    async def child(index: int, combo: tuple[Any, ...]) -> dict[str, Any]:
        child_values = dict(values)
        child_values.update(zip(expand, combo, strict=True))
        out = await run_one(task, child_values, child_context(index))
        fractions[index] = 1.0
        if report is not None:
            report(sum(fractions) / len(fractions), None, {"item": index})
        return out

    results = await gather_or_cancel(child(i, combo) for i, combo in enumerate(combos))
    return _columns(task, results)


def _together(task: Task, values: dict[str, Any], ctx: TaskContext) -> bool:
    """Whether the items can share one ``run_many``: nothing streams in or out of them one by
    one, and no timeout is kept per item."""
    if not task.runs_many or task.timeout is not None or ctx._on_stream is not None:
        return False
    return not any(isinstance(value, TextStream) for value in values.values())


def _columns(task: Task, results: list[dict[str, Any]]) -> dict[str, Any]:
    """The runs' outputs as one list per output port, in item order."""
    names = list(task.output_ports.names())
    for out in results:
        for name in out:
            if name not in names:
                names.append(name)
    return {name: [out.get(name) for out in results] for name in names}
