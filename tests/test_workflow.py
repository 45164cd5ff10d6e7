import pytest

from support import TAdd, TCount, TEcho, TEmbed, TJoin, TLoadModel, TNorm, TTwoTexts, TUpper
from taskloom import (
    PortTypeError,
    TaskGraph,
    Workflow,
    WorkflowError,
)


def flows(wf):
    return [(d.source_task_id, d.source_port, d.target_task_id, d.target_port)
            for d in wf.graph.dataflows]


def test_snake_case_methods_for_registered_types():
    wf = Workflow()
    wf.t_echo(id="e", text="hi").t_upper(id="u")
    assert flows(wf) == [("e", "text", "u", "text")]
    assert "t_echo" in dir(wf)
    with pytest.raises(AttributeError, match="no registered task type"):
        wf.no_such_task()


def test_same_name_auto_connect_and_run():
    wf = Workflow().add_task(TEcho, id="e", text="hello").add_task(TUpper, id="u")
    assert flows(wf) == [("e", "text", "u", "text")]


async def test_run_returns_the_result_and_forwards_events():
    wf = Workflow().t_echo(text="hello").t_upper()
    kinds = []
    wf.on("task_complete", lambda e: kinds.append(e.task_id))
    result = await wf.run()
    assert result.output == {"text": "HELLO"}
    assert len(kinds) == 2 and wf.last_result is result


def test_semantic_format_connects_under_another_name():
    wf = Workflow().add_task(TLoadModel, id="m").add_task(TEmbed, id="e", text="x")
    assert flows(wf) == [("m", "loaded", "e", "model")]
    wf.add_task(TNorm, id="n")
    assert ("e", "vector", "n", "values") in flows(wf)


def test_never_connects_a_primitive_of_another_name():
    wf = Workflow().add_task(TCount, id="c", text="abc")
    # TAdd takes `a`: an integer, but named differently from `length`.
    with pytest.raises(WorkflowError, match="required input 'a'"):
        wf.add_task(TAdd, id="add")
    assert wf.graph.task_ids() == ["c"]


def test_rename_connects_explicitly():
    wf = Workflow().add_task(TCount, id="c", text="abc").rename("length", "a")
    wf.add_task(TAdd, id="add", b=1)
    assert flows(wf) == [("c", "length", "add", "a")]


def test_rename_of_a_missing_port_is_an_error():
    wf = Workflow().add_task(TCount, id="c", text="abc").rename("nope", "a")
    with pytest.raises(WorkflowError, match="no output 'nope'"):
        wf.add_task(TAdd, id="add")
    assert wf.graph.task_ids() == ["c"]


def test_rename_type_mismatch_is_refused_and_graph_unchanged():
    wf = Workflow().add_task(TCount, id="c", text="abc").rename("length", "text")
    with pytest.raises(PortTypeError):
        wf.add_task(TUpper, id="u")
    assert wf.graph.task_ids() == ["c"] and not wf.graph.dataflows


def test_ambiguous_match_lists_the_candidates():
    wf = Workflow().add_task(TTwoTexts, id="two")
    with pytest.raises(WorkflowError, match="first, second"):
        wf.add_task(TEmbed, id="e", text="x")
    assert wf.graph.task_ids() == ["two"]


def test_explicit_inputs_are_never_auto_connected():
    wf = Workflow().t_echo(id="e", text="a").t_upper(id="u", text="given")
    assert flows(wf) == []


def test_required_input_unmatched_names_the_port():
    with pytest.raises(WorkflowError, match="required input 'text'"):
        Workflow().add_task(TUpper)


def test_parallel_then_fan_in():
    wf = Workflow().t_echo(id="start", text="x")
    wf.parallel(lambda w: w.t_upper(id="u1"), lambda w: w.t_upper(id="u2"))
    wf.rename("text", "texts").add_task(TJoin, id="j")
    assert ("start", "text", "u1", "text") in flows(wf)
    assert ("start", "text", "u2", "text") in flows(wf)
    assert [d.source_task_id for d in wf.graph.dataflows_into("j")] == ["u1", "u2"]


async def test_parallel_branches_into_single_input_is_an_error():
    wf = Workflow().t_echo(id="start", text="x").parallel(TUpper, TUpper)
    with pytest.raises(WorkflowError, match="several"):
        wf.t_upper(id="u3")


def test_pop_and_reset():
    wf = Workflow().t_echo(id="e", text="x").t_upper(id="u")
    wf.pop()
    assert wf.graph.task_ids() == ["e"] and wf.last_task.id == "e"
    wf.t_upper(id="u2")
    assert flows(wf) == [("e", "text", "u2", "text")]
    wf.reset()
    assert len(wf.graph) == 0
    with pytest.raises(WorkflowError):
        wf.pop()


def test_json_outputs():
    wf = Workflow().t_echo(id="e", text="x").t_upper(id="u")
    doc = wf.to_json()
    assert TaskGraph.from_json(doc).to_json() == doc
    assert wf.to_dependency_json()[1]["dependencies"] == {"text": {"id": "e", "output": "text"}}


def test_duplicate_id_is_refused():
    wf = Workflow().t_echo(id="e", text="x")
    with pytest.raises(WorkflowError, match="already has a task"):
        wf.t_upper(id="e")


async def test_array_expansion_through_the_workflow():
    wf = Workflow().add_task(TAdd, a=[1, 2], b=[10, 20])
    result = await wf.run()
    assert result.output == {"a": [11, 21, 12, 22]}
