"""OpenAI and Anthropic from the page: the real SDKs in the page's worker, over fetch,
against the local stand-in server (tests/ai/cloud/fake_api.py) on 127.0.0.1.

The offline guard lets the page reach exactly that server's origin besides the
site. Keys are typed into the settings panel, as a person would; the last test
looks for the key everywhere the page writes.
"""

from __future__ import annotations

import json
import time

import pytest
from tests.ai.cloud.fake_api import ANTHROPIC_MESSAGES, OPENAI_CHAT, FakeApi, Reply

from .site import RUN_MS, set_code

pytestmark = pytest.mark.browser

#: The key the fake server accepts (long and unusual: a search for it cannot match by chance).
TEST_KEY = "sk-taskloom-browser-7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d"
WRONG_KEY = "sk-taskloom-browser-revoked-00112233445566778899aabb"
MODELS = {"openai": "openai:gpt-4o-mini:api", "anthropic": "anthropic:claude-haiku-4-5:api"}
PATHS = {"openai": OPENAI_CHAT, "anthropic": ANTHROPIC_MESSAGES}
VENDORS = tuple(MODELS)
#: Upper bound for things the server sees after the page acted (a hang guard only).
SERVER_WAIT_S = 15.0


def generation_code(vendor: str, prompt: str) -> str:
    return f'''
from taskloom import TextGeneration, Workflow

wf = Workflow()
wf.add_task(TextGeneration, id="g", model={MODELS[vendor]!r}, prompt={prompt!r},
            max_new_tokens=64)
'''


def base_urls(api: FakeApi) -> dict[str, str]:
    return {"openai": api.openai_url, "anthropic": api.anthropic_url}


def save_settings(page, keys: dict[str, str], urls: dict[str, str]) -> None:
    """Types keys and base URLs into the panel and waits until the worker has them.
    A vendor without a key in ``keys`` has its saved key forgotten (an empty key field
    keeps the saved key)."""
    shown = page.get_attribute("body", "data-panel")
    page.click("#tab-settings")  # the drawer shows one panel at a time
    for vendor in VENDORS:
        if not keys.get(vendor) and page.get_attribute(
                f"#cloud-{vendor}-key-state", "data-key-set") == "true":
            page.evaluate("delete document.body.dataset.cloudSettings")
            page.click(f"#cloud-{vendor}-forget")
            page.wait_for_selector("body[data-cloud-settings=applied]", state="attached",
                                   timeout=RUN_MS)
    for vendor in VENDORS:
        page.fill(f"#cloud-{vendor}-key", keys.get(vendor, ""))
        page.fill(f"#cloud-{vendor}-base-url", urls.get(vendor, ""))
    page.evaluate("delete document.body.dataset.cloudSettings")
    page.click("#cloud-save")
    page.wait_for_selector("body[data-cloud-settings=applied]", state="attached",
                           timeout=RUN_MS)
    if shown and shown != "settings":
        page.click(f"#tab-{shown}")


def start_run(page, code: str) -> None:
    page.evaluate("delete document.body.dataset.runState")
    set_code(page, code)
    page.click("#run")


def finish_run(page, states=("completed", "failed")) -> dict:
    page.wait_for_selector(", ".join(f"body[data-run-state={state}]" for state in states),
                           state="attached", timeout=RUN_MS)
    return page.evaluate("window.taskloom.lastRun")


def run(page, code: str) -> dict:
    start_run(page, code)
    return finish_run(page)


def wait_for_partial_text(page, expected: str) -> str:
    """The task row's message while the task is still processing: text streamed so far."""
    return page.wait_for_function(
        """(expected) => {
            const row = document.querySelector("tr[data-task-id=g]");
            const message = row?.querySelector(".message")?.textContent;
            return row?.dataset.status === "processing" && message === expected && message;
        }""", arg=expected, timeout=RUN_MS).json_value()


def wait_until(predicate, timeout: float = SERVER_WAIT_S) -> bool:
    give_up = time.monotonic() + timeout
    while not predicate() and time.monotonic() < give_up:
        time.sleep(0.02)
    return bool(predicate())


