import asyncio

import pytest
from pydantic import BaseModel

from support import TAdd, TBadOutput, TCalls, TEcho, TFail, TGate, TJoin, TSleep, TUpper
from taskloom import (
    Dataflow,
    MemoryOutputRepository,
    MissingInputError,
    RunAbortedError,
    TaskFailedError,
    TaskGraph,
    TaskGraphRunner,
    TaskInputError,
    TaskOutputError,
    TaskStatus,
    TaskTimeoutError,
)
from taskloom.errors import JobFailedError
from taskloom.task import Task

#: Seconds before a test that waits on an event gives up: only a hang gets near it;
#: nothing here judges speed.
HANG = 60


def graph(*tasks, flows=()):
    g = TaskGraph(tasks)
    for flow in flows:
        g.add_dataflow(flow)
    return g


async def test_runs_a_chain_and_returns_plain_dict_outputs():
    g = graph(TEcho("a", {"text": "hi"}), TUpper("b"), flows=[("a", "text", "b", "text")])
    result = await TaskGraphRunner(g).run()
    assert result.status == "completed" and result.ok
    assert result.outputs == {"a": {"text": "hi"}, "b": {"text": "HI"}}
    assert type(result.outputs["a"]) is dict
    assert result.leaves() == {"b": {"text": "HI"}}
    assert result.output == {"text": "HI"}
    assert set(result.statuses.values()) == {TaskStatus.COMPLETED}


async def test_fan_in_keeps_dataflow_order():
    g = graph(TEcho("x", {"text": "1"}), TEcho("y", {"text": "2"}), TEcho("z", {"text": "3"}),
              TJoin("j"),
              flows=[("z", "text", "j", "texts"), ("x", "text", "j", "texts"),
                     ("y", "text", "j", "texts")])
    result = await TaskGraphRunner(g).run()
    assert result["j"] == {"text": "3 1 2"}


async def test_tasks_start_without_a_layer_barrier(gates):
    # slow -> after_slow, and fast -> after_fast. slow finishes only once after_fast
    # has: behind a layer barrier after_fast would wait for slow, and the run would hang.
    g = graph(TGate("slow", {"text": "s"}), TEcho("after_slow"),
              TEcho("fast", {"text": "f"}), TEcho("after_fast"),
              flows=[("slow", "text", "after_slow", "text"),
                     ("fast", "text", "after_fast", "text")])
    runner = TaskGraphRunner(g)
    order = []

    def on_complete(event):
        order.append(event.task_id)
        if event.task_id == "after_fast":
            gates.open("slow")

    runner.events.on("task_complete", on_complete)
    result = await asyncio.wait_for(runner.run(), HANG)
    assert order == ["fast", "after_fast", "slow", "after_slow"]
    assert result.outputs["after_slow"] == {"text": "s"}


async def test_concurrency_bound_is_respected():
    running, peak = 0, 0
    three_running = asyncio.Event()

    class Probe(TSleep, register=False):
        async def run(self, input, ctx):
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            if running == 3:
                three_running.set()
            # Held until three run at once (a bound below 3 hangs here), then one more
            # trip through the loop: a fourth would start now if the bound let it.
            await three_running.wait()
            await asyncio.sleep(0)
            running -= 1
            return {"text": ""}

    g = graph(*(Probe(f"p{i}") for i in range(12)))
    result = await asyncio.wait_for(TaskGraphRunner(g, concurrency=3).run(), HANG)
    assert peak == 3 and result.ok


async def test_events_sequence_and_progress():
    g = graph(TSleep("s", {"seconds": 0.02}), TEcho("e", {"text": "x"}))
    kinds = []
    progress = []
    runner = TaskGraphRunner(g, concurrency=1)
    runner.events.subscribe(lambda e: kinds.append((e.kind, e.task_id)))
    runner.events.on("graph_progress", lambda e: progress.append(e.progress))
    await runner.run()
    assert kinds[0] == ("graph_start", None) and kinds[-1] == ("graph_complete", None)
    assert ("task_start", "s") in kinds and ("task_complete", "e") in kinds
    task_progress = [k for k in kinds if k == ("task_progress", "s")]
    assert len(task_progress) == 10
    assert progress == sorted(progress) and progress[-1] == 1.0


async def test_event_to_dict_is_json_ready():
    import json

    g = graph(TEcho("e", {"text": "x"}))
    seen = []
    runner = TaskGraphRunner(g)
    runner.events.subscribe(lambda e: seen.append(e.to_dict()))
    await runner.run()
    text = json.dumps(seen)
    assert '"kind": "task_complete"' in text and '"output": {"text": "x"}' in text


