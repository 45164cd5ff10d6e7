"""A damaged record gives a clear error naming its key; the others stay readable."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from taskloom.errors import CorruptRecordError, StorageError
from taskloom.storage import open_store
from taskloom.storage.filesystem import _file_name


async def damage(store, backend: str, collection: str, key: str, text: str) -> None:
    """Overwrite one stored record with ``text``, behind the store's back."""
    if backend == "memory":
        store.backend._collections[collection][key] = (text, len(text.encode()), 0.0)
    elif backend == "file":
        (store.backend.path / collection / _file_name(key)).write_text(text)
    elif backend == "sqlite":
        with sqlite3.connect(store.backend.path) as connection:
            changed = connection.execute(
                "UPDATE taskloom_records SET value = ? WHERE collection = ? AND key = ?",
                (text, collection, key),
            ).rowcount
        assert changed == 1
    elif backend == "postgres":
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            store.backend.conninfo, autocommit=True
        ) as connection:
            cursor = await connection.execute(
                "UPDATE taskloom_records SET value = %s WHERE collection = %s AND key = %s",
                (text, collection, key),
            )
            assert cursor.rowcount == 1
    else:
        raise AssertionError(backend)


@pytest.mark.parametrize("text", ["{not json", '{"y": 1', "", "[1, 2]"])
async def test_a_corrupt_output_names_its_key_and_others_stay_readable(store, backend, text):
    await store.outputs.put_output("Double:1:aaa", {"y": 1})
    await store.outputs.put_output("Double:1:bbb", {"y": 2})
    await damage(store, backend, "outputs", "Double:1:aaa", text)

    with pytest.raises(CorruptRecordError, match="Double:1:aaa") as caught:
        await store.outputs.get_output("Double:1:aaa")
    assert caught.value.key == "Double:1:aaa"
    assert await store.outputs.get_output("Double:1:bbb") == {"y": 2}
    assert await store.outputs.count() == 2

    assert await store.outputs.delete_output("Double:1:aaa") is True
    assert await store.outputs.get_output("Double:1:aaa") is None


async def test_a_scan_over_a_corrupt_record_fails_only_on_that_entry(store, backend):
    for key in ["a", "b", "c"]:
        await store.backend.put("things", key, {"key": key})
    await damage(store, backend, "things", "b", "{broken")
    entries = await store.backend.scan("things")
    assert [e.key for e in entries] == ["a", "b", "c"]
    assert entries[0].value == {"key": "a"} and entries[2].value == {"key": "c"}
    with pytest.raises(CorruptRecordError, match="'b'"):
        entries[1].value  # noqa: B018 - reading the value is the test


async def test_a_corrupt_run_is_left_out_of_the_listing_and_named_when_read(store, backend, caplog):
    await store.runs.create({"tasks": []}, run_id="r1")
    await store.runs.create({"tasks": []}, run_id="r2")
    await damage(store, backend, "runs", "r1", '{"run_id": "r1", "status": 12}')
    with caplog.at_level(logging.WARNING, logger="taskloom.storage.runs"):
        runs = await store.runs.list()
    assert [r.run_id for r in runs] == ["r2"]
    assert "'r1'" in caplog.text
    with pytest.raises(CorruptRecordError, match="'r1'"):
        await store.runs.get("r1")
    assert (await store.runs.get("r2")).run_id == "r2"


async def test_a_corrupt_task_row_names_run_and_task(store, backend):
    await store.runs.create({"tasks": []}, run_id="r1", task_ids=["a", "b"])
    await store.runs.update_task("r1", "a", status="completed", output={"y": 1})
    await store.runs.update_task("r1", "b", status="processing")  # a task has a row once it ran
    await damage(store, backend, "run_tasks", "r1/b", "not json at all")
    with pytest.raises(CorruptRecordError, match="'r1/b'") as caught:
        await store.runs.get("r1")
    assert caught.value.key == "r1/b"
    await store.backend.delete("run_tasks", "r1/b")  # what the message suggests
    assert (await store.runs.get("r1")).completed_outputs() == {"a": {"y": 1}}


async def test_a_corrupt_graph_names_its_name_and_the_list_is_intact(store, backend):
    await store.graphs.save("good", {"tasks": []})
    await store.graphs.save("bad", {"tasks": []})
    await damage(store, backend, "graphs", "bad", '"just a string"')
    with pytest.raises(CorruptRecordError, match="'bad'"):
        await store.graphs.load("bad")
    assert await store.graphs.list() == ["bad", "good"]
    assert await store.graphs.load("good") == {"tasks": []}


async def test_a_file_that_is_not_utf8_is_reported_as_corrupt(tmp_path):
    async with open_store(tmp_path.as_uri()) as store:
        await store.outputs.put_output("k", {"y": 1})
        (tmp_path / "outputs" / "k.json").write_bytes(b"\xff\xfe{")
        with pytest.raises(CorruptRecordError, match="'k'"):
            await store.outputs.get_output("k")


async def test_a_leftover_temporary_file_is_not_a_record(tmp_path):
    async with open_store(tmp_path.as_uri()) as store:
        await store.outputs.put_output("k", {"y": 1})
        # What a process killed between write and rename leaves behind:
        (tmp_path / "outputs" / ".tmp-0123abcd").write_text('{"y": 2')
        assert await store.outputs.count() == 1
        assert await store.outputs.get_output("k") == {"y": 1}


async def test_a_file_that_is_not_sqlite_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 100)
    before = path.read_bytes()
    store = open_store(f"sqlite:///{path}")
    with pytest.raises(StorageError, match=r"notes\.db"):
        await store.open()
    await store.close()
    assert path.read_bytes() == before
