import sys
import uuid

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


# -- lazily registered types ---------------------------------------------------------

LAZY_MODULE = '''
from pydantic import BaseModel

from taskloom import Task


class {name}(Task):
    """Defined by a module the registry imports on first use."""

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str
'''


@pytest.fixture
def lazy_module(tmp_path, monkeypatch):
    """A module, not yet imported, that defines one task type; forgotten afterwards."""
    name = f"lazy_tasks_{uuid.uuid4().hex[:8]}"
    type_name = f"TLazy{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(LAZY_MODULE.format(name=type_name))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, type_name
    registry.unregister(type_name)
    sys.modules.pop(name, None)


def test_a_lazy_type_is_known_by_name_and_imported_on_first_get(lazy_module):
    module, type_name = lazy_module
    registry.register_lazy(module, type_name)
    assert type_name in registry
    assert module not in sys.modules
    cls = registry.get(type_name)
    assert module in sys.modules
    assert cls.__module__ == module and cls.type == type_name


@pytest.mark.parametrize("enumerate_types", [
    lambda r: r.types(),
    lambda r: [cls.type for cls in r],
    lambda r: [cls.type for cls in r.by_method_name().values()],
    lambda r: [item["type"] for item in r.describe()],
], ids=["types", "iteration", "by_method_name", "describe"])
def test_enumerating_the_registry_imports_lazy_types(lazy_module, enumerate_types):
    module, type_name = lazy_module
    registry.register_lazy(module, type_name)
    assert type_name in enumerate_types(registry)
    assert registry.get(type_name).__module__ == module


def test_taking_a_lazy_name_fails_at_definition_as_before(lazy_module):
    module, type_name = lazy_module
    registry.register_lazy(module, type_name)
    with pytest.raises(DuplicateTaskTypeError, match=module):
        type(type_name, (Task,), {
            "Input": type("Input", (BaseModel,), {}), "Output": type("Output", (BaseModel,), {}),
        })
    assert registry.get(type_name).__module__ == module


def test_a_lazy_name_its_module_does_not_define_stays_unknown(lazy_module):
    module, _ = lazy_module
    registry.register_lazy(module, "TNotInThatModule")
    with pytest.raises(UnknownTaskTypeError, match="TNotInThatModule"):
        registry.get("TNotInThatModule")
    assert "TNotInThatModule" not in registry


def test_the_lazy_built_ins_are_exactly_the_ai_task_types():
    import taskloom.ai  # registers every AI task type

    registered = {cls.type for cls in registry if cls.__module__.startswith("taskloom.ai")}
    declared = {name for name, module in taskloom._LAZY_NAMES.items()
                if module == taskloom._AI_TASKS}
    assert registered == declared, (
        "an AI task type must be declared in taskloom/__init__.py's lazy table to be "
        "nameable before taskloom.ai is imported")
