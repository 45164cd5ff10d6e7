"""One contract for every VectorStore backend: a new backend is one more entry in BACKENDS."""

from __future__ import annotations

import math
import random
import sys
import uuid

import pytest

from prerequisites import need_module
from taskloom.errors import VectorStoreError
from taskloom.vectors import Hit, VectorItem, open_vector_store


@pytest.fixture
def memory_url():
    return f"memory://contract-{uuid.uuid4().hex}"


@pytest.fixture
def file_url(tmp_path):
    return (tmp_path / "vectors").as_uri()


@pytest.fixture
def sqlite_url(tmp_path):
    need_module("sqlite3", "this Python has no sqlite3 (Pyodide ships it as a package)")
    from taskloom.storage import sqlite_url

    return sqlite_url(tmp_path / "vectors.db")


@pytest.fixture
def indexeddb_url():
    return f"indexeddb://taskloom-vectors-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def postgres_plain_url(postgres_url):
    return postgres_url + "&pgvector=off"


@pytest.fixture
def postgres_auto_url(postgres_url):
    return postgres_url


BACKENDS = [
    pytest.param("memory_url", id="memory"),
    pytest.param("file_url", id="file"),  # the key-value adapter IndexedDB uses in the page
    pytest.param("sqlite_url", id="sqlite"),
    pytest.param("postgres_plain_url", id="postgres-real[]", marks=pytest.mark.postgres),
    pytest.param("postgres_auto_url", id="postgres-auto", marks=pytest.mark.postgres),
]
if sys.platform == "emscripten":  # in the page (tests/browser/test_vectors_in_pyodide.py)
    import taskloom.browser  # noqa: F401  (registers indexeddb://)

    BACKENDS.append(pytest.param("indexeddb_url", id="indexeddb"))


@pytest.fixture(params=BACKENDS)
def store_url(request):
    return request.getfixturevalue(request.param)


@pytest.fixture
async def store(store_url):
    store = open_vector_store(store_url)
    yield store
    await store.close()


def unit(*xs):
    norm = math.sqrt(sum(x * x for x in xs))
    return [x / norm for x in xs]


ITEMS = [
    VectorItem("north", [0.0, 1.0, 0.0], "points north", {"kind": "axis", "n": 1}),
    VectorItem("east", [1.0, 0.0, 0.0], "points east", {"kind": "axis", "n": 2}),
    VectorItem("northeast", [2.0, 2.0, 0.0], "between", {"kind": "mix", "flag": True}),
    VectorItem("south", [0.0, -3.0, 0.0], "points south", {"kind": "axis", "n": 3}),
]


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_search_ranks_by_cosine_and_returns_text_and_metadata(store):
    assert await store.upsert("c", ITEMS) == 4
    hits = await store.search("c", [0.1, 1.0, 0.0], k=3)
    assert [h.id for h in hits] == ["north", "northeast", "east"]
    for hit in hits:
        item = next(i for i in ITEMS if i.id == hit.id)
        assert hit.score == pytest.approx(cosine(item.vector, [0.1, 1.0, 0.0]), abs=1e-6)
        assert hit.text == item.text and hit.metadata == item.metadata
    assert isinstance(hits[0], Hit)


async def test_k_larger_than_the_collection_returns_everything_best_first(store):
    await store.upsert("c", ITEMS)
    hits = await store.search("c", [0.0, 1.0, 0.0], k=10)
    assert [h.id for h in hits] == ["north", "northeast", "east", "south"]
    assert hits[-1].score == pytest.approx(-1.0)


async def test_filters_on_metadata(store):
    await store.upsert("c", ITEMS)
    hits = await store.search("c", [0.0, 1.0, 0.0], k=10, filter={"kind": "axis"})
    assert [h.id for h in hits] == ["north", "east", "south"]
    hits = await store.search("c", [0.0, 1.0, 0.0], k=10, filter={"kind": "axis", "n": 2})
    assert [h.id for h in hits] == ["east"]
    assert await store.search("c", [0.0, 1.0, 0.0], filter={"kind": "nothing"}) == []
    assert [h.id for h in await store.search("c", [1, 0, 0], filter={"flag": True})] == \
        ["northeast"]
    with pytest.raises(VectorStoreError, match="string, number"):
        await store.search("c", [0.0, 1.0, 0.0], filter={"kind": ["axis"]})