async def test_failing_listener_does_not_break_the_run():
    g = graph(TEcho("e", {"text": "x"}))
    runner = TaskGraphRunner(g)
    runner.events.subscribe(lambda e: 1 / 0)
    assert (await runner.run()).ok


async def test_failure_aborts_running_tasks_and_skips_downstream(gates):
    class FailWhileLongRuns(TFail, register=False):
        async def run(self, input, ctx):
            await gates.wait_started("long")
            raise RuntimeError(input.text)

    g = graph(TGate("long"), FailWhileLongRuns("bad"), TEcho("after_bad", {"text": "x"}),
              flows=[])
    g.add_task(TUpper("down"))
    g.add_dataflow(("bad", "text", "down", "text"))
    with pytest.raises(TaskFailedError, match="RuntimeError: boom") as info:
        await TaskGraphRunner(g).run()
    result = info.value.result
    assert info.value.task_id == "bad"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert result.status == "failed"
    assert result.statuses["bad"] is TaskStatus.FAILED
    assert result.statuses["down"] is TaskStatus.SKIPPED
    assert result.statuses["long"] is TaskStatus.ABORTED
    assert gates.cancelled == ["long"] and gates.finished == []


async def test_continue_on_error_lets_independent_branches_finish():
    g = graph(TFail("bad"), TUpper("down"), TSleep("other", {"seconds": 0.05, "text": "ok"}),
              flows=[("bad", "text", "down", "text")])
    result = await TaskGraphRunner(g, continue_on_error=True).run()
    assert result.status == "failed"
    assert result.outputs["other"] == {"text": "ok"}
    assert result.statuses["down"] is TaskStatus.SKIPPED
    assert isinstance(result.errors["bad"], TaskFailedError)


async def test_abort_whole_run(gates):
    g = graph(*(TGate(f"s{i}") for i in range(3)))
    runner = TaskGraphRunner(g)
    aborted = []
    runner.events.on("task_abort", lambda e: aborted.append(e.task_id))

    async def stop_once_all_run():
        await gates.wait_started("s0", "s1", "s2")
        runner.abort("user pressed stop")

    stopper = asyncio.create_task(stop_once_all_run())
    with pytest.raises(RunAbortedError, match="user pressed stop") as info:
        await asyncio.wait_for(runner.run(), HANG)
    await stopper
    assert sorted(aborted) == ["s0", "s1", "s2"]
    assert sorted(gates.cancelled) == ["s0", "s1", "s2"] and gates.finished == []
    assert set(info.value.result.statuses.values()) == {TaskStatus.ABORTED}
    assert info.value.result.status == "aborted"


class TFailsOnAbort(Task):
    """Fails with a taskloom error as soon as it is told to stop (as a job queue task
    does when its aborted job comes back failed) instead of being cancelled."""

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        pass

    async def run(self, input, ctx):
        started.set()
        await ctx.signal.wait()
        raise JobFailedError("job 1 failed: aborted")


started = asyncio.Event()


async def test_a_task_that_fails_because_it_was_aborted_counts_as_aborted():
    started.clear()
    runner = TaskGraphRunner(graph(TFailsOnAbort("job")))
    run = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), HANG)
    runner.abort("user pressed stop")
    with pytest.raises(RunAbortedError, match="user pressed stop") as info:
        await asyncio.wait_for(run, HANG)
    assert info.value.result.statuses["job"] is TaskStatus.ABORTED
    assert info.value.result.status == "aborted"


async def test_cancelling_run_cancels_tasks(gates):
    run = asyncio.create_task(TaskGraphRunner(graph(TGate("s"))).run())
    await asyncio.wait_for(gates.wait_started("s"), HANG)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    # run() returns only after its tasks have ended: the cancellation reached "s".
    assert gates.cancelled == ["s"] and gates.finished == []


async def test_per_task_timeout(gates):
    # "s" waits for a gate nobody opens: only its timeout can end it.
    g = graph(TGate("s", timeout=0.05), TEcho("free", {"text": "x"}))
    result = await asyncio.wait_for(TaskGraphRunner(g, continue_on_error=True).run(), HANG)
    error = result.errors["s"]
    assert isinstance(error, TaskTimeoutError)
    assert str(error) == "task 's' (TGate) timed out after 0.05 s" and error.task_id == "s"
    assert result.statuses["s"] is TaskStatus.FAILED
    assert gates.cancelled == ["s"]
    assert result.outputs["free"] == {"text": "x"}


