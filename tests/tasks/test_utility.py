import logging

import pytest

from support import TEcho
from taskloom import (
    DebugLog,
    Lambda,
    SerializationError,
    TaskGraph,
    TaskGraphRunner,
    UnknownFunctionError,
    Workflow,
    WorkflowError,
    register_function,
)


async def test_debug_log_logs_and_passes_everything_through(caplog):
    wf = Workflow().add_task(TEcho, id="e", text="hello").debug_log(id="log")
    assert [d.target_port for d in wf.graph.dataflows] == ["text"]
    with caplog.at_level(logging.INFO, logger="taskloom.debug"):
        result = await wf.run()
    assert result["log"] == {"text": "hello"}
    logged = [r for r in caplog.records if r.name == "taskloom.debug"]
    assert [r.getMessage() for r in logged] == ["[log] {'text': 'hello'}"]
    assert logged[0].levelno == logging.INFO
    assert DebugLog.cacheable is False


async def test_lambda_runs_a_callable_sync_or_async():
    async def double(values):
        return {"n": values["n"] * 2}

    g = TaskGraph([Lambda(lambda v: {"n": v["n"] + 1}, id="inc", defaults={"n": 1}),
                   Lambda(double, id="dbl")])
    g.add_dataflow(("inc", "n", "dbl", "n"))
    result = await TaskGraphRunner(g).run()
    assert result["dbl"] == {"n": 4}


@register_function("tests.shout")
def shout(values):
    return {"text": values["text"].upper()}


async def test_registered_lambda_round_trips_through_json():
    g = TaskGraph([Lambda(shout, id="s", defaults={"text": "hi"})])
    doc = g.to_json()
    assert doc["tasks"][0]["function"] == "tests.shout"
    again = TaskGraph.from_json(doc)
    assert (await TaskGraphRunner(again).run())["s"] == {"text": "HI"}


def test_unregistered_lambda_says_so_in_json_and_cannot_be_reloaded():
    g = TaskGraph([Lambda(lambda v: v, id="anon")])
    doc = g.to_json()
    entry = doc["tasks"][0]
    assert entry["function"] is None and "not registered" in entry["note"]
    with pytest.raises(SerializationError, match="cannot be reloaded"):
        TaskGraph.from_json(doc)


def test_lambda_naming_an_unknown_function_is_refused():
    doc = {"schema_version": 1,
           "tasks": [{"id": "x", "type": "Lambda", "function": "os.system"}]}
    with pytest.raises(UnknownFunctionError, match=r"os\.system"):
        TaskGraph.from_json(doc)


async def test_lambda_in_a_workflow_is_connected_by_rename():
    # A Lambda's outputs are undeclared, so nothing auto-connects from it; rename says it.
    with pytest.raises(WorkflowError) as info:
        Workflow().lambda_(fn=lambda v: {"text": "made"}, id="make").t_upper(id="up")
    assert str(info.value) == (
        "required input 'text' of 'up' (TUpper) has no value: nothing from make connects "
        "to it; pass text=... or rename() an output into it")
    wf = Workflow().lambda_(fn=lambda v: {"text": "made"}, id="make")
    wf.rename("text", "text").t_upper(id="up")
    assert (await wf.run())["up"] == {"text": "MADE"}
