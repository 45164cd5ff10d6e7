"""Storage URL schemes are a registry, shared in shape by stores and queue storages."""

from __future__ import annotations

import sys

import pytest

import taskloom.browser  # noqa: F401  (what it registers is what these tests check)
from taskloom.errors import StoreURLError
from taskloom.queue import JobQueue, create_queue_storage
from taskloom.queue.storage import MemoryQueueStorage, queue_schemes
from taskloom.storage import Store, open_store, store_schemes
from taskloom.storage.memory import MemoryStore

IN_BROWSER = sys.platform == "emscripten"


@pytest.fixture
def scratch_scheme():
    """A scheme name no backend uses; unregistered from both registries afterwards."""
    yield "scratch"
    store_schemes.unregister("scratch")
    queue_schemes.unregister("scratch")


async def test_a_registered_store_scheme_opens_through_open_store(scratch_scheme):
    opened = []

    def factory(url, *, clock):
        opened.append(url)
        return Store(url, MemoryStore(clock=clock), clock=clock)

    store_schemes.register(factory, scratch_scheme, example="scratch://name")
    async with open_store("scratch://here") as store:
        assert isinstance(store.backend, MemoryStore)
    assert opened == ["scratch://here"]
    with pytest.raises(StoreURLError, match=r"scratch://name"):
        open_store("nope://x")  # the message lists what is registered now


async def test_a_registered_queue_scheme_opens_through_create_queue_storage(scratch_scheme):
    queue_schemes.register(lambda url, **options: MemoryQueueStorage(), scratch_scheme)
    storage = create_queue_storage("SCRATCH://x")  # schemes are case-insensitive
    await storage.setup()
    assert isinstance(storage, MemoryQueueStorage)
    job = await JobQueue("scratch-jobs", storage).add({"n": 1})
    assert (await storage.get(job.id)).input == {"n": 1}


def test_an_unregistered_scheme_is_refused_with_the_known_ones(scratch_scheme):
    with pytest.raises(StoreURLError, match=r"unknown storage URL scheme 'scratch'.*sqlite:///"):
        open_store("scratch://x")
    with pytest.raises(StoreURLError,
                       match=r"unknown queue storage URL scheme 'scratch'.*postgresql://"):
        create_queue_storage("scratch://x")


@pytest.mark.skipif(IN_BROWSER, reason="in Pyodide, taskloom.browser provides indexeddb://")
def test_outside_the_browser_indexeddb_says_where_it_exists():
    # taskloom.browser is imported above: under CPython it registers nothing. (In
    # Pyodide the storage and queue contract suites open indexeddb:// through it.)
    with pytest.raises(StoreURLError, match=r"only in the browser \(Pyodide\)"):
        open_store("indexeddb://taskloom")
    with pytest.raises(StoreURLError, match=r"only in the browser \(Pyodide\).*sqlite:///"):
        create_queue_storage("indexeddb://taskloom")
