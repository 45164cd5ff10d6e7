"""The JavaScript task in the page: QuickJS in the engine's worker (web/quickjs.js).

Under CPython ``taskloom.tasks.javascript.run_javascript`` runs the code in
PyPI's quickjs-ng; in the page it runs here, in npm's quickjs-emscripten
with its quickjs-ng wasm variant (pinned in build/browser.toml). web/quickjs.js
does what the CPython binding does (a fresh context, the memory limit, the
deadline, the ports as globals parsed from JSON) and answers a JSON
description of the value or of what was thrown; :func:`result_of` turns that
into the result or the error the CPython side gives, with the same wording
(``_javascript_error``), so a graph's JavaScript agrees in both runtimes.

Browser-only at run time: ``pyodide`` is imported inside functions.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urljoin

from ..errors import JavaScriptError, TaskOutputError
from ..tasks import javascript
from ..tasks.javascript import _javascript_error
from .transformers_provider import site_url

HELPER = "quickjs.js"
#: Where the build puts the pinned npm files (build/browser.toml, dest "quickjs/…").
FILES = {
    "core": "quickjs/core/index.js",
    "ffiTypes": "quickjs/ffi-types/index.js",
    "ffi": "quickjs/ng/ffi.mjs",
    "loader": "quickjs/ng/emscripten-module.browser.mjs",
}

_helper: Any = None


async def _quickjs() -> Any:
    global _helper
    if _helper is None:
        from pyodide.code import run_js

        _helper = await run_js(f"import({json.dumps(urljoin(site_url(), HELPER))})")
    return _helper


async def run_javascript_in_page(code: str, variables: dict[str, str], time_limit: float,
                                 memory_limit: int) -> Any:
    """What ``run_javascript`` answers under CPython, from QuickJS in the worker."""
    from js import Object  # type: ignore[import-not-found]
    from pyodide.ffi import JsException, to_js

    helper = await _quickjs()
    urls = to_js({name: urljoin(site_url(), path) for name, path in FILES.items()},
                 dict_converter=Object.fromEntries)
    try:
        answer = await helper.evaluate(urls, code, json.dumps(variables), time_limit,
                                       memory_limit)
    except JsException as error:  # the sandbox itself failed (not the user's code)
        raise JavaScriptError(f"QuickJS could not run in the page: {error}") from None
    return result_of(json.loads(answer), time_limit, memory_limit)


def result_of(answer: dict[str, Any], time_limit: float, memory_limit: int) -> Any:
    """The task's result from web/quickjs.js's answer, or the error CPython would raise."""
    if answer.get("ok"):
        described = answer["result"]
        kind = described["kind"]
        if kind == "json":
            return None if described["text"] is None else json.loads(described["text"])
        if kind == "nan":
            raise TaskOutputError("the JavaScript result is NaN, which JSON cannot hold")
        if kind == "inf":
            return float("-inf") if described["negative"] else float("inf")
        if kind in ("bigint", "symbol"):
            raise TaskOutputError(f"the JavaScript result is a {kind}, which JSON cannot hold")
        return described["value"]
    if answer.get("unsettled"):
        raise JavaScriptError("the JavaScript code ended with a Promise that never settled")
    if "rejected" in answer:
        raise JavaScriptError(f"the JavaScript Promise rejected: {answer['rejected']}")
    raise _javascript_error(answer["error"], time_limit, memory_limit)


def install() -> None:
    """Makes the JavaScript task run on QuickJS in the worker (the BrowserEngine calls this)."""
    javascript.use_page_runner(run_javascript_in_page)
