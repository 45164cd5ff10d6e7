"""Browser tests: Playwright for Python driving Debian's Chromium on the built site.

Every test gets a fresh browser context whose requests all pass through a
guard: anything not addressed to the local server is aborted and fails the
test (the page, its Web Workers and its service worker alike).

The same guard reads the console of every page and worker in the context,
and fails the test on an error the engine would otherwise hide: a future
whose exception nobody retrieved, a queue report refused as stale, a lease
lost while its job ran.
"""

from __future__ import annotations

import pytest

from prerequisites import missing, need_module

from .site import CHROMIUM, CHROMIUM_ARGS, ENGINE_START_MS, SiteServer, build_test_site

playwright_api = need_module(
    "playwright.sync_api", "playwright is not installed (it is in the dev extra)")


@pytest.fixture(scope="session")
def built_site():
    return build_test_site()


@pytest.fixture(scope="session")
def server(built_site):
    site_server = SiteServer(built_site)
    yield site_server
    site_server.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        missing(f"{CHROMIUM} is missing: run scripts/ensure-browser (scripts/test does)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


#: Console text that means an error was swallowed instead of reported.
HIDDEN_ERRORS = ("exception was never retrieved", "refused, delivery", "lost the lease")


class OfflineGuard:
    """Aborts and records every request that is not to one of the allowed origins;
    records console lines that betray a hidden error."""

    def __init__(self, *origins: str):
        self.origins = set(origins)
        self.violations: list[str] = []
        self.hidden_errors: list[str] = []
        self.console_errors: list[str] = []

    def console(self, message) -> None:
        if any(marker in message.text for marker in HIDDEN_ERRORS):
            self.hidden_errors.append(message.text)
        elif message.type == "error":
            self.console_errors.append(f"{message.text} ({message.location.get('url', '?')})")

    def allow(self, origin: str) -> None:
        self.origins.add(origin)

    def __call__(self, route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or any(
            url == origin or url.startswith(origin + "/") for origin in self.origins
        ):
            route.continue_()
        else:
            self.violations.append(url)
            route.abort("blockedbyclient")


def guarded_context(browser, guard: OfflineGuard):
    browser_context = browser.new_context()
    browser_context.route("**/*", guard)
    browser_context.on("console", guard.console)  # pages and their workers
    return browser_context


def new_page(browser_context):
    page = browser_context.new_page()
    page.errors = []  # uncaught page errors, checked by tests that care
    page.on("pageerror", lambda error: page.errors.append(error))
    return page


def assert_offline(guard: OfflineGuard) -> None:
    """No request left the local server, and the console shows no error (a test that
    expects one takes it out of ``guard.console_errors`` itself)."""
    violations, guard.violations = guard.violations, []
    assert not violations, f"the page requested something other than the local server: {violations}"
    hidden, guard.hidden_errors = guard.hidden_errors, []
    assert not hidden, f"the console shows errors the engine swallowed: {hidden[:5]}"
    errors, guard.console_errors = guard.console_errors, []
    assert not errors, f"the console shows errors: {errors[:5]}"


@pytest.fixture
def offline_guard(server):
    return OfflineGuard(server.origin)


@pytest.fixture
def context(browser, offline_guard):
    browser_context = guarded_context(browser, offline_guard)
    yield browser_context
    browser_context.close()
    assert_offline(offline_guard)


@pytest.fixture
def page(context):
    """A fresh page in a fresh context (its own IndexedDB and service worker)."""
    return new_page(context)


@pytest.fixture(scope="module")
def _shared_app(browser, server):
    guard = OfflineGuard(server.origin)
    browser_context = guarded_context(browser, guard)
    page = open_app(new_page(browser_context), server.url)
    yield page, guard
    browser_context.close()


@pytest.fixture
def app(_shared_app):
    """The page with its engine ready, shared by a module's tests (one start-up)."""
    page, guard = _shared_app
    yield page
    assert_offline(guard)


@pytest.fixture
def app_guard(_shared_app):
    """The guard of the module's shared page (what ``offline_guard`` is to ``page``)."""
    return _shared_app[1]


def open_app(page, url: str):
    """Opens the page and waits until the engine says it can run a graph."""
    # The engine's bound for the navigation too: on a loaded machine "load" can take
    # longer than Playwright's default 30 s, most of all when the service worker answers.
    page.goto(url, timeout=ENGINE_START_MS)
    return wait_for_engine(page)


def reload_app(page):
    """Reloads the page and waits for its engine: one navigation (a goto after the reload
    would cut the reloaded page's start short)."""
    page.reload(timeout=ENGINE_START_MS)
    return wait_for_engine(page)


def wait_for_engine(page):
    page.wait_for_selector("body[data-engine-ready], body[data-engine-error]",
                           state="attached", timeout=ENGINE_START_MS)
    error = page.get_attribute("body", "data-engine-error")
    assert error is None, f"the engine failed to start: {error}"
    return page
