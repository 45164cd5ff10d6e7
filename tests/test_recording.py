"""Run recording (recording.py): batched writes, the job id written at once, a failed
write that stops the run, and the owner lease a running run holds."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from support import TAdd, TEcho, TGate
from taskloom import Dataflow, TaskGraph, TaskGraphRunner, TaskStatus
from taskloom import recording as recording_module
from taskloom.errors import RunOwnedError, StorageError, StoreUnavailableError
from taskloom.storage import open_store

HANG = 30.0  # seconds: only a broken run gets near it


def chain(n: int) -> TaskGraph:
    graph = TaskGraph(TAdd(f"t{i}", {"b": 1}) for i in range(n))
    graph.get_task("t0").set_defaults({"a": 0})
    for i in range(1, n):
        graph.add_dataflow(Dataflow(f"t{i - 1}", "a", f"t{i}", "a"))
    return graph


class CountingBackend:
    """Wraps a backend; counts row writes (single puts) and transactions per collection."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.puts: Counter[str] = Counter()
        self.batches: Counter[str] = Counter()
        self.fail_batches: BaseException | None = None

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def put(self, collection, key, value):
        self.puts[collection] += 1
        await self.inner.put(collection, key, value)

    async def put_many(self, collection, items):
        if self.fail_batches is not None:
            raise self.fail_batches
        self.batches[collection] += 1
        await self.inner.put_many(collection, items)


@pytest.fixture
def counted(tmp_path):
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    backend = CountingBackend(store.backend)
    store.runs._store = backend
    return store, backend


