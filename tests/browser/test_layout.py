"""The shell at a desktop size and at a phone size: three panes side by side, or stacked,
and never wider than the screen. Each test leaves a screenshot in dist/screenshots/."""

from __future__ import annotations

import pytest

from .conftest import new_page, open_app
from .site import ROOT

pytestmark = pytest.mark.browser

PANES = ("#library", "#canvas-pane", "#inspector")


def boxes(page) -> dict[str, dict]:
    return {pane: page.locator(pane).bounding_box() for pane in PANES}


def assert_no_horizontal_overflow(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    wider = page.evaluate("""w => [...document.querySelectorAll('body *')]
        .filter((e) => e.getClientRects().length && e.getBoundingClientRect().right > w + 1
                        && !e.closest('.tabs, .cm-editor, #canvas, pre, table'))
        .slice(0, 5).map((e) => e.id || e.className || e.tagName)""", width)
    assert wider == []


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_shell_fits_the_screen(context, server, width, height):
    page = new_page(context)
    page.set_viewport_size({"width": width, "height": height})
    open_app(page, server.url)
    page.click('#examples [data-example="Embed and compare sentences"]')
    page.wait_for_selector("#canvas [data-task-id]", timeout=60_000)
    placed = boxes(page)
    if width >= 1000:  # side by side, left to right
        assert placed["#library"]["x"] < placed["#canvas-pane"]["x"] < placed["#inspector"]["x"]
        assert abs(placed["#library"]["y"] - placed["#inspector"]["y"]) < 2
    else:  # stacked, top to bottom, each the width of the screen
        assert placed["#library"]["y"] < placed["#canvas-pane"]["y"] < placed["#inspector"]["y"]
        for box in placed.values():
            assert box["width"] <= width
    assert_no_horizontal_overflow(page, width)
    page.screenshot(path=str(ROOT / "dist" / "screenshots" / f"shell-{width}x{height}.png"),
                    full_page=True)
