"""RunRepository on every backend: run records as a run progresses."""

from __future__ import annotations

from collections import Counter

import pytest

from taskloom import TaskStatus
from taskloom.errors import RecordNotFoundError, StorageError
from taskloom.storage import open_store

GRAPH = {"schema_version": 1, "tasks": [{"id": "a"}, {"id": "b"}], "dataflows": []}


class CountingBackend:
    """Wraps a backend and counts the writes per collection."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.writes: Counter[str] = Counter()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def put(self, collection, key, value):
        self.writes[collection] += 1
        await self.inner.put(collection, key, value)

    async def put_many(self, collection, items):
        self.writes[collection] += 1
        await self.inner.put_many(collection, items)


async def test_a_new_run_is_pending_with_a_pending_row_per_task(store):
    created = await store.runs.create(GRAPH, run_id="r1", task_ids=["a", "b"])
    record = await store.runs.get("r1")
    assert record.run_id == created.run_id == "r1"
    assert record.status == "pending"
    assert record.graph == GRAPH
    assert {tid: t.status for tid, t in record.tasks.items()} == {"a": "pending", "b": "pending"}
    assert record.created_at.tzinfo is not None


async def test_run_ids_are_generated_when_not_given(store):
    first = await store.runs.create(GRAPH)
    second = await store.runs.create(GRAPH)
    assert first.run_id != second.run_id
    assert (await store.runs.get(first.run_id)).run_id == first.run_id


async def test_a_run_id_cannot_be_created_twice(store):
    await store.runs.create(GRAPH, run_id="r1")
    with pytest.raises(StorageError, match="already exists"):
        await store.runs.create({"other": True}, run_id="r1")
    assert (await store.runs.get("r1")).graph == GRAPH


async def test_task_updates_record_status_output_times_error_and_job(store):
    await store.runs.create(GRAPH, run_id="r1", task_ids=["a", "b"])
    await store.runs.update_task("r1", "a", status="processing", job_id="job-7")
    await store.runs.update_task("r1", "a", status="completed", output={"y": 2})
    await store.runs.update_task("r1", "b", status=TaskStatus.PROCESSING)
    await store.runs.update_task("r1", "b", status=TaskStatus.FAILED, error="boom")
    record = await store.runs.get("r1")
    a, b = record.tasks["a"], record.tasks["b"]
    assert (a.status, a.output, a.job_id, a.error) == ("completed", {"y": 2}, "job-7", None)
    assert a.started_at is not None and a.finished_at >= a.started_at
    assert (b.status, b.output, b.error) == ("failed", None, "boom")
    assert record.completed_outputs() == {"a": {"y": 2}}
    assert record.updated_at >= b.finished_at


async def test_a_task_update_writes_one_row_and_never_the_whole_run(store_url):
    store = open_store(store_url)
    counting = CountingBackend(store.backend)
    store.runs._store = counting
    try:
        await store.runs.create(GRAPH, run_id="r1", task_ids=[f"t{i}" for i in range(50)])
        counting.writes.clear()
        await store.runs.update_task("r1", "t3", status="processing")
        await store.runs.update_task("r1", "t3", status="completed", output={"v": 1})
        assert counting.writes == Counter({"run_tasks": 2})
    finally:
        await store.close()


async def test_an_unknown_status_is_refused(store):
    await store.runs.create(GRAPH, run_id="r1")
    with pytest.raises(ValueError, match="status"):
        await store.runs.update_task("r1", "a", status="exploded")
    with pytest.raises(ValueError, match="status"):
        await store.runs.set_status("r1", "exploded")


async def test_updating_a_task_of_an_unknown_run_is_refused(store):
    with pytest.raises(RecordNotFoundError, match="nope"):
        await store.runs.update_task("nope", "a", status="processing")


async def test_getting_an_unknown_run_says_which(store):
    with pytest.raises(RecordNotFoundError, match="nope"):
        await store.runs.get("nope")


async def test_list_shows_every_run_newest_first_and_filters_by_status(store):
    for run_id in ["r1", "r2", "r3"]:
        await store.runs.create(GRAPH, run_id=run_id)
    await store.runs.set_status("r2", "completed")
    await store.runs.set_status("r3", "failed", error="task b failed")
    runs = await store.runs.list()
    assert [r.run_id for r in runs] == ["r3", "r2", "r1"]
    assert {r.run_id: r.status for r in runs} == {
        "r1": "pending",
        "r2": "completed",
        "r3": "failed",
    }
    assert runs[0].error == "task b failed"
    assert [r.run_id for r in await store.runs.list(status="completed")] == ["r2"]


async def test_delete_removes_the_run_and_its_tasks_only(store):
    await store.runs.create(GRAPH, run_id="r1", task_ids=["a"])
    await store.runs.create(GRAPH, run_id="r10", task_ids=["a"])
    assert await store.runs.delete("r1") is True
    assert await store.runs.delete("r1") is False
    with pytest.raises(RecordNotFoundError):
        await store.runs.get("r1")
    assert list((await store.runs.get("r10")).tasks) == ["a"]


async def test_a_run_id_with_a_slash_is_refused(store):
    with pytest.raises(StorageError, match="run id"):
        await store.runs.create(GRAPH, run_id="a/b")


async def test_another_process_picks_up_a_run_where_it_stopped(durable_url):
    """A second store (as after a crash) sees every task row and keeps what it
    does not change: the in-flight task's start time and job id survive."""
    async with open_store(durable_url) as first:
        await first.runs.create(GRAPH, run_id="r1", task_ids=["a", "b"])
        await first.runs.set_status("r1", "processing")
        await first.runs.update_task("r1", "a", status="processing")
        await first.runs.update_task("r1", "a", status="completed", output={"y": 1})
        await first.runs.update_task("r1", "b", status="processing", job_id="job-9")
        started = (await first.runs.get("r1")).tasks["b"].started_at
    async with open_store(durable_url) as second:
        record = await second.runs.get("r1")
        assert record.status == "processing"
        assert record.task_status("a") == "completed"
        assert record.task_status("b") == "processing"
        await second.runs.update_task("r1", "b", output={"y": 3})
        task_b = (await second.runs.get("r1")).tasks["b"]
        assert (task_b.job_id, task_b.started_at, task_b.output) == ("job-9", started, {"y": 3})


async def test_an_output_that_is_not_a_dict_is_refused_and_not_written(store):
    await store.runs.create(GRAPH, run_id="r1", task_ids=["a"])
    with pytest.raises(StorageError, match="must be a dict"):
        await store.runs.update_task("r1", "a", status="completed", output=[1, 2])
    assert (await store.runs.get("r1")).tasks["a"].status == "pending"