@pytest.fixture(scope="module")
def api():
    with FakeApi(expected_key=TEST_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def console(_shared_app):
    """Everything the page and its workers print to the console from here on."""
    page, _guard = _shared_app
    lines: list[str] = []
    page.on("console", lambda message: lines.append(message.text))
    return lines


@pytest.fixture(scope="module")
def _configured(_shared_app, api, console):
    page, guard = _shared_app
    guard.allow(api.url)  # the stand-in API, and nothing else
    save_settings(page, {v: TEST_KEY for v in VENDORS}, base_urls(api))
    return page


@pytest.fixture
def cloud_page(_configured, app, api):
    # A stream that a test held is released for good by release(); re-arm the hold.
    api._release.clear()
    return app


SDKS_INSTALLED = '''
import importlib.util
from pydantic import BaseModel
from taskloom import Task, Workflow


class Installed(Task):
    cacheable = False  # asked twice with the same (empty) input; each answer is news

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        names: list[str]

    async def run(self, input, ctx):
        names = ("openai", "anthropic", "httpx2", "jiter")
        return {"names": [n for n in names if importlib.util.find_spec(n) is not None]}


wf = Workflow()
wf.add_task(Installed, id="installed")
'''


def test_the_sdks_are_installed_only_when_a_cloud_model_runs(cloud_page):
    # First in this module: the page has started and has its settings, but no
    # cloud call has run yet, so no SDK wheel has been fetched or installed.
    report = run(cloud_page, SDKS_INSTALLED)
    assert report["ok"], report
    assert report["outputs"]["installed"] == {"names": []}
    assert run(cloud_page, generation_code("openai", "load it"))["ok"]
    report = run(cloud_page, SDKS_INSTALLED)
    assert report["outputs"]["installed"] == {"names": ["openai", "httpx2", "jiter"]}


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_cloud_model_answers_through_the_page(cloud_page, api, vendor):
    report = run(cloud_page, generation_code(vendor, "hello from the page"))
    assert report["ok"], report
    assert report["outputs"]["g"] == {"text": "echo: hello from the page"}
    request = api.requests_to(PATHS[vendor])[-1]
    assert request.body["stream"] is True  # the SDK's SSE stream, read through fetch
    sent_key = request.headers.get("x-api-key") or request.headers["authorization"]
    assert TEST_KEY in sent_key  # the key from the settings panel reached the vendor
    cloud_page.click("#tab-run")  # the raw outputs are written once the Run panel opens
    assert json.loads(cloud_page.inner_text("#outputs"))["g"]["text"] == \
        "echo: hello from the page"


@pytest.mark.parametrize("vendor", VENDORS)
def test_streamed_text_reaches_the_page_before_the_stream_ends(cloud_page, api, vendor):
    api.script(PATHS[vendor], Reply(text="alpha beta gamma delta", hold_after=2))
    start_run(cloud_page, generation_code(vendor, "stream please"))
    # The server holds the stream after two words: the page shows them meanwhile.
    assert wait_for_partial_text(cloud_page, "alpha beta ") == "alpha beta "
    stream = api.streams[-1]
    assert not stream.finished and stream.chunks_sent == 2
    api.release()
    report = finish_run(cloud_page)
    assert report["ok"], report
    assert report["outputs"]["g"] == {"text": "alpha beta gamma delta"}
    assert stream.finished


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_429_waits_for_retry_after_then_succeeds(cloud_page, api, vendor):
    api.script(PATHS[vendor], Reply(429, headers={"Retry-After": "1"}))
    report = run(cloud_page, generation_code(vendor, "patience"))
    assert report["ok"], report
    assert report["outputs"]["g"] == {"text": "echo: patience"}
    refused, accepted = [r for r in api.requests_to(PATHS[vendor])
                         if r.body["messages"][-1]["content"] == "patience"]
    assert accepted.at - refused.at >= 0.99  # the server's own clock: Retry-After was kept


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_500_is_retried_and_then_succeeds(cloud_page, api, vendor):
    api.script(PATHS[vendor], Reply(500, message="the server fell over"))
    report = run(cloud_page, generation_code(vendor, "try again"))
    assert report["ok"], report
    assert report["outputs"]["g"] == {"text": "echo: try again"}
    tries = [r for r in api.requests_to(PATHS[vendor])
             if r.body["messages"][-1]["content"] == "try again"]
    assert len(tries) == 2


@pytest.mark.parametrize("vendor", VENDORS)
def test_a_rejected_key_fails_at_once_with_a_clear_message(cloud_page, api, vendor):
    save_settings(cloud_page, {**{v: TEST_KEY for v in VENDORS}, vendor: WRONG_KEY},
                  base_urls(api))
    try:
        report = run(cloud_page, generation_code(vendor, "let me in"))
    finally:
        save_settings(cloud_page, {v: TEST_KEY for v in VENDORS}, base_urls(api))
    assert not report["ok"]
    tries = [r for r in api.requests_to(PATHS[vendor])
             if r.body["messages"][-1]["content"] == "let me in"]
    assert len(tries) == 1  # permanent: not retried
    shown = cloud_page.inner_text("#error") + cloud_page.inner_text("#run-status") \
        + cloud_page.inner_text("#tasks")
    assert "HTTP 401" in shown and "API key in the page's cloud settings" in shown
    # The server's 401 body quotes the key it got; the page must not repeat it.
    assert WRONG_KEY not in shown and WRONG_KEY not in json.dumps(report)


def test_a_vendor_without_a_key_fails_with_a_pointer_to_the_settings(cloud_page, api):
    before = len(api.requests_to(OPENAI_CHAT))
    save_settings(cloud_page, {"anthropic": TEST_KEY}, {"anthropic": api.anthropic_url})
    try:
        report = run(cloud_page, generation_code("openai", "no key here"))
    finally:
        save_settings(cloud_page, {v: TEST_KEY for v in VENDORS}, base_urls(api))
    assert not report["ok"]
    assert "no OpenAI API key: enter one in the page's cloud settings" in report["error"]
    assert len(api.requests_to(OPENAI_CHAT)) == before  # refused before any request


@pytest.mark.parametrize("vendor", VENDORS)
def test_abort_ends_the_stream_mid_way(cloud_page, api, vendor):
    api.script(PATHS[vendor], Reply(text="one two three four", hold_after=1))
    start_run(cloud_page, generation_code(vendor, "never mind"))
    wait_for_partial_text(cloud_page, "one ")
    stream = api.streams[-1]
    cloud_page.click("#abort")
    report = finish_run(cloud_page, states=("aborted",))
    assert not report["ok"]
    assert cloud_page.get_attribute("tr[data-task-id=g]", "data-status") == "aborted"
    # The browser hung up: the server saw the connection close after the first word.
    assert wait_until(lambda: stream.client_closed)
    assert stream.chunks_sent == 1 and not stream.finished


LEAK_CHECK = '''
import json
from pydantic import BaseModel
from taskloom import Task, TextGeneration, Workflow

cloud = Workflow()
cloud.add_task(TextGeneration, id="g", model={model!r}, prompt="leak check")


class Snapshot(Task):
    """Runs the cloud graph and shows its JSON."""

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        graph_json: str
        text: str

    async def run(self, input, ctx):
        result = await cloud.run()
        return {{"graph_json": json.dumps(cloud.to_json()), "text": result["g"]["text"]}}


wf = Workflow()
wf.add_task(Snapshot, id="snapshot")
'''

DUMP_INDEXEDDB = """async () => {
    const dump = {};
    const request = (r) => new Promise((ok, fail) => {
        r.onsuccess = () => ok(r.result); r.onerror = () => fail(r.error); });
    for (const { name } of await indexedDB.databases()) {
        const db = await request(indexedDB.open(name));
        dump[name] = {};
        for (const store of db.objectStoreNames) {
            const tx = db.transaction(store, "readonly");
            const [keys, values] = await Promise.all([
                request(tx.objectStore(store).getAllKeys()),
                request(tx.objectStore(store).getAll())]);
            dump[name][store] = { keys, values };
        }
        db.close();
    }
    return JSON.stringify(dump, (_k, v) =>
        v instanceof ArrayBuffer || ArrayBuffer.isView(v)
            ? new TextDecoder().decode(v) : v);
}"""


def test_the_key_appears_nowhere_the_page_writes(cloud_page, api, console):
    page = cloud_page
    page.fill("#graph-name", "leak-check")
    code = LEAK_CHECK.format(model=MODELS["anthropic"])
    set_code(page, code)
    page.click("#save")
    page.wait_for_selector("#graphs li[data-name=leak-check]", state="attached",
                           timeout=RUN_MS)
    report = run(page, code)
    assert report["ok"], report
    snapshot = report["outputs"]["snapshot"]
    assert snapshot["text"] == "echo: leak check"
    graph_json = snapshot["graph_json"]
    assert MODELS["anthropic"] in graph_json  # the graph names its model …
    assert TEST_KEY not in graph_json  # … and never a key
    # Everything the page shows or keeps about runs: text, events, reports.
    shown = page.inner_text("body") + page.content() + json.dumps(report) \
        + json.dumps(page.evaluate("window.taskloom.events"))
    assert "echo: leak check" in shown and TEST_KEY not in shown
    printed = "\n".join(console)
    assert TEST_KEY not in printed and WRONG_KEY not in printed
    stored = page.evaluate(DUMP_INDEXEDDB)
    assert "leak-check" in stored  # the saved graph is in there: the dump reads real data
    assert TEST_KEY not in stored
    # The key itself lives where the panel put it, and only there.
    assert TEST_KEY in page.evaluate("localStorage.getItem('taskloom-cloud-settings')")
    page.click("#graphs li[data-name=leak-check] .delete")
