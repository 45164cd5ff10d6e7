"""A run killed while its JobQueueTask waits on a durable queue: resume re-attaches."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap

from taskloom import TaskGraphRunner, open_store
from taskloom.queue import (
    JobQueue,
    JobStatus,
    Worker,
    open_queue_storage,
    queues,
    task_type_handler,
)

MODULE = '''
import os
from pathlib import Path
from pydantic import BaseModel
from taskloom.queue import JobQueueTask

class ResumeCube(JobQueueTask):
    queue_name = "cubes"
    class Input(BaseModel):
        x: int
    class Output(BaseModel):
        y: int
    async def execute(self, input, ctx):
        with Path(os.environ["LEDGER"]).open("a") as f:
            f.write(f"{input.x}\\n")
        return {"y": input.x ** 3}
'''

PRODUCER = '''
import asyncio, sys
import resume_tasks
from taskloom import TaskGraph, TaskGraphRunner, open_store
from taskloom.queue import JobQueue, open_queue_storage, queues

async def main(store_url, queue_url):
    queues.register(JobQueue("cubes", await open_queue_storage(queue_url)))
    graph = TaskGraph([resume_tasks.ResumeCube("cube", {"x": 3})])
    async with open_store(store_url) as store:
        runner = TaskGraphRunner(graph, store=store, run_id="killed-run")
        await runner.run()  # no worker serves "cubes": this waits until killed

asyncio.run(main(sys.argv[1], sys.argv[2]))
'''


async def test_resume_reattaches_to_the_job_of_a_killed_run(tmp_path):
    (tmp_path / "resume_tasks.py").write_text(MODULE)
    (tmp_path / "producer.py").write_text(textwrap.dedent(PRODUCER))
    ledger = tmp_path / "ledger.txt"
    store_url = f"sqlite:///{tmp_path}/runs.db"
    queue_url = f"sqlite:///{tmp_path}/queue.db"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "LEDGER": str(ledger)}
    producer = subprocess.Popen([sys.executable, str(tmp_path / "producer.py"), store_url,
                                 queue_url], env=env)
    storage = await open_queue_storage(queue_url)
    queue = queues.register(JobQueue("cubes", storage))
    try:
        for _ in range(600):  # the job appears in the queue, and in the run record
            assert producer.poll() is None, "the producer died"
            jobs = await queue.list()
            if jobs:
                async with open_store(store_url) as store:
                    record = await store.runs.get("killed-run")
                if record.tasks["cube"].job_id:
                    break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the producer never enqueued its job")
        os.kill(producer.pid, signal.SIGKILL)
        producer.wait(10)
        [job] = jobs
        assert job.status is JobStatus.PENDING
        assert record.tasks["cube"].job_id == f"cubes/{job.id}"

        sys.path.insert(0, str(tmp_path))
        os.environ["LEDGER"] = str(ledger)
        import resume_tasks  # noqa: F401  (registers ResumeCube in this process)

        worker = Worker(queue, task_type_handler(), lease=5)
        serving = asyncio.create_task(worker.run())
        try:
            async with open_store(store_url) as store:
                result = await asyncio.wait_for(
                    TaskGraphRunner.resume("killed-run", store=store), 30)
                assert (await store.runs.get("killed-run")).status == "completed"
        finally:
            worker.stop()
            await serving
        assert result.outputs["cube"] == {"y": 27}
        assert (await queue.stats())["total"] == 1      # re-attached, not enqueued again
        assert ledger.read_text().split() == ["3"]      # the body ran once
    finally:
        if producer.poll() is None:
            producer.kill()
        queues.unregister("cubes")
        await storage.close()
        sys.path[:] = [p for p in sys.path if p != str(tmp_path)]