async def test_upsert_replaces_an_equal_id(store):
    await store.upsert("c", ITEMS)
    await store.upsert("c", [VectorItem("south", [0.0, 1.0, 0.0], "now north", {"v": 2})])
    assert await store.count("c") == 4
    hits = await store.search("c", [0.0, 1.0, 0.0], k=2)
    assert {h.id for h in hits} == {"north", "south"}
    south = next(h for h in hits if h.id == "south")
    assert south.text == "now north" and south.metadata == {"v": 2}


async def test_an_id_twice_in_one_batch_keeps_its_last_item(store):
    await store.upsert("c", [VectorItem("a", [1.0, 0.0], "first"),
                             VectorItem("a", [0.0, 1.0], "second")])
    assert await store.count("c") == 1
    [hit] = await store.search("c", [0.0, 1.0], k=1)
    assert hit.text == "second" and hit.score == pytest.approx(1.0)


async def test_collections_are_apart(store):
    await store.upsert("a", ITEMS[:2])
    await store.upsert("b", [VectorItem("x", [1.0, 1.0], "other dims")])
    assert await store.count("a") == 2 and await store.count("b") == 1
    assert await store.search("nothing-here", [1.0, 0.0, 0.0]) == []
    assert [h.id for h in await store.search("b", [1.0, 1.0])] == ["x"]


async def test_mixed_dimensions_are_refused_and_nothing_is_written(store):
    await store.upsert("c", ITEMS[:1])
    bad = [VectorItem("ok", [1.0, 0.0, 0.0]), VectorItem("short", [1.0, 0.0])]
    with pytest.raises(VectorStoreError, match="2 dimensions but the collection holds 3"):
        await store.upsert("c", bad)
    assert await store.count("c") == 1
    with pytest.raises(VectorStoreError, match="query vector has 2 dimensions"):
        await store.search("c", [1.0, 0.0])
    with pytest.raises(VectorStoreError, match="NaN"):
        await store.upsert("c", [VectorItem("nan", [math.nan, 0.0, 0.0])])
    assert await store.count("c") == 1


async def test_delete(store):
    await store.upsert("c", ITEMS)
    assert await store.delete("c", ["north", "missing"]) == 1
    assert await store.count("c") == 3
    assert "north" not in [h.id for h in await store.search("c", [0.0, 1.0, 0.0], k=10)]


async def test_a_zero_query_scores_zero(store):
    await store.upsert("c", ITEMS[:2])
    hits = await store.search("c", [0.0, 0.0, 0.0], k=2)
    assert sorted(h.id for h in hits) == ["east", "north"]
    assert all(h.score == 0.0 for h in hits)


async def test_top_k_agrees_with_brute_force_on_random_vectors(store):
    rng = random.Random(7)
    items = [VectorItem(f"v{i}", unit(*(rng.gauss(0, 1) for _ in range(16))), f"t{i}",
                        {"even": i % 2 == 0}) for i in range(300)]
    await store.upsert("r", items)
    query = [rng.gauss(0, 1) for _ in range(16)]
    expected = sorted(items, key=lambda i: -cosine(i.vector, query))[:10]
    hits = await store.search("r", query, k=10)
    assert [h.id for h in hits] == [i.id for i in expected]
    evens = [i for i in items if i.metadata["even"]]
    expected = sorted(evens, key=lambda i: -cosine(i.vector, query))[:5]
    hits = await store.search("r", query, k=5, filter={"even": True})
    assert [h.id for h in hits] == [i.id for i in expected]


async def test_data_survives_reopening(store, store_url):
    await store.upsert("c", ITEMS)
    await store.close()
    again = open_vector_store(store_url)
    try:
        assert await again.count("c") == 4
        assert [h.id for h in await again.search("c", [1.0, 0.0, 0.0], k=1)] == ["east"]
    finally:
        await again.close()


@pytest.mark.postgres
async def test_postgres_detects_pgvector_and_falls_back_to_real_arrays(postgres_url):
    import psycopg

    from taskloom.storage.postgres import _split_url

    conninfo, _ = _split_url(postgres_url)
    async with await psycopg.AsyncConnection.connect(conninfo) as connection:
        cursor = await connection.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
        available = (await cursor.fetchone())[0]
    store = open_vector_store(postgres_url)
    try:
        await store.upsert("c", ITEMS[:1])
        assert store.kind == ("pgvector" if available else "plain")
    finally:
        await store.close()
    plain = open_vector_store(postgres_url + "&pgvector=off")
    try:
        await plain.count("c")
        assert plain.kind == "plain"
    finally:
        await plain.close()
