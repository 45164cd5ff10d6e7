"""The one engine protocol: BrowserEngine.call dispatches to @endpoint methods, and the
page's client (web/engine-client.js) names exactly those methods."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from taskloom.browser.engine import BrowserEngine

CLIENT = Path(__file__).resolve().parents[2] / "web" / "engine-client.js"


def client_methods() -> list[str]:
    listed = re.search(r"ENGINE_METHODS = Object\.freeze\(\[(.*?)\]\)", CLIENT.read_text(), re.S)
    assert listed, "web/engine-client.js lost its ENGINE_METHODS list"
    return sorted(re.findall(r'"([a-z_]+)"', listed.group(1)))


def test_the_client_names_exactly_the_engines_endpoints():
    assert client_methods() == BrowserEngine.endpoints()


def test_every_client_method_reaches_the_engine_through_request():
    source = CLIENT.read_text()
    for method in client_methods():
        assert re.search(rf'(request|#ok)\("{method}"', source), f"no typed method sends {method}"


@pytest.fixture
def engine() -> BrowserEngine:
    return BrowserEngine(emit=lambda _event: None, timeline=(1.0, 2.0))


async def test_call_dispatches_with_json_arguments(engine):
    info = json.loads(await engine.call("engine_info", "[]"))
    assert info["timeline"] == [1.0, 2.0] and info["taskloom"]
    answer = json.loads(await engine.call("from_code", json.dumps(
        ["from taskloom import Workflow\nwf = Workflow()\nwf.debug_log(id='a')\n"])))
    assert answer["ok"] and answer["graph"]["tasks"][0]["id"] == "a"


async def test_call_refuses_what_is_not_an_endpoint(engine):
    for method in ("_forward", "on_interrupt", "call", "endpoints", "nope"):
        answer = json.loads(await engine.call(method, "[]"))
        assert answer == {"ok": False, "error": f"the engine has no method {method!r}"}


async def test_call_refuses_arguments_that_are_not_a_json_array(engine):
    bad = json.loads(await engine.call("from_code", "{not json"))
    assert not bad["ok"] and "not JSON" in bad["error"]
    not_array = json.loads(await engine.call("from_code", '{"code": "x"}'))
    assert not_array == {"ok": False, "error": "arguments of from_code must be a JSON array"}