async def test_missing_required_input_names_task_and_port():
    g = graph(TEcho("needs_text"))
    with pytest.raises(MissingInputError) as info:
        await TaskGraphRunner(g).run()
    assert info.value.task_id == "needs_text" and info.value.port == "text"
    assert "'needs_text'" in str(info.value) and "'text'" in str(info.value)


async def test_invalid_input_at_run_time():
    from support import TCount

    g = graph(TCount("n", {"text": "abc"}), TAdd("add", {"b": 1}),
              flows=[("n", "length", "add", "a")])
    assert (await TaskGraphRunner(g).run())["add"] == {"a": 4}

    class Loose(TEcho, register=False):
        class Output(TEcho.Output.__base__):
            text: object

        async def run(self, input, ctx):
            return {"text": ["not", "a", "string", {"x": 1}]}

    g = graph(Loose("l", {"text": "x"}), TUpper("u"))
    g.add_dataflow(("l", "text", "u", "text"))
    with pytest.raises(TaskInputError, match="'u'"):
        await TaskGraphRunner(g).run()


async def test_bad_output_is_a_clear_error():
    with pytest.raises(TaskOutputError, match="'n'"):
        await TaskGraphRunner(graph(TBadOutput("b"))).run()


async def test_cache_hits_skip_the_task_and_still_emit_events():
    TCalls.calls.clear()
    repo = MemoryOutputRepository()
    g = graph(TCalls("c", {"text": "cache-me"}))
    first = await TaskGraphRunner(g, output_repository=repo).run()
    runner = TaskGraphRunner(g, output_repository=repo)
    kinds = []
    runner.events.subscribe(lambda e: kinds.append(e.kind))
    second = await runner.run()
    assert TCalls.calls == {"cache-me": 1}
    assert first.outputs == second.outputs == {"c": {"text": "cache-me!"}}
    assert second.cache_hits == {"c"} and not first.cache_hits
    assert kinds.index("task_start") < kinds.index("task_cache_hit") < kinds.index(
        "task_complete")
    assert await repo.count() == 1


async def test_cache_key_depends_on_input_and_version():
    TCalls.calls.clear()
    repo = MemoryOutputRepository()
    await TaskGraphRunner(graph(TCalls("c", {"text": "a"})), output_repository=repo).run()
    await TaskGraphRunner(graph(TCalls("c", {"text": "b"})), output_repository=repo).run()
    assert TCalls.calls == {"a": 1, "b": 1}
    TCalls.version = "2"
    try:
        await TaskGraphRunner(graph(TCalls("c", {"text": "a"})), output_repository=repo).run()
    finally:
        TCalls.version = "1"
    assert TCalls.calls == {"a": 2, "b": 1}


async def test_non_cacheable_tasks_never_hit():
    TCalls.calls.clear()
    repo = MemoryOutputRepository()
    g = graph(TCalls("c", {"text": "x"}, cacheable=False))
    await TaskGraphRunner(g, output_repository=repo).run()
    await TaskGraphRunner(g, output_repository=repo).run()
    assert TCalls.calls == {"x": 2} and await repo.count() == 0


async def test_array_expansion_runs_the_cartesian_product_in_order():
    g = graph(TAdd("add", {"a": [1, 2, 3], "b": [10, 20]}))
    seen = []
    runner = TaskGraphRunner(g)
    runner.events.on("task_progress", lambda e: seen.append(e.progress))
    result = await runner.run()
    assert result["add"] == {"a": [11, 21, 12, 22, 13, 23]}
    assert seen[-1] == 1.0


async def test_upstream_list_output_expands_a_single_valued_port():
    g = graph(TAdd("add", {"a": [1, 2], "b": 1}), TAdd("again", {"b": 100}),
              flows=[("add", "a", "again", "a")])
    result = await TaskGraphRunner(g).run()
    assert result["again"] == {"a": [102, 103]}


async def test_array_expansion_of_an_empty_list():
    result = await TaskGraphRunner(graph(TAdd("add", {"a": [], "b": 1}))).run()
    assert result["add"] == {"a": []}


async def test_array_expansion_caches_each_child():
    TCalls.calls.clear()
    repo = MemoryOutputRepository()
    await TaskGraphRunner(graph(TCalls("c", {"text": ["x", "y"]})), output_repository=repo).run()
    result = await TaskGraphRunner(graph(TCalls("c", {"text": ["y", "z"]})),
                                   output_repository=repo).run()
    assert result["c"] == {"text": ["y!", "z!"]}
    assert TCalls.calls == {"x": 1, "y": 1, "z": 1}


