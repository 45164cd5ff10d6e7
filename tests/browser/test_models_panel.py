"""The Models panel in the page: the local models with their sizes and whether their
files are stored in this browser, a download with progress (the DownloadModel task
through the engine) that can be cancelled, keeping nothing of it, the cloud models, and what
the local models run on."""

from __future__ import annotations

import contextlib
import json

import pytest

from .site import RUN_MS

pytestmark = pytest.mark.browser

Q8_WEIGHTS = "models/glassllm/onnx/model_quantized.onnx"


def folder_bytes(folder, *, skip=()):
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and p.relative_to(folder).as_posix() not in skip)


def refresh(page) -> dict:
    page.evaluate("delete document.body.dataset.models")
    page.click("#models-refresh")
    page.wait_for_selector("body[data-models]", state="attached", timeout=RUN_MS)
    return {m["id"]: m for m in page.evaluate("window.taskloom.models")}


def row(page, model_id: str):
    return page.locator(f'#models-local tr[data-model-id="{model_id}"]')


def test_local_models_show_their_size_and_where_they_are_stored(app, built_site):
    page = app
    # The service worker's copy of the site holds every model file once it is precached.
    page.wait_for_function("window.taskloom.offlineReady === true", timeout=RUN_MS)
    page.click("#tab-models")
    models = refresh(page)
    site_models = built_site / "models"
    expected = {
        "onnx:all-MiniLM-L6-v2:q8": folder_bytes(site_models / "all-MiniLM-L6-v2"),
        "onnx:glassllm:q8": folder_bytes(site_models / "glassllm", skip={"onnx/model.onnx"}),
        "onnx:glassllm:fp32": folder_bytes(site_models / "glassllm",
                                           skip={"onnx/model_quantized.onnx"}),
        "fasttext:lid.176:ftz": (site_models / "lid.176" / "lid.176.ftz").stat().st_size,
    }
    for model_id, size in expected.items():
        assert models[model_id]["size_bytes"] == size, model_id
        assert models[model_id]["cached"] is True and models[model_id]["stored"] == "site"
        line = row(page, model_id)
        assert line.get_attribute("data-cached") == "true"
        assert line.locator(".model-size").get_attribute("data-bytes") == str(size)
        assert "offline copy of the site" in line.locator(".model-cached").inner_text()
        assert line.locator("button.model-fetch").count() == 0
    assert row(page, "onnx:all-MiniLM-L6-v2:q8").locator(".model-size").inner_text() == "23 MB"
    # Bergamot runs in the page too (browser/bergamot_provider.py): offered, as a local model.
    assert models["bergamot:en-pt:tiny"]["local"] is True
    # The cloud models are listed, with no key set yet and a way to Settings.
    cloud = page.locator('#models-cloud tr[data-model-id="openai:gpt-4o-mini:api"]')
    assert cloud.get_attribute("data-key-set") == "false"
    cloud.locator("button").click()
    assert page.get_attribute("body", "data-panel") == "settings"
    page.click("#tab-models")


def test_the_panel_says_where_local_models_run(app):
    backend = app.locator("#models-backend")
    app.wait_for_function("document.getElementById('models-backend').dataset.device",
                          timeout=RUN_MS)
    found = app.evaluate("""async () => ({gpu: 'gpu' in navigator,
        adapter: 'gpu' in navigator && (await navigator.gpu.requestAdapter()) !== null})""")
    assert backend.get_attribute("data-webgpu") == str(found["gpu"]).lower()
    # The default (auto) runs on WebGPU exactly when the browser gives an adapter.
    expected = "webgpu" if found["adapter"] else "wasm"
    assert backend.get_attribute("data-device") == expected
    assert ("Local models run on WebGPU" if found["adapter"]
            else "Local models run on WebAssembly (wasm)") in backend.inner_text()


def test_a_model_missing_here_downloads_with_progress_and_then_runs(app):
    page = app
    # Take the q8 weights out of the site's offline copy: glassllm q8 is no longer
    # stored in this browser, while fp32 (which does not load them) still is.
    page.evaluate("""async (path) => {
        const url = new URL(path, location.href).href;
        for (const name of await caches.keys()) {
            if (name.startsWith("taskloom-site-")) await (await caches.open(name)).delete(url);
        }
    }""", Q8_WEIGHTS)
    models = refresh(page)
    assert models["onnx:glassllm:q8"]["cached"] is False
    assert models["onnx:glassllm:fp32"]["cached"] is True
    q8 = row(page, "onnx:glassllm:q8")
    assert "not stored" in q8.locator(".model-cached").inner_text()
    page.evaluate("window.taskloom.events = []; delete document.body.dataset.modelDownload")
    q8.locator("button.model-fetch").click()
    page.wait_for_selector("body[data-model-download=done], body[data-model-download=error]",
                           state="attached", timeout=RUN_MS)
    status = page.inner_text("#models-status")
    assert page.get_attribute("body", "data-model-download") == "done", status
    assert "onnx:glassllm:q8 is downloaded" in status
    assert page.evaluate("document.getElementById('model-download-progress').value") == 1
    progress = [e for e in page.evaluate("window.taskloom.events")
                if e.get("kind") == "model_download" and e["model"] == "onnx:glassllm:q8"]
    values = [e["progress"] for e in progress if e["progress"] is not None]
    assert values == sorted(values) and values[-1] == 1.0
    assert any(e["message"] and e["message"].endswith(" bytes") for e in progress)
    page.wait_for_selector('#models-local tr[data-model-id="onnx:glassllm:q8"][data-cached=true]',
                           state="attached", timeout=RUN_MS)
    assert "downloaded" in q8.locator(".model-cached").inner_text()
    models = {m["id"]: m for m in page.evaluate("window.taskloom.models")}
    assert models["onnx:glassllm:q8"]["stored"] == "downloads"
    assert models["onnx:glassllm:fp32"]["stored"] == "site"  # its own weights: the site's
    # The downloaded copy is the one that runs.
    code = ("from taskloom import Workflow\nwf = Workflow()\n"
            "wf.text_generation(id='gen', model='onnx:glassllm:q8', prompt='Alice', "
            "max_new_tokens=4)\n")
    report = page.evaluate("code => window.taskloom.engine.request('run_code', code)", code)
    assert report["ok"], report.get("error")
    assert isinstance(report["outputs"]["gen"]["text"], str)


