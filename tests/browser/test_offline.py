"""The site never reaches past the local server, and keeps working without it."""

from __future__ import annotations

import pytest

from .conftest import open_app, reload_app
from .site import RUN_MS, SiteServer

pytestmark = pytest.mark.browser


def test_the_guard_aborts_and_records_outside_requests(page, server, offline_guard):
    open_app(page, server.url)
    outcome = page.evaluate(
        "fetch('http://example.invalid/probe').then(() => 'fetched', () => 'blocked')")
    assert outcome == "blocked"
    assert offline_guard.violations == ["http://example.invalid/probe"]
    # Chromium reports the blocked request on the console too: expected here, and only here.
    blocked = [e for e in offline_guard.console_errors if "ERR_BLOCKED_BY_CLIENT" in e]
    assert blocked
    offline_guard.console_errors = [e for e in offline_guard.console_errors if e not in blocked]
    offline_guard.violations.clear()  # seen; the fixture would fail the test otherwise


@pytest.fixture
def own_server(built_site):
    """A server this test may stop (a new port is a new origin: a fresh service worker)."""
    site_server = SiteServer(built_site)
    yield site_server
    site_server.stop()


def test_page_opens_and_runs_with_the_server_stopped(page, own_server, offline_guard):
    offline_guard.allow(own_server.origin)
    open_app(page, own_server.url)
    page.wait_for_selector("body[data-offline-ready]", state="attached", timeout=RUN_MS)
    own_server.stop()

    reload_app(page)
    assert page.evaluate("window.crossOriginIsolated") is True
    page.click("#run")
    page.wait_for_selector("body[data-run-state=completed]", state="attached", timeout=RUN_MS)
    assert page.evaluate("window.taskloom.lastRun.outputs.describe.text") == "the sum is 210"


def test_service_worker_isolates_the_page_on_a_plain_static_host(page, built_site,
                                                                 offline_guard):
    plain = SiteServer(built_site, isolation_headers=False)
    try:
        offline_guard.allow(plain.origin)
        open_app(page, plain.url)  # one reload happens once the service worker is in
        assert page.evaluate("window.crossOriginIsolated") is True
        page.click("#run")
        page.wait_for_selector("body[data-run-state=completed]", state="attached",
                               timeout=RUN_MS)
    finally:
        plain.stop()
