// Where taskloom's local ONNX models run: on WebGPU when this browser has an adapter,
// else on ONNX Runtime's WebAssembly backend (wasm), and which of the two the user asked
// for. Shared by the Models panel (the page) and web/models.js (the engine's worker): both
// ask the browser themselves, and the worker's answer is what the models run on.
//
// The choice is kept in Cache Storage, not localStorage: the worker, which loads the
// models, cannot read localStorage. Nothing here fetches anything.

export const DEVICES = Object.freeze(["auto", "webgpu", "wasm"]);
const SETTINGS_CACHE = "taskloom-settings";
const PREFERENCE_PATH = "/.taskloom-settings/model-device.json";

/**
 * Whether WebGPU can run here: `navigator.gpu` is there AND `requestAdapter()` gives an
 * adapter. Headless Chromium has navigator.gpu but answers null: that is no WebGPU.
 * Answers {webgpu, adapter, name, reason} (`reason` says why not when webgpu is false).
 */
export async function detectWebGPU(gpu = globalThis.navigator?.gpu) {
  if (!gpu) return { webgpu: false, adapter: null, name: null, reason: "this browser has no WebGPU" };
  let adapter;
  try {
    // The preference ONNX Runtime asks for too (Transformers.js sets it).
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (error) {
    return { webgpu: false, adapter: null, name: null,
      reason: `no WebGPU adapter, requestAdapter failed: ${error?.message ?? error}` };
  }
  if (!adapter) return { webgpu: false, adapter: null, name: null, reason: "no WebGPU adapter" };
  return { webgpu: true, adapter, name: adapterName(adapter), reason: null };
}

function adapterName(adapter) {
  const info = adapter.info ?? {};
  return info.description || [info.vendor, info.architecture].filter(Boolean).join(" ")
    || "unnamed adapter";
}

/**
 * The device a model loads on for `preference` ("auto" | "webgpu" | "wasm") given a
 * detection: {device, fallback}. `fallback` says why WebGPU, asked for by name, is not
 * used (auto choosing wasm on a machine without an adapter is no fallback).
 */
export function chooseDevice(preference, detection) {
  if (preference === "wasm") return { device: "wasm", fallback: null };
  if (detection.webgpu) return { device: "webgpu", fallback: null };
  return { device: "wasm",
    fallback: preference === "webgpu" ? `WebGPU was asked for, but ${detection.reason}` : null };
}

// One key per origin (a blob: worker's origin is its page's).
const preferenceURL = () => new URL(PREFERENCE_PATH, self.location.origin).href;

/** The user's choice, "auto" when none was saved (or Cache Storage is unavailable). */
export async function readDevicePreference() {
  try {
    const hit = await (await caches.open(SETTINGS_CACHE)).match(preferenceURL());
    const device = hit ? (await hit.json()).device : "auto";
    return DEVICES.includes(device) ? device : "auto";
  } catch {
    return "auto";
  }
}

export async function saveDevicePreference(device) {
  if (!DEVICES.includes(device)) throw new Error(`device must be one of ${DEVICES.join(", ")}`);
  const cache = await caches.open(SETTINGS_CACHE);
  await cache.put(preferenceURL(), new Response(JSON.stringify({ device }),
    { headers: { "content-type": "application/json" } }));
}
