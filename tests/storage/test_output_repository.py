"""The store's TaskOutputRepository on every backend, and the runner using it."""

from __future__ import annotations

from pydantic import BaseModel

from taskloom import Task, TaskGraph, TaskGraphRunner
from taskloom.cache import TaskOutputRepository, cache_key, canonical_json
from taskloom.storage import open_store

BODY_RUNS: list[str] = []


class StorageCountedDouble(Task):
    class Input(BaseModel):
        x: int

    class Output(BaseModel):
        y: int

    async def run(self, input, ctx):
        BODY_RUNS.append(ctx.task_id)
        return {"y": input.x * 2}


async def test_outputs_satisfy_the_cache_protocol(store):
    assert isinstance(store.outputs, TaskOutputRepository)


async def test_put_then_get_by_cache_key(store):
    key = cache_key("Double", 1, {"x": 2})
    assert await store.outputs.get_output(key) is None
    await store.outputs.put_output(key, {"y": 4})
    assert await store.outputs.get_output(key) == {"y": 4}


async def test_many_outputs_in_one_read_and_one_write(store):
    keys = [cache_key("Double", 1, {"x": i}) for i in range(50)]
    await store.outputs.put_outputs({key: {"y": i * 2} for i, key in enumerate(keys[:40])})
    found = await store.outputs.get_outputs(keys)
    assert found == [{"y": i * 2} for i in range(40)] + [None] * 10
    assert await store.outputs.get_output(keys[7]) == {"y": 14}


async def test_count_size_and_clear(store):
    outputs = {cache_key("T", 1, {"i": i}): {"y": "v" * i} for i in range(5)}
    for key, output in outputs.items():
        await store.outputs.put_output(key, output)
    assert await store.outputs.count() == 5
    assert await store.outputs.size() == sum(len(canonical_json(o)) for o in outputs.values())
    await store.outputs.clear()
    assert await store.outputs.count() == 0


async def test_clear_older_than_keeps_recent_outputs(store, clock):
    await store.outputs.put_output("T:1:old", {"y": 1})
    clock.advance(3600)
    await store.outputs.put_output("T:1:new", {"y": 2})
    clock.advance(60)
    assert await store.outputs.clear_older_than(600) == 1
    assert await store.outputs.get_output("T:1:old") is None
    assert await store.outputs.get_output("T:1:new") == {"y": 2}


async def test_outputs_do_not_collide_with_graphs_of_the_same_name(store):
    await store.outputs.put_output("same", {"kind": "output"})
    await store.graphs.save("same", {"kind": "graph"})
    assert await store.outputs.get_output("same") == {"kind": "output"}
    assert await store.outputs.count() == 1


async def test_a_second_run_on_a_durable_store_is_served_from_its_cache(durable_url):
    def graph() -> TaskGraph:
        g = TaskGraph()
        g.add_task(StorageCountedDouble(id="a", defaults={"x": 1}))
        g.add_task(StorageCountedDouble(id="b"))
        g.connect("a", "y", "b", "x")
        return g

    BODY_RUNS.clear()
    async with open_store(durable_url) as store:
        first = await TaskGraphRunner(graph(), output_repository=store.outputs).run()
    async with open_store(durable_url) as store:  # a new process would see the same
        second = await TaskGraphRunner(graph(), output_repository=store.outputs).run()
        assert await store.outputs.count() == 2
    assert first.outputs["b"] == second.outputs["b"] == {"y": 4}
    assert BODY_RUNS == ["a", "b"]
