"""Getting AI jobs run when nobody started a worker: in-process workers on demand.

Each provider has a job queue, ``ai:<provider>`` (``ai:onnx``). When an
AiTask runs and no queue of that name is registered in ``taskloom.queue.queues``,
it registers one in memory. Then, unless in-process workers are switched off,
it makes sure a ``Worker`` serves that queue inside the running event loop
(an asyncio task, no thread), so that a plain ``await workflow.run()`` gets
its model calls run, with the queue's limits, retries and aborts.

Why in-process by default: a local model runs in this process anyway, and a
user who only runs a graph should not have to start a worker. A deployment
that runs ``taskloom worker`` processes against a shared queue (register the
queue yourself with durable storage) calls ``set_in_process_workers(False)``;
a queue registered by the user gets an in-process worker too unless it is
switched off, which is harmless next to other workers (whoever claims a job
runs it).

Queues created here live in memory and belong to one event loop; a new loop
(a new ``asyncio.run``) gets fresh ones. Waiting for their jobs is the queue
package's business (``JobQueue.wait``, woken by the storage's announcements).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from ..queue import JobQueue, Worker, queues
from ..queue.storage.memory import MemoryQueueStorage
from ..queue.task import task_type_handler

#: How many jobs one in-process worker runs at once. The local provider's
#: embedding batcher merges concurrent texts into one model call, so a wide
#: array expansion becomes a few batches; model calls still go through a
#: small thread pool, so this does not oversubscribe the CPU.
IN_PROCESS_CONCURRENCY = 32
#: Short lease: the heartbeat (a third of it) is when a running job learns
#: that it was aborted.
IN_PROCESS_LEASE = 3.0

_enabled = True


@dataclass
class _Serving:
    loop: asyncio.AbstractEventLoop
    queue: JobQueue
    worker: Worker
    task: asyncio.Task


#: Queues this module created, with the loop they belong to.
_created: dict[str, tuple[asyncio.AbstractEventLoop, JobQueue]] = {}
_serving: dict[str, _Serving] = {}


def queue_name_for(provider: str) -> str:
    return f"ai:{provider}"


def set_in_process_workers(enabled: bool) -> None:
    """Switch in-process workers on (the default) or off (external workers serve the queues)."""
    global _enabled
    _enabled = enabled


def in_process_workers_enabled() -> bool:
    return _enabled


def _default_limiter(queue_name: str) -> Any:
    """A cloud provider's default rate limits; local providers run unpaced."""
    provider = queue_name.removeprefix("ai:")
    from .cloud.limits import DEFAULT_LIMITS, provider_limiter

    return provider_limiter(provider) if provider in DEFAULT_LIMITS else None


def ensure_queue(name: str) -> JobQueue:
    """The registered queue ``name`` (created in memory if missing), served in this loop."""
    loop = asyncio.get_running_loop()
    created = _created.get(name)
    if created is not None and created[0] is not loop:
        # A memory queue of a finished loop: its jobs and waiters are gone with it.
        if name in queues and queues.get(name) is created[1]:
            queues.unregister(name)
        del _created[name]
    if name not in queues:
        _created[name] = (loop, queues.register(JobQueue(name, MemoryQueueStorage(),
                                                         limiter=_default_limiter(name))))
    queue = queues.get(name)
    serving = _serving.get(name)
    if serving is not None and (serving.loop is not loop or serving.task.done()
                                or serving.queue is not queue):
        with contextlib.suppress(RuntimeError):  # its loop may be closed already
            serving.worker.stop()
        del _serving[name]
        serving = None
    if serving is None and _enabled:
        worker = Worker(queue, task_type_handler(), concurrency=IN_PROCESS_CONCURRENCY,
                        lease=IN_PROCESS_LEASE, idle_wait=1.0, shutdown_timeout=1.0)
        task = loop.create_task(worker.run(), name=f"taskloom in-process worker {name}")
        _serving[name] = _Serving(loop, queue, worker, task)
    return queue


async def stop_in_process_workers() -> None:
    """Stop this loop's in-process workers (running jobs get a second to end) and forget
    the memory queues created in it."""
    loop = asyncio.get_running_loop()
    mine = [(name, s) for name, s in _serving.items() if s.loop is loop]
    for _name, serving in mine:
        serving.worker.stop()
    for name, serving in mine:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await serving.task
        _serving.pop(name, None)
    for name, (created_in, queue) in list(_created.items()):
        if created_in is loop:
            if name in queues and queues.get(name) is queue:
                queues.unregister(name)
            del _created[name]
