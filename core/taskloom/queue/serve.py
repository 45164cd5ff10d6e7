"""``run_worker``: what ``taskloom worker`` runs — workers for one queue until signalled.

It imports the task modules named by ``imports`` (so their task types are
registered), connects to the storage at ``url`` — retrying until the database
answers — and runs ``concurrency`` jobs at a time through the task-type
handler. SIGINT/SIGTERM stop it gracefully: running jobs get the worker's
``shutdown_timeout`` to finish, then what is left goes back to pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from collections.abc import Iterable
from typing import Any

from ..errors import StoreUnavailableError
from .queue import JobQueue, queues
from .retry import Backoff
from .storage import create_queue_storage
from .task import task_type_handler
from .worker import Worker, WorkerStats

log = logging.getLogger("taskloom.queue.worker")


async def run_worker(url: str, queue: str, concurrency: int = 1,
                     imports: Iterable[str] = (), **worker_options: Any) -> WorkerStats:
    for module in imports:
        importlib.import_module(module)
    storage = create_queue_storage(url)
    job_queue = JobQueue(queue, storage)
    worker = Worker(job_queue, task_type_handler(), concurrency=concurrency, **worker_options)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, worker.stop)
    try:
        backoff = Backoff(0.2, 10.0)
        while not worker.stopping:
            try:
                await storage.setup()
                break
            except StoreUnavailableError as exc:
                delay = backoff.next()
                log.warning("queue storage unreachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
        queues.register(job_queue)
        log.info("worker %s serving queue %r (concurrency %d)", worker.worker_id, queue,
                 concurrency)
        return await worker.run()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
        await storage.close()
