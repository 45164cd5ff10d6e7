"""Child processes for the multi-process queue tests (run as a script, not collected).

    python queue_procs.py ratelimit URL NAME COUNT MAX WINDOW OUT
        take COUNT slots from a shared RateLimiter, one granted time per line in OUT
    python queue_procs.py worker URL QUEUE LEASE EXEC_LOG
        run a worker whose handler appends "job_id delivery" to EXEC_LOG when it starts
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys

from taskloom.queue import JobQueue, RateLimiter, Worker, open_queue_storage


async def rate_limit(url: str, name: str, count: int, max_requests: int, window: float,
                     out: str) -> None:
    storage = await open_queue_storage(url)
    limiter = RateLimiter(max_requests, window, name=name, storage=storage)
    with open(out, "a") as log:
        for _ in range(count):
            await limiter.acquire()
            log.write(f"{limiter.last_granted_at!r}\n")
            log.flush()
    await storage.close()


async def work(url: str, queue_name: str, lease: float, exec_log: str) -> None:
    storage = await open_queue_storage(url)
    fd = os.open(exec_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    async def handler(job, ctx):
        # Written before the work, so an execution cut short by a kill still counts.
        os.write(fd, f"{job.id} {job.deliveries}\n".encode())
        await asyncio.sleep(random.uniform(0.02, 0.08))
        return {"n": job.input["n"], "pid": os.getpid()}

    worker = Worker(JobQueue(queue_name, storage), handler, concurrency=1, lease=lease,
                    heartbeat=lease / 4, shutdown_timeout=2)
    loop = asyncio.get_running_loop()
    import signal

    loop.add_signal_handler(signal.SIGTERM, worker.stop)
    print("ready", flush=True)
    await worker.run()
    await storage.close()


def main(argv: list[str]) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format=f"{os.getpid()} %(levelname)s %(message)s")
    command, *args = argv
    if command == "ratelimit":
        url, name, count, max_requests, window, out = args
        asyncio.run(rate_limit(url, name, int(count), int(max_requests), float(window), out))
    elif command == "worker":
        url, queue_name, lease, exec_log = args
        asyncio.run(work(url, queue_name, float(lease), exec_log))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
