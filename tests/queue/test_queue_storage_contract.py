"""The queue storage contract: every backend behaves the same, step by step."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from taskloom.errors import JobFailedError, JobNotFoundError, JobStateError, StaleJobError
from taskloom.queue import Job, JobFailure, JobQueue, JobStatus
from taskloom.queue.queue import job_fingerprint


def make_job(queue: str = "q", input: dict | None = None, **fields) -> Job:
    input = {"n": 1} if input is None else input
    return Job(id=uuid.uuid4().hex, queue=queue, task_type=fields.pop("task_type", "T"),
               input=input, fingerprint=job_fingerprint("T", input), **fields)


async def until_storage_time(storage, moment: float) -> None:
    """Wait until the storage's own clock (the one leases and deadlines use) is past
    ``moment``."""
    while await storage.now() <= moment:
        await asyncio.sleep(0.01)


async def waiting_for(queue: JobQueue, job_id: str) -> asyncio.Task:
    """A task in ``queue.wait`` that never polls, returned once it has read the job:
    from then on only an announcement of a change can wake it."""
    looked = asyncio.Event()
    waiter = asyncio.create_task(queue.wait(job_id, poll_interval=3600,
                                            on_progress=lambda job: looked.set()))
    await asyncio.wait_for(looked.wait(), 30)
    return waiter


async def test_add_then_get_round_trips_every_field(storage):
    job = make_job(input={"text": "héllo", "nested": {"xs": [1, 2.5, None, True]}},
                   run_id="run-1", max_attempts=4, max_deliveries=7)
    before = await storage.now()
    stored = await storage.add(job, timeout=60)
    fetched = await storage.get(job.id)
    assert fetched == stored
    assert fetched.input == job.input
    assert fetched.status is JobStatus.PENDING
    assert (fetched.attempts, fetched.deliveries) == (0, 0)
    assert (fetched.max_attempts, fetched.max_deliveries, fetched.run_id) == (4, 7, "run-1")
    assert before - 1 <= fetched.created_at <= fetched.run_after <= before + 5
    assert fetched.deadline == pytest.approx(fetched.created_at + 60, abs=0.01)
    assert await storage.get("missing") is None


async def test_adding_an_active_fingerprint_returns_the_existing_job(storage):
    first = await storage.add(make_job())
    again = await storage.add(make_job())
    assert again.id == first.id
    other = await storage.add(make_job(input={"n": 2}))
    assert other.id != first.id
    assert (await storage.stats("q"))["pending"] == 2


async def test_a_failed_job_does_not_block_a_fresh_one(storage):
    first = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    await storage.fail(first.id, claimed.deliveries, "boom")
    fresh = await storage.add(make_job())
    assert fresh.id != first.id and fresh.status is JobStatus.PENDING


async def test_claim_takes_due_jobs_oldest_first_and_only_once(storage):
    ids = [(await storage.add(make_job(input={"n": i}))).id for i in range(3)]
    later = await storage.add(make_job(input={"n": 99}), delay=3600)
    batch = await storage.claim("q", "w1", 30, limit=2)
    assert [j.id for j in batch] == ids[:2]
    now = await storage.now()
    for job in batch:
        assert job.status is JobStatus.PROCESSING and job.deliveries == 1
        assert job.worker_id == "w1"
        assert now + 25 < job.lease_expires_at < now + 35
    [last] = await storage.claim("q", "w2", 30, limit=5)
    assert last.id == ids[2]
    assert await storage.claim("q", "w3", 30) == []
    assert await storage.claim("other-queue", "w3", 30) == []
    assert (await storage.get(later.id)).status is JobStatus.PENDING


async def test_completion_is_fenced_by_the_delivery_number(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    with pytest.raises(StaleJobError):
        await storage.complete(job.id, claimed.deliveries + 1, {"out": 1})
    assert (await storage.get(job.id)).status is JobStatus.PROCESSING
    await storage.complete(job.id, claimed.deliveries, {"out": 1})
    done = await storage.get(job.id)
    assert (done.status, done.output, done.progress) == (JobStatus.COMPLETED, {"out": 1}, 1.0)
    with pytest.raises(StaleJobError):  # a second completion is refused too
        await storage.complete(job.id, claimed.deliveries, {"out": 2})
    assert await storage.output_for("q", job.fingerprint) == {"out": 1}
    assert await storage.output_for("q", "no-such-fingerprint") is None


async def test_an_expired_lease_returns_the_job_with_one_more_attempt(storage):
    job = await storage.add(make_job(max_attempts=3))
    [first] = await storage.claim("q", "dead-worker", 0.05)
    await until_storage_time(storage, first.lease_expires_at)
    assert await storage.reap_expired("q") == 1
    back = await storage.get(job.id)
    assert back.status is JobStatus.PENDING
    assert back.attempts == 1 and back.worker_id is None
    assert "lease expired" in back.error
    [second] = await storage.claim("q", "live-worker", 30)
    assert second.deliveries == first.deliveries + 1
    with pytest.raises(StaleJobError):  # the dead worker wakes up too late
        await storage.complete(job.id, first.deliveries, {"from": "dead"})
    with pytest.raises(StaleJobError):
        await storage.heartbeat(job.id, first.deliveries, 30)
    await storage.complete(job.id, second.deliveries, {"from": "live"})
    assert (await storage.get(job.id)).output == {"from": "live"}


async def test_a_heartbeat_keeps_the_lease_alive(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 0.2)
    assert await storage.heartbeat(job.id, claimed.deliveries, 30) is JobStatus.PROCESSING
    await until_storage_time(storage, claimed.lease_expires_at)  # the first lease's end
    assert await storage.reap_expired("q") == 0
    assert (await storage.get(job.id)).status is JobStatus.PROCESSING


async def test_expiry_on_the_last_attempt_fails_the_job(storage):
    job = await storage.add(make_job(max_attempts=1))
    [claimed] = await storage.claim("q", "w", 0.05)
    await until_storage_time(storage, claimed.lease_expires_at)
    await storage.reap_expired("q")
    failed = await storage.get(job.id)
    assert failed.status is JobStatus.FAILED and "no attempts left" in failed.error


async def test_the_delivery_cap_stops_a_job_that_keeps_killing_its_worker(storage):
    job = await storage.add(make_job(max_attempts=100, max_deliveries=2))
    for _ in range(2):
        [claimed] = await storage.claim("q", "w", 0.05)
        await until_storage_time(storage, claimed.lease_expires_at)
        await storage.reap_expired("q")
    capped = await storage.get(job.id)
    assert capped.status is JobStatus.FAILED
    assert "delivery cap" in capped.error and claimed.deliveries == 2
    assert await storage.claim("q", "w", 30) == []


async def test_retry_counts_an_attempt_and_waits_out_its_delay(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    await storage.retry(job.id, claimed.deliveries, "RuntimeError: flaky", 3600)
    waiting = await storage.get(job.id)
    assert (waiting.status, waiting.attempts) == (JobStatus.PENDING, 1)
    assert waiting.run_after > await storage.now() + 3500
    assert waiting.error == "RuntimeError: flaky"
    assert await storage.claim("q", "w", 30) == []


async def test_retry_without_delay_is_claimable_again(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    await storage.retry(job.id, claimed.deliveries, "e", 0)
    [again] = await storage.claim("q", "w", 30)
    assert again.id == job.id and again.attempts == 1 and again.deliveries == 2


async def test_release_hands_the_job_back_without_counting_an_attempt(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    await storage.release(job.id, claimed.deliveries)
    back = await storage.get(job.id)
    assert (back.status, back.attempts, back.worker_id) == (JobStatus.PENDING, 0, None)
    with pytest.raises(StaleJobError):
        await storage.release(job.id, claimed.deliveries)


async def test_abort_pending_running_and_finished_jobs(storage):
    pending = await storage.add(make_job(input={"n": 1}))
    running = await storage.add(make_job(input={"n": 2}))
    finished = await storage.add(make_job(input={"n": 3}))
    claims = {j.id: j for j in await storage.claim("q", "w", 30, limit=3)}
    await storage.release(pending.id, claims[pending.id].deliveries)
    await storage.complete(finished.id, claims[finished.id].deliveries, {})

    assert (await storage.abort(pending.id)).status is JobStatus.ABORTED
    assert (await storage.abort(running.id)).status is JobStatus.ABORTING
    assert (await storage.abort(running.id)).status is JobStatus.ABORTING  # idempotent
    assert await storage.heartbeat(running.id, claims[running.id].deliveries, 30) \
        is JobStatus.ABORTING
    await storage.mark_aborted(running.id, claims[running.id].deliveries, "stopped")
    assert (await storage.get(running.id)).status is JobStatus.ABORTED
    with pytest.raises(JobStateError, match="already completed"):
        await storage.abort(finished.id)
    assert (await storage.get(finished.id)).status is JobStatus.COMPLETED
    with pytest.raises(JobNotFoundError):
        await storage.abort("missing")


async def test_an_aborting_job_whose_worker_died_ends_aborted(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 0.05)
    await storage.abort(job.id)
    await until_storage_time(storage, claimed.lease_expires_at)
    await storage.reap_expired("q")
    assert (await storage.get(job.id)).status is JobStatus.ABORTED


async def test_abort_run_stops_every_unfinished_job_of_that_run_only(storage):
    a = await storage.add(make_job(input={"n": 1}, run_id="r1"))
    b = await storage.add(make_job(input={"n": 2}, run_id="r1"))
    c = await storage.add(make_job(input={"n": 3}, run_id="r1"))
    other = await storage.add(make_job(input={"n": 4}, run_id="r2"))
    claims = {j.id: j for j in await storage.claim("q", "w", 30, limit=4)}
    for job in (a, other):
        await storage.release(job.id, claims[job.id].deliveries)
    await storage.complete(c.id, claims[c.id].deliveries, {})
    assert await storage.abort_run("r1") == 2
    statuses = {j.id: (await storage.get(j.id)).status for j in (a, b, c, other)}
    assert statuses == {a.id: JobStatus.ABORTED, b.id: JobStatus.ABORTING,
                        c.id: JobStatus.COMPLETED, other.id: JobStatus.PENDING}


async def test_a_pending_job_past_its_deadline_fails(storage):
    job = await storage.add(make_job(), timeout=0.05)
    await until_storage_time(storage, job.deadline)
    await storage.reap_expired("q")
    failed = await storage.get(job.id)
    assert failed.status is JobStatus.FAILED and "deadline" in failed.error


async def test_progress_is_stored_and_fenced(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    await storage.set_progress(job.id, claimed.deliveries, 0.25, "a quarter")
    seen = await storage.get(job.id)
    assert (seen.progress, seen.progress_message) == (0.25, "a quarter")
    with pytest.raises(StaleJobError):
        await storage.set_progress(job.id, claimed.deliveries + 1, 0.5, "late")


async def test_list_stats_and_clear_see_one_queue(storage):
    for i in range(3):
        await storage.add(make_job(input={"n": i}, run_id="r" if i else None))
    await storage.add(make_job(queue="elsewhere"))
    await storage.claim("q", "w", 30)
    stats = await storage.stats("q")
    assert stats["pending"] == 2 and stats["processing"] == 1 and stats["completed"] == 0
    assert set(stats) == {s.value for s in JobStatus}
    assert len(await storage.list("q")) == 3
    assert len(await storage.list("q", status=JobStatus.PENDING)) == 2
    assert len(await storage.list("q", run_id="r")) == 2
    assert len(await storage.list("q", limit=1)) == 1
    assert await storage.clear("q") == 3
    assert await storage.list("q") == []
    assert len(await storage.list("elsewhere")) == 1


async def test_an_idle_worker_is_woken_when_work_arrives(storage):
    await storage.listening()  # Postgres: its LISTEN connection is up
    waiter = asyncio.create_task(storage.wait_for_work("q", 60))
    await asyncio.sleep(0)  # one turn of the loop: the waiter reaches its wait
    await storage.add(make_job())
    # Without a wake-up the wait would last 60 s; the bound only detects that.
    await asyncio.wait_for(waiter, 30)


async def test_job_queue_adds_dedupes_and_reports_outputs(storage):
    queue = JobQueue("q", storage)
    job = await queue.add({"text": "x"}, task_type="Upper", run_id="r")
    assert (await queue.add({"text": "x"}, task_type="Upper")).id == job.id
    assert (await queue.add({"text": "x"}, task_type="Lower")).id != job.id
    [claimed] = await storage.claim("q", "w", 30)
    await storage.complete(claimed.id, claimed.deliveries, {"text": "X"})
    assert await queue.wait(job.id, timeout=5) == {"text": "X"}
    assert await queue.output_for({"text": "x"}, task_type="Upper") == {"text": "X"}
    assert await queue.output_for({"text": "y"}, task_type="Upper") is None
    assert (await queue.stats())["total"] == 2
    with pytest.raises(JobNotFoundError):
        await JobQueue("another", storage).get(job.id)


async def test_add_many_stores_in_order_and_dedupes(storage):
    queue = JobQueue("q", storage)
    existing = await queue.add({"n": 1})
    jobs = await queue.add_many([{"n": 0}, {"n": 1}, {"n": 2}, {"n": 2}], run_id="r")
    assert [j.input for j in jobs] == [{"n": 0}, {"n": 1}, {"n": 2}, {"n": 2}]
    assert jobs[1].id == existing.id and jobs[2].id == jobs[3].id
    assert jobs[0].run_id == "r" and jobs[0].status is JobStatus.PENDING
    assert (await queue.stats())["pending"] == 3
    from taskloom.errors import JobInputError

    with pytest.raises(JobInputError):
        await queue.add_many([{"n": 5}, {"bad": {1, 2}}])
    assert (await queue.stats())["total"] == 3  # the bad batch stored nothing


async def test_complete_many_fences_each_job(storage):
    a = await storage.add(make_job(input={"n": 1}))
    b = await storage.add(make_job(input={"n": 2}))
    claims = {j.id: j for j in await storage.claim("q", "w", 30, limit=2)}
    stale = await storage.complete_many([(a.id, claims[a.id].deliveries, {"a": 1}),
                                         (b.id, claims[b.id].deliveries + 5, {"b": 1})])
    assert stale == {b.id}
    assert (await storage.get(a.id)).output == {"a": 1}
    assert (await storage.get(b.id)).status is JobStatus.PROCESSING


class TwoSteps:
    """A storage without ``complete_and_claim`` of its own (someone else's backend)."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def __getattr__(self, name):
        if name == "complete_and_claim":
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.mark.parametrize("how", ["its own", "in two steps"])
async def test_complete_and_claim_reports_and_takes_the_next_jobs(storage, how):
    from taskloom.queue.storage.base import complete_and_claim

    target = storage if how == "its own" else TwoSteps(storage)
    ids = [(await storage.add(make_job(input={"n": i}))).id for i in range(4)]
    [first] = await storage.claim("q", "w1", 30)
    # ids[1] is pending, not working: its "completion" is refused like any stale one.
    stale, taken = await complete_and_claim(
        target, [(first.id, first.deliveries, {"r": 1}), (ids[1], 1, {"r": 2})],
        "q", "w2", 30, 2)
    assert stale == {ids[1]}
    done = await storage.get(first.id)
    assert (done.status, done.output, done.progress) == (JobStatus.COMPLETED, {"r": 1}, 1.0)
    assert [job.id for job in taken] == ids[1:3]  # oldest first
    now = await storage.now()
    for job in taken:
        assert (job.status, job.deliveries, job.worker_id) == (JobStatus.PROCESSING, 1, "w2")
        assert now + 25 < job.lease_expires_at < now + 35
        assert (await storage.get(job.id)).status is JobStatus.PROCESSING
    assert (await storage.get(ids[1])).output is None
    # A limit of 0 only reports; nothing left to report only claims.
    assert await complete_and_claim(target, [(ids[1], 1, {"r": 2})], "q", "w2", 30, 0) \
        == (set(), [])
    assert (await storage.get(ids[1])).output == {"r": 2}
    assert (await storage.get(ids[3])).status is JobStatus.PENDING
    stale, taken = await complete_and_claim(target, [], "q", "w2", 30, 5)
    assert stale == set() and [job.id for job in taken] == [ids[3]]


async def test_seconds_until_due_looks_at_pending_jobs_only(storage):
    assert await storage.seconds_until_due("q") is None
    await storage.add(make_job(input={"n": 1}), delay=100)
    assert 90 < await storage.seconds_until_due("q") <= 100
    await storage.add(make_job(input={"n": 2}))
    assert await storage.seconds_until_due("q") <= 0


# -- announcements: a job's waiters wake when it changes --------------------------------


async def test_every_write_to_a_job_announces_it(storage):
    job = await storage.add(make_job(max_attempts=5))
    other = await storage.add(make_job(queue="elsewhere", run_id="r"))

    async def announced(write) -> None:
        changed.clear()
        await write
        await asyncio.wait_for(changed.wait(), 30)  # Postgres: the NOTIFY comes over

    async with storage.watching(job.id) as changed:
        [claimed] = await storage.claim("q", "w", 30)
        await asyncio.wait_for(changed.wait(), 30)
        await announced(storage.set_progress(job.id, claimed.deliveries, 0.5, "half"))
        await announced(storage.retry(job.id, claimed.deliveries, "flaky", 0))
        [claimed] = await storage.claim("q", "w", 30, limit=1)
        assert claimed.id == job.id
        await announced(storage.release(job.id, claimed.deliveries))
        [claimed] = await storage.claim("q", "w", 0.05)
        await announced(storage.abort(job.id))
        await until_storage_time(storage, claimed.lease_expires_at)
        await announced(storage.reap_expired("q"))
    assert (await storage.get(job.id)).status is JobStatus.ABORTED
    async with storage.watching(other.id) as changed:
        await announced(storage.abort_run("r"))
    assert (await storage.get(other.id)).status is JobStatus.ABORTED


async def test_a_waiter_wakes_when_its_job_completes(storage):
    queue = JobQueue("q", storage)
    job = await queue.add({"n": 1})
    waiter = await waiting_for(queue, job.id)
    [claimed] = await storage.claim("q", "w", 30)
    await storage.set_progress(job.id, claimed.deliveries, 0.5, "half")
    await storage.complete(job.id, claimed.deliveries, {"done": True})
    assert await asyncio.wait_for(waiter, 30) == {"done": True}


async def test_a_waiter_on_a_storage_that_feeds_a_worker_is_woken_too(storage):
    # Postgres listens for new work only until something watches a job, then for
    # job changes as well: the switch must not lose the waiter's wake-up.
    queue = JobQueue("q", storage)
    idle = asyncio.create_task(storage.wait_for_work("q", 60))
    await asyncio.sleep(0)  # one turn of the loop: the idle worker reaches its wait
    job = await queue.add({"n": 1})
    await asyncio.wait_for(idle, 30)  # (Postgres: its LISTEN connection is up)
    waiter = await waiting_for(queue, job.id)
    [claimed] = await storage.claim("q", "w", 30)
    await storage.complete(job.id, claimed.deliveries, {"done": True})
    assert await asyncio.wait_for(waiter, 30) == {"done": True}


async def test_a_waiter_wakes_when_its_run_is_aborted(storage):
    queue = JobQueue("q", storage)
    job = await queue.add({"n": 1}, run_id="run-7")
    waiter = await waiting_for(queue, job.id)
    assert await queue.abort_run("run-7") == 1
    with pytest.raises(JobFailedError, match="aborted"):
        await asyncio.wait_for(waiter, 30)


async def test_a_waiter_wakes_when_the_reaper_settles_its_job(storage):
    queue = JobQueue("q", storage, max_attempts=1)
    job = await queue.add({"n": 1})
    [claimed] = await storage.claim("q", "dead-worker", 0.05)
    waiter = await waiting_for(queue, job.id)
    await until_storage_time(storage, claimed.lease_expires_at)
    assert await storage.reap_expired("q") == 1
    with pytest.raises(JobFailedError, match="no attempts left"):
        await asyncio.wait_for(waiter, 30)


async def test_wait_awaits_an_async_on_progress_and_honours_its_timeout(storage):
    queue = JobQueue("q", storage)
    job = await queue.add({"n": 1})
    seen = []

    async def on_progress(current: Job) -> None:
        await asyncio.sleep(0)
        seen.append(current.status)

    with pytest.raises(TimeoutError, match="still pending"):
        # The outer bound only turns a wait that ignores its timeout into a failure.
        await asyncio.wait_for(queue.wait(job.id, timeout=0.1, on_progress=on_progress), 30)
    assert seen == [JobStatus.PENDING]


# -- errors as data ---------------------------------------------------------------------


async def test_a_failure_is_stored_as_data(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    error = JobFailure("ContextLengthError", "text 0 is 602 tokens long", retryable=False,
                     details={"n_tokens": 602, "limit": 512})
    await storage.fail(job.id, claimed.deliveries, error)
    failed = await storage.get(job.id)
    assert failed.error_data == error
    assert failed.error == "ContextLengthError: text 0 is 602 tokens long"


async def test_a_retried_error_keeps_its_data_until_the_job_ends_otherwise(storage):
    job = await storage.add(make_job())
    [claimed] = await storage.claim("q", "w", 30)
    throttled = JobFailure("JobRetryableError", "HTTP 429", retry_after=2.5,
                         details={"status_code": 429})
    await storage.retry(job.id, claimed.deliveries, throttled, 0)
    assert (await storage.get(job.id)).error_data == throttled
    [claimed] = await storage.claim("q", "w", 30)
    await storage.release(job.id, claimed.deliveries)  # untouched, error included
    assert (await storage.get(job.id)).error_data == throttled
    assert (await storage.abort(job.id)).error_data is None  # "aborted before it started"
    plain = await storage.add(make_job(input={"n": 2}))
    [claimed] = await storage.claim("q", "w", 30)
    await storage.fail(plain.id, claimed.deliveries, "just text")
    failed = await storage.get(plain.id)
    assert (failed.error, failed.error_data) == ("just text", None)
