"""Workers on every backend: results, retries, aborts, shutdown, fencing, task types."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from taskloom.errors import (
    JobFailedError,
    JobInputError,
    JobPermanentError,
    JobRetryableError,
    JobStateError,
    RunAbortedError,
    UnknownQueueError,
)
from taskloom.queue import JobQueue, JobStatus, RateLimiter, RetryPolicy, Worker, queues
from taskloom.queue.task import JobQueueTask, task_type_handler
from taskloom.task import AbortSignal, Task, TaskContext

FAST_RETRY = RetryPolicy(base_delay=0.01, max_delay=0.05)


async def run_until_idle(worker: Worker, timeout: float = 30) -> None:
    await asyncio.wait_for(worker.run(until_idle=True), timeout)


async def echo(job, ctx):
    return {"echo": job.input}


async def test_a_worker_runs_jobs_and_waiters_get_their_outputs(storage):
    queue = JobQueue("q", storage)
    jobs = [await queue.add({"n": i}) for i in range(20)]
    worker = Worker(queue, echo, concurrency=4, lease=5)
    await run_until_idle(worker)
    for i, job in enumerate(jobs):
        assert await queue.wait(job.id, timeout=5) == {"echo": {"n": i}}
    assert worker.stats.completed == 20 and worker.stats.claimed == 20
    assert (await queue.stats())["completed"] == 20


class Counting:
    """A storage that counts the calls a worker makes, and can hold
    ``complete_and_claim`` back until the test lets it go."""

    def __init__(self, inner, *, hold: bool = False) -> None:
        self._inner = inner
        self.calls: dict[str, int] = {}
        self.writing = asyncio.Event()
        self.go = asyncio.Event()
        if not hold:
            self.go.set()

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr) or name in ("watching", "listening"):
            return attr

        async def counted(*args, **kwargs):
            self.calls[name] = self.calls.get(name, 0) + 1
            if name == "complete_and_claim":
                self.writing.set()
                await self.go.wait()
            return await attr(*args, **kwargs)

        return counted


async def test_a_busy_worker_reports_and_claims_in_one_call_per_job(storage):
    counting = Counting(storage)
    queue = JobQueue("q", counting)
    for i in range(10):
        await queue.add({"n": i})
    worker = Worker(queue, echo, lease=5, idle_wait=0.05)
    await run_until_idle(worker)
    assert worker.stats.completed == worker.stats.claimed == 10
    # Each completion's write claimed the next job: the claim loop only took the
    # first one and found the queue empty at the end.
    assert counting.calls["complete_and_claim"] == 10
    assert counting.calls["claim"] <= 2
    assert "complete" not in counting.calls and "complete_many" not in counting.calls


async def test_slots_refilled_by_completions_never_exceed_the_concurrency(storage):
    queue = JobQueue("q", storage)
    for i in range(30):
        await queue.add({"n": i})
    running, most = 0, 0

    async def counted(job, ctx):
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.001 * (job.input["n"] % 4))
        running -= 1
        return {}

    worker = Worker(queue, counted, concurrency=3, lease=5, idle_wait=0.05)
    assert worker.claim_batch == 3  # by default a claim fills every free slot
    await run_until_idle(worker)
    assert worker.stats.completed == 30 and most == 3
    assert Worker(queue, echo, concurrency=500).claim_batch == 50


async def test_jobs_claimed_by_a_write_in_flight_at_stop_are_released_unrun(storage):
    counting = Counting(storage, hold=True)
    queue = JobQueue("q", counting)
    first = await queue.add({"n": 1})
    second = await queue.add({"n": 2})
    ran = []

    async def record(job, ctx):
        ran.append(job.id)
        return {}

    worker = Worker(queue, record, lease=5, idle_wait=0.05)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(counting.writing.wait(), 30)  # the first job's output, on its way
    worker.stop()
    counting.go.set()  # ... with the claim of the second job, asked for before stop()
    stats = await asyncio.wait_for(runner, 30)
    assert ran == [first.id]
    assert (await queue.get(first.id)).status is JobStatus.COMPLETED
    back = await queue.get(second.id)
    assert (back.status, back.attempts) == (JobStatus.PENDING, 0)
    assert (stats.completed, stats.claimed, stats.released) == (1, 2, 1)


async def test_a_storage_without_complete_and_claim_still_serves_a_worker(storage):
    from tests.queue.test_queue_storage_contract import TwoSteps

    counting = Counting(TwoSteps(storage))
    queue = JobQueue("q", counting)
    jobs = [await queue.add({"n": i}) for i in range(6)]
    worker = Worker(queue, echo, concurrency=2, lease=5, idle_wait=0.05)
    await run_until_idle(worker)
    for i, job in enumerate(jobs):
        assert await queue.wait(job.id, timeout=5) == {"echo": {"n": i}}
    assert "complete_and_claim" not in counting.calls and counting.calls["complete_many"] >= 1


async def test_retryable_errors_back_off_then_succeed(storage):
    queue = JobQueue("q", storage, retry=FAST_RETRY, max_attempts=3)
    calls = []

    async def flaky(job, ctx):
        calls.append(ctx.attempt)
        if len(calls) < 3:
            raise ConnectionError("try again")
        return {"ok": True}

    job = await queue.add({})
    await run_until_idle(Worker(queue, flaky, lease=5))
    done = await queue.get(job.id)
    assert (done.status, done.attempts, done.output) == (JobStatus.COMPLETED, 2, {"ok": True})
    assert calls == [0, 1, 2]


async def test_attempts_run_out_and_the_job_fails(storage):
    queue = JobQueue("q", storage, retry=FAST_RETRY, max_attempts=2)

    async def broken(job, ctx):
        raise RuntimeError("always")

    job = await queue.add({})
    await run_until_idle(Worker(queue, broken, lease=5))
    with pytest.raises(JobFailedError, match="RuntimeError: always"):
        await queue.wait(job.id, timeout=5)
    assert (await queue.get(job.id)).attempts == 2


async def test_a_permanent_error_fails_at_once(storage):
    queue = JobQueue("q", storage, retry=FAST_RETRY, max_attempts=5)
    calls = []

    async def refuse(job, ctx):
        calls.append(1)
        raise JobPermanentError("cannot ever work")

    job = await queue.add({})
    await run_until_idle(Worker(queue, refuse, lease=5))
    failed = await queue.get(job.id)
    assert failed.status is JobStatus.FAILED and len(calls) == 1
    assert "cannot ever work" in failed.error


async def test_retry_after_sets_run_after_and_blocks_the_queue_limiter(storage):
    limiter = RateLimiter(100, 60, name="provider", storage=storage)
    queue = JobQueue("q", storage, limiter=limiter, retry=FAST_RETRY)

    async def throttled(job, ctx):
        raise JobRetryableError("429 Too Many Requests", retry_after=120)

    job = await queue.add({})
    worker = Worker(queue, throttled, lease=5)
    runner = asyncio.create_task(worker.run())
    while (await queue.get(job.id)).attempts == 0:
        await asyncio.sleep(0.01)
    worker.stop()
    await runner
    waiting = await queue.get(job.id)
    now = await storage.now()
    assert waiting.status is JobStatus.PENDING
    assert now + 100 < waiting.run_after <= now + 121
    assert 100 < await limiter.try_acquire() <= 120


async def test_retry_after_from_an_http_style_error(storage):
    class Response:
        headers = {"retry-after": "90"}

    class RateLimitError(Exception):
        response = Response()

    queue = JobQueue("q", storage, retry=FAST_RETRY)

    async def throttled(job, ctx):
        raise RateLimitError("slow down")

    job = await queue.add({})
    worker = Worker(queue, throttled, lease=5)
    runner = asyncio.create_task(worker.run())
    while (await queue.get(job.id)).attempts == 0:
        await asyncio.sleep(0.01)
    worker.stop()
    await runner
    assert (await queue.get(job.id)).run_after > await storage.now() + 80


async def test_aborting_a_running_job_signals_and_stops_its_handler(storage):
    queue = JobQueue("q", storage)
    started, saw_signal = asyncio.Event(), []

    async def long_job(job, ctx):
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            saw_signal.append(ctx.signal.aborted)
        return {}

    job = await queue.add({}, run_id="run-9")
    worker = Worker(queue, long_job, lease=1.5, heartbeat=0.05)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    assert await queue.abort_run("run-9") == 1
    with pytest.raises(JobFailedError, match="aborted"):
        await queue.wait(job.id, timeout=20)
    worker.stop()
    await runner
    assert saw_signal == [True] and worker.stats.aborted == 1
    with pytest.raises(JobStateError):
        await queue.abort(job.id)


async def test_graceful_shutdown_releases_unfinished_jobs_without_an_attempt(storage):
    queue = JobQueue("q", storage)
    started = asyncio.Event()

    async def stuck(job, ctx):
        started.set()
        await asyncio.sleep(60)
        return {}

    async def quick(job, ctx):
        return {"done": True}

    job = await queue.add({})
    worker = Worker(queue, stuck, lease=5, shutdown_timeout=0.1)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    worker.stop()
    stats = await asyncio.wait_for(runner, 10)
    back = await queue.get(job.id)
    assert stats.released == 1
    assert (back.status, back.attempts) == (JobStatus.PENDING, 0)
    await run_until_idle(Worker(queue, quick, lease=5))
    assert await queue.wait(job.id, timeout=5) == {"done": True}


async def test_a_late_completion_is_refused_and_the_new_owner_wins(storage):
    queue = JobQueue("q", storage)
    release_old = asyncio.Event()

    async def slow_old_owner(job, ctx):
        await release_old.wait()
        return {"by": "old"}

    async def new_owner(job, ctx):
        return {"by": "new"}

    job = await queue.add({})
    # Heartbeats far apart: the lease runs out while the handler still works.
    old = Worker(queue, slow_old_owner, lease=0.2, heartbeat=60, reap_interval=60)
    old_run = asyncio.create_task(old.run())
    while (claimed := await queue.get(job.id)).status is not JobStatus.PROCESSING:
        await asyncio.sleep(0.01)
    while await storage.now() <= claimed.lease_expires_at:  # the storage's clock says
        await asyncio.sleep(0.01)
    await storage.reap_expired("q")
    await run_until_idle(Worker(queue, new_owner, lease=5))
    release_old.set()
    while old.stats.stale_refusals == 0:
        await asyncio.sleep(0.01)
    old.stop()
    await old_run
    final = await queue.get(job.id)
    assert final.output == {"by": "new"} and final.deliveries == 2 and final.attempts == 1
    assert old.stats.completed == 0


async def test_a_deadline_stops_a_running_job_for_good(storage):
    queue = JobQueue("q", storage, retry=FAST_RETRY, max_attempts=5)

    async def too_slow(job, ctx):
        await asyncio.sleep(60)
        return {}

    job = await queue.add({}, timeout=0.3)
    await run_until_idle(Worker(queue, too_slow, lease=5))
    failed = await queue.get(job.id)
    assert failed.status is JobStatus.FAILED and "deadline" in failed.error


async def test_progress_reaches_the_waiter(storage):
    queue = JobQueue("q", storage)
    proceed = asyncio.Event()

    async def stepwise(job, ctx):
        ctx.progress(0.5, "half way")
        await proceed.wait()
        return {}

    job = await queue.add({})
    worker = Worker(queue, stepwise, lease=5)
    runner = asyncio.create_task(worker.run())
    seen = []

    def on_progress(j):
        seen.append((j.progress, j.progress_message))
        if j.progress == 0.5:
            proceed.set()

    await queue.wait(job.id, timeout=20, on_progress=on_progress, poll_interval=0.02)
    worker.stop()
    await runner
    assert (0.5, "half way") in seen


async def test_the_last_progress_is_stored_before_the_completion(storage):
    # A download reports "N/N bytes" and returns at once. Progress writes are
    # coalesced (here: at most one a minute), yet the last one must not be lost.
    queue = JobQueue("q", storage)

    async def download(job, ctx):
        ctx.progress(0.0, "0/10 bytes")
        ctx.progress(0.5, "5/10 bytes")
        ctx.progress(1.0, "10/10 bytes")
        return {"model": "m"}

    job = await queue.add({})
    seen = []
    waiter = asyncio.create_task(queue.wait(
        job.id, on_progress=lambda j: seen.append(j.progress_message)))
    await run_until_idle(Worker(queue, download, lease=5, progress_interval=60))
    assert await asyncio.wait_for(waiter, 30) == {"model": "m"}
    assert seen[-1] == "10/10 bytes"
    done = await queue.get(job.id)
    assert (done.progress, done.progress_message) == (1.0, "10/10 bytes")


async def test_a_storage_that_announces_nothing_is_polled():
    from taskloom.queue.storage.memory import MemoryQueueStorage

    class Silent:
        """A backend of someone else's making, without JobWatchers."""

        def __init__(self) -> None:
            self._inner = MemoryQueueStorage()

        def __getattr__(self, name):
            if name in ("watching", "listening", "change_poll"):
                raise AttributeError(name)
            return getattr(self._inner, name)

    queue = JobQueue("q", Silent())
    job = await queue.add({"n": 1})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(queue.wait(job.id, timeout=0.05), 30)
    waiter = asyncio.create_task(queue.wait(job.id))
    await run_until_idle(Worker(queue, echo, lease=5))
    assert await asyncio.wait_for(waiter, 30) == {"echo": {"n": 1}}


