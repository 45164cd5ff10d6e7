import pytest
from pydantic import BaseModel

from taskloom import DuplicateTaskTypeError, Task, TaskRegistry, UnknownTaskTypeError, registry
from taskloom.registry import snake_case


def make(name_in_class, module="tests.somewhere"):
    cls = type("Clash", (Task,), {
        "__module__": module, "type": name_in_class,
        "Input": type("Input", (BaseModel,), {}), "Output": type("Output", (BaseModel,), {}),
    }, register=False)
    return cls


def test_subclasses_register_themselves_under_their_type():
    class RegisteredByDefinition(Task):
        class Input(BaseModel):
            pass

        class Output(BaseModel):
            pass

    assert registry.get("RegisteredByDefinition") is RegisteredByDefinition
    assert "RegisteredByDefinition" in registry.types()


def test_opt_out_and_explicit_register():
    class NotRegistered(Task, register=False):
        pass

    assert "NotRegistered" not in registry
    own = TaskRegistry()
    assert own.register(NotRegistered) is NotRegistered
    assert own.get("NotRegistered") is NotRegistered


def test_a_clash_names_both_classes():
    own = TaskRegistry()
    own.register(make("Same", "pkg.one"))
    with pytest.raises(DuplicateTaskTypeError, match=r"pkg\.one\.Clash.*pkg\.two\.Clash"):
        own.register(make("Same", "pkg.two"))


def test_redefining_the_same_class_replaces_it():
    own = TaskRegistry()
    first, second = make("Same"), make("Same")
    own.register(first)
    own.register(second)
    assert own.get("Same") is second


def test_unknown_type_says_how_to_fix_it():
    with pytest.raises(UnknownTaskTypeError, match="--import"):
        TaskRegistry().get("Nope")


def test_describe_exposes_json_schemas():
    import support  # noqa: F401

    item = next(d for d in registry.describe() if d["type"] == "TEcho")
    assert item["input_schema"]["properties"]["text"]["type"] == "string"


@pytest.mark.parametrize("name, method", [
    ("TextEmbedding", "text_embedding"), ("DebugLog", "debug_log"), ("HTTPGet", "http_get"),
    ("Lambda", "lambda"), ("TEcho", "t_echo"),
])
def test_snake_case(name, method):
    assert snake_case(name) == method
