"""Edge transforms: a dataflow may change its value on the way.

A transform is a list of steps, applied in order, each a one-key dict:

- ``{"field": "name"}``: the field ``name`` of a dict;
- ``{"index": 0}``: item ``0`` of a list (negative counts from the end);
- ``{"cast": "str" | "int" | "float" | "bool" | "json"}``: convert; ``json``
  parses a string as JSON (and writes anything else as a JSON string).

``[{"field": "items"}, {"index": 0}, {"cast": "str"}]`` takes ``value["items"][0]``
as text. Steps are checked when the graph loads (:func:`check_transform`);
applying one to a value it does not fit is a :class:`TransformError` naming
the dataflow.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import DataflowError, TaskInputError

__all__ = ["CASTS", "TransformError", "apply_transform", "check_transform"]

CASTS = ("str", "int", "float", "bool", "json")
_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


class TransformError(TaskInputError):
    """A transform that does not fit the value that reached it."""


def check_transform(steps: Any, where: str) -> tuple[dict[str, Any], ...]:
    """``steps`` as a checked tuple, or a DataflowError naming ``where`` and the step."""
    if not isinstance(steps, list | tuple):
        raise DataflowError(f"{where}: a transform must be a list of steps, not "
                            f"{type(steps).__name__}")
    out = []
    for n, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            raise DataflowError(f"{where}: transform step {n} must be one of "
                                "{\"field\": name}, {\"index\": n}, {\"cast\": type}, "
                                f"not {step!r}")
        (op, arg), = step.items()
        if op == "field":
            if not isinstance(arg, str) or not arg:
                raise DataflowError(f"{where}: transform step {n} picks field {arg!r}; a field "
                                    "name is a non-empty string")
        elif op == "index":
            if not isinstance(arg, int) or isinstance(arg, bool):
                raise DataflowError(f"{where}: transform step {n} indexes with {arg!r}; an "
                                    "index is an integer")
        elif op == "cast":
            if arg not in CASTS:
                raise DataflowError(f"{where}: transform step {n} casts to {arg!r}; the casts "
                                    f"are {', '.join(CASTS)}")
        else:
            raise DataflowError(f"{where}: transform step {n} has the unknown operation "
                                f"{op!r}; use field, index or cast")
        out.append({op: arg})
    return tuple(out)


def apply_transform(value: Any, steps: tuple[dict[str, Any], ...], where: str,
                    task_id: str | None = None) -> Any:
    for n, step in enumerate(steps):
        (op, arg), = step.items()
        if op == "field":
            if not isinstance(value, dict) or arg not in value:
                what = (f"a dict without it (its fields: {', '.join(map(str, value)) or 'none'})"
                        if isinstance(value, dict) else f"a {type(value).__name__}")
                raise TransformError(f"{where}: transform step {n} picks field {arg!r} of "
                                     f"{what}", task_id)
            value = value[arg]
        elif op == "index":
            if not isinstance(value, list) or not -len(value) <= arg < len(value):
                what = (f"a list of {len(value)}" if isinstance(value, list)
                        else f"a {type(value).__name__}")
                raise TransformError(f"{where}: transform step {n} takes item {arg} of "
                                     f"{what}", task_id)
            value = value[arg]
        else:
            value = _cast(value, arg, f"{where}: transform step {n}", task_id)
    return value


def _cast(value: Any, to: str, where: str, task_id: str | None) -> Any:
    try:
        if to == "str":
            if isinstance(value, str):
                return value
            # Anything but a string is written as JSON: 1 -> "1", True -> "true", None -> "null".
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        if to == "json":
            if isinstance(value, str):
                return json.loads(value)
            return json.dumps(value, ensure_ascii=False, allow_nan=False)
        if to == "bool":
            if isinstance(value, str):
                key = value.strip().lower()
                if key not in _BOOL_TEXT:
                    raise ValueError(f"{value!r} is not true/false, yes/no or 1/0")
                return _BOOL_TEXT[key]
            return bool(value)
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise ValueError(f"a {type(value).__name__} is not a number")
        if to == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{value!r} is not a whole number")
            return int(value.strip() if isinstance(value, str) else value)
        number = float(value)
        if number != number or number in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    except (ValueError, TypeError, OverflowError) as exc:
        text = repr(value)
        text = text if len(text) <= 60 else text[:57] + "..."
        raise TransformError(f"{where} cannot cast {text} to {to}: {exc}", task_id) from None
