"""The shell at a desktop size and at a phone size: three panes side by side, or stacked,
and never wider than the screen (each leaves a screenshot in dist/screenshots/); and Fit view
draws small and long graphs at a readable size."""

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


PIPELINE = "Document \u2192 paragraphs \u2192 rewrite \u00d72 \u2192 embed \u2192 compare"


NODE = '#canvas .react-flow__node[data-task-id="{}"]'


def viewport(page) -> dict:
    return page.evaluate("window.taskloom.canvas.viewport()")


def fit_to_view(page, example: str) -> tuple[dict, dict]:
    """Opens ``example``, zooms in, presses Fit view: the viewport and the canvas's box."""
    page.click(f'#examples [data-example="{example}"]')
    page.wait_for_function("name => document.body.dataset.exampleOpened === name", arg=example,
                           timeout=60_000)
    page.evaluate("window.taskloom.canvas.drawn()")
    zoom = viewport(page)["zoom"]
    page.click("#canvas .react-flow__controls-zoomin")
    page.wait_for_function("z => window.taskloom.canvas.viewport().zoom > z", arg=zoom)
    zoomed = viewport(page)["zoom"]
    page.click("#canvas .react-flow__controls-fitview")
    page.wait_for_function("z => window.taskloom.canvas.viewport().zoom !== z", arg=zoomed)
    page.evaluate("window.taskloom.canvas.drawn()")  # the fit has settled
    return viewport(page), page.locator("#canvas").bounding_box()


def inside(box: dict, canvas: dict) -> bool:
    return (canvas["x"] <= box["x"] and box["x"] + box["width"] <= canvas["x"] + canvas["width"]
            and canvas["y"] <= box["y"] and box["y"] + box["height"] <= canvas["y"] +
            canvas["height"])


def test_fit_to_view_draws_small_and_long_graphs_at_a_readable_size(app):
    page = app
    # One task: drawn at its own size, not blown up (React Flow's own fit goes up to 2x).
    view, canvas = fit_to_view(page, "Generate text")
    assert view["zoom"] == 1
    assert inside(page.locator(NODE.format("generate")).bounding_box(), canvas)
    # Two: the whole graph in view, no smaller than 0.6.
    view, canvas = fit_to_view(page, "Embed and compare sentences")
    assert 0.6 <= view["zoom"] <= 1
    for task_id in ("embed", "compare"):
        assert inside(page.locator(NODE.format(task_id)).bounding_box(), canvas)
    # A graph too long for the canvas is not shrunk past 0.6: shown from its first task.
    view, canvas = fit_to_view(page, PIPELINE)
    assert view["zoom"] >= 0.6
    first = page.locator(NODE.format("split")).bounding_box()
    assert inside(first, canvas)
    assert first["width"] >= 0.6 * 220
