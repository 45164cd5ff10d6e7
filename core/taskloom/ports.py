"""Ports: the named, typed inputs and outputs of a task, read from its pydantic models.

A port's JSON Schema is what the page and no-code users see, so every check
here (list-typed or not, semantic format, compatibility) reads the schema,
not Python annotations.

A semantic format is declared on the field, e.g.
``model: Annotated[str, Format("model")]`` or
``Field(json_schema_extra={"format": "model"})``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, WithJsonSchema  # noqa: F401  (re-export hint)

_JSON_TYPES = ("string", "number", "integer", "boolean", "object", "array", "null")


def Format(name: str) -> Any:
    """Annotate a field with a semantic format: ``Annotated[str, Format("model")]``."""
    from pydantic import Field

    return Field(json_schema_extra={"format": name})


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    schema: dict[str, Any]
    required: bool
    is_list: bool
    item_schema: dict[str, Any] | None
    format: str | None
    has_default: bool
    default: Any = None
    #: True when a list arriving here means "run once per item" (array expansion).
    expandable: bool = False
    #: JSON types the port admits, and those of its items; empty means anything.
    types: frozenset[str] = frozenset()
    item_types: frozenset[str] = frozenset()
    #: True for a streaming port (``"stream": true`` in its schema; see streams.py).
    stream: bool = False

    @property
    def accepts_any(self) -> bool:
        return not self.types


class PortSet:
    """The ports of one pydantic model, in declaration order."""

    __slots__ = ("by_name", "open", "schema")

    def __init__(self, schema: dict[str, Any], ports: dict[str, Port], open_: bool):
        self.schema = schema
        self.by_name = ports
        # An open model (extra="allow") accepts any port name, typed Any.
        self.open = open_

    def get(self, name: str) -> Port | None:
        port = self.by_name.get(name)
        if port is None and self.open:
            return _any_port(name)
        return port

    def __iter__(self):
        return iter(self.by_name.values())

    def __contains__(self, name: str) -> bool:
        return name in self.by_name or self.open

    def names(self) -> list[str]:
        return list(self.by_name)


@cache
def _any_port(name: str) -> Port:
    return Port(name, {}, False, False, None, None, True, None)


@cache
def ports_of(model: type[BaseModel]) -> PortSet:
    """The ports a pydantic model declares (cached per model class)."""
    schema = model.model_json_schema()
    defs = schema.get("$defs", {})
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    ports: dict[str, Port] = {}
    for name, field in model.model_fields.items():
        key = field.alias or name
        prop = _resolve(props.get(key, {}), defs)
        has_default = not field.is_required()
        default = None
        if has_default:
            default = field.get_default(call_default_factory=True)
        item = _list_item_schema(prop, defs)
        types = _types_of(prop, defs)
        ports[key] = Port(
            name=key,
            schema=prop,
            required=key in required,
            is_list=item is not None,
            item_schema=item,
            format=_format_of(prop, defs),
            has_default=has_default,
            default=default,
            expandable=item is None and bool(types) and "array" not in types,
            types=frozenset(types),
            item_types=frozenset(_types_of(item, defs)) if item is not None else frozenset(),
            stream=prop.get("stream") is True,
        )
    open_ = model.model_config.get("extra") == "allow"
    return PortSet(schema, ports, open_)


_SCALARS = (str, int, float, bool)


@cache
def json_native(model: type[BaseModel]) -> bool:
    """Whether a validated instance's ``__dict__`` is already its JSON dump
    (``to_python(mode="json")``): every field a JSON scalar (or None), or a list of
    them, and nothing that changes how the model serialises. Validation has made
    each value that exact type, so a run can skip the serialiser for such outputs."""
    import types
    import typing

    from pydantic import RootModel

    if issubclass(model, RootModel) or model.model_config.get("extra") == "allow" \
            or model.model_config.get("serialize_by_alias") or model.model_computed_fields:
        return False
    decorators = model.__pydantic_decorators__
    if decorators.field_serializers or decorators.model_serializers:
        return False

    def native(annotation: Any, top: bool) -> bool:
        if annotation in _SCALARS or annotation is type(None):
            return True
        origin = typing.get_origin(annotation)
        if origin is typing.Union or origin is types.UnionType:
            return all(native(arg, top) for arg in typing.get_args(annotation))
        if top and origin is list:
            args = typing.get_args(annotation)
            return len(args) == 1 and native(args[0], False)
        return False

    validates_defaults = bool(model.model_config.get("validate_default"))
    for field in model.model_fields.values():
        if field.exclude or not native(field.annotation, True) or any(
                type(item).__module__ != "annotated_types" for item in field.metadata):
            return False
        if not (validates_defaults or field.validate_default or field.is_required()) \
                and not _default_is_native(field):
            return False
    return True


def _default_is_native(field: Any) -> bool:
    """Whether a field's default is already what validation makes of it. pydantic
    does not validate defaults, so ``x: float = 1`` leaves the int 1 in ``__dict__``
    while the JSON dump says 1.0."""
    from pydantic import TypeAdapter, ValidationError

    value = field.get_default(call_default_factory=True)
    try:
        validated = TypeAdapter(field.annotation).validate_python(value)
    except ValidationError:
        return False

    def same(a: Any, b: Any) -> bool:
        if type(a) is not type(b):
            return False
        if type(a) is list:
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        return a == b

    return same(validated, value)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Follow a top-level $ref (pydantic puts nested models in $defs)."""
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = schema["$ref"].rsplit("/", 1)[-1]
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**defs.get(ref, {}), **merged}
        seen += 1
    return schema