async def test_an_error_a_job_raised_is_stored_as_data_and_rebuilt(storage):
    from taskloom.ai.task import _model_error
    from taskloom.errors import ContextLengthError
    from taskloom.queue import JobFailure

    queue = JobQueue("q", storage)

    async def too_long(job, ctx):
        # The message names no sizes: they come back from the stored data, not the text.
        raise ContextLengthError("the text does not fit", n_tokens=700, limit=128)

    job = await queue.add({})
    await run_until_idle(Worker(queue, too_long, lease=5))
    with pytest.raises(JobFailedError) as caught:
        await queue.wait(job.id, timeout=5)
    failed = await queue.get(job.id)
    assert failed.error_data == JobFailure("ContextLengthError", "the text does not fit",
                                         retryable=False,
                                         details={"n_tokens": 700, "limit": 128})
    assert failed.attempts == 1  # not retryable: failed at once
    rebuilt = _model_error(caught.value)
    assert type(rebuilt) is ContextLengthError and str(rebuilt) == "the text does not fit"
    assert (rebuilt.n_tokens, rebuilt.limit) == (700, 128)


async def test_unserialisable_input_is_refused_and_nothing_is_stored(storage):
    queue = JobQueue("q", storage)
    with pytest.raises(JobInputError, match="cannot be stored"):
        await queue.add({"when": object()})
    with pytest.raises(JobInputError, match="cannot be stored"):
        await queue.add({"x": float("nan")})
    with pytest.raises(JobInputError, match="must be a dict"):
        await queue.add(["not", "a", "dict"])  # type: ignore[arg-type]
    assert (await queue.stats())["total"] == 0