async def wait_for(predicate, what: str) -> None:
    """Poll an observable state (the store) until ``predicate()`` holds."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + HANG
    while not await predicate():
        assert loop.time() < give_up, f"never happened: {what}"
        await asyncio.sleep(0.005)


async def test_a_run_writes_its_task_rows_in_batches_not_one_by_one(counted, monkeypatch):
    # No timer tick during the run: every row change waits for the final flush.
    monkeypatch.setattr(recording_module, "FLUSH_INTERVAL", 3600.0)
    store, backend = counted
    async with store:
        result = await TaskGraphRunner(chain(200), store=store, run_id="r1").run()
        record = await store.runs.get("r1")
    assert result.ok and record.status == "completed"
    assert backend.puts["run_tasks"] == 0
    assert backend.batches["run_tasks"] == 1  # 400 changes of 200 rows, one transaction
    assert {t.status for t in record.tasks.values()} == {"completed"}
    assert record.tasks["t199"].output == {"a": 200}
    first = record.tasks["t0"]
    assert first.started_at is not None and first.started_at <= first.finished_at
    assert record.owner is None  # released at the end


async def test_changes_reach_the_store_while_the_run_is_still_going(gates):
    graph = TaskGraph([TEcho("quick", {"text": "x"}), TGate("held")])
    async with open_store("memory://") as store:
        runner = TaskGraphRunner(graph, store=store, run_id="r1")
        running = asyncio.create_task(runner.run())
        await gates.wait_started("held")

        async def quick_recorded() -> bool:
            return (await store.runs.get("r1")).tasks["quick"].status == "completed"

        await wait_for(quick_recorded, "the timer flush of a completed task")
        assert (await store.runs.get("r1")).tasks["held"].status == "processing"
        assert not running.done()
        gates.open("held")
        assert (await asyncio.wait_for(running, HANG)).ok


async def test_a_queued_job_id_is_written_at_once(gates, monkeypatch):
    monkeypatch.setattr(recording_module, "FLUSH_INTERVAL", 3600.0)

    class Submits(TGate, register=False):
        type = "RecordingSubmits"

        async def run(self, input, ctx):
            ctx.services["on_job"](ctx.task_id, "media", "job-1")
            return await super().run(input, ctx)

    async with open_store("memory://") as store:
        running = asyncio.create_task(
            TaskGraphRunner(TaskGraph([Submits("s")]), store=store, run_id="r1").run())
        await gates.wait_started("s")

        async def job_recorded() -> bool:
            return (await store.runs.get("r1")).tasks["s"].job_id == "media/job-1"

        await wait_for(job_recorded, "the job id in the run record")
        gates.open("s")
        await asyncio.wait_for(running, HANG)
        assert (await store.runs.get("r1")).tasks["s"].job_id == "media/job-1"


async def test_a_failed_write_stops_the_run_and_unrecorded_work_is_not_done(counted, gates):
    store, backend = counted
    graph = TaskGraph([TGate("first"), TEcho("second")])
    graph.add_dataflow(Dataflow("first", "text", "second", "text"))
    graph.add_task(TGate("other"))
    async with store:
        runner = TaskGraphRunner(graph, store=store, run_id="r1")
        running = asyncio.create_task(runner.run())
        await gates.wait_started("first", "other")
        backend.fail_batches = StoreUnavailableError("the database went away")
        gates.open("first")
        with pytest.raises(StoreUnavailableError, match="went away") as info:
            await asyncio.wait_for(running, HANG)
    result = info.value.result
    assert gates.cancelled == ["other"]  # the run stopped: nothing more is done unrecorded
    # "first" finished, but the store never heard: resume must run it again.
    assert result.statuses["first"] is TaskStatus.FAILED
    assert "could not be recorded" in str(result.errors["first"])
    assert "first" not in result.outputs
    assert result.statuses["second"] is not TaskStatus.COMPLETED


async def test_resume_refuses_a_run_that_a_live_runner_owns(gates):
    async with open_store("memory://") as store:
        owner = TaskGraphRunner(TaskGraph([TGate("g")]), store=store, run_id="r1")
        running = asyncio.create_task(owner.run())
        await gates.wait_started("g")
        with pytest.raises(RunOwnedError, match="is being run by") as info:
            await TaskGraphRunner.resume("r1", store=store)
        assert info.value.owner == (await store.runs.owner("r1")).owner
        gates.open("g")
        assert (await asyncio.wait_for(running, HANG)).ok
        # Finished and released: now it may be resumed (there is nothing left to do).
        assert (await TaskGraphRunner.resume("r1", store=store)).ok
        assert gates.finished == ["g"]


async def test_a_runner_that_loses_its_lease_stops_and_leaves_the_record_alone(gates):
    async with open_store("memory://") as store:
        # Renewed every 0.1 s, so the loss is noticed soon; nothing here waits for expiry.
        owner = TaskGraphRunner(TaskGraph([TGate("g")]), store=store, run_id="r1",
                                owner_lease=0.3)
        running = asyncio.create_task(owner.run())
        await gates.wait_started("g")
        taken = await store.runs.claim("r1", lease=30, take_over=True)
        with pytest.raises(RunOwnedError, match="lost its owner lease") as info:
            await asyncio.wait_for(running, HANG)
        assert gates.cancelled == ["g"]
        assert info.value.result.status == "aborted"
        record = await store.runs.get("r1")
        assert record.owner == taken
        assert record.status == "processing"  # the new owner's to finish, not overwritten


async def test_take_over_resumes_a_run_despite_a_live_lease(gates):
    async with open_store("memory://") as store:
        await store.runs.create(TaskGraph([TEcho("e", {"text": "x"})]), run_id="r1",
                                task_ids=["e"], status="processing")
        await store.runs.claim("r1", lease=30)  # as a tab whose Web Lock is gone now
        with pytest.raises(RunOwnedError):
            await TaskGraphRunner.resume("r1", store=store)
        result = await TaskGraphRunner.resume("r1", store=store, take_over=True)
        assert result.outputs["e"] == {"text": "x"}
        assert (await store.runs.get("r1")).owner is None


async def test_a_resume_that_cannot_load_its_graph_gives_the_run_back():
    async with open_store("memory://") as store:
        await store.runs.create({"schema_version": 1, "tasks": [{"id": "x", "type": "Nope"}]},
                                run_id="r1", task_ids=["x"], status="processing")
        with pytest.raises(Exception, match="Nope"):
            await TaskGraphRunner.resume("r1", store=store)
        assert await store.runs.owner("r1") is None


async def test_a_record_write_failure_at_the_end_is_raised_with_the_result(counted, monkeypatch):
    # No timer tick during the run, so the failing write is the final one: on a loaded
    # machine a tick could land mid-run and abort it instead (the case the test above
    # covers).
    monkeypatch.setattr(recording_module, "FLUSH_INTERVAL", 3600.0)
    store, backend = counted
    async with store:
        runner = TaskGraphRunner(chain(3), store=store, run_id="r1")
        backend.fail_batches = StorageError("disk full")
        with pytest.raises(StorageError, match="disk full") as info:
            await runner.run()
        record = await store.runs.get("r1")
    assert info.value.result is not None and info.value.result.status == "failed"
    assert {s for s in info.value.result.statuses.values()} == {TaskStatus.FAILED}
    # The rows were refused, the header was not: the run ends failed, not "processing".
    assert record.status == "failed" and "disk full" in record.error
    assert {t.status for t in record.tasks.values()} == {"pending"}
