"""Losing the Postgres connection surfaces as StoreUnavailableError, and the
store works again, with nothing lost, once the server is reachable.

The server is shared, so the outage is made by a TCP proxy between the store
and Postgres that the test can freeze, cut and restore.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

import pytest
from pydantic import BaseModel

from taskloom import Task, TaskGraph, TaskGraphRunner
from taskloom.errors import StoreUnavailableError
from taskloom.storage import open_store
from taskloom.storage.postgres import PostgresStore
from taskloom.storage.store import Store

pytestmark = pytest.mark.postgres

GRAPH = {"tasks": [{"id": "a"}, {"id": "b"}, {"id": "c"}]}
BODY_RUNS: list[str] = []


class LossStep(Task):
    type = "StorageLossStep"
    cacheable = False

    class Input(BaseModel):
        x: int = 0

    class Output(BaseModel):
        x: int

    async def run(self, input, ctx):
        BODY_RUNS.append(ctx.task_id)
        await asyncio.sleep(0.02)
        return {"x": input.x + 1}


def chain(length: int) -> TaskGraph:
    graph = TaskGraph()
    for i in range(length):
        graph.add_task(LossStep(id=f"t{i:02}"))
        if i:
            graph.connect(f"t{i - 1:02}", "x", f"t{i:02}", "x")
    return graph


class CuttableProxy:
    """Forwards TCP to Postgres until cut; can hold back the server's replies."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._sockets: list[asyncio.StreamWriter] = []
        self._replies_flow = asyncio.Event()
        self._replies_flow.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self) -> None:
        """Hold back every reply from the server (a query in flight hangs)."""
        self._replies_flow.clear()

    async def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        self._server.close()
        await self._server.wait_closed()
        for writer in self._sockets:
            writer.transport.abort()
        self._sockets.clear()
        self._replies_flow.set()

    async def _handle(self, client_reader, client_writer) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        self._sockets += [client_writer, server_writer]
        await asyncio.gather(
            self._pump(client_reader, server_writer, gated=False),
            self._pump(server_reader, client_writer, gated=True),
        )

    async def _pump(self, reader, writer, *, gated: bool) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                if gated:
                    await self._replies_flow.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def proxy(postgres_url):
    parts = urlsplit(postgres_url)
    proxy = CuttableProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    yield proxy
    with contextlib.suppress(Exception):
        await proxy.cut()


def through(proxy: CuttableProxy, url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))


async def eventually(operation, deadline: float = 120.0):
    """Retry ``operation`` while the store is unavailable (the pool reconnects with backoff)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + deadline
    while True:
        try:
            return await operation()
        except StoreUnavailableError:
            if loop.time() > give_up:
                raise
            await asyncio.sleep(0.2)


async def test_a_connection_lost_mid_write_raises_and_the_run_continues_once_back(
    proxy, postgres_url
):
    url = through(proxy, postgres_url)
    store = Store(url, PostgresStore(url, timeout=2.0))
    try:
        await store.runs.create(GRAPH, run_id="r1", task_ids=["a", "b", "c"])
        await store.runs.update_task("r1", "a", status="completed", output={"y": 1})

        proxy.freeze()
        in_flight = asyncio.create_task(
            store.runs.update_task("r1", "b", status="completed", output={"y": 2})
        )
        await asyncio.sleep(0.3)  # let the write reach the server; its reply is held
        await proxy.cut()
        with pytest.raises(StoreUnavailableError, match="unavailable"):
            await in_flight
        with pytest.raises(StoreUnavailableError):  # still down: fails, does not hang
            await store.runs.get("r1")

        await proxy.start()  # the server is back
        await eventually(
            lambda: store.runs.update_task("r1", "b", status="completed", output={"y": 2})
        )
        await store.runs.update_task("r1", "c", status="completed", output={"y": 3})
        record = await store.runs.get("r1")
        assert record.completed_outputs() == {"a": {"y": 1}, "b": {"y": 2}, "c": {"y": 3}}
    finally:
        await store.close()


async def test_a_run_that_loses_its_store_fails_with_it_and_resumes_once_it_is_back(
    proxy, postgres_url
):
    url = through(proxy, postgres_url)
    store = Store(url, PostgresStore(url, timeout=2.0))
    BODY_RUNS.clear()
    try:
        run = asyncio.create_task(TaskGraphRunner(chain(20), store=store, run_id="r1").run())
        while len(BODY_RUNS) < 5:
            assert not run.done(), run
            await asyncio.sleep(0.005)
        await proxy.cut()
        with pytest.raises(StoreUnavailableError):
            await run

        await proxy.start()
        interrupted = await eventually(lambda: store.runs.get("r1"))
        completed = {tid for tid, t in interrupted.tasks.items() if t.status == "completed"}
        assert 0 < len(completed) < 20
        result = await eventually(lambda: TaskGraphRunner.resume("r1", store=store))
        assert result.ok and result.outputs["t19"] == {"x": 20}
        assert (await store.runs.get("r1")).status == "completed"
        assert all(BODY_RUNS.count(tid) == 1 for tid in completed)
        assert set(BODY_RUNS) == {f"t{i:02}" for i in range(20)}
    finally:
        await store.close()


async def test_an_unreachable_server_fails_fast_with_store_unavailable():
    store = open_store("postgresql://postgres@127.0.0.1:1/postgres")
    with pytest.raises(StoreUnavailableError, match=r"127\.0\.0\.1:1"):
        await store.open()
    await store.close()