# -- task types as jobs ------------------------------------------------------------------


class QueueTestDouble(Task):
    class Input(BaseModel):
        x: int

    class Output(BaseModel):
        y: int

    async def run(self, input, ctx):
        ctx.progress(0.5, "doubling")
        return self.Output(y=input.x * 2)


class QueueTestSlowSquare(JobQueueTask):
    queue_name = "squares"

    class Input(BaseModel):
        x: int

    class Output(BaseModel):
        y: int

    async def execute(self, input, ctx):
        ctx.progress(0.25, "squaring")
        if input.x < 0:
            await asyncio.sleep(60)
        return {"y": input.x * input.x}


async def test_a_job_names_a_task_type_that_any_worker_can_run(storage):
    queue = JobQueue("q", storage)
    good = await queue.add({"x": 21}, task_type="QueueTestDouble")
    bad_input = await queue.add({"x": "many"}, task_type="QueueTestDouble")
    unknown = await queue.add({"x": 1}, task_type="NobodyRegisteredThis")
    await run_until_idle(Worker(queue, task_type_handler(), lease=5))
    assert await queue.wait(good.id) == {"y": 42}
    for job_id, reason in ((bad_input.id, "bad input"), (unknown.id, "unknown task type")):
        failed = await queue.get(job_id)
        assert failed.status is JobStatus.FAILED and reason in failed.error
        assert failed.attempts == 1  # neither is worth a retry


