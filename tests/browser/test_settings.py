"""The Settings panel in the page: a saved key is masked and never written back into a
field, reaches the engine (and survives a reload), and each cloud provider's limits are
applied to the page's own queues."""

from __future__ import annotations

import json

import pytest

from .conftest import open_app
from .site import RUN_MS

pytestmark = pytest.mark.browser

KEY = "sk-settings-panel-5f4e3d2c1b0a99887766wxyz"
#: A task that reads the page's own ai:openai queue: what its limiter now allows.
QUEUE_LIMITS = '''
from pydantic import BaseModel
from taskloom import Task, Workflow
from taskloom.queue import queues


class OpenAIQueue(Task):
    cacheable = False

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        max_concurrent: int
        requests_per_minute: int

    async def run(self, input, ctx):
        concurrency, rate = queues.get("ai:openai").limiter.limiters
        return {"max_concurrent": concurrency.max_concurrent,
                "requests_per_minute": rate.max_requests}


wf = Workflow()
wf.add_task(OpenAIQueue, id="limits")
'''


def every_field_value(page) -> str:
    return page.evaluate("""() => JSON.stringify([...document.querySelectorAll(
        "input, textarea")].map((field) => field.value))""")


def save_keys(page) -> None:
    page.evaluate("delete document.body.dataset.cloudSettings")
    page.click("#cloud-save")
    page.wait_for_selector("body[data-cloud-settings=applied]", state="attached",
                           timeout=RUN_MS)


def key_set_in_engine(page, vendor: str) -> bool:
    models = page.evaluate("window.taskloom.engine.request('list_models')")["models"]
    return next(m for m in models if m["provider"] == vendor)["key_set"]


def test_a_saved_key_is_masked_kept_and_never_written_back(app, server):
    page = app
    page.click("#tab-settings")
    page.fill("#cloud-openai-key", KEY)
    save_keys(page)
    assert page.input_value("#cloud-openai-key") == ""  # emptied once saved
    assert page.inner_text("#cloud-openai-key-state") == "key set (…wxyz)"
    assert page.get_attribute("#cloud-openai-key-state", "data-key-set") == "true"
    assert page.inner_text("#cloud-anthropic-key-state") == "no key"
    assert KEY not in every_field_value(page) and KEY not in page.content()
    assert key_set_in_engine(page, "openai") and not key_set_in_engine(page, "anthropic")
    assert "OpenAI" in page.inner_text("#cloud-status")
    # Saving again with the field empty keeps the key (and a base URL may change).
    page.fill("#cloud-openai-base-url", "http://127.0.0.1:9/v1")
    save_keys(page)
    assert page.inner_text("#cloud-openai-key-state") == "key set (…wxyz)"
    assert key_set_in_engine(page, "openai")
    # A reload: the field stays empty, the mask is back, the new engine has the key.
    open_app(page, server.url)
    page.click("#tab-settings")
    page.wait_for_selector("body[data-cloud-settings=applied]", state="attached",
                           timeout=RUN_MS)
    assert page.input_value("#cloud-openai-key") == ""
    assert page.input_value("#cloud-openai-base-url") == "http://127.0.0.1:9/v1"
    assert page.inner_text("#cloud-openai-key-state") == "key set (…wxyz)"
    assert KEY not in every_field_value(page) and KEY not in page.content()
    assert key_set_in_engine(page, "openai")
    # Forget: gone from the engine and from the browser.
    page.evaluate("delete document.body.dataset.cloudSettings")
    page.click("#cloud-openai-forget")
    page.wait_for_selector("body[data-cloud-settings=applied]", state="attached",
                           timeout=RUN_MS)
    assert page.inner_text("#cloud-openai-key-state") == "no key"
    assert page.is_disabled("#cloud-openai-forget")
    assert KEY not in (page.evaluate("localStorage.getItem('taskloom-cloud-settings')") or "")
    assert key_set_in_engine(page, "openai")  # its base URL alone still serves calls …
    page.fill("#cloud-openai-base-url", "")
    save_keys(page)
    assert not key_set_in_engine(page, "openai")  # … until that goes too


def save_limits(page) -> str:
    page.evaluate("delete document.body.dataset.providerLimits")
    page.click("#limits-save")
    page.wait_for_selector("body[data-provider-limits=applied], body[data-provider-limits=error]",
                           state="attached", timeout=RUN_MS)
    return page.get_attribute("body", "data-provider-limits")


def run_report(page, code: str) -> dict:
    return page.evaluate("code => window.taskloom.engine.request('run_code', code)", code)


def test_provider_limits_apply_to_the_pages_queues_and_survive_a_reload(app, server):
    page = app
    page.click("#tab-settings")
    page.wait_for_selector("body[data-provider-limits=applied]", state="attached",
                           timeout=RUN_MS)
    # The shipped defaults are shown to begin with.
    assert page.input_value("#limit-openai-requests_per_minute") == "500"
    assert page.input_value("#limit-anthropic-max_concurrent") == "4"
    page.fill("#limit-openai-requests_per_minute", "1234")
    page.fill("#limit-openai-max_concurrent", "3")
    assert save_limits(page) == "applied"
    assert "OpenAI 1234/min, 3 at once" in page.inner_text("#limits-status")
    report = run_report(page, QUEUE_LIMITS)
    assert report["ok"], report.get("error")
    assert report["outputs"]["limits"] == {"max_concurrent": 3, "requests_per_minute": 1234}
    # A bad number is refused in the page, at its field, and nothing changes.
    page.fill("#limit-openai-max_concurrent", "0")
    assert save_limits(page) == "error"
    assert page.get_attribute("#limit-openai-max_concurrent", "aria-invalid") == "true"
    assert "OpenAI calls at once must be a whole number" in page.inner_text("#limits-status")
    limits = page.evaluate("window.taskloom.engine.request('provider_limits')")["limits"]
    assert limits["openai"]["max_concurrent"] == 3
    # A reload: the new engine gets them at its start, before any run.
    open_app(page, server.url)
    page.wait_for_selector("body[data-provider-limits=applied]", state="attached",
                           timeout=RUN_MS)
    assert page.input_value("#limit-openai-requests_per_minute") == "1234"
    report = run_report(page, QUEUE_LIMITS)
    assert report["outputs"]["limits"] == {"max_concurrent": 3, "requests_per_minute": 1234}
    # Back to the defaults.
    page.click("#tab-settings")
    page.evaluate("delete document.body.dataset.providerLimits")
    page.click("#limits-reset")
    page.wait_for_selector("body[data-provider-limits=applied]", state="attached",
                           timeout=RUN_MS)
    assert page.input_value("#limit-openai-requests_per_minute") == "500"
    stored = json.loads(page.evaluate("localStorage.getItem('taskloom-provider-limits')")
                        or "{}")
    assert stored == {}
