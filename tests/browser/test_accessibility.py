"""The app is usable by keyboard and assistive technology: axe-core (pinned in build/npm)
finds no serious or critical violation, run status and errors are live regions, and the
drawer's tabs work from the keyboard, and the palette's items are real buttons. (Main-thread
long tasks during the pipeline example: tests/browser/test_long_tasks.py.)"""

from __future__ import annotations

import pytest

from .site import ROOT, RUN_MS

pytestmark = pytest.mark.browser

AXE = ROOT / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PIPELINE = "Document → paragraphs → rewrite \u00d72 → embed → compare"


def violations(page, where: str = "document", impacts=("serious", "critical")) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))  # inlined: no request leaves the page
    return page.evaluate("""async ([where, impacts]) => {
        const context = where === "document" ? document : document.querySelector(where);
        const result = await axe.run(context, { resultTypes: ["violations"] });
        return result.violations
            .filter((v) => !impacts || impacts.includes(v.impact))
            .map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
                        v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
    }""", [where, list(impacts) if impacts else None])


def serious_violations(page) -> list[str]:
    return violations(page)


def test_axe_finds_nothing_serious_on_the_app_with_a_graph_open(app):
    app.click(f'#examples [data-example="{PIPELINE}"]')
    app.wait_for_selector("#canvas [data-task-id]", timeout=RUN_MS)
    assert serious_violations(app) == []


def test_axe_finds_nothing_serious_in_any_drawer_panel(app):
    for tab in app.query_selector_all('#drawer [role="tab"]'):
        tab.click()
        panel = tab.get_attribute("aria-controls")
        assert app.is_visible(f"#{panel}")
        assert serious_violations(app) == [], panel
    app.click("#tab-code")


def test_status_and_errors_are_live_regions(app):
    for selector in ("#run-status", "#engine-status", "#editor-status"):
        role = app.get_attribute(selector, "role")
        assert role == "status", selector
    assert app.get_attribute("#error", "role") == "alert"
    assert app.get_attribute("#code-error", "role") == "alert"


def test_the_drawer_tabs_work_from_the_keyboard(app):
    app.focus("#tab-code")
    app.keyboard.press("ArrowRight")
    assert app.evaluate("document.activeElement.id") == "tab-json"
    assert app.is_visible("#panel-json") and app.is_hidden("#panel-code")
    app.keyboard.press("End")
    assert app.evaluate("document.activeElement.id") == "tab-packages"
    app.keyboard.press("Home")
    assert app.evaluate("document.activeElement.id") == "tab-code"
    assert app.is_visible("#panel-code")


def test_the_palette_items_are_buttons_that_add_their_task(app):
    page = app
    page.wait_for_selector("body[data-palette-types]", state="attached", timeout=RUN_MS)
    tags = page.eval_on_selector_all("#palette [data-task-type]",
                                     "items => [...new Set(items.map((i) => i.tagName))]")
    assert tags == ["BUTTON"]
    # Not even a minor finding left in the palette (it had li role=button).
    assert violations(page, "#palette", impacts=None) == []
    page.click("#new-graph")
    page.wait_for_function("window.taskloom.document.state.graph?.tasks.length === 0")
    page.focus("#palette button[data-task-type=Similarity]")
    assert "Similarity:" in page.inner_text("#palette-about")  # its description, on focus
    page.keyboard.press("Enter")
    page.wait_for_selector('#canvas .react-flow__node[data-task-type=Similarity]',
                           timeout=RUN_MS)
    page.click("#palette button[data-task-type=DebugLog]")
    page.wait_for_selector('#canvas .react-flow__node[data-task-type=DebugLog]', timeout=RUN_MS)
    types = page.evaluate("window.taskloom.document.state.graph.tasks.map((t) => t.type)")
    assert sorted(types) == ["DebugLog", "Similarity"]