async def test_reactive_mode_previews_without_side_effects_or_cache():
    TCalls.calls.clear()
    repo = MemoryOutputRepository()
    g = graph(TEcho("e", {"text": "hi"}), TCalls("c"), flows=[("e", "text", "c", "text")])
    result = await TaskGraphRunner(g, output_repository=repo).run_reactive()
    assert result.outputs["e"] == {"text": "preview:hi"}
    # TCalls has no preview: it yields nothing and runs nothing.
    assert result.outputs["c"] == {}
    assert TCalls.calls == {} and await repo.count() == 0


async def test_reactive_mode_skips_tasks_without_preview_input():
    g = graph(TCalls("c", {"text": "x"}), TUpper("u"), flows=[("c", "text", "u", "text")])
    result = await TaskGraphRunner(g).run_reactive()
    assert result.statuses["u"] is TaskStatus.SKIPPED and result.ok


async def test_hundred_thousand_task_chain_runs():
    n = 100_000
    g = TaskGraph(TAdd(f"t{i}", {"b": 1}) for i in range(n))
    g.get_task("t0").set_defaults({"a": 0})
    for i in range(1, n):
        g.add_dataflow(Dataflow(f"t{i - 1}", "a", f"t{i}", "a"))
    result = await TaskGraphRunner(g).run()
    assert result.outputs[f"t{n - 1}"] == {"a": n}


async def test_a_runner_can_run_again():
    g = graph(TEcho("e", {"text": "x"}))
    runner = TaskGraphRunner(g)
    first = await runner.run()
    second = await runner.run()
    assert first.outputs == second.outputs and first is not second


# -- persisted runs ----------------------------------------------------------------


async def test_a_run_with_a_store_records_every_task():
    from taskloom.storage import open_store

    async with open_store("memory://") as store:
        g = graph(TEcho("a", {"text": "x"}), TFail("f"), TUpper("b"),
                  flows=[("a", "text", "b", "text")])
        g.add_task(TUpper("after_f"))
        g.add_dataflow(("f", "text", "after_f", "text"))
        runner = TaskGraphRunner(g, store=store, continue_on_error=True, run_id="r1")
        await runner.run()
        record = await store.runs.get("r1")
        assert record.status == "failed" and "boom" in record.error
        assert {t: r.status for t, r in record.tasks.items()} == {
            "a": "completed", "f": "failed", "b": "completed", "after_f": "skipped"}
        assert record.tasks["b"].output == {"text": "X"}
        assert record.tasks["a"].started_at <= record.tasks["a"].finished_at
        assert record.graph == g.to_json()
        assert runner.output_repository is store.outputs


async def test_resume_reuses_completed_outputs_and_reruns_the_rest(gates):
    from taskloom.storage import open_store

    TCalls.calls.clear()
    async with open_store("memory://") as store:
        g = graph(TCalls("a", {"text": "x"}), TCalls("b"), TGate("slow"),
                  flows=[("a", "text", "b", "text")])
        runner = TaskGraphRunner(g, store=store, run_id="r2")
        b_done = asyncio.Event()
        runner.events.on("task_complete",
                         lambda e: b_done.set() if e.task_id == "b" else None)

        async def abort_mid_run():
            await b_done.wait()
            await gates.wait_started("slow")
            runner.abort()

        aborter = asyncio.create_task(abort_mid_run())
        with pytest.raises(RunAbortedError):
            await asyncio.wait_for(runner.run(), HANG)
        await aborter
        record = await store.runs.get("r2")
        assert record.status == "aborted" and record.tasks["slow"].status == "aborted"
        assert TCalls.calls == {"x": 1, "x!": 1}
        assert gates.cancelled == ["slow"] and gates.finished == []
        await store.outputs.clear()  # not the cache: the run record carries the outputs
        gates.open("slow")
        result = await asyncio.wait_for(TaskGraphRunner.resume("r2", store=store), HANG)
        assert result.ok and TCalls.calls == {"x": 1, "x!": 1}
        assert gates.finished == ["slow"]
        assert (await store.runs.get("r2")).status == "completed"