async def test_job_queue_task_runs_its_body_on_a_worker(storage):
    queue = queues.register(JobQueue("squares", storage))
    worker = Worker(queue, task_type_handler(), lease=5, heartbeat=0.05)
    runner = asyncio.create_task(worker.run())
    try:
        task = QueueTestSlowSquare()
        progress, jobs = [], []
        ctx = TaskContext("run-1", task.id, AbortSignal(),
                          on_progress=lambda f, m, d: progress.append((f, m)),
                          services={"on_job": lambda *ids: jobs.append(ids)})
        output = await task.run(QueueTestSlowSquare.Input(x=7), ctx)
        assert output == {"y": 49}
        assert jobs and jobs[0][:2] == (task.id, "squares")
        assert (await queue.get(jobs[0][2])).run_id == "run-1"

        # Aborting the task's signal aborts its job on the worker.
        signal = AbortSignal()
        ctx = TaskContext("run-2", task.id, signal, services={"on_job": lambda *ids:
                                                                jobs.append(ids)})
        waiting = asyncio.create_task(task.run(QueueTestSlowSquare.Input(x=-1), ctx))
        while len(jobs) < 2 or (await queue.get(jobs[1][2])).status is JobStatus.PENDING:
            await asyncio.sleep(0.01)
        signal.abort()
        with pytest.raises(JobFailedError):
            await asyncio.wait_for(waiting, 20)
        assert (await queue.get(jobs[1][2])).status in (JobStatus.ABORTING, JobStatus.ABORTED)
    finally:
        worker.stop()
        await runner
        queues.unregister("squares")


