"""VectorUpsert / SaveToDatabase and VectorSearch in graphs, on every backend."""

from __future__ import annotations

import json
import uuid

import pytest

from prerequisites import need_module
from support import run_watched
from taskloom import TaskGraph, TaskGraphRunner, Workflow, from_code, to_code
from taskloom.errors import FileAccessError, TaskInputError, VectorStoreError
from taskloom.tasks.vectors import SaveToDatabase, VectorSearch, VectorUpsert
from taskloom.vectors import open_vector_store

TEXTS = ["cats purr", "dogs bark", "cats and dogs"]
VECTORS = [[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]
META = [{"animal": "cat"}, {"animal": "dog"}, {"animal": "both"}]


def upsert_then_search(store, upsert_type=VectorUpsert, **search):
    upsert = upsert_type(id="save", defaults={"texts": TEXTS, "vectors": VECTORS,
                                              "metadata": META, "store": store,
                                              "collection": "pets"})
    query = VectorSearch(id="find", defaults={"vector": [0.9, 0.1], "k": 2, **search})
    graph = TaskGraph([upsert, query])
    # Connecting the store orders the search after the upsert.
    graph.add_dataflow(("save", "store", "find", "store"))
    graph.add_dataflow(("save", "collection", "find", "collection"))
    return graph


@pytest.fixture
def sqlite_store(tmp_path):
    need_module("sqlite3", "this Python has no sqlite3 (Pyodide ships it as a package)")
    return "sqlite:vectors.db"


@pytest.fixture
def postgres_store(postgres_url):
    return postgres_url


@pytest.mark.parametrize("store", [
    pytest.param(None, id="memory"),
    pytest.param("sqlite_store", id="sqlite"),
    pytest.param("postgres_store", id="postgres", marks=pytest.mark.postgres)])
async def test_upsert_then_search_through_graph_json(store, request, tmp_path):
    url = request.getfixturevalue(store) if store else f"memory://{uuid.uuid4().hex}"
    doc = json.loads(json.dumps(upsert_then_search(url).to_json()))
    runner = TaskGraphRunner(TaskGraph.from_json(doc), services={"file_root": str(tmp_path)})
    result = await runner.run()
    assert result["save"]["count"] == 3 and len(set(result["save"]["ids"])) == 3
    assert result["find"]["text"] == ["cats purr", "cats and dogs"]
    assert result["find"]["score"][0] == pytest.approx(0.9 / (0.82 ** 0.5), abs=1e-6)
    assert [h["metadata"] for h in result["find"]["hits"]] == [META[0], META[2]]
    if store == "sqlite_store":
        assert (tmp_path / "vectors.db").is_file()


async def test_save_to_database_is_vector_upsert_by_the_designs_name():
    url = f"memory://{uuid.uuid4().hex}"
    result = await TaskGraphRunner(upsert_then_search(url, SaveToDatabase,
                                                      filter={"animal": "dog"})).run()
    assert result["find"]["text"] == ["dogs bark"]
    assert issubclass(SaveToDatabase, VectorUpsert) and SaveToDatabase.type == "SaveToDatabase"


async def test_upserting_the_same_texts_again_replaces_them():
    url = f"memory://{uuid.uuid4().hex}"
    first = await TaskGraphRunner(upsert_then_search(url)).run()
    second = await TaskGraphRunner(upsert_then_search(url)).run()
    assert first["save"]["ids"] == second["save"]["ids"]
    assert await open_vector_store(url).count("pets") == 3


async def test_lists_of_different_lengths_are_refused_before_anything_is_saved():
    url = f"memory://{uuid.uuid4().hex}"
    task = VectorUpsert(id="save", defaults={"texts": TEXTS, "vectors": VECTORS[:2],
                                             "store": url})
    with pytest.raises(TaskInputError, match="vectors has 2 items but texts has 3"):
        await TaskGraphRunner(TaskGraph([task])).run()
    assert await open_vector_store(url).count("default") == 0


async def test_a_dimension_mismatch_is_a_vector_store_error():
    url = f"memory://{uuid.uuid4().hex}"
    graph = upsert_then_search(url)
    graph.get_task("find").set_defaults({"vector": [1.0, 0.0, 0.0]})
    with pytest.raises(VectorStoreError, match="query vector has 3 dimensions"):
        await TaskGraphRunner(graph).run()


@pytest.mark.parametrize("store", ["sqlite:../escape.db", "file:///ESCAPE"])
async def test_a_sqlite_or_folder_store_stays_under_the_file_root(tmp_path, store):
    root = tmp_path / "root"
    root.mkdir()
    store = store.replace("/ESCAPE", str(tmp_path / "escape"))
    task = VectorUpsert(id="save", defaults={"texts": TEXTS, "vectors": VECTORS,
                                             "store": store})
    with pytest.raises(FileAccessError, match="outside the file root"):
        await TaskGraphRunner(TaskGraph([task]), services={"file_root": str(root)}).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


async def test_a_store_under_the_root_is_made_durable_before_the_upsert_completes(
        tmp_path, sqlite_store, writes):
    upsert = VectorUpsert(id="save", defaults={"texts": TEXTS, "vectors": VECTORS,
                                               "store": sqlite_store})
    await run_watched(upsert, tmp_path, writes)
    assert [w[:2] for w in writes] == [("written", str((tmp_path / "vectors.db").resolve())),
                                       ("complete", "save")]
    writes.clear()
    await run_watched(VectorUpsert(id="mem", defaults={
        "texts": TEXTS, "vectors": VECTORS, "store": f"memory://{uuid.uuid4().hex}"}),
        tmp_path, writes)
    assert writes == [("complete", "mem")]  # no file: nothing to sync


def test_vector_tasks_round_trip_through_code():
    wf = Workflow()
    wf.vector_upsert(id="save", texts=TEXTS, vectors=VECTORS, metadata=META,
                     store="memory://x", collection="pets")
    wf.vector_search(id="find", vector=[1.0, 0.0], k=3, filter={"animal": "cat"})
    flows = {(d.source_port, d.target_port) for d in wf.graph.dataflows}
    assert flows == {("store", "store"), ("collection", "collection")}
    doc = wf.graph.to_json()
    assert from_code(to_code(wf.graph)).to_json() == doc
    assert TaskGraph.from_json(json.loads(json.dumps(doc))).to_json() == doc
