from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from taskloom import Format
from taskloom.ports import connection_mode, ports_of


class Nested(BaseModel):
    a: int


class Many(BaseModel):
    text: str
    maybe: str | None = None
    texts: list[str] = []
    vector: list[float] = Field(default=[], json_schema_extra={"format": "vector"})
    model: Annotated[str, Format("model:text")] = "m"
    nested: Nested | None = None
    anything: Any = None
    number: float = 0.0
    count: int = 0


P = ports_of(Many).by_name


def test_port_facts_come_from_the_json_schema():
    assert P["text"].required and not P["maybe"].required
    assert P["texts"].is_list and not P["text"].is_list
    assert P["vector"].format == "vector" and P["model"].format == "model:text"
    assert P["anything"].accepts_any
    assert P["nested"].types == {"object", "null"}
    assert P["text"].expandable and not P["texts"].expandable
    assert not P["anything"].expandable


def test_connection_modes():
    assert connection_mode(P["text"], P["maybe"]) == "value"
    assert connection_mode(P["text"], P["texts"]) == "item"
    assert connection_mode(P["texts"], P["text"]) == "expand"
    assert connection_mode(P["texts"], P["texts"]) == "value"
    assert connection_mode(P["count"], P["number"]) == "value"
    assert connection_mode(P["number"], P["count"]) is None
    assert connection_mode(P["text"], P["count"]) is None
    assert connection_mode(P["anything"], P["count"]) == "value"


def test_formats_must_agree_when_both_are_declared():
    class Other(BaseModel):
        model: Annotated[str, Format("model:vision")]
        vec: Annotated[str, Format("vector")]

    o = ports_of(Other).by_name
    assert connection_mode(o["model"], P["model"]) == "value"  # same base format
    assert connection_mode(o["vec"], P["model"]) is None


def test_open_models_accept_any_port_name():
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")

    ports = ports_of(Open)
    assert ports.open and ports.get("whatever").accepts_any