def _branches(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a schema (anyOf/oneOf unwrapped one level)."""
    schema = _resolve(schema, defs)
    alts = schema.get("anyOf") or schema.get("oneOf")
    if not alts:
        return [schema]
    out = []
    for alt in alts:
        alt = _resolve(alt, defs)
        if alt.get("type") != "null":
            out.append(alt)
    return out or [schema]


def _list_item_schema(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any] | None:
    """The item schema if every non-null alternative is an array, else None."""
    branches = _branches(schema, defs)
    if branches and all(b.get("type") == "array" for b in branches):
        return _resolve(branches[0].get("items", {}), defs)
    return None


def _format_of(schema: dict[str, Any], defs: dict[str, Any]) -> str | None:
    for branch in _branches(schema, defs):
        fmt = branch.get("format")
        if fmt:
            return fmt
        items = branch.get("items")
        if isinstance(items, dict):
            fmt = _resolve(items, defs).get("format")
            if fmt:
                return fmt
    return schema.get("format")


def _types_of(schema: dict[str, Any], defs: dict[str, Any]) -> set[str]:
    """JSON types a schema admits; empty set means anything."""
    schema = _resolve(schema, defs)
    if "anyOf" in schema or "oneOf" in schema:
        out: set[str] = set()
        for alt in schema.get("anyOf") or schema.get("oneOf"):
            t = _types_of(alt, defs)
            if not t:
                return set()
            out |= t
        return out
    t = schema.get("type")
    if t is None:
        if "enum" in schema or "const" in schema:
            values = schema.get("enum", [schema.get("const")])
            return {_json_type(v) for v in values}
        if "properties" in schema:
            return {"object"}
        return set()
    return set(t) if isinstance(t, list) else {t}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _types_fit(source: set[str], target: set[str]) -> bool:
    if not source or not target:
        return True
    number = "number" in target
    # null is tolerated: a missing value is reported at run time, not connect time.
    # (A loop, not set algebra: it runs for every dataflow a graph adds.)
    for kind in source:
        if kind not in target and kind != "null" and not (number and kind == "integer"):
            return False
    return True


def _formats_fit(source: str | None, target: str | None) -> bool:
    if not source or not target:
        return True
    return source.split(":")[0] == target.split(":")[0]


def connection_mode(source: Port, target: Port) -> str | None:
    """How a source port can feed a target port, or None if it cannot.

    ``"value"``: the value passes as it is (same shape).
    ``"item"``: the value is one item of a list-typed target (fan-in).
    ``"expand"``: a list reaches a single-valued target (array expansion).
    """
    if not _formats_fit(source.format, target.format):
        return None
    src_types, tgt_types = source.types, target.types
    if not src_types or not tgt_types:
        return "value"
    if target.is_list and not source.is_list:
        return "item" if _types_fit(src_types, target.item_types) else None
    if source.is_list and target.expandable:
        return "expand" if _types_fit(source.item_types, tgt_types) else None
    if source.is_list and target.is_list:
        if _types_fit(source.item_types, target.item_types):
            return "value"
        # A list of lists into a list: each source value is one item.
        return "item" if _types_fit(src_types, target.item_types) else None
    return "value" if _types_fit(src_types, tgt_types) else None


def describe(port: Port) -> str:
    """A short human description of a port's type, for error messages."""
    if port.accepts_any:
        return "any"
    text = "|".join(sorted(port.types))
    if port.is_list:
        text = f"array<{'|'.join(sorted(port.item_types)) or 'any'}>"
    if port.format:
        text += f" (format {port.format})"
    return text


OPEN_PORTS = ConfigDict(extra="allow")
