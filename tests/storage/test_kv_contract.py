"""The KeyValueStore contract, run against every backend."""

from __future__ import annotations

import math

import pytest

from taskloom.cache import canonical_json
from taskloom.errors import SerializationError, StorageError
from taskloom.storage import KeyValueStore, open_store

ODD_KEYS = [
    "plain",
    "with/slash",
    "Type:1:abc123",
    "with space",
    ".hidden",
    "..",
    "100%",
    "naïve-ünïcode-键",
    "a" * 150,
]


async def test_backend_satisfies_the_protocol(store):
    assert isinstance(store.backend, KeyValueStore)


async def test_missing_key_reads_as_none(store):
    assert await store.backend.get("things", "absent") is None


async def test_put_then_get_returns_an_equal_value(store):
    value = {"text": "héllo", "n": 3, "x": 1.5, "flag": True, "none": None, "list": [1, {"a": []}]}
    await store.backend.put("things", "k", value)
    assert await store.backend.get("things", "k") == value


async def test_put_replaces_the_previous_value(store):
    await store.backend.put("things", "k", {"v": 1})
    await store.backend.put("things", "k", {"v": 2})
    assert await store.backend.get("things", "k") == {"v": 2}
    assert await store.backend.count("things") == 1


async def test_mutating_a_value_after_put_or_get_does_not_change_the_record(store):
    value = {"items": [1]}
    await store.backend.put("things", "k", value)
    value["items"].append(2)
    got = await store.backend.get("things", "k")
    got["items"].append(3)
    assert await store.backend.get("things", "k") == {"items": [1]}


@pytest.mark.parametrize("bad", [{"f": object()}, {"nan": math.nan}, {"inf": math.inf}])
async def test_non_json_values_are_refused_and_nothing_is_stored(store, bad):
    with pytest.raises(SerializationError):
        await store.backend.put("things", "bad", bad)
    assert await store.backend.get("things", "bad") is None
    assert await store.backend.count("things") == 0


@pytest.mark.parametrize("key", ["", None])
async def test_an_empty_key_is_refused(store, key):
    with pytest.raises(StorageError):
        await store.backend.put("things", key, {"v": 1})


async def test_odd_keys_round_trip_and_list_back_exactly(store):
    for index, key in enumerate(ODD_KEYS):
        await store.backend.put("things", key, {"i": index})
    for index, key in enumerate(ODD_KEYS):
        assert await store.backend.get("things", key) == {"i": index}
    assert await store.backend.keys("things") == sorted(ODD_KEYS)


async def test_delete_reports_whether_the_record_existed(store):
    await store.backend.put("things", "k", {"v": 1})
    assert await store.backend.delete("things", "k") is True
    assert await store.backend.delete("things", "k") is False
    assert await store.backend.get("things", "k") is None


async def test_prefix_scans_stop_at_the_prefix_boundary(store):
    for key in ["run1/a", "run1/b", "run10/a", "run2/a", "run1"]:
        await store.backend.put("things", key, {"key": key})
    assert await store.backend.keys("things", "run1/") == ["run1/a", "run1/b"]
    entries = await store.backend.scan("things", "run1/")
    assert [(e.key, e.value) for e in entries] == [
        ("run1/a", {"key": "run1/a"}),
        ("run1/b", {"key": "run1/b"}),
    ]
    assert [e.key for e in await store.backend.scan("things")] == [
        "run1",
        "run1/a",
        "run1/b",
        "run10/a",
        "run2/a",
    ]


async def test_scan_reports_when_each_record_was_written(store, clock):
    await store.backend.put("things", "early", {"v": 1})
    clock.advance(60)
    await store.backend.put("things", "late", {"v": 2})
    when = {e.key: e.updated_at for e in await store.backend.scan("things")}
    assert when["late"] - when["early"] == pytest.approx(60, abs=0.01)


async def test_collections_do_not_see_each_other(store):
    await store.backend.put("left", "k", {"side": "left"})
    await store.backend.put("right", "k", {"side": "right"})
    assert await store.backend.get("left", "k") == {"side": "left"}
    assert await store.backend.keys("right") == ["k"]
    assert await store.backend.clear("left") == 1
    assert await store.backend.get("right", "k") == {"side": "right"}


async def test_count_and_size_measure_the_stored_json(store):
    values = {"a": {"text": "x" * 100}, "b": {"text": "ü" * 10, "n": 1}}
    for key, value in values.items():
        await store.backend.put("things", key, value)
    assert await store.backend.count("things") == 2
    expected = sum(len(canonical_json(v).encode()) for v in values.values())
    assert await store.backend.size("things") == expected
    assert await store.backend.count("empty") == 0
    assert await store.backend.size("empty") == 0


async def test_clear_removes_everything_or_just_a_prefix(store):
    for key in ["r1/a", "r1/b", "r2/a"]:
        await store.backend.put("things", key, {"v": key})
    assert await store.backend.clear("things", "r1/") == 2
    assert await store.backend.keys("things") == ["r2/a"]
    assert await store.backend.clear("things") == 1
    assert await store.backend.count("things") == 0