async def test_losing_the_store_mid_run_is_an_error_not_a_silent_loss(gates):
    from taskloom import StorageError
    from taskloom.storage import open_store

    store = open_store("memory://")
    await store.open()
    g = graph(TGate("s1", {"text": "a"}), TEcho("e"), flows=[("s1", "text", "e", "text")])
    runner = TaskGraphRunner(g, store=store)

    async def break_store(*args, **kwargs):
        from taskloom.errors import StoreUnavailableError

        raise StoreUnavailableError("the database went away")

    async def lose_the_store_while_s1_runs():
        await gates.wait_started("s1")
        store.runs.update_task = break_store
        gates.open("s1")

    breaker = asyncio.create_task(lose_the_store_while_s1_runs())
    try:
        with pytest.raises(StorageError, match="went away") as info:
            await asyncio.wait_for(runner.run(), HANG)
        await breaker
        assert info.value.result.statuses["e"] is not TaskStatus.COMPLETED
        assert "e" not in info.value.result.outputs
    finally:
        await store.close()


class TMixed(Task):
    """A plain task whose input has a field of each JSON kind, for the cache key."""

    class Input(BaseModel):
        n: int
        x: float = 1
        text: str = "é"
        items: list[int] = [3, 1]
        maybe: str | None = None

    class Output(BaseModel):
        total: float

    async def run(self, input, ctx):
        TMixed.runs += 1
        return {"total": input.n + input.x + sum(input.items)}


TMixed.runs = 0


async def test_the_runners_cache_keys_are_run_ones():
    """A plain task keys its input from the validated model's __dict__, a task with a
    timeout through run_one's model_dump: the same key, so each finds the other's output."""
    from taskloom.cache import cache_key
    from taskloom.execution import validate_input

    repo = MemoryOutputRepository()
    TMixed.runs = 0
    timed = TMixed("m", {"n": 2}, timeout=30)  # (a timeout: the run_one path)
    first = await TaskGraphRunner(graph(timed), output_repository=repo).run()
    plain = TMixed("m", {"n": 2})
    second = await TaskGraphRunner(graph(plain), output_repository=repo).run()
    assert TMixed.runs == 1 and second.cache_hits == {"m"}
    assert first.outputs == second.outputs == {"m": {"total": 7.0}}
    dumped = validate_input(plain, plain.default_values()).model_dump(mode="json")
    assert list(repo._items) == [cache_key("TMixed", "1", dumped)]
    # …and the other way round, for an input the plain path stores first.
    await TaskGraphRunner(graph(TMixed("m", {"n": 5})), output_repository=repo).run()
    third = await TaskGraphRunner(graph(TMixed("m", {"n": 5}, timeout=30)),
                                  output_repository=repo).run()
    assert TMixed.runs == 2 and third.cache_hits == {"m"}


async def test_a_cache_hit_through_a_dataflow_sends_the_same_events():
    repo = MemoryOutputRepository()
    g = graph(TAdd("a", {"a": 1}), TAdd("b", {"b": 10}),
              flows=[Dataflow("a", "a", "b", "a")])
    await TaskGraphRunner(g, output_repository=repo).run()
    runner = TaskGraphRunner(g, output_repository=repo)
    seen = []
    runner.events.subscribe(lambda e: seen.append((e.kind, e.task_id, e.output)))
    result = await runner.run()
    assert result.cache_hits == {"a", "b"} and result.outputs["b"] == {"a": 11}
    assert [s for s in seen if s[1] == "b"] == [
        ("task_start", "b", None), ("task_cache_hit", "b", {"a": 11}),
        ("task_complete", "b", {"a": 11})]


def test_the_runners_task_context_sets_every_slot_taskcontext_has():
    """The runner builds each task's context without TaskContext's constructor: it must
    set what that constructor sets, and nothing TaskContext gains may be left unset."""
    import logging

    from taskloom.runner import _task_context
    from taskloom.task import AbortSignal, TaskContext

    signal, logger, services = AbortSignal(), logging.getLogger("t"), {"store": object()}

    def stream(port, delta):
        return None

    def report(task_id, fraction, message, details):
        return None

    ours = _task_context("r", "t", signal, logger, services, stream, report)
    theirs = TaskContext("r", "t", signal, None, logger, services, stream, report=report)
    slots = [name for cls in TaskContext.__mro__ for name in getattr(cls, "__slots__", ())]
    assert slots and type(ours) is TaskContext
    assert {name: getattr(ours, name) for name in slots} == \
        {name: getattr(theirs, name) for name in slots}
    # An empty services dict is the context's own, as TaskContext makes it.
    shared: dict = {}
    assert _task_context("r", "t", signal, logger, shared, None, None).services \
        is not shared
