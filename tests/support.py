"""Task types shared by the core tests. Type names start with ``T`` to stay apart."""

from __future__ import annotations

import asyncio
from typing import Annotated

from pydantic import BaseModel, Field

from taskloom import Format, Task


class TAdd(Task):
    """Adds b to a."""

    class Input(BaseModel):
        a: int
        b: int = 0

    class Output(BaseModel):
        a: int

    async def run(self, input, ctx):
        return {"a": input.a + input.b}


class TEcho(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return self.Output(text=input.text)

    async def run_reactive(self, input, ctx):
        return {"text": f"preview:{input.text}"}


class TUpper(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": input.text.upper()}


class TJoin(Task):
    """Fan-in: joins every text it receives."""

    class Input(BaseModel):
        texts: list[str]
        sep: str = " "

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": input.sep.join(input.texts)}


class TCount(Task):
    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        length: int

    async def run(self, input, ctx):
        return {"length": len(input.text)}


class TFail(Task):
    cacheable = False

    class Input(BaseModel):
        text: str = "boom"

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        raise RuntimeError(input.text)


class TSleep(Task):
    """Sleeps in small steps, reporting progress (TGate is for waiting on an event)."""

    cacheable = False

    class Input(BaseModel):
        seconds: float = 0.05
        text: str = ""

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        steps = 10
        for i in range(steps):
            await asyncio.sleep(input.seconds / steps)
            ctx.progress((i + 1) / steps, f"step {i + 1}")
        return {"text": input.text}


class Gates:
    """What happened to each TGate run, by task id: tests wait on these, never on a clock."""

    def __init__(self) -> None:
        self._started: dict[str, asyncio.Event] = {}
        self._open: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []
        self.finished: list[str] = []

    def started(self, task_id: str) -> asyncio.Event:
        return self._started.setdefault(task_id, asyncio.Event())

    def gate(self, task_id: str) -> asyncio.Event:
        return self._open.setdefault(task_id, asyncio.Event())

    def open(self, *task_ids: str) -> None:
        for task_id in task_ids:
            self.gate(task_id).set()

    async def wait_started(self, *task_ids: str) -> None:
        for task_id in task_ids:
            await self.started(task_id).wait()


class TGate(Task):
    """Runs until the test opens its gate (``TGate.gates.open(task_id)``).

    Records its start, its cancellation or its finish in ``TGate.gates``,
    which the ``gates`` fixture makes fresh for each test.
    """

    cacheable = False
    gates = Gates()

    class Input(BaseModel):
        text: str = ""

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        gates = TGate.gates
        gates.started(ctx.task_id).set()
        try:
            await gates.gate(ctx.task_id).wait()
        except asyncio.CancelledError:
            gates.cancelled.append(ctx.task_id)
            raise
        gates.finished.append(ctx.task_id)
        return {"text": input.text}


class TCalls(Task):
    """Counts its executions per input text (class-level ledger)."""

    calls: dict[str, int] = {}

    class Input(BaseModel):
        text: str

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        TCalls.calls[input.text] = TCalls.calls.get(input.text, 0) + 1
        return {"text": input.text + "!"}


class TLoadModel(Task):
    class Input(BaseModel):
        name: str = "mini"

    class Output(BaseModel):
        loaded: Annotated[str, Format("model")]

    async def run(self, input, ctx):
        return {"loaded": f"model:{input.name}"}


class TEmbed(Task):
    class Input(BaseModel):
        model: Annotated[str, Format("model")]
        text: str

    class Output(BaseModel):
        vector: list[float] = Field(json_schema_extra={"format": "vector"})

    async def run(self, input, ctx):
        return {"vector": [float(len(input.text)), float(len(input.model))]}


class TNorm(Task):
    class Input(BaseModel):
        values: list[float] = Field(json_schema_extra={"format": "vector"})

    class Output(BaseModel):
        norm: float

    async def run(self, input, ctx):
        return {"norm": sum(v * v for v in input.values) ** 0.5}


class TTwoTexts(Task):
    """Has two string outputs: an ambiguity for a same-format consumer."""

    class Input(BaseModel):
        seed: str = "x"

    class Output(BaseModel):
        first: Annotated[str, Format("model")]
        second: Annotated[str, Format("model")]

    async def run(self, input, ctx):
        return {"first": input.seed, "second": input.seed * 2}


class TBadOutput(Task):
    class Input(BaseModel):
        pass

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        return {"n": "not a number"}


async def run_watched(task, root, seen):
    """Runs ``task`` alone under the file root ``root``, noting its completion in ``seen``."""
    from taskloom import TaskGraph, TaskGraphRunner

    runner = TaskGraphRunner(TaskGraph([task]), services={"file_root": str(root)})
    runner.events.subscribe(lambda e: seen.append(("complete", e.to_dict()["task_id"]))
                            if e.to_dict()["kind"] == "task_complete" else None)
    return (await runner.run())[task.id]
