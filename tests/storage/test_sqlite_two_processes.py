"""Two processes writing one SQLite file at once do not corrupt it."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys

from taskloom.storage import open_store

WRITER = """
import asyncio, pathlib, sys, time
from taskloom.storage import open_store

async def main(url, name, count, gate):
    async with open_store(url) as store:
        # Both writers start writing at the same moment, so that they do collide.
        pathlib.Path(gate, f"ready-{name}").touch()
        while not pathlib.Path(gate, "go").exists():
            time.sleep(0.001)
        for i in range(count):
            await store.outputs.put_output(f"{name}:{i}", {"writer": name, "i": i})
            if i % 10 == 0:  # multi-row transactions too
                await store.backend.put_many(
                    "batches", {f"{name}:{i}:{j}": {"j": j} for j in range(5)}
                )
            await store.backend.put("shared", "last", {"writer": name, "i": i})

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]))
"""


async def test_two_writer_processes_leave_a_whole_consistent_file(tmp_path):
    path = tmp_path / "shared.db"
    url = f"sqlite:///{path}"
    count = 300
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, name, str(count), str(tmp_path)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    while not all((tmp_path / f"ready-{name}").exists() for name in ("left", "right")):
        for writer in writers:
            if writer.poll() is not None:
                raise AssertionError("a writer died before starting: "
                                     f"{writer.communicate()[1]}")
        await asyncio.sleep(0.01)
    (tmp_path / "go").touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=300)
        assert writer.returncode == 0, stderr

    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    async with open_store(url) as store:
        assert await store.outputs.count() == 2 * count
        for name in ("left", "right"):
            for i in range(count):
                assert await store.outputs.get_output(f"{name}:{i}") == {"writer": name, "i": i}
        assert await store.backend.count("batches") == 2 * (count // 10) * 5
        assert (await store.backend.get("shared", "last"))["i"] == count - 1
