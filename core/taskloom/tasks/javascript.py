"""JavaScript: run user code in a QuickJS sandbox, with a time and a memory limit.

    JavaScript  code, input (+ any other port, time_limit, memory_limit)  → result

The code is a script; its result is the value of its last expression (as
``eval`` gives it), or what the Promise it ends with resolves to. ``input``
and every other input port become global variables before it runs, so
``text.toUpperCase()`` reads a port named ``text``, and ``input.a`` a key of
``input``. Values cross as JSON both ways. The sandbox has no file, network
or host access: it is QuickJS (PyPI ``quickjs-ng`` here, the same engine as
npm's ``quickjs-emscripten`` in the page), a fresh context per call.

A graph loaded from elsewhere that holds code (this task or a Lambda) runs
only when allowed: ``code_tasks`` lists them, and the CLI asks for
``--allow-code``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import (
    JavaScriptError,
    JavaScriptMemoryError,
    JavaScriptTimeoutError,
    ModelDependencyError,
    TaskInputError,
    TaskOutputError,
)
from ..task import Task, TaskContext

#: Task types whose config is code that a graph from elsewhere should not run unasked.
CODE_TYPES = frozenset({"JavaScript", "Lambda"})

_IDENTIFIER = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*$")

#: How JavaScript runs where threads do not exist (the page): the browser layer installs
#: QuickJS in the engine's worker here (taskloom.browser.quickjs_provider.install); the core
#: never imports the browser layer.
_page_runner: Any = None


def use_page_runner(runner: Any) -> None:
    """Installs ``await runner(code, variables_json, time_limit, memory_limit)`` for the page."""
    global _page_runner
    _page_runner = runner
# Words a port may not be named: JavaScript's reserved words and the globals code relies on.
_RESERVED = frozenset({
    "break", "case", "catch", "class", "const", "continue", "debugger", "default", "delete",
    "do", "else", "enum", "export", "extends", "false", "finally", "for", "function", "if",
    "implements", "import", "in", "instanceof", "interface", "let", "new", "null", "package",
    "private", "protected", "public", "return", "static", "super", "switch", "this", "throw",
    "true", "try", "typeof", "var", "void", "while", "with", "yield", "await", "arguments",
    "eval", "undefined", "NaN", "Infinity", "globalThis", "JSON", "Math", "Object", "Array",
    "String", "Number", "Boolean", "Promise",
})
_RESULT = "__taskloom_result"


class JavaScript(Task):
    """Runs JavaScript in a sandbox; its input ports are variables, its last value the result."""

    category = "utility"

    class Input(BaseModel):
        # Open: every extra port becomes a variable of that name.
        model_config = ConfigDict(extra="allow")
        code: str
        input: Any = None
        time_limit: float = Field(1.0, gt=0, le=600, description="seconds")
        memory_limit: int = Field(64 * 1024 * 1024, ge=1024 * 1024, le=16 * 1024 ** 3,
                                  description="bytes")

    class Output(BaseModel):
        result: Any = None

    async def run(self, input: Any, ctx: TaskContext) -> dict[str, Any]:
        variables = {"input": input.input, **(input.model_extra or {})}
        for name in variables:
            if not _IDENTIFIER.match(name) or name in _RESERVED:
                raise TaskInputError(
                    f"the port {name!r} cannot be a JavaScript variable; name it like an "
                    "identifier (letters, digits, _ and $), or pass it inside 'input'")
        try:
            payload = {name: json.dumps(value, allow_nan=False)
                       for name, value in variables.items()}
        except (TypeError, ValueError) as exc:
            raise TaskInputError(f"the JavaScript input is not JSON: {exc}") from exc
        if sys.platform == "emscripten":  # the page: quickjs-emscripten in the worker
            if _page_runner is None:
                raise JavaScriptError("JavaScript needs the page's QuickJS, which this engine "
                                      "did not install (taskloom.browser.quickjs_provider)")
            result = await _page_runner(input.code, payload, input.time_limit,
                                        input.memory_limit)
        else:
            # QuickJS blocks while it runs; its own time limit ends the thread's work.
            result = await asyncio.to_thread(run_javascript, input.code, payload,
                                             input.time_limit, input.memory_limit)
        return {"result": result}


def run_javascript(code: str, variables: dict[str, str], time_limit: float,
                   memory_limit: int) -> Any:
    """Evaluate ``code`` in a fresh QuickJS context with ``variables`` (name → JSON text) set;
    its final value, through JSON."""
    try:
        import quickjs
    except ImportError as exc:
        raise ModelDependencyError("the JavaScript task needs QuickJS: "
                                   "pip install 'taskloom[javascript]'") from exc
    context = quickjs.Context()
    context.set_memory_limit(memory_limit)
    context.set_time_limit(time_limit)
    try:
        for name, text in variables.items():
            context.set(name, context.parse_json(text))
        value = context.eval(code)
        if isinstance(value, quickjs.Object) and context.eval("x => x instanceof Promise")(value):
            value = _settle(context, value)
        if isinstance(value, quickjs.Object):
            text = value.json()
            return None if text is None else json.loads(text)
        if isinstance(value, float) and value != value:  # NaN is not JSON
            raise TaskOutputError("the JavaScript result is NaN, which JSON cannot hold")
        return value
    except quickjs.JSException as exc:
        raise _javascript_error(str(exc), time_limit, memory_limit) from None


def _settle(context: Any, promise: Any) -> Any:
    """Run the jobs a Promise waits on, then its value (or raise what it rejected with)."""
    context.set("__taskloom_promise", promise)
    context.eval(f"__taskloom_promise.then(v => {{ globalThis.{_RESULT} = {{ok: true, v}}; }},"
                 f" e => {{ globalThis.{_RESULT} = {{ok: false, e: e && e.stack"
                 " ? String(e) + '\\n' + e.stack : String(e)}; })")
    while context.execute_pending_job():
        pass
    outcome = context.eval(f"globalThis.{_RESULT}")
    if outcome is None:
        raise JavaScriptError("the JavaScript code ended with a Promise that never settled")
    if not context.eval(f"globalThis.{_RESULT}.ok"):
        raise JavaScriptError(f"the JavaScript Promise rejected: "
                              f"{context.eval(f'globalThis.{_RESULT}.e')}")
    return context.eval(f"globalThis.{_RESULT}.v")


def _javascript_error(message: str, time_limit: float, memory_limit: int) -> JavaScriptError:
    first = message.strip().splitlines()[0] if message.strip() else "error"
    if first.startswith("InternalError: interrupted"):
        return JavaScriptTimeoutError(
            f"the JavaScript code ran past its time limit ({time_limit:g} s); end the loop, "
            "or raise time_limit")
    if "out of memory" in first:
        return JavaScriptMemoryError(
            f"the JavaScript code went over its memory limit ({memory_limit:,} bytes); "
            "keep less in memory, or raise memory_limit")
    return JavaScriptError(f"the JavaScript code threw {message.strip()}")


def code_tasks(graph: Any) -> list[str]:
    """Ids of the tasks in ``graph`` (and its subgraphs) that run code given in the graph."""
    found, stack = [], [graph]
    while stack:
        current = stack.pop()
        for task in current.tasks:
            if task.type in CODE_TYPES:
                found.append(task.id)
            subgraph = getattr(task, "subgraph", None)
            if subgraph is not None:
                stack.append(subgraph)
    return sorted(found)
