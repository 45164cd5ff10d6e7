"""What the page's inspector (web/inspector.js) asks the engine about one task.

The form is generated from a type's Input JSON Schema, but pydantic is the
truth about what a value may be: ``check_task_input`` validates the values
the form holds, field by field, exactly as ``Task.set_defaults`` does when
the graph is loaded, and answers each problem at its field's path (``"k"``,
``"labels.1"``, ``"config.timeout"``) so the form can show it where it
belongs. ``preview_task`` runs a type's ``run_reactive`` (a cheap preview
with no side effects) on those values.

Both take JSON strings and answer plain dicts; BrowserEngine wraps them as
endpoints. Defaults are partial by nature (a dataflow may bring the rest),
so a missing required input is no error for the check; the preview needs
every required input and says which ones it lacks.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from taskloom.ports import ports_of
from taskloom.registry import registry
from taskloom.task import AbortSignal, Task, TaskContext, _TaskConfig

#: A preview is meant to be cheap; one that is not must not hold the engine.
PREVIEW_TIMEOUT_S = 5.0


class InspectionError(ValueError):
    """A request the inspector should not have sent (unknown type, input not an object)."""


def _task_class(type_name: str) -> type[Task]:
    if not isinstance(type_name, str) or type_name not in registry:
        raise InspectionError(f"unknown task type {type_name!r}")
    return registry.get(type_name)


def _object(text: str | None, what: str) -> dict[str, Any]:
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except ValueError as error:
        raise InspectionError(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise InspectionError(f"{what} must be a JSON object")
    return value


def _path(prefix: str, loc: tuple[Any, ...]) -> str:
    return ".".join([prefix, *(str(part) for part in loc)]) if prefix else \
        ".".join(str(part) for part in loc)


def _problems(error: ValidationError, prefix: str, skip: int = 0) -> list[dict[str, str]]:
    out = []
    for err in error.errors(include_url=False, include_input=False, include_context=False):
        loc = tuple(err.get("loc", ()))[skip:]
        out.append({"field": _path(prefix, loc), "message": " ".join(str(err["msg"]).split())})
    return out


def _checked_per_instance(cls: type[Task]) -> bool:
    # A compound type (GraphAsTask) derives its ports from its body, per instance:
    # its class-level Input says nothing about them.
    return cls.input_model is not Task.input_model


def check_task_input(type_name: str, input_json: str, config_json: str | None = None,
                     ) -> dict[str, Any]:
    """``{ok, errors: [{field, message}]}`` for the values a form holds for a task."""
    try:
        cls = _task_class(type_name)
        values = _object(input_json, "the input")
        config = _object(config_json, "the config")
    except InspectionError as error:
        return {"ok": False, "error": str(error), "errors": []}
    errors: list[dict[str, str]] = []
    if not _checked_per_instance(cls):
        errors += _check_inputs(cls.Input, values)
    if config:
        try:
            _TaskConfig.model_validate(config)
        except ValidationError as error:
            errors += _problems(error, "config")
    return {"ok": not errors, "errors": errors}


def _check_inputs(model: type[BaseModel], values: dict[str, Any]) -> list[dict[str, str]]:
    ports = ports_of(model)
    validator = model.__pydantic_validator__
    blank = model.model_construct()
    errors: list[dict[str, str]] = []
    for name, value in values.items():
        port = ports.by_name.get(name)
        if port is None:
            if not ports.open:
                known = ", ".join(ports.names()) or "none"
                errors.append({"field": name,
                               "message": f"no input named {name!r}; the inputs are: {known}"})
            continue
        # As Task.set_defaults: a list given to a single-valued port runs the task once
        # per item (array expansion), so each item is checked instead.
        items = list(enumerate(value)) if isinstance(value, list) and port.expandable \
            else [(None, value)]
        for index, item in items:
            try:
                validator.validate_assignment(blank, name, item)
            except ValidationError as error:
                prefix = name if index is None else f"{name}.{index}"
                errors += _problems(error, prefix, skip=1)
    return errors


def _is_reactive(cls: type[Task]) -> bool:
    return cls.run_reactive is not Task.run_reactive


async def preview_task(type_name: str, input_json: str) -> dict[str, Any]:
    """``{ok, reactive, output}``: the type's ``run_reactive`` on ``input_json``.

    ``reactive`` is False for a type with no preview (then nothing runs). An
    input that does not validate answers ``ok: false`` with its ``errors``.
    """
    try:
        cls = _task_class(type_name)
        values = _object(input_json, "the input")
    except InspectionError as error:
        return {"ok": False, "error": str(error), "errors": []}
    if not _is_reactive(cls):
        return {"ok": True, "reactive": False, "output": None}
    try:
        task = cls(id="preview")
        model = task.input_model.__pydantic_validator__.validate_python(values)
    except ValidationError as error:
        errors = _problems(error, "")
        return {"ok": False, "reactive": True, "errors": errors,
                "error": "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])}
    except Exception as error:  # a type whose instances need more than an id (Lambda)
        return {"ok": True, "reactive": False, "output": None,
                "note": f"no preview: {type(error).__name__}: {error}"}
    ctx = TaskContext(run_id="preview", task_id=task.id, signal=AbortSignal())
    try:
        preview = await asyncio.wait_for(task.run_reactive(model, ctx), PREVIEW_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "reactive": True, "errors": [],
                "error": f"the preview took over {PREVIEW_TIMEOUT_S:g} s"}
    except Exception as error:  # the task's own code: report it, never break the engine
        return {"ok": False, "reactive": True, "errors": [],
                "error": f"{type(error).__name__}: {error}"}
    if isinstance(preview, BaseModel):
        preview = preview.model_dump(mode="json")
    return {"ok": True, "reactive": True,
            "output": None if preview is None else to_jsonable_python(preview)}
