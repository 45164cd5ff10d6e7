"""Control flow (tasks/control.py) and error routing: If, Fallback, Map, Reduce, While.

Every construct runs through the real runner, round-trips through JSON and
code, shows in registry.describe(), and refuses its bad input clearly.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from taskloom import (
    Fallback,
    GraphError,
    If,
    Map,
    MemoryOutputRepository,
    Reduce,
    Task,
    TaskFailedError,
    TaskGraph,
    TaskGraphRunner,
    TaskInputError,
    TaskStatus,
    While,
    WhileLimitError,
    register_function,
    registry,
)
from taskloom.codegen import from_code, to_code
from taskloom.errors import UnknownFunctionError

SKIPPED, COMPLETED, FAILED = TaskStatus.SKIPPED, TaskStatus.COMPLETED, TaskStatus.FAILED
#: Body runs of CtlCount, by the n it saw: what caching and resume must keep down.
CALLS: list[int] = []


class CtlNumber(Task):
    class Input(BaseModel):
        n: int = 0

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        return {"n": input.n}


class CtlCount(Task):
    """n + 1, counted in CALLS."""

    class Input(BaseModel):
        n: int

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        CALLS.append(input.n)
        await asyncio.sleep(0)
        return {"n": input.n + 1}


class CtlPair(Task):
    class Input(BaseModel):
        word: str
        times: int = 1

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": input.word * input.times}


class CtlShow(Task):
    class Input(BaseModel):
        value: Any = None

    class Output(BaseModel):
        value: Any = None

    async def run(self, input, ctx):
        return {"value": input.value}


class CtlBoom(Task):
    cacheable = False

    class Input(BaseModel):
        n: int = 0

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        raise RuntimeError(f"boom {input.n}")


class CtlSlow(Task):
    """Holds the item for a moment and records how many run at once."""

    cacheable = False
    running = 0
    peak = 0

    class Input(BaseModel):
        n: int

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        cls = type(self)
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        await asyncio.sleep(0.01 * (5 - input.n % 5))  # later items finish first
        cls.running -= 1
        return {"n": input.n * 10}


@register_function("tests.control.add")
def add(acc, item):
    return acc + item


@pytest.fixture(autouse=True)
def _calls():
    CALLS.clear()


def round_trips(graph: TaskGraph) -> None:
    assert TaskGraph.from_json(graph.to_json_string()) == graph
    assert TaskGraph.from_dependency_json(graph.to_dependency_json()) == graph
    code = to_code(graph)
    assert from_code(code) == graph, code
    assert to_code(from_code(code)) == code


async def run(graph: TaskGraph, **options):
    return await TaskGraphRunner(graph, **options).run()


# -- If ---------------------------------------------------------------------------------


def branches(value: int, condition: str = "value > 3") -> TaskGraph:
    graph = TaskGraph([CtlNumber("a", {"n": value}), If("if", {"condition": condition}),
                       CtlShow("big"), CtlShow("small"), CtlShow("after_small"),
                       Fallback(id="join")])
    graph.connect("a", "n", "if", "value")
    graph.connect("if", "then", "big", "value")
    graph.connect("if", "otherwise", "small", "value")
    graph.connect("small", "value", "after_small", "value")
    graph.connect("big", "value", "join", "values")
    graph.connect("after_small", "value", "join", "values")
    return graph


@pytest.mark.parametrize(("value", "taken", "not_taken"), [
    (5, ["big"], ["small", "after_small"]),
    (1, ["small", "after_small"], ["big"]),
])
async def test_if_runs_one_branch_and_skips_the_other_and_the_run_completes(value, taken,
                                                                           not_taken):
    skipped = []
    runner = TaskGraphRunner(branches(value))
    runner.on("task_skipped", lambda e: skipped.append((e.task_id, e.message)))
    result = await runner.run()
    assert result.status == "completed" and not result.errors
    for task_id in taken:
        assert result.statuses[task_id] is COMPLETED
    for task_id in not_taken:
        assert result.statuses[task_id] is SKIPPED and task_id not in result.outputs
    assert {t for t, _ in skipped} == set(not_taken)
    assert all("branch not taken" in message for _, message in skipped)
    # The If's output holds only the port it took; Fallback joins what came.
    assert list(result.outputs["if"]) == ["then" if value > 3 else "otherwise"]
    assert result.outputs["join"] == {"value": value, "alternative": 0}


async def test_if_conditions_read_the_fields_of_a_dict_value_and_functions():
    @register_function("tests.control.has_admin")
    def has_admin(values):
        return "admin" in values["roles"]

    for condition in ("'admin' in roles and len(roles) == 2",
                      {"function": "tests.control.has_admin"}):
        graph = TaskGraph([If("if", {"condition": condition,
                                     "value": {"roles": ["admin", "x"]}}), CtlShow("yes")])
        graph.connect("if", "then", "yes", "value")
        result = await run(graph)
        assert result.outputs["yes"] == {"value": {"roles": ["admin", "x"]}}
        round_trips(graph)


def test_a_condition_that_does_not_parse_is_refused_when_the_graph_loads():
    with pytest.raises(TaskInputError, match=r"condition 'value >' does not parse at column 8"):
        If("if", {"condition": "value >"})
    doc = branches(5).to_json()
    doc["tasks"][1]["defaults"]["condition"] = "value.__class__"
    with pytest.raises(TaskInputError, match=r"\.__class__ at column 6 is not allowed"):
        TaskGraph.from_json(doc)
    with pytest.raises(TaskInputError, match="condition"):
        If("if", {"condition": 42})


async def test_a_condition_that_fails_at_run_time_fails_the_if_naming_the_field():
    graph = TaskGraph([If("if", {"condition": "missing > 1", "value": {"n": 1}})])
    with pytest.raises(TaskloomErrorLike, match="no field 'missing'"):
        await run(graph)


TaskloomErrorLike = Exception  # the runner raises the task's own error class


async def test_a_task_fed_by_a_branch_not_taken_and_a_later_task_is_skipped():
    # "late" finishes after the branch was skipped: its completion must not start "both".
    graph = TaskGraph([If("if", {"condition": "value > 3", "value": 1}), CtlShow("a"),
                       CtlSlow("late", {"n": 1}), CtlPair("both")])
    graph.connect("if", "then", "a", "value")
    graph.connect("a", "value", "both", "word")
    graph.connect("late", "n", "both", "times")
    result = await run(graph)
    assert result.ok
    assert result.statuses["a"] is SKIPPED and result.statuses["both"] is SKIPPED
    assert result.statuses["late"] is COMPLETED


def test_if_round_trips_through_json_and_code():
    round_trips(branches(5))


# -- error routing --------------------------------------------------------------------


def routed() -> TaskGraph:
    graph = TaskGraph([CtlBoom("boom", {"n": 7}), CtlShow("handler"), CtlShow("normal"),
                       CtlShow("after_normal")])
    graph.connect("boom", "error", "handler", "value")
    graph.connect("boom", "n", "normal", "value")
    graph.connect("normal", "value", "after_normal", "value")
    return graph


async def test_a_failure_goes_down_the_error_port_and_the_run_succeeds():
    result = await run(routed())
    assert result.status == "completed" and result.errors == {}
    assert result.statuses["boom"] is FAILED and "boom" in result.handled
    assert result.outputs["handler"]["value"] == {
        "type": "RuntimeError", "task_id": "boom",
        "message": "task 'boom' (CtlBoom) failed: RuntimeError: boom 7"}
    assert result.statuses["normal"] is SKIPPED and result.statuses["after_normal"] is SKIPPED


async def test_the_error_port_carries_nothing_when_the_task_succeeds():
    graph = TaskGraph([CtlNumber("ok", {"n": 1}), CtlShow("handler"), CtlShow("next")])
    graph.connect("ok", "error", "handler", "value")
    graph.connect("ok", "n", "next", "value")
    result = await run(graph)
    assert result.ok
    assert result.statuses["handler"] is SKIPPED and result.outputs["next"] == {"value": 1}


async def test_an_unrouted_failure_still_fails_the_run():
    graph = routed()
    graph.remove_dataflow(("boom", "error", "handler", "value"))
    with pytest.raises(TaskFailedError, match="boom 7"):
        await run(graph)


def test_the_error_port_is_typed_and_round_trips():
    graph = TaskGraph([CtlBoom("boom"), CtlPair("p")])
    check = graph.check_dataflow("boom", "error", "p", "word")
    assert not check.ok and "object" in check.reason  # an error is a dict, not a str
    round_trips(routed())


# -- Fallback ---------------------------------------------------------------------------


async def test_fallback_tries_alternatives_in_order():
    fallback = Fallback([TaskGraph([CtlBoom("cloud")]), TaskGraph([CtlCount("local")])],
                        id="fb", defaults={"n": 4})
    graph = TaskGraph([fallback])
    result = await run(graph)
    assert result.outputs["fb"] == {"n": 5, "alternative": 1}
    assert [p.name for p in fallback.output_ports] == ["alternative", "n"]
    round_trips(graph)


def test_a_fallback_equals_itself_whatever_order_its_alternatives_were_built_in():
    # An alternative's tasks added "1" before "0": code and JSON write them by id, and the
    # graph read back is the same graph (hypothesis found the two compared unequal).
    def built(order: list[str]) -> TaskGraph:
        return TaskGraph([Fallback([TaskGraph([CtlCount(i) for i in order])], id="fb")])

    assert built(["1", "0"]) == built(["0", "1"])
    round_trips(built(["1", "0"]))


async def test_fallback_fails_when_every_alternative_fails_naming_each():
    graph = TaskGraph([Fallback([TaskGraph([CtlBoom("a")]), TaskGraph([CtlBoom("b")])],
                                id="fb")])
    with pytest.raises(TaskFailedError) as caught:
        await run(graph)
    assert "every alternative failed" in str(caught.value)
    assert "alternative 0" in str(caught.value) and "alternative 1" in str(caught.value)


async def test_fallback_over_data_takes_the_first_value_there():
    graph = TaskGraph([CtlShow("none"), CtlNumber("two", {"n": 2}), Fallback(id="fb")])
    graph.connect("none", "value", "fb", "values")
    graph.connect("two", "n", "fb", "values")
    assert (await run(graph)).outputs["fb"] == {"value": 2, "alternative": 1}
    empty = TaskGraph([Fallback(id="fb")])
    with pytest.raises(TaskFailedError, match="none of its 0 values"):
        await run(empty)


# -- Map --------------------------------------------------------------------------------


async def test_map_runs_the_body_per_item_keeping_order_with_bounded_concurrency():
    CtlSlow.running = CtlSlow.peak = 0
    graph = TaskGraph([Map(TaskGraph([CtlSlow("slow")]), "m",
                           {"n": list(range(10)), "concurrency": 3})])
    result = await run(graph)
    assert result.outputs["m"] == {"n": [n * 10 for n in range(10)]}
    assert CtlSlow.peak == 3
    round_trips(graph)


async def test_map_zips_several_lists_and_refuses_unequal_ones():
    graph = TaskGraph([Map(TaskGraph([CtlPair("p")]), "m",
                           {"word": ["a", "b", "c"], "times": [1, 2, 3]})])
    assert (await run(graph)).outputs["m"] == {"text": ["a", "bb", "ccc"]}
    graph.get_task("m").set_defaults({"times": [1, 2]})
    with pytest.raises(TaskFailedError, match="different lengths: word has 3, times has 2"):
        await run(graph)


async def test_map_over_an_empty_list_gives_empty_lists_and_runs_nothing():
    graph = TaskGraph([Map(TaskGraph([CtlCount("c")]), "m", {"n": []}), CtlShow("after")])
    graph.connect("m", "n", "after", "value")
    result = await run(graph)
    assert result.outputs["m"] == {"n": []} and result.outputs["after"] == {"value": []}
    assert CALLS == []


async def test_map_without_a_list_and_a_failing_item_are_clear_errors():
    with pytest.raises(TaskFailedError, match="got no list"):
        await run(TaskGraph([Map(TaskGraph([CtlCount("c")]), "m")]))
    graph = TaskGraph([Map(TaskGraph([CtlBoom("b")]), "m", {"n": [1, 2]})])
    with pytest.raises(TaskFailedError, match=r"Map 'm' item \d: .*boom"):
        await run(graph)


async def test_map_takes_a_list_from_upstream_and_is_cached_item_by_item():
    cache = MemoryOutputRepository()
    body = TaskGraph([CtlCount("c")])
    graph = TaskGraph([Map(body, "m", {"n": [1, 2, 3]})])
    await run(graph, output_repository=cache)
    assert sorted(CALLS) == [1, 2, 3]
    # Another Map over overlapping items: only the new item's body runs.
    other = TaskGraph([Map(body, "m2", {"n": [3, 4, 1]})])
    result = await run(other, output_repository=cache)
    assert result.outputs["m2"] == {"n": [4, 5, 2]}
    assert sorted(CALLS) == [1, 2, 3, 4]


def test_a_map_body_port_named_like_a_map_setting_is_refused():
    class CtlConcurrency(Task):
        class Input(BaseModel):
            concurrency: int

        class Output(BaseModel):
            n: int

    with pytest.raises(GraphError, match="open port named 'concurrency'"):
        Map(TaskGraph([CtlConcurrency("c")]))
    registry.unregister("CtlConcurrency")


# -- Reduce ------------------------------------------------------------------------------


class CtlAdd(Task):
    class Input(BaseModel):
        accumulator: int
        item: int

    class Output(BaseModel):
        accumulator: int

    async def run(self, input, ctx):
        return {"accumulator": input.accumulator + input.item}


async def test_reduce_folds_with_a_registered_function_or_a_body():
    by_name = TaskGraph([Reduce(id="r", defaults={"items": [1, 2, 3], "initial": 10,
                                                  "function": "tests.control.add"})])
    assert (await run(by_name)).outputs["r"] == {"result": 16}
    by_body = TaskGraph([Reduce(TaskGraph([CtlAdd("add")]), id="r",
                                defaults={"items": [1, 2, 3], "initial": 0})])
    assert (await run(by_body)).outputs["r"] == {"result": 6}
    empty = TaskGraph([Reduce(id="r", defaults={"items": [], "initial": 7,
                                                "function": "tests.control.add"})])
    assert (await run(empty)).outputs["r"] == {"result": 7}
    round_trips(by_name)
    round_trips(by_body)


async def test_reduce_bad_input_is_refused():
    with pytest.raises(UnknownFunctionError, match=r"'tests\.nowhere' is not registered"):
        Reduce(id="r", defaults={"function": "tests.nowhere"})
    with pytest.raises(GraphError, match="needs open inputs 'accumulator' and 'item'"):
        Reduce(TaskGraph([CtlCount("c")]))
    with pytest.raises(TaskFailedError, match="exactly one of a body"):
        await run(TaskGraph([Reduce(id="r", defaults={"items": [1]})]))


# -- While -------------------------------------------------------------------------------


async def test_while_repeats_its_body_while_the_condition_holds():
    graph = TaskGraph([CtlNumber("start", {"n": 2}),
                       While(TaskGraph([CtlCount("inc")]), "loop", {"condition": "n < 5"}),
                       CtlShow("after")])
    graph.connect("start", "n", "loop", "n")
    graph.connect("loop", "n", "after", "value")
    result = await run(graph)
    assert result.outputs["loop"] == {"n": 5, "iterations": 3}
    assert result.outputs["after"] == {"value": 5}
    assert CALLS == [2, 3, 4]
    round_trips(graph)


async def test_a_while_whose_condition_is_false_at_once_runs_nothing():
    graph = TaskGraph([While(TaskGraph([CtlCount("inc")]), "loop",
                             {"condition": "n < 5", "n": 9})])
    assert (await run(graph)).outputs["loop"] == {"n": 9, "iterations": 0}
    assert CALLS == []


async def test_a_while_that_reaches_its_cap_is_a_clear_error():
    graph = TaskGraph([While(TaskGraph([CtlCount("inc")]), "loop",
                             {"condition": "n >= 0", "n": 0, "max_iterations": 4})])
    with pytest.raises(WhileLimitError) as caught:
        await run(graph)
    assert "reached max_iterations=4" in str(caught.value)
    assert "'n >= 0' still true" in str(caught.value)
    assert CALLS == [0, 1, 2, 3]


def test_while_bad_bodies_and_conditions_are_refused():
    class CtlSink(Task):
        class Input(BaseModel):
            n: int

        class Output(BaseModel):
            other: int

    with pytest.raises(GraphError, match="output named like one of its inputs"):
        While(TaskGraph([CtlSink("s")]))
    registry.unregister("CtlSink")
    with pytest.raises(TaskInputError, match="does not parse"):
        While(TaskGraph([CtlCount("inc")]), "w", {"condition": "n <"})
    with pytest.raises(TaskInputError, match="max_iterations"):
        While(TaskGraph([CtlCount("inc")]), "w", {"max_iterations": 0})


# -- everywhere ---------------------------------------------------------------------------


def test_every_construct_is_described_for_the_palette():
    described = {d["name"]: d for d in registry.describe()}
    for name in ("If", "Fallback", "Map", "Reduce", "While"):
        assert described[name]["category"] == "control", name
        assert described[name]["description"], name
    assert set(described["If"]["output_schema"]["properties"]) == {"then", "otherwise"}
    assert "condition" in described["If"]["input_schema"]["required"]
    assert described["If"]["branch_outputs"] == ["otherwise", "then"]
    assert described["Map"]["branch_outputs"] == [] and described["Map"]["error_port"] == "error"


def test_constructs_nest_and_round_trip():
    inner = TaskGraph([While(TaskGraph([CtlCount("inc")]), "loop", {"condition": "n < 3"})])
    graph = TaskGraph([Map(inner, "m", {"n": [0, 1, 5]}), CtlShow("after")])
    graph.connect("m", "n", "after", "value")
    round_trips(graph)


async def test_nested_constructs_run():
    inner = TaskGraph([While(TaskGraph([CtlCount("inc")]), "loop", {"condition": "n < 3"})])
    graph = TaskGraph([Map(inner, "m", {"n": [0, 1, 5]})])
    assert (await run(graph)).outputs["m"] == {"n": [3, 3, 5], "iterations": [3, 2, 0]}


async def test_while_reduce_and_fallback_are_cached_when_their_bodies_are_pure():
    cache = MemoryOutputRepository()

    def graph() -> TaskGraph:
        return TaskGraph([
            While(TaskGraph([CtlCount("inc")]), "loop", {"condition": "n < 3", "n": 0}),
            Reduce(TaskGraph([CtlAdd("add")]), id="fold",
                   defaults={"items": [1, 2, 3], "initial": 0}),
            Fallback([TaskGraph([CtlCount("count")])], id="fb", defaults={"n": 10}),
        ])

    first = await run(graph(), output_repository=cache)
    assert sorted(CALLS) == [0, 1, 2, 10]
    CALLS.clear()
    again = await run(graph(), output_repository=cache)
    assert again.outputs == first.outputs
    assert again.cache_hits == {"loop", "fold", "fb"} and CALLS == []
    # Each iteration is cached too: a loop that goes one further runs only the new one.
    longer = TaskGraph([While(TaskGraph([CtlCount("inc")]), "loop2",
                              {"condition": "n < 4", "n": 0})])
    assert (await run(longer, output_repository=cache)).outputs["loop2"]["n"] == 4
    assert CALLS == [3]


async def test_a_construct_whose_body_is_not_pure_is_never_cached():
    cache = MemoryOutputRepository()
    graph = TaskGraph([Map(TaskGraph([CtlSlow("slow")]), "m", {"n": [1]}),
                       Fallback([TaskGraph([CtlBoom("b")]), TaskGraph([CtlCount("c")])],
                                id="fb", defaults={"n": 1})])
    assert not graph.get_task("m").is_cacheable and not graph.get_task("fb").is_cacheable
    await run(graph, output_repository=cache)
    result = await run(graph, output_repository=cache)
    assert result.cache_hits == set()
    assert result.outputs["m"] == {"n": [10]} and result.outputs["fb"]["alternative"] == 1