def test_a_download_that_cannot_be_fetched_says_why(app):
    page = app
    page.fill("#model-download-id", "onnx:nowhere/model:q8")
    page.fill("#model-download-url", "models/no-such-folder/")
    page.evaluate("delete document.body.dataset.modelDownload")
    page.click("#model-download")
    page.wait_for_selector("body[data-model-download=error]", state="attached", timeout=RUN_MS)
    text = page.inner_text("#models-status")
    assert "onnx:nowhere/model:q8 was not downloaded" in text and "404" in text
    assert "onnx:nowhere/model:q8" not in json.dumps(page.evaluate("window.taskloom.models"))
    page.fill("#model-download-id", "")
    page.click("#model-download")
    assert page.get_attribute("#model-download-id", "aria-invalid") == "true"


DOWNLOADS = "taskloom-models"  # the downloads cache (transformers_provider.DOWNLOADS_CACHE)


def stored_under(page, folder: str) -> list[str]:
    return page.evaluate("""async ([name, folder]) => {
        const cache = await caches.open(name);
        return (await cache.keys()).map((r) => r.url).filter((u) => u.includes(folder));
    }""", [DOWNLOADS, folder])


def test_a_download_in_progress_can_be_cancelled_keeping_nothing_and_then_done(app):
    page = app
    # glassllm q8 stored nowhere: out of the site's offline copy and out of the downloads.
    page.evaluate("""async ([path, downloads]) => {
        const url = new URL(path, location.href).href;
        for (const name of await caches.keys()) {
            if (name.startsWith("taskloom-site-")) await (await caches.open(name)).delete(url);
        }
        await caches.delete(downloads);
    }""", [Q8_WEIGHTS, DOWNLOADS])
    page.click("#tab-models")
    assert refresh(page)["onnx:glassllm:q8"]["cached"] is False
    q8 = row(page, "onnx:glassllm:q8")
    # The weights' request is held, never answered: the download waits on it, part done.
    held = []

    def hold(route):
        if route.request.method == "GET":
            held.append(route)
        else:
            route.fallback()  # its size (HEAD) goes through

    pattern = f"**/{Q8_WEIGHTS}"
    page.context.route(pattern, hold)
    try:
        for how in ("button", "Escape"):
            page.evaluate("delete document.body.dataset.modelDownload")
            with page.context.expect_event(
                    "request", lambda r: r.url.endswith(Q8_WEIGHTS) and r.method == "GET",
                    timeout=RUN_MS):
                q8.locator("button.model-fetch").click()
            assert page.get_attribute("body", "data-model-download") == "running"
            # The small files, fetched beside the held weights, land in the cache.
            partial = page.evaluate("""async ([name, folder, ms]) => {
                const until = performance.now() + ms;
                while (performance.now() < until) {
                    const cache = await caches.open(name);
                    const urls = (await cache.keys()).map((r) => r.url)
                        .filter((u) => u.includes(folder));
                    if (urls.length) return urls;
                    await new Promise((resolve) => setTimeout(resolve, 50));
                }
                return [];
            }""", [DOWNLOADS, "/models/glassllm/", RUN_MS])
            assert partial and not any(url.endswith(".onnx") for url in partial), partial
            cancel = page.locator("#model-download-cancel")
            assert cancel.is_visible()
            assert page.evaluate("document.activeElement.id") == "model-download-cancel"
            if how == "button":
                cancel.click()
            else:
                page.keyboard.press("Escape")
            page.wait_for_selector("body[data-model-download=cancelled], "
                                   "body[data-model-download=done], "
                                   "body[data-model-download=error]",
                                   state="attached", timeout=RUN_MS)
            status = page.inner_text("#models-status")
            assert page.get_attribute("body", "data-model-download") == "cancelled", status
            assert "download cancelled" in status
            page.wait_for_selector("#model-download-cancel", state="hidden", timeout=RUN_MS)
            # Nothing of it kept, nothing listed as stored.
            assert stored_under(page, "/models/glassllm/") == []
            models = refresh(page)
            assert models["onnx:glassllm:q8"]["cached"] is False, how
            assert "not stored" in q8.locator(".model-cached").inner_text()
    finally:
        page.context.unroute(pattern, hold)
        for route in held:
            with contextlib.suppress(Exception):  # the page gave up on it already
                route.abort()
    # A later download of the same model works.
    page.evaluate("delete document.body.dataset.modelDownload")
    q8.locator("button.model-fetch").click()
    page.wait_for_selector("body[data-model-download=done], body[data-model-download=error]",
                           state="attached", timeout=RUN_MS)
    assert page.get_attribute("body", "data-model-download") == "done", \
        page.inner_text("#models-status")
    page.wait_for_selector('#models-local tr[data-model-id="onnx:glassllm:q8"][data-cached=true]',
                           state="attached", timeout=RUN_MS)
    assert {m["id"]: m for m in page.evaluate("window.taskloom.models")}[
        "onnx:glassllm:q8"]["stored"] == "downloads"
