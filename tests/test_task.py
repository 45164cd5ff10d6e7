import pytest
from pydantic import BaseModel

from support import TAdd, TEcho
from taskloom import AbortSignal, PortError, Task, TaskInputError, TaskStatus


def test_class_metadata_defaults():
    from taskloom.task import _default_title

    assert TAdd.type == "TAdd" and TAdd.title == "TAdd"
    assert _default_title("TextEmbedding") == "Text Embedding"
    assert TAdd.description == "Adds b to a."
    assert TAdd.cacheable is True and TAdd.version == "1"


def test_ports_must_be_pydantic_models():
    with pytest.raises(TypeError, match="BaseModel"):
        class Broken(Task, register=False):
            Input = dict


def test_instances_have_ids_defaults_and_config():
    t = TEcho(defaults={"text": "x"}, title="Say", cacheable=False, timeout=2.5)
    assert t.id.startswith("techo-") and t.defaults == {"text": "x"}
    assert t.display_title == "Say" and t.is_cacheable is False
    assert t.config() == {"title": "Say", "cacheable": False, "timeout": 2.5}
    assert TEcho("given").id == "given"


def test_defaults_are_validated_port_by_port():
    t = TAdd("a", {"b": "5"})  # lax mode coerces, as pydantic does
    assert t.defaults == {"b": 5}
    with pytest.raises(TaskInputError):
        TAdd("a", {"b": "five"})
    with pytest.raises(PortError):
        TAdd("a", {"c": 1})
    # a list on a single-valued port is array expansion: each item is validated
    assert TAdd("a", {"a": ["1", 2]}).defaults == {"a": [1, 2]}
    with pytest.raises(TaskInputError):
        TAdd("a", {"a": [1, "x"]})


def test_failed_set_defaults_changes_nothing():
    t = TAdd("a", {"b": 1})
    with pytest.raises(TaskInputError):
        t.set_defaults({"a": 2, "b": "bad"})
    assert t.defaults == {"b": 1}


def test_status_terminality():
    assert TaskStatus.COMPLETED.is_terminal and not TaskStatus.PROCESSING.is_terminal


async def test_abort_signal():
    signal = AbortSignal()
    assert not signal.aborted
    signal.abort("stop")
    signal.abort("again")
    assert signal.aborted and signal.reason == "stop"
    assert await signal.wait() == "stop"


def test_plain_pydantic_models_work_as_ports():
    class In(BaseModel):
        x: int

    class Out(BaseModel):
        y: int

    class Plain(Task, register=False):
        Input = In
        Output = Out

    assert Plain("p").input_ports.names() == ["x"]