async def test_an_unknown_queue_is_a_clear_error():
    with pytest.raises(UnknownQueueError, match="no job queue named 'nowhere'"):
        queues.get("nowhere")
    task = QueueTestSlowSquare(queue="nowhere")
    with pytest.raises(UnknownQueueError):
        await task.run(QueueTestSlowSquare.Input(x=1), TaskContext("r", task.id, AbortSignal()))
    with pytest.raises(ValueError, match="bad queue name"):
        JobQueue("has spaces", None)  # type: ignore[arg-type]


async def test_job_queue_task_inside_a_graph_run(storage):
    from taskloom.graph import TaskGraph
    from taskloom.runner import TaskGraphRunner

    queue = queues.register(JobQueue("squares", storage))
    worker = Worker(queue, task_type_handler(), lease=5, heartbeat=0.05)
    running = asyncio.create_task(worker.run())
    try:
        graph = TaskGraph()
        graph.add_task(QueueTestSlowSquare("sq", {"x": 9}))
        runner = TaskGraphRunner(graph)
        result = await asyncio.wait_for(runner.run(), 30)
        assert result.outputs["sq"] == {"y": 81}
        [job] = await queue.list(run_id=runner.run_id)
        assert job.status is JobStatus.COMPLETED and job.task_type == "QueueTestSlowSquare"

        # Running it again (as a resumed run would) re-attaches to the same job.
        again = await asyncio.wait_for(TaskGraphRunner(graph).run(), 30)
        assert again.outputs["sq"] == {"y": 81}
        assert (await queue.stats())["total"] == 1

        # Aborting the run aborts its job on the worker.
        graph = TaskGraph()
        graph.add_task(QueueTestSlowSquare("stuck", {"x": -1}))
        runner = TaskGraphRunner(graph)
        run = asyncio.create_task(runner.run())
        while not [j for j in await queue.list(run_id=runner.run_id)
                   if j.status is JobStatus.PROCESSING]:
            await asyncio.sleep(0.01)
        runner.abort()
        with pytest.raises(RunAbortedError):
            await asyncio.wait_for(run, 30)
        [job] = await queue.list(run_id=runner.run_id)
        while job.status is JobStatus.ABORTING:
            await asyncio.sleep(0.02)
            job = await queue.get(job.id)
        assert job.status is JobStatus.ABORTED
    finally:
        worker.stop()
        await running
        queues.unregister("squares")


async def test_run_worker_serves_task_types_until_sigterm(tmp_path):
    import os
    import signal

    from taskloom.queue import open_queue_storage
    from taskloom.queue.serve import run_worker

    url = f"sqlite:///{tmp_path / 'served.db'}"
    storage = await open_queue_storage(url)
    queue = JobQueue("served", storage)
    job = await queue.add({"x": 4}, task_type="QueueTestDouble")
    serving = asyncio.create_task(run_worker(url, "served", 2, imports=["json"], lease=5))
    try:
        assert await queue.wait(job.id, timeout=30) == {"y": 8}
    finally:
        os.kill(os.getpid(), signal.SIGTERM)  # run_worker's handler turns it into stop()
        stats = await asyncio.wait_for(serving, 30)
        await storage.close()
    assert stats.completed == 1
    assert "served" in queues
    queues.unregister("served")


async def test_the_queue_limiter_paces_job_starts(storage):
    from taskloom.queue import CompositeLimiter, ConcurrencyLimiter

    rate = RateLimiter(2, 0.3, name="paced", storage=storage)
    limiter = CompositeLimiter(ConcurrencyLimiter(2), rate)
    queue = JobQueue("q", storage, limiter=limiter)
    grants, running, most = [], 0, 0

    async def tracked(job, ctx):
        nonlocal running, most
        grants.append(rate.last_granted_at)
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.05)
        running -= 1
        return {}

    await queue.add_many([{"n": i} for i in range(6)])
    await run_until_idle(Worker(queue, tracked, concurrency=5, lease=5))
    assert (await queue.stats())["completed"] == 6
    assert most <= 2
    grants.sort()
    for earlier, later in zip(grants, grants[2:], strict=False):
        assert later - earlier >= 0.3 - 1e-9
