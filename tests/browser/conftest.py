"""Browser tests: Playwright for Python driving Debian's Chromium on the built site.

Every test gets a fresh browser context whose requests all pass through a
guard: anything not addressed to the local server is aborted and fails the
test (the page, its Web Workers and its service worker alike).
"""

from __future__ import annotations

import pytest

from .site import CHROMIUM, CHROMIUM_ARGS, ENGINE_START_MS, SiteServer, build_test_site

playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (it is in the dev extra)")


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
        pytest.skip(f"{CHROMIUM} is missing: run scripts/ensure-browser (scripts/test does)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class OfflineGuard:
    """Aborts and records every request that is not to one of the allowed origins."""

    def __init__(self, *origins: str):
        self.origins = set(origins)
        self.violations: list[str] = []

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


@pytest.fixture
def offline_guard(server):
    return OfflineGuard(server.origin)


@pytest.fixture
def context(browser, offline_guard):
    browser_context = browser.new_context()
    browser_context.route("**/*", offline_guard)
    yield browser_context
    browser_context.close()
    assert not offline_guard.violations, (
        f"the page requested something other than the local server: {offline_guard.violations}")


@pytest.fixture
def page(context):
    new_page = context.new_page()
    new_page.errors = []  # uncaught page errors, checked by tests that care
    new_page.on("pageerror", lambda error: new_page.errors.append(error))
    return new_page


def open_app(page, url: str):
    """Opens the page and waits until the engine says it can run a graph."""
    page.goto(url)
    page.wait_for_selector("body[data-engine-ready], body[data-engine-error]",
                           state="attached", timeout=ENGINE_START_MS)
    error = page.get_attribute("body", "data-engine-error")
    assert error is None, f"the engine failed to start: {error}"
    return page
