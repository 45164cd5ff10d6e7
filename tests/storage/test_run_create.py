"""Creating a run record is one transaction, and an id no backend can key a record by
is refused before anything is written or run (issue 11, item 7); a write that Postgres
refuses for good is reported as permanent, never as "unavailable … retry"."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import BaseModel

from taskloom import Task, TaskGraph, TaskGraphRunner
from taskloom.errors import StorageError, StoreUnavailableError
from taskloom.storage import open_store
from taskloom.storage.runs import RUN_GRAPHS, RUN_OWNERS, RUN_TASK_IDS, RUN_TASKS, RUNS

pytestmark = pytest.mark.postgres

#: Varied enough not to compress: a repetitive key would fit Postgres's index row.
LONG_ID = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(157))[:10_000]
BAD_IDS = {"nul": "task\x00id", "10000 chars": LONG_ID}


class CreateStep(Task):
    """Adds one, and notes that it ran."""

    type = "RunCreateStep"

    class Input(BaseModel):
        x: int = 0

    class Output(BaseModel):
        x: int

    ran: list[str] = []

    async def run(self, input, ctx):
        CreateStep.ran.append(ctx.task_id)
        return {"x": input.x + 1}


async def assert_nothing_recorded(store) -> None:
    assert await store.runs.list() == []
    for collection in (RUNS, RUN_GRAPHS, RUN_TASK_IDS, RUN_TASKS, RUN_OWNERS):
        assert await store.backend.count(collection) == 0, collection


def assert_permanent(error: BaseException) -> None:
    assert not isinstance(error, StoreUnavailableError)
    assert "unavailable" not in str(error) and "Retry once" not in str(error)


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_a_run_with_an_unstorable_task_id_is_refused_before_anything_runs(
        postgres_url, bad_id):
    CreateStep.ran = []
    graph = TaskGraph([CreateStep("first"), CreateStep(bad_id)])
    async with open_store(postgres_url) as store:
        with pytest.raises(StorageError, match="task id") as info:
            await TaskGraphRunner(graph, store=store, run_id="r1").run()
        assert_permanent(info.value)
        assert "NUL" in str(info.value) or "too long" in str(info.value)
        assert CreateStep.ran == []
        await assert_nothing_recorded(store)


@pytest.mark.parametrize("bad_id", BAD_IDS.values(), ids=BAD_IDS.keys())
async def test_an_unstorable_run_id_is_refused_and_nothing_is_written(postgres_url, bad_id):
    async with open_store(postgres_url) as store:
        with pytest.raises(StorageError, match="run id") as info:
            await store.runs.create({"tasks": []}, run_id=bad_id, task_ids=["a"], lease=30)
        assert_permanent(info.value)
        await assert_nothing_recorded(store)


async def test_postgres_reports_a_key_over_its_index_limit_as_permanent(postgres_url):
    async with open_store(postgres_url) as store:
        with pytest.raises(StorageError) as info:
            await store.backend.put("things", LONG_ID, {"v": 1})
        assert_permanent(info.value)
        assert "index row" in str(info.value) and "Retrying cannot succeed" in str(info.value)


async def test_a_refused_record_rolls_back_the_records_written_before_it(postgres_url):
    """put_records, which creating a run uses, is one transaction on the server."""
    async with open_store(postgres_url) as store:
        with pytest.raises(StorageError) as info:
            await store.backend.put_records([("things", "first", {"v": 1}),
                                             ("things", LONG_ID, {"v": 2})])
        assert_permanent(info.value)
        assert await store.backend.get("things", "first") is None
        # The store is fine afterwards.
        await store.backend.put_records([("things", "first", {"v": 1})])
        assert await store.backend.get("things", "first") == {"v": 1}
