"""The app is usable by keyboard and assistive technology: axe-core (pinned in build/npm)
finds no serious or critical violation, run status and errors are live regions, and the
drawer's tabs work from the keyboard. (Main-thread long tasks during the pipeline example are
measured by scripts/bench/browser_longtasks.py: not yet zero, see docs/benchmarks.md.)"""

from __future__ import annotations

import pytest

from .site import ROOT, RUN_MS

pytestmark = pytest.mark.browser

AXE = ROOT / "build" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
PIPELINE = "Document → paragraphs → rewrite \u00d72 → embed → compare"


def serious_violations(page) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))  # inlined: no request leaves the page
    found = page.evaluate("""async () => {
        const result = await axe.run(document, { resultTypes: ["violations"] });
        return result.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.help} — ` +
                        v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
    }""")
    return found


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
