"""WebGPU for the local ONNX models, and the fallback to wasm (issue #16).

This machine has no GPU: headless Chromium has ``navigator.gpu`` and its
``requestAdapter()`` answers null. So what runs here is the fallback: auto
picks wasm, a forced "webgpu" falls back with one warning, and the vectors
are those of the wasm run. The detection's other answers (no
``navigator.gpu``, ``requestAdapter`` throwing, an adapter) are simulated
with a stub of ``navigator.gpu`` in an init script: that tests the page's
detection and what the panel says, never a model. One test stubs the
worker's GPU with an adapter whose device cannot be created (as when an
adapter is lost): ONNX Runtime's WebGPU backend then really fails to load
the model, and the model really runs on wasm.
"""

from __future__ import annotations

import json

import pytest

from .conftest import open_app, reload_app
from .site import ROOT, RUN_MS

pytestmark = pytest.mark.browser

MINILM = "onnx:all-MiniLM-L6-v2:q8"
GLASSLLM = "onnx:glassllm:fp32"
TEXT = "A man is eating food."
REFERENCE = json.loads((ROOT / "tests" / "ai" / "transformers_js_reference.json").read_text())
FALLBACK = "runs on wasm, not WebGPU"

EMBED = "\n".join([
    "from taskloom import Workflow",
    "wf = Workflow()",
    # Not cacheable: each run must reach the model, not the outputs cache.
    f"wf.text_embedding(id='embed', model={MINILM!r}, text={TEXT!r}, cacheable=False)",
])


def run_graph(page, code: str) -> tuple[dict, list[dict]]:
    """Runs ``code`` through the page's engine: its outputs and the log events of the run."""
    page.evaluate("window.taskloom.events = []")
    # Bounded (RUN_MS) only so that a run that never ends fails instead of hanging the test.
    report = page.evaluate("""([code, ms]) => Promise.race([
        window.taskloom.engine.request('run_code', code),
        new Promise((_, reject) => setTimeout(
            () => reject(new Error(`run_code gave no answer in ${ms} ms`)), ms))])""",
        [code, RUN_MS])
    assert report["ok"], report.get("traceback") or report.get("error")
    logs = [e for e in page.evaluate("window.taskloom.events") if e.get("kind") == "log"]
    return report["outputs"], logs


def embed(page) -> tuple[list[float], list[str]]:
    """The vector of TEXT and the fallback warnings the run logged."""
    outputs, logs = run_graph(page, EMBED)
    return outputs["embed"]["vector"], [e["text"] for e in logs if FALLBACK in e["text"]]


def choose(page, device: str) -> None:
    page.click("#tab-models")
    page.evaluate("delete document.body.dataset.modelDevice")
    page.select_option("#models-device", device)
    page.wait_for_selector(f"body[data-model-device={device}]", state="attached",
                           timeout=RUN_MS)


def device_of(page, model_id: str) -> dict | None:
    """Where the engine says the model runs (list_models), and the panel's row agrees."""
    page.click("#tab-models")
    page.evaluate("delete document.body.dataset.models")
    page.click("#models-refresh")
    page.wait_for_selector("body[data-models]", state="attached", timeout=RUN_MS)
    models = {m["id"]: m for m in page.evaluate("window.taskloom.models")}
    return models[model_id]["device"]


def row_device(page, model_id: str) -> str:
    return page.locator(f'#models-local tr[data-model-id="{model_id}"] .model-device').inner_text()


def backend(page):
    page.wait_for_function("document.getElementById('models-backend').dataset.device",
                           timeout=RUN_MS)
    return page.locator("#models-backend")


@pytest.fixture
def no_adapter_app(page, server):
    """The page as this machine has it: navigator.gpu, but no adapter (checked, not assumed)."""
    open_app(page, server.url)
    found = page.evaluate("""async () => ({gpu: 'gpu' in navigator,
        adapter: 'gpu' in navigator && (await navigator.gpu.requestAdapter()) !== null})""")
    if found["adapter"]:
        pytest.skip("this browser has a WebGPU adapter: the fallback tests need one without")
    assert found["gpu"], "Chromium here is expected to have navigator.gpu (with no adapter)"
    return page


def test_without_an_adapter_auto_runs_on_wasm_and_the_panel_says_so(no_adapter_app):
    page = no_adapter_app
    page.click("#tab-models")
    line = backend(page)
    assert line.inner_text() == ("Acceleration: wasm (no WebGPU adapter). "
                                 "Local models run on WebAssembly (wasm).")
    assert line.get_attribute("data-device") == "wasm"
    assert line.get_attribute("data-preference") == "auto"
    assert page.input_value("#models-device") == "auto"
    assert device_of(page, MINILM) is None  # not loaded yet
    assert row_device(page, MINILM) == "not loaded yet"

    vector, warnings = embed(page)
    assert vector[:5] == pytest.approx(REFERENCE["embeddings"][TEXT], abs=1e-4)
    assert warnings == []  # auto choosing wasm is no fallback
    assert device_of(page, MINILM) == {"device": "wasm", "preference": "auto",
                                       "fallback": None, "adapter": None}
    assert row_device(page, MINILM) == "wasm"


