"""The filesystem store writes by rename: a reader never sees half a record."""

from __future__ import annotations

import subprocess
import sys

from taskloom.storage import open_store

REWRITER = """
import asyncio, sys
from taskloom.storage import open_store

async def main(url, rounds):
    async with open_store(url) as store:
        for i in range(rounds):
            # Large enough that a plain rewrite would be seen half-written.
            await store.outputs.put_output("big", {"round": i, "blob": str(i % 10) * 400_000})

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_a_reader_sees_whole_records_while_another_process_rewrites_them(tmp_path):
    url = (tmp_path / "store").as_uri()
    async with open_store(url) as store:
        await store.outputs.put_output("big", {"round": -1, "blob": ""})
        writer = subprocess.Popen(
            [sys.executable, "-c", REWRITER, url, "150"], stderr=subprocess.PIPE, text=True
        )
        reads = 0
        while writer.poll() is None:
            output = await store.outputs.get_output("big")  # raises if torn
            round_ = output["round"]
            assert output["blob"] == ("" if round_ < 0 else str(round_ % 10) * 400_000)
            reads += 1
        assert writer.returncode == 0, writer.stderr.read()
        assert (await store.outputs.get_output("big"))["round"] == 149
        assert await store.outputs.count() == 1  # no temporary file left behind
    assert reads > 0
