"""TaskGraphRepository on every backend: save, load, list, delete, change events."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from taskloom import Task, TaskGraph
from taskloom.errors import RecordNotFoundError, StorageError
from taskloom.storage import GraphChange


class StorageGraphAdd(Task):
    class Input(BaseModel):
        a: int
        b: int = 0

    class Output(BaseModel):
        a: int

    async def run(self, input, ctx):
        return {"a": input.a + input.b}


def small_graph() -> TaskGraph:
    graph = TaskGraph()
    graph.add_task(StorageGraphAdd(id="first", defaults={"a": 1, "b": 2}))
    graph.add_task(StorageGraphAdd(id="second", defaults={"b": 10}))
    graph.connect("first", "a", "second", "a")
    return graph


async def test_a_saved_dict_loads_back_equal(store):
    data = {"schema_version": 1, "tasks": [], "dataflows": []}
    await store.graphs.save("empty", data)
    assert await store.graphs.load("empty") == data


async def test_a_task_graph_is_saved_as_its_json_and_loads_back_as_a_graph(store):
    graph = small_graph()
    await store.graphs.save("pipeline", graph)
    assert await store.graphs.load("pipeline") == graph.to_json()
    loaded = await store.graphs.load_graph("pipeline")
    assert isinstance(loaded, TaskGraph)
    assert loaded.to_json() == graph.to_json()


async def test_something_that_is_not_a_graph_is_refused(store):
    with pytest.raises(StorageError, match="to_json"):
        await store.graphs.save("nope", 42)
    assert await store.graphs.list() == []


async def test_loading_an_unknown_name_says_which(store):
    with pytest.raises(RecordNotFoundError, match="ghost"):
        await store.graphs.load("ghost")


async def test_list_gives_sorted_names_and_delete_removes_one(store):
    for name in ["b", "a", "c/d"]:
        await store.graphs.save(name, {"tasks": [], "name": name})
    assert await store.graphs.list() == ["a", "b", "c/d"]
    assert await store.graphs.delete("b") is True
    assert await store.graphs.delete("b") is False
    assert await store.graphs.list() == ["a", "c/d"]


async def test_subscribers_hear_saves_and_deletes_until_they_unsubscribe(store):
    heard: list[GraphChange] = []
    heard_async: list[GraphChange] = []

    async def async_listener(change: GraphChange) -> None:
        heard_async.append(change)

    unsubscribe = store.graphs.subscribe(heard.append)
    store.graphs.subscribe(async_listener)
    await store.graphs.save("g", {"tasks": []})
    await store.graphs.delete("g")
    await store.graphs.delete("g")  # nothing to delete: no event
    unsubscribe()
    await store.graphs.save("h", {"tasks": []})
    assert heard == [GraphChange("saved", "g"), GraphChange("deleted", "g")]
    assert heard_async == [*heard, GraphChange("saved", "h")]


async def test_a_failing_listener_neither_undoes_the_save_nor_silences_others(store, caplog):
    heard: list[GraphChange] = []

    def broken(change: GraphChange) -> None:
        raise RuntimeError("listener bug")

    store.graphs.subscribe(broken)
    store.graphs.subscribe(heard.append)
    await store.graphs.save("g", {"tasks": []})
    assert await store.graphs.load("g") == {"tasks": []}
    assert heard == [GraphChange("saved", "g")]
    assert "listener bug" in caplog.text
