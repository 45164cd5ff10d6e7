"""IndexedDB-only behaviour, run inside Pyodide by tests/browser/test_in_pyodide.py.

(The name does not start with ``test_`` so that CPython's pytest never
collects it: it needs the browser. The contract suites cover the rest.)
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

import taskloom.browser  # noqa: F401  (registers the indexeddb:// scheme)
from taskloom.errors import CorruptRecordError, StoreURLError
from taskloom.queue import Job, open_queue_storage
from taskloom.queue.queue import job_fingerprint
from taskloom.storage import open_store


def fresh_url() -> str:
    return f"indexeddb://taskloom-checks-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("url", ["indexeddb://", "indexeddb://a/b"])
def test_an_indexeddb_url_names_exactly_one_database(url):
    with pytest.raises(StoreURLError, match="indexeddb://name"):
        open_store(url)


@pytest.mark.parametrize("text", ["{not json", "", "[1, 2"])
async def test_a_corrupt_record_names_its_key_and_the_others_stay_readable(text):
    async with open_store(fresh_url()) as store:
        await store.outputs.put_output("Double:1:aaa", {"y": 1})
        await store.outputs.put_output("Double:1:bbb", {"y": 2})
        await store.backend._put_text("outputs", "Double:1:aaa", text)

        with pytest.raises(CorruptRecordError, match="Double:1:aaa") as caught:
            await store.outputs.get_output("Double:1:aaa")
        assert caught.value.key == "Double:1:aaa"
        assert await store.outputs.get_output("Double:1:bbb") == {"y": 2}
        entries = {e.key: e for e in await store.backend.scan("outputs")}
        with pytest.raises(CorruptRecordError):
            _ = entries["Double:1:aaa"].value
        assert entries["Double:1:bbb"].value == {"y": 2}
        assert await store.outputs.delete_output("Double:1:aaa") is True


async def test_two_connections_claiming_at_once_never_both_get_one_job():
    # Two storages on one database stand for two tabs: each claim is one
    # readwrite transaction, so IndexedDB serialises them.
    url = fresh_url()
    first, second = await open_queue_storage(url), await open_queue_storage(url)
    try:
        jobs = [Job(id=uuid.uuid4().hex, queue="q", task_type="T", input={"i": i},
                    fingerprint=job_fingerprint("T", {"i": i})) for i in range(5)]
        await first.add_many(jobs)
        rounds = await asyncio.gather(*[storage.claim("q", f"w{n}", 30.0, limit=2)
                                        for n, storage in enumerate([first, second] * 3)])
        claimed = [job.id for batch in rounds for job in batch]
        assert sorted(claimed) == sorted(job.id for job in jobs)
        assert (await second.stats("q"))["processing"] == 5
    finally:
        await first.close()
        await second.close()


async def test_a_refused_step_writes_nothing():
    storage = await open_queue_storage(fresh_url())
    try:
        job = Job(id="j1", queue="q", task_type="T", input={}, fingerprint="f")
        await storage.add(job)
        (claimed,) = await storage.claim("q", "w", 30.0)
        before = (await storage.get("j1")).to_dict()
        with pytest.raises(Exception, match="no longer current"):
            await storage.complete("j1", claimed.deliveries + 1, {"out": 1})
        assert (await storage.get("j1")).to_dict() == before
    finally:
        await storage.close()


async def test_keys_sort_and_scan_by_code_point_as_every_backend_does():
    # IndexedDB compares UTF-16 code units: U+1F600 would sort below U+FFFD there.
    keys = ["a\ufffd", "a\U0001f600", "a\uffff", "a\uffffb", "b", "a"]
    async with open_store(fresh_url()) as store:
        await store.backend.put_many("things", {key: {"key": key} for key in keys})
        assert await store.backend.keys("things") == sorted(keys)
        assert await store.backend.keys("things", "a\uffff") == ["a\uffff", "a\uffffb"]
        assert [e.key for e in await store.backend.scan("things", "a")] == sorted(keys)[:-1]
        assert await store.backend.clear("things", "a\uffff") == 2
        assert await store.backend.keys("things") == sorted(set(keys) - {"a\uffff", "a\uffffb"})


async def _until_free(name: str) -> None:
    from taskloom.browser import web_locks

    for _ in range(200):  # the browser lets go of a released lock a moment later
        if name not in await web_locks.held_names(name):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the Web Lock {name!r} was never released")


async def test_a_run_lock_has_one_holder_until_released():
    from taskloom.browser import web_locks

    name = web_locks.RUN_LOCK + uuid.uuid4().hex
    held = await web_locks.try_acquire(name)
    assert held is not None
    assert name in await web_locks.held_names(web_locks.RUN_LOCK)
    assert await web_locks.try_acquire(name) is None  # a second owner is refused
    held.release()
    await _until_free(name)
    again = await web_locks.try_acquire(name)
    assert again is not None
    again.release()


async def test_page_queue_leases_follow_the_workers_web_locks():
    from taskloom.browser import web_locks
    from taskloom.browser.page_queue import TAB_GONE, PageQueueStorage
    from taskloom.queue import JobStatus

    storage = PageQueueStorage(f"taskloom-checks-{uuid.uuid4().hex[:12]}")
    try:
        job = Job(id=uuid.uuid4().hex, queue="q", task_type="T", input={"i": 1},
                  fingerprint=job_fingerprint("T", {"i": 1}))
        await storage.add(job)
        worker = f"tab-{uuid.uuid4().hex[:8]}"
        [claimed] = await storage.claim("q", worker, lease=0.01)
        await asyncio.sleep(0.05)  # its lease is long gone; its worker's tab is not
        assert await storage.reap_expired("q") == 0
        alive = await storage.get(job.id)
        assert alive.status is JobStatus.PROCESSING and alive.worker_id == worker

        storage._locks.pop(worker).release()  # what the browser does when the tab dies
        await _until_free(web_locks.WORKER_LOCK + worker)
        assert await storage.reap_expired("q") == 1
        back = await storage.get(job.id)
        assert back.status is JobStatus.PENDING and back.worker_id is None
        assert back.attempts == 0 and back.error == TAB_GONE  # not the job's fault
        # Its next worker finishes it: nothing was fenced off along the way.
        [again] = await storage.claim("q", worker + "-next", lease=30.0)
        assert again.deliveries == claimed.deliveries + 1
        await storage.complete(job.id, again.deliveries, {"ok": True})
        assert (await storage.get(job.id)).status is JobStatus.COMPLETED
    finally:
        for held in storage._locks.values():
            held.release()
        await storage.close()
