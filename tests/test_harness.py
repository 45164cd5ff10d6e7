"""The test suite's own rules: registries are restored after each test, and a missing
prerequisite skips on a bare machine but fails under scripts/test.

The two ``leak`` tests run in file order: the first registers things, the
second checks that none of them outlived it.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import prerequisites
from support import TEcho
from taskloom import Task, TaskGraph, register_function, registry
from taskloom.errors import UnknownFunctionError, UnknownTaskTypeError
from taskloom.queue import JobQueue, queues
from taskloom.queue.storage import MemoryQueueStorage
from taskloom.registry import functions

LEAKED = "TaskloomLeakProbe"


def test_leak_1_a_test_registers_a_task_a_function_a_queue_and_replaces_a_type():
    class TaskloomLeakProbe(Task):
        class Input(BaseModel):
            pass

        class Output(BaseModel):
            pass

        async def run(self, input, ctx):
            return {}

    class TEcho(Task, register=False):  # takes the support type's name on purpose
        type = "TEcho"

        class Input(BaseModel):
            text: str

        class Output(BaseModel):
            text: str

        async def run(self, input, ctx):
            return {"text": "replaced"}

    registry.unregister("TEcho")  # the registry refuses a clash; a test may still do this
    registry.register(TEcho)
    register_function("tests.leak_probe")(lambda values: values)
    queues.register(JobQueue("leak-probe", MemoryQueueStorage()))
    assert registry.get(LEAKED) is TaskloomLeakProbe and registry.get("TEcho") is TEcho
    assert functions.get("tests.leak_probe") is not None
    assert "leak-probe" in queues


def test_leak_2_none_of_it_reaches_the_next_test():
    assert LEAKED not in registry
    assert registry.get("TEcho") is TEcho  # the replaced type is back
    with pytest.raises(UnknownFunctionError, match=r"'tests\.leak_probe' is not registered"):
        functions.get("tests.leak_probe")
    assert "leak-probe" not in queues
    # A graph naming the probe cannot be loaded any more.
    doc = {"schema_version": 1, "tasks": [{"id": "p", "type": LEAKED}]}
    with pytest.raises(UnknownTaskTypeError, match=f"^unknown task type '{LEAKED}'"):
        TaskGraph.from_json(doc)


def test_what_importing_a_module_registers_stays_registered():
    # tests/support.py was imported before any test ran, and its types stay.
    assert registry.get("TEcho") is TEcho and "Lambda" in registry


def test_a_missing_prerequisite_skips_on_a_bare_machine(monkeypatch):
    monkeypatch.delenv(prerequisites.REQUIRE_ALL, raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"^Chromium is missing$"):
        prerequisites.missing("Chromium is missing")


def test_a_missing_prerequisite_fails_under_scripts_test(monkeypatch):
    monkeypatch.setenv(prerequisites.REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception,
                       match=r"^Chromium is missing \(TASKLOOM_TEST_REQUIRE_ALL is set"):
        prerequisites.missing("Chromium is missing")


def test_a_module_that_cannot_be_imported_is_a_missing_prerequisite(monkeypatch):
    monkeypatch.setenv(prerequisites.REQUIRE_ALL, "1")
    with pytest.raises(pytest.fail.Exception,
                       match=r"^no_such_module_xyz is missing: pip install it \(No module"):
        prerequisites.need_module("no_such_module_xyz", "no_such_module_xyz is missing: "
                                  "pip install it")
    assert prerequisites.need_module("json", "unused").__name__ == "json"
