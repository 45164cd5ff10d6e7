"""The drawer's Queue, Cache and Logs panels in the page (web/panels/), against the
real engine in its worker; cloud calls go to the local stand-in API
(tests/ai/cloud/fake_api.py), pointed at through the Settings panel."""

from __future__ import annotations

import pytest
from tests.ai.cloud.fake_api import FakeApi, Reply

from .site import RUN_MS, set_code
from .test_cloud import (
    PATHS,
    TEST_KEY,
    VENDORS,
    base_urls,
    finish_run,
    generation_code,
    save_settings,
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def api():
    with FakeApi(expected_key=TEST_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def _configured(_shared_app, api):
    page, guard = _shared_app
    guard.allow(api.url)  # the stand-in API, and nothing else
    page.click("#tab-settings")
    save_settings(page, {v: TEST_KEY for v in VENDORS}, base_urls(api))
    return page


@pytest.fixture(scope="module")
def console(_shared_app):
    """Errors and warnings the page and its workers print from here on."""
    page, _guard = _shared_app
    lines: list[str] = []
    page.on("console", lambda message: lines.append(f"{message.type}: {message.text}")
            if message.type in ("error", "warning") else None)
    return lines


@pytest.fixture
def panels_page(_configured, app, console):
    yield app
    # The fake API's 429 is a failed load as far as the browser is concerned.
    printed = [line for line in console if "Failed to load resource" not in line]
    console.clear()
    assert not printed, printed


def start_run(page, code: str, panel: str) -> None:
    """Types the code into the Code panel, presses Run, then brings ``panel`` forward."""
    page.click("#tab-code")
    page.evaluate("delete document.body.dataset.runState")
    set_code(page, code)
    page.click("#run")
    page.click(f"#tab-{panel}")


def job_row(queue: str, state: str) -> str:
    return f'#panel-queue tr[data-queue="{queue}"][data-state="{state}"]'


def seconds_shown(page, queue: str) -> float:
    """The countdown of the queue's waiting job once it shows a wait (> 0 s)."""
    return page.wait_for_function(
        """(selector) => {
            const cell = document.querySelector(selector + " td.run-after");
            const seconds = cell ? Number(cell.dataset.seconds) : 0;
            return seconds > 0 && /^waits /.test(cell.textContent) && seconds;
        }""", arg=job_row(queue, "pending"), timeout=RUN_MS).json_value()


def test_a_429_shows_a_countdown_that_runs_down_then_the_job_completes(panels_page, api):
    page = panels_page
    api.script(PATHS["openai"], Reply(429, headers={"Retry-After": "3"}))
    start_run(page, generation_code("openai", "wait your turn"), "queue")
    first = seconds_shown(page, "ai:openai")
    assert first <= 3
    row = page.locator(job_row("ai:openai", "pending"))
    assert row.locator("td.attempts").inner_text() == "1 / 3"  # the 429 used one attempt
    assert "429" in row.locator("td.job-error").inner_text()
    # The countdown ticks in the page between refreshes.
    page.wait_for_function(
        """([selector, first]) => {
            const cell = document.querySelector(selector + " td.run-after");
            return cell && Number(cell.dataset.seconds) > 0
                && Number(cell.dataset.seconds) < first;
        }""", arg=[job_row("ai:openai", "pending"), first], timeout=RUN_MS)
    report = finish_run(page)
    assert report["ok"], report
    assert report["outputs"]["g"] == {"text": "echo: wait your turn"}
    page.wait_for_selector(job_row("ai:openai", "completed"), state="attached", timeout=RUN_MS)
    completed = page.locator(job_row("ai:openai", "completed")).first
    assert completed.locator("td.run-id").get_attribute("title") == report["run_id"]


def test_aborting_a_waiting_job_from_the_panel_aborts_its_run(panels_page, api):
    page = panels_page
    # Anthropic: a long Retry-After blocks its limiter, and no later test needs it.
    api.script(PATHS["anthropic"], Reply(429, headers={"Retry-After": "120"}))
    start_run(page, generation_code("anthropic", "never mind then"), "queue")
    seconds_shown(page, "ai:anthropic")
    abort = page.locator(job_row("ai:anthropic", "pending") + " button.abort-job")
    assert abort.get_attribute("aria-label").startswith("Abort job ")
    abort.click()
    report = finish_run(page, states=("aborted",))
    assert report["aborted"] and "traceback" not in report
    assert "aborted from the Queue panel" in report["error"]
    page.wait_for_selector(job_row("ai:anthropic", "aborted"), state="attached", timeout=RUN_MS)
    assert "aborted, and its run" in page.inner_text("#queue-status")
    assert not page.locator(job_row("ai:anthropic", "pending")).count()


CACHED = '''
from pydantic import BaseModel
from taskloom import Task, Workflow


class Square(Task):
    class Input(BaseModel):
        n: int = 7

    class Output(BaseModel):
        n: int

    async def run(self, input, ctx):
        return {"n": input.n * input.n}


wf = Workflow()
wf.add_task(Square, id="square")
'''


def cache_hits(page) -> list[str]:
    return page.evaluate("""window.taskloom.events
        .filter((e) => e.kind === "task_cache_hit").map((e) => e.task_id)""")


def run_to_end(page, code: str, panel: str) -> dict:
    start_run(page, code, panel)
    report = finish_run(page)
    assert report["ok"], report
    return report


def test_the_cache_panel_lists_entries_and_clears_them(panels_page):
    page = panels_page
    run_to_end(page, CACHED, "cache")
    square = "#cache-entries tr[data-task-type=Square]"
    page.wait_for_selector(square, state="visible", timeout=RUN_MS)
    assert "(code box)" in page.inner_text(square)
    assert page.inner_text(f"{square} td.size").endswith("B")
    run_to_end(page, CACHED, "cache")
    assert cache_hits(page) == ["square"]  # what the cache is for
    page.click("#cache-clear")
    # Asked first: nothing is cleared until the user says so.
    assert page.is_visible("#cache-confirm")
    assert "Tasks will run again" in page.inner_text("#cache-confirm-text")
    page.keyboard.press("Escape")
    assert page.is_hidden("#cache-confirm") and page.locator(square).count() == 1
    page.click("#cache-clear")
    page.click("#cache-clear-confirm")
    page.wait_for_selector(square, state="detached", timeout=RUN_MS)
    assert page.locator("#cache-entries tbody tr").count() == 0
    assert "the cache is empty" in page.inner_text("#cache-summary")
    run_to_end(page, CACHED, "cache")
    assert cache_hits(page) == []  # cleared for real: the task ran again


LOGGED = '''
from pydantic import BaseModel
from taskloom import Task, Workflow

print("the code box runs")


class Chatty(Task):
    cacheable = False

    class Input(BaseModel):
        pass

    class Output(BaseModel):
        done: bool

    async def run(self, input, ctx):
        print("hello from a task")
        ctx.logger.warning("a warning of mine")
        return {"done": True}


wf = Workflow()
wf.add_task(Chatty, id="chatty")
'''


def test_print_in_a_task_goes_to_the_logs_panel_tagged_with_its_task(panels_page):
    page = panels_page
    page.click("#tab-logs")
    page.click("#logs-clear")  # start from nothing, then watch the badge from elsewhere
    run_to_end(page, LOGGED, "run")
    badge = page.locator("#tab-logs .tab-badge")
    page.wait_for_function(
        "() => document.querySelector('#tab-logs .tab-badge').dataset.count === '3'",
        timeout=RUN_MS)
    assert badge.is_visible() and "3 lines" in page.inner_text("#tab-logs")
    page.click("#tab-logs")
    line = page.locator(".log-line[data-task-id=chatty][data-level=stdout]")
    assert line.locator(".log-text").inner_text() == "hello from a task"
    assert line.locator(".log-task").inner_text() == "chatty"
    outside = page.locator(".log-line:not([data-task-id])")
    assert outside.locator(".log-text").inner_text() == "the code box runs"
    page.select_option("#logs-level", "warning")
    assert [t.strip() for t in page.locator(".log-line:visible .log-text").all_inner_texts()] \
        == ["a warning of mine"]
    page.select_option("#logs-level", "")
    page.select_option("#logs-task", "chatty")
    assert page.locator(".log-line:visible").count() == 2
    page.select_option("#logs-task", "")
    page.click("#logs-clear")
    assert page.locator(".log-line").count() == 0 and badge.is_hidden()