async def test_delete_older_than_removes_only_records_put_before_the_cutoff(store, clock):
    await store.backend.put("things", "old", {"v": 1})
    clock.advance(100)
    await store.backend.put("things", "new", {"v": 2})
    clock.advance(10)
    assert await store.backend.delete_older_than("things", clock() - 50) == 1
    assert await store.backend.keys("things") == ["new"]


async def test_put_many_stores_every_item(store):
    await store.backend.put_many("things", {f"k{i}": {"i": i} for i in range(20)})
    assert await store.backend.count("things") == 20
    assert await store.backend.get("things", "k7") == {"i": 7}


async def test_get_many_answers_each_key_in_order_and_none_where_missing(store):
    await store.backend.put_many("things", {"a": {"v": 1}, "b": [2], "c": "three"})
    await store.backend.put("others", "d", {"v": 4})
    assert await store.backend.get_many("things", ["c", "missing", "a", "d", "a"]) == \
        ["three", None, {"v": 1}, None, {"v": 1}]
    assert await store.backend.get_many("things", []) == []


async def test_get_many_reads_a_thousand_keys(store):
    items = {f"key-{i:04}": {"i": i} for i in range(1000)}
    await store.backend.put_many("things", items)
    keys = [*reversed(items), "absent"]
    assert await store.backend.get_many("things", keys) == \
        [*(items[key] for key in reversed(items)), None]


async def test_put_many_with_one_bad_value_stores_none_of_them(store):
    with pytest.raises(SerializationError):
        await store.backend.put_many("things", {"good": {"v": 1}, "bad": {"v": object()}})
    assert await store.backend.count("things") == 0


async def test_records_survive_closing_and_reopening(durable_url, clock):
    async with open_store(durable_url, clock=clock) as first:
        await first.backend.put("things", "k", {"kept": True})
    async with open_store(durable_url, clock=clock) as second:
        assert await second.backend.get("things", "k") == {"kept": True}


async def test_a_store_connects_on_first_use_without_open(store_url, clock):
    store = open_store(store_url, clock=clock)
    try:
        await store.backend.put("things", "k", {"v": 1})
        assert await store.backend.get("things", "k") == {"v": 1}
    finally:
        await store.close()


# -- put_records and compare_and_set: what run records and owner leases rely on -------


async def test_put_records_writes_records_of_several_collections(store):
    await store.backend.put_records([("things", "a", {"v": 1}), ("others", "b", {"v": 2}),
                                     ("things", "c", {"v": 3})])
    assert await store.backend.get("things", "a") == {"v": 1}
    assert await store.backend.get("others", "b") == {"v": 2}
    assert await store.backend.keys("things") == ["a", "c"]


async def test_put_records_with_one_bad_value_stores_none_of_them(store):
    with pytest.raises(SerializationError):
        await store.backend.put_records([("things", "a", {"v": 1}),
                                         ("others", "b", {"bad": math.nan})])
    assert await store.backend.get("things", "a") is None
    assert await store.backend.count("others") == 0


async def test_compare_and_set_creates_only_an_absent_record(store):
    assert await store.backend.compare_and_set("locks", "k", None, {"owner": "a"}) is True
    assert await store.backend.compare_and_set("locks", "k", None, {"owner": "b"}) is False
    assert await store.backend.get("locks", "k") == {"owner": "a"}


async def test_compare_and_set_replaces_only_the_expected_value(store):
    await store.backend.put("locks", "k", {"owner": "a", "n": 1})
    assert await store.backend.compare_and_set(
        "locks", "k", {"owner": "b", "n": 1}, {"owner": "c"}) is False
    assert await store.backend.get("locks", "k") == {"owner": "a", "n": 1}
    # Key order does not matter: values compare as canonical JSON.
    assert await store.backend.compare_and_set(
        "locks", "k", {"n": 1, "owner": "a"}, {"owner": "c"}) is True
    assert await store.backend.get("locks", "k") == {"owner": "c"}
    assert await store.backend.compare_and_set("locks", "gone", {"owner": "c"}, {"x": 1}) is False
    assert await store.backend.get("locks", "gone") is None


async def test_compare_and_set_to_none_deletes_only_the_expected_value(store):
    await store.backend.put("locks", "k", {"owner": "a"})
    assert await store.backend.compare_and_set("locks", "k", {"owner": "b"}, None) is False
    assert await store.backend.get("locks", "k") == {"owner": "a"}
    assert await store.backend.compare_and_set("locks", "k", {"owner": "a"}, None) is True
    assert await store.backend.get("locks", "k") is None
    assert await store.backend.keys("locks") == []


async def test_of_many_concurrent_compare_and_sets_from_one_value_exactly_one_wins(store):
    import asyncio

    await store.backend.put("locks", "k", {"owner": "nobody"})
    won = await asyncio.gather(*(
        store.backend.compare_and_set("locks", "k", {"owner": "nobody"}, {"owner": f"w{i}"})
        for i in range(8)))
    assert won.count(True) == 1
    assert await store.backend.get("locks", "k") == {"owner": f"w{won.index(True)}"}