def test_forcing_webgpu_without_an_adapter_falls_back_with_one_warning(no_adapter_app):
    page = no_adapter_app
    choose(page, "wasm")
    on_wasm, warnings = embed(page)
    assert warnings == []
    assert device_of(page, MINILM)["device"] == "wasm"

    choose(page, "webgpu")
    assert backend(page).inner_text() == (
        "Acceleration: wasm (no WebGPU adapter). WebGPU is asked for but cannot run here: "
        "local models run on WebAssembly (wasm).")
    forced, warnings = embed(page)
    reason = "WebGPU was asked for, but no WebGPU adapter"
    assert warnings == [f"all-MiniLM-L6-v2 (q8) {FALLBACK}: {reason}"]
    assert forced == on_wasm  # the same backend: the same numbers, bit for bit
    assert device_of(page, MINILM) == {"device": "wasm", "preference": "webgpu",
                                       "fallback": reason, "adapter": None}
    assert row_device(page, MINILM) == f"wasm: fell back from WebGPU ({reason})"
    again, warnings = embed(page)
    assert again == on_wasm and warnings == []  # one warning per model, not per call
    # The setting outlives a reload (Cache Storage: the worker reads it too).
    reload_app(page)
    page.click("#tab-models")
    assert backend(page).get_attribute("data-preference") == "webgpu"
    assert page.input_value("#models-device") == "webgpu"


# -- the page's detection, with navigator.gpu stubbed before any script runs ---------------

STUB_THROWS = """Object.defineProperty(Navigator.prototype, "gpu", { configurable: true,
  get: () => ({ requestAdapter: async () => { throw new Error("adapter request refused"); } }),
});"""
STUB_ABSENT = """delete Navigator.prototype.gpu;"""
STUB_ADAPTER = """Object.defineProperty(Navigator.prototype, "gpu", { configurable: true,
  get: () => ({ requestAdapter: async () => ({ info: { vendor: "acme", architecture: "rdna",
    description: "" }, features: new Set(), limits: {} }) }) });"""


@pytest.mark.parametrize(("stub", "webgpu", "device", "text"), [
    (STUB_THROWS, "true", "wasm",
     "Acceleration: wasm (no WebGPU adapter, requestAdapter failed: adapter request refused). "
     "Local models run on WebAssembly (wasm)."),
    (STUB_ABSENT, "false", "wasm",
     "Acceleration: wasm (this browser has no WebGPU). Local models run on WebAssembly (wasm)."),
    (STUB_ADAPTER, "true", "webgpu",
     "Acceleration: WebGPU (acme rdna). "
     "Local models run on WebGPU (a model that cannot falls back to wasm)."),
], ids=["requestAdapter-throws", "no-navigator-gpu", "an-adapter"])
def test_the_panel_shows_what_the_detection_found(context, server, stub, webgpu, device, text):
    context.add_init_script(stub)  # the page's scripts, not the engine's worker
    page = open_app(context.new_page(), server.url)
    page.click("#tab-models")
    line = backend(page)
    assert line.inner_text() == text
    assert line.get_attribute("data-webgpu") == webgpu
    assert line.get_attribute("data-device") == device
    assert line.get_attribute("data-adapter") == ("acme rdna" if device == "webgpu" else "")


# -- a model that fails to load on WebGPU ---------------------------------------------------

# An adapter whose device cannot be created: ONNX Runtime's WebGPU backend fails on it.
WORKER_STUB = """() => {
  const adapter = { info: { vendor: "stub", description: "Stub GPU" }, features: new Set(),
    limits: {}, requestDevice: async () => { throw new Error("the GPU device was lost"); } };
  const gpu = { requestAdapter: async () => adapter, getPreferredCanvasFormat: () => "rgba8unorm",
    wgslLanguageFeatures: new Set() };
  Object.defineProperty(WorkerNavigator.prototype, "gpu", { configurable: true, get: () => gpu });
  return navigator.gpu === gpu;
}"""


def test_a_model_that_fails_to_load_on_webgpu_runs_on_wasm_and_later_models_load(page, server):
    open_app(page, server.url)
    # Before the first model call: the worker asks for its adapter once, at that call.
    workers = [w for w in page.workers if w.url.startswith("blob:") or "engine-worker" in w.url]
    assert len(workers) == 1, [w.url for w in page.workers]
    assert workers[0].evaluate(WORKER_STUB) is True
    choose(page, "wasm")  # wasm by choice asks for no adapter
    on_wasm, warnings = embed(page)
    assert warnings == []

    choose(page, "webgpu")
    fell_back, warnings = embed(page)
    assert fell_back == on_wasm
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"all-MiniLM-L6-v2 (q8) {FALLBACK}: loading it on WebGPU "
                                  "failed: ")
    where = device_of(page, MINILM)
    assert where["device"] == "wasm" and where["preference"] == "webgpu"
    assert where["fallback"].startswith("loading it on WebGPU failed: ")
    assert row_device(page, MINILM).startswith("wasm: fell back from WebGPU (loading it on")
    # Transformers.js keeps a failed session creation and would refuse every later one
    # (huggingface/transformers.js#1767): a model loaded after the failure must still load,
    # on wasm, and give wasm's numbers.
    prompt = "Alice was beginning to"
    outputs, logs = run_graph(page, "\n".join([
        "from taskloom import Workflow", "wf = Workflow()",
        f"wf.text_generation(id='gen', model={GLASSLLM!r}, prompt={prompt!r}, "
        "max_new_tokens=48, cacheable=False)"]))
    assert outputs["gen"]["text"] == REFERENCE["generations"]["fp32"][prompt]
    warned = [e["text"] for e in logs if FALLBACK in e["text"]]
    assert warned == ["glassllm (fp32) runs on wasm, not WebGPU: WebGPU failed to load a model "
                      f"earlier in this page: {where['fallback'].split(': ', 1)[1]}"]
    assert device_of(page, GLASSLLM)["device"] == "wasm"
