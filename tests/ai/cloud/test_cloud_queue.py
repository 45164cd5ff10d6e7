"""Cloud calls as jobs on a real queue: Retry-After paces the retry and the limiter, a 500
is retried, a 401 fails at once, an abort stops the stream — and the key is written nowhere."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from taskloom.ai.cloud import progress_callback, provider_limiter
from taskloom.queue import JobQueue, JobStatus, RetryPolicy, Worker
from taskloom.queue.storage import MemoryQueueStorage, open_queue_storage

from .conftest import TEST_KEY, make_provider
from .fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, Reply


def route(vendor: str) -> str:
    return OPENAI_CHAT if vendor == "openai" else ANTHROPIC_MESSAGES


def generation_handler(provider):
    async def handler(job, ctx):
        result = await provider.generate(job.input["prompt"], model="fake-model", stream=True,
                                         on_text=progress_callback(ctx.progress),
                                         signal=ctx.signal)
        return result.to_dict()

    return handler


async def work_until_idle(queue: JobQueue, handler, **options) -> None:
    worker = Worker(queue, handler, concurrency=1, lease=5.0, idle_wait=0.05, **options)
    await asyncio.wait_for(worker.run(until_idle=True), timeout=30)


def make_queue(vendor: str, storage=None, **options) -> JobQueue:
    storage = storage or MemoryQueueStorage()
    return JobQueue(f"ai:{vendor}", storage,
                    limiter=provider_limiter(vendor, storage=storage),
                    retry=RetryPolicy(base_delay=0.05, jitter=0.0), **options)


async def test_429_retry_waits_for_retry_after_and_holds_back_the_queue(provider, vendor, api):
    api.script(route(vendor), Reply(429, headers={"Retry-After": "1"}))
    queue = make_queue(vendor)
    first = await queue.add({"prompt": "first"})
    second = await queue.add({"prompt": "second"})
    await work_until_idle(queue, generation_handler(provider))

    assert (await queue.get(first.id)).status is JobStatus.COMPLETED
    assert (await queue.get(second.id)).output["text"] == "echo: second"
    requests = api.requests_to(route(vendor))
    assert len(requests) == 3  # the 429, the retry, the other job
    refused_at = requests[0].at
    # Times the server recorded. Nothing went out again before Retry-After was up:
    # not the refused job's retry (run_after) nor the other job (the limiter was blocked).
    assert all(r.at - refused_at >= 0.99 for r in requests[1:])
    assert (await queue.get(first.id)).attempts == 1


async def test_500_then_success_is_retried(provider, vendor, api):
    api.script(route(vendor), Reply(500, message="boom"))
    queue = make_queue(vendor)
    job = await queue.add({"prompt": "again"})
    await work_until_idle(queue, generation_handler(provider))
    done = await queue.get(job.id)
    assert done.status is JobStatus.COMPLETED and done.output["text"] == "echo: again"
    assert done.attempts == 1 and len(api.requests_to(route(vendor))) == 2


async def test_401_fails_at_once_with_a_clear_message(api, vendor, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-revoked-0000000000000000000000")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-revoked-0000000000000000000000")
    queue = make_queue(vendor, max_attempts=5)
    job = await queue.add({"prompt": "hi"})
    await work_until_idle(queue, generation_handler(make_provider(vendor, api)))
    failed = await queue.get(job.id)
    assert failed.status is JobStatus.FAILED
    assert len(api.requests_to(route(vendor))) == 1  # no retry of a rejected key
    assert "JobPermanentError" in failed.error and "HTTP 401" in failed.error
    assert "API key was rejected" in failed.error
    assert "sk-revoked-0000000000000000000000" not in failed.error


async def test_abort_stops_a_streaming_job_and_closes_the_connection(provider, vendor, api):
    api.script(route(vendor), Reply(text="one two three four five six", hold_after=2))
    queue = make_queue(vendor)
    job = await queue.add({"prompt": "hi"})
    worker = Worker(queue, generation_handler(provider), lease=0.6)  # heartbeat every 0.2 s
    serving = asyncio.create_task(worker.run())
    try:
        for _ in range(500):  # until the partial text reached the job's progress
            if (await queue.get(job.id)).progress_message == "one two ":
                break
            await asyncio.sleep(0.01)
        assert (await queue.get(job.id)).progress_message == "one two "
        await queue.abort(job.id)
        for _ in range(500):
            if (await queue.get(job.id)).status is JobStatus.ABORTED:
                break
            await asyncio.sleep(0.01)
        assert (await queue.get(job.id)).status is JobStatus.ABORTED
    finally:
        worker.stop()
        await serving
    # The server saw the client hang up while it held the stream, after two chunks.
    assert await api.until(lambda: api.streams[-1].client_closed)
    assert api.streams[-1].chunks_sent == 2 and not api.streams[-1].finished
    assert worker.stats.aborted == 1


async def test_the_key_is_in_no_job_record_output_error_or_log(vendor, api, tmp_path: Path,
                                                              caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)  # everything the SDKs, httpx and the queue log
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY)
    db = tmp_path / "jobs.db"
    storage = await open_queue_storage(f"sqlite:///{db}")
    try:
        api.script(route(vendor), Reply(429, headers={"Retry-After": "0.1"}),
                   Reply(500, message="upstream said: Bearer " + TEST_KEY))
        queue = make_queue(vendor, storage, max_attempts=5)
        good = await queue.add({"prompt": "hello"})
        await work_until_idle(queue, generation_handler(make_provider(vendor, api)))
        monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY + "-wrong")
        monkeypatch.setenv("ANTHROPIC_API_KEY", TEST_KEY + "-wrong")
        bad = await queue.add({"prompt": "rejected"})
        await work_until_idle(queue, generation_handler(make_provider(vendor, api)))
        jobs = [await queue.get(good.id), await queue.get(bad.id)]
    finally:
        await storage.close()
    assert jobs[0].status is JobStatus.COMPLETED and jobs[1].status is JobStatus.FAILED
    # The key did reach the server, so a leak would have had something to leak.
    assert all(TEST_KEY in r.headers["authorization"] for r in api.requests)
    for job in jobs:
        assert TEST_KEY not in repr(job.to_dict())
    written = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert written and TEST_KEY.encode() not in written
    logged = caplog.text + "".join(repr(r.args) + repr(r.exc_info) for r in caplog.records)
    assert caplog.records and TEST_KEY not in logged
    assert {"openai" if vendor == "openai" else "anthropic", "taskloom.queue.worker"} <= {
        r.name.split(".")[0] if not r.name.startswith("taskloom") else r.name
        for r in caplog.records}  # the SDK's own debug log was captured too
