"""Code-box graphs the browser journeys share: a slow run that reports its progress, a task
that holds the worker's thread without awaiting, and a graph that reports what the code
around it found."""

from __future__ import annotations

_SLOW = '''
import asyncio
from pydantic import BaseModel
from taskloom import Task, Workflow


class First(Task):
    class Input(BaseModel):
        n: int = FIRST

    class Output(BaseModel):
        value: int

    async def run(self, input, ctx):
        return {"value": input.n}


class Slow(Task):
    class Input(BaseModel):
        value: int
        steps: int = STEPS

    class Output(BaseModel):
        total: int

    async def run(self, input, ctx):
        for i in range(1, input.steps + 1):
            await asyncio.sleep(0.05)
            ctx.progress(i / input.steps, f"step {i}")
        return {"total": input.value + input.steps}


wf = Workflow()
wf.add_task(First, id="first")
wf.add_task(Slow, id="slow")
'''

_SPIN = '''
import time
from pydantic import BaseModel
from taskloom import Task, Workflow


class Spin(Task):
    class Input(BaseModel):
        seconds: float = SECONDS

    class Output(BaseModel):
        loops: int

    async def run(self, input, ctx):
        loops, end = 0, time.monotonic() + input.seconds
        while time.monotonic() < end:
            loops += 1
        return {"loops": loops}


wf = Workflow()
wf.add_task(Spin, id="spin")
'''

_REPORT = '''

class Report(Task):
    class Input(BaseModel):
        checks: dict

    class Output(BaseModel):
        checks: dict

    async def run(self, input, ctx):
        return {"checks": input.checks}


wf = Workflow()
wf.add_task(Report, id="report", checks=checks)
'''


def slow_graph(steps: int, *, first: int = 5) -> str:
    """Task "first" (its value is ``first``), then "slow": ``steps`` steps of 50 ms, each
    reported as progress, whose total is ``first + steps``."""
    return _SLOW.replace("FIRST", str(first)).replace("STEPS", str(steps))


def spin_graph(seconds: float) -> str:
    """Task "spin" holds the worker's Python for ``seconds`` without awaiting once."""
    return _SPIN.replace("SECONDS", repr(float(seconds)))


def report_graph(code: str) -> str:
    """``code`` (top-level await allowed), then a task "report" whose output ``checks`` is
    the dict that code left in ``checks``."""
    return "from pydantic import BaseModel\nfrom taskloom import Task, Workflow\n" + code + _REPORT
