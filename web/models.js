// Transformers.js for taskloom's local models, inside the engine's Web Worker.
// taskloom.browser.transformers_provider imports this module (once, on the
// first model call) and calls the functions below; every answer is a plain
// object of numbers, strings and arrays, so that it converts to Python as is.
//
// Nothing here leaves the site: remote models are off, models are read from
// the site's models/ folder (or from the downloads in Cache Storage, see
// `cachedFirst`), and ONNX Runtime's wasm from the site's onnxruntime-web/.
//
// Each model loads on WebGPU or on wasm (see `onDevice`): the user's choice
// (web/webgpu.js: auto, webgpu or wasm) and whether this worker gets a WebGPU
// adapter decide; a model that fails to load on WebGPU loads on wasm instead.
import * as bundled from "./transformers/transformers.min.js";
import { chooseDevice, detectWebGPU, readDevicePreference } from "./webgpu.js";

const { env, pipeline } = bundled;

// Downloaded model files live in this Cache Storage cache, keyed by the URL
// they would have under the site's models/ folder.
export const DOWNLOADS_CACHE = "taskloom-models";
const MANIFEST = ".taskloom-download.json";

let configured = null;
let siteOrigin = null;

// Transformers.js asks for "<localModelPath><model>/<file>": a path, since it
// treats an absolute URL there as remote. Resolved here against the site
// (PyScript's worker runs from a blob: URL, against which nothing resolves),
// and answered from the downloads first.
async function cachedFirst(url, init) {
  const absolute = new URL(url, siteOrigin).href;
  const cache = await caches.open(DOWNLOADS_CACHE);
  const hit = await cache.match(absolute);
  return hit ?? fetch(absolute, init);
}

// What keeps one Transformers.js instance offline (see `wasmRuntime`: there may be two).
function settle(runtimeEnv, { modelsURL, wasmURL, threads }) {
  runtimeEnv.allowRemoteModels = false;
  runtimeEnv.allowLocalModels = true;
  runtimeEnv.localModelPath = new URL(modelsURL).pathname;
  runtimeEnv.useBrowserCache = false; // the service worker keeps the site's models offline
  runtimeEnv.fetch = cachedFirst;
  const wasm = runtimeEnv.backends.onnx.wasm;
  wasm.wasmPaths = {
    mjs: `${wasmURL}ort-wasm-simd-threaded.asyncify.mjs`,
    wasm: `${wasmURL}ort-wasm-simd-threaded.asyncify.wasm`,
  };
  if (threads) wasm.numThreads = threads;
  return wasm.numThreads ?? null;
}

// Must run before the first model loads: ONNX Runtime reads its wasm settings once.
export function configure({ modelsURL, wasmURL, threads = null }) {
  siteOrigin = new URL(modelsURL).origin;
  configured = { modelsURL, wasmURL, threads };
  configured.threads = settle(env, configured);
  return info();
}

export function info() {
  return {
    ...configured,
    crossOriginIsolated: self.crossOriginIsolated === true,
    hardwareConcurrency: navigator.hardwareConcurrency ?? null,
  };
}

// -- devices --------------------------------------------------------------------------

// Transformers.js chains every ONNX session it creates on one promise, and once a
// creation failed that promise stays rejected (huggingface/transformers.js#1767): after a
// model failed to load on WebGPU, this worker's bundle would load nothing more, on any
// device. Loads after such a failure go to a second, wasm-only instance of the bundle.
let webgpuFailed = null; // why a model failed to load on WebGPU in this worker
let wasmOnly = null;

function wasmRuntime() {
  if (!webgpuFailed) return Promise.resolve(bundled);
  wasmOnly ??= import(new URL("./transformers/transformers.min.js?instance=wasm-only",
    import.meta.url).href).then((module) => {
    settle(module.env, configured);
    return module;
  });
  return wasmOnly;
}

// ONNX Runtime's wasm throws its C++ exceptions as bare numbers (a pointer).
function reasonOf(error) {
  const text = error?.message ?? String(error);
  return /^\d+$/.test(text) ? `ONNX Runtime's WebGPU backend aborted (native exception ${text})`
    : text;
}

let detection = null; // asked once per worker: an adapter does not come and go
const detect = () => (detection ??= detectWebGPU());

// Where each model ran last, by "<model>:<dtype>": {device, preference, fallback, adapter}.
// `told` marks a fallback already reported to Python (one warning per load).
const devices = new Map();

/** Where the models loaded in this worker run (the Models panel lists it). */
export function loadedDevices() {
  return Object.fromEntries([...devices].map(([key, { told, ...where }]) => [key, where]));
}

// {device, fallback} of a loaded model; `fallback` (why a model asked for WebGPU runs on
// wasm) only the first time it is asked.
function notice(modelId, dtype) {
  const where = devices.get(`${modelId}:${dtype}`);
  if (!where) return { device: null, fallback: null };
  const fallback = where.told ? null : where.fallback;
  where.told = true;
  return { device: where.device, fallback };
}

// Loads a model with `load(runtime, device)` once per device. The device: the user's
// choice (read at every call, so that a change applies to the next call) and the
// detection; a failure to load on WebGPU falls back to wasm for that model.
async function onDevice(kind, modelId, dtype, load) {
  const preference = await readDevicePreference();
  // wasm by choice: no adapter is asked for (Chromium warns on the console when it has none).
  const found = preference === "wasm" ? { webgpu: false, name: null } : await detect();
  let { device, fallback } = chooseDevice(preference, found);
  if (device === "webgpu" && webgpuFailed) {
    device = "wasm";
    fallback = `WebGPU failed to load a model earlier in this page: ${webgpuFailed}`;
  }
  const keyOf = (on) => `${kind}:${modelId}:${dtype}:${on}`;
  const { model, on, why } = await once(keyOf(device), async () => {
    if (device === "webgpu") {
      try {
        env.backends.onnx.webgpu.adapter = found.adapter; // the one detected, not another
        return { model: await load(bundled, "webgpu"), on: "webgpu", why: null };
      } catch (error) {
        webgpuFailed = reasonOf(error);
        const onWasm = await once(keyOf("wasm"), async () => ({
          model: await load(await wasmRuntime(), "wasm"), on: "wasm", why: null }));
        return { ...onWasm, why: `loading it on WebGPU failed: ${webgpuFailed}` };
      }
    }
    return { model: await load(await wasmRuntime(), "wasm"), on: "wasm", why: null };
  });
  const reason = why ?? fallback;
  const key = `${modelId}:${dtype}`;
  const before = devices.get(key);
  if (before?.device !== on || before.preference !== preference) { // else: told already
    devices.set(key, { device: on, preference, fallback: reason,
      adapter: on === "webgpu" ? found.name : null, told: false });
  }
  return model;
}

// -- loading --------------------------------------------------------------------------

const loaded = new Map();

function once(key, load) {
  if (!loaded.has(key)) {
    const promise = load();
    promise.catch(() => loaded.delete(key)); // a failed load may be retried
    loaded.set(key, promise);
  }
  return loaded.get(key);
}

function contextLength(config, tokenizer) {
  const limits = [config.max_position_embeddings, tokenizer.model_max_length]
    .filter((n) => typeof n === "number" && n > 0 && n < 1e9);
  return limits.length ? Math.min(...limits) : 512;
}

export function featureExtractor(modelId, dtype) {
  return onDevice("embed", modelId, dtype, async (runtime, device) => {
    const extractor = await runtime.pipeline("feature-extraction", modelId, { dtype, device });
    extractor.contextLength = contextLength(extractor.model.config, extractor.tokenizer);
    extractor.runtime = runtime;
    return extractor;
  });
}

function causalLM(modelId, dtype) {
  return onDevice("generate", modelId, dtype, async (runtime, device) => {
    const [tokenizer, model] = await Promise.all([
      runtime.AutoTokenizer.from_pretrained(modelId),
      runtime.AutoModelForCausalLM.from_pretrained(modelId, { dtype, device }),
    ]);
    // ONNX Runtime's wasm answers within one task, so a whole generate() would
    // too: the worker's Python (progress, an abort from the page) would wait
    // for its end. Each forward pass first yields to the event loop.
    const forward = model.forward.bind(model);
    model.forward = async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return forward(...args);
    };
    return { tokenizer, model, runtime, contextLength: contextLength(model.config, tokenizer) };
  });
}

// -- embeddings -----------------------------------------------------------------------

function rowLengths(mask) {
  const [rows, width] = mask.dims;
  const data = mask.data;
  const lengths = [];
  for (let r = 0; r < rows; r++) {
    let n = 0;
    for (let c = 0; c < width; c++) n += Number(data[r * width + c]);
    lengths.push(n);
  }
  return lengths;
}

// Each text's first tokens, its closing special token ([SEP]) kept, as the
// Rust tokenizers (taskloom.ai.onnx_local) truncate; padded to the longest.
function truncatedInputs(tokenizer, texts, limit, like, Tensor) {
  const specials = new Set(tokenizer.all_special_ids ??
    [tokenizer.sep_token_id, tokenizer.eos_token_id].filter((id) => id != null));
  const rows = texts.map((text) => {
    const ids = Array.from(tokenizer.encode(text));
    if (ids.length <= limit) return ids;
    const last = ids.at(-1);
    return specials.has(last) ? [...ids.slice(0, limit - 1), last] : ids.slice(0, limit);
  });
  const width = Math.max(...rows.map((ids) => ids.length));
  const pad = tokenizer.pad_token_id ?? 0;
  const padded = (value, padding) => rows.flatMap((ids) =>
    [...ids.map(value), ...Array(width - ids.length).fill(padding)].map(BigInt));
  const tensors = {
    input_ids: padded((id) => id, pad),
    attention_mask: padded(() => 1, 0),
    token_type_ids: padded(() => 0, 0),
  };
  const inputs = {};
  for (const key of Object.keys(like)) {
    inputs[key] = new Tensor("int64", BigInt64Array.from(tensors[key]), [rows.length, width]);
  }
  return inputs;
}

// Mean-pooled, L2-normalised vectors, as the feature-extraction pipeline makes
// them, but with the lengths checked first: a text longer than the model's
// context is answered {tooLong} unless `truncate` (the pipeline would cut it
// silently).
export async function embed(modelId, dtype, texts, truncate = false) {
  const extractor = await featureExtractor(modelId, dtype);
  const limit = extractor.contextLength;
  let inputs = extractor.tokenizer(texts, { padding: true, truncation: false });
  const lengths = rowLengths(inputs.attention_mask);
  const tooLong = lengths.map((n, index) => [index, n]).filter(([, n]) => n > limit);
  if (tooLong.length && !truncate) return { tooLong: tooLong[0], limit };
  const { Tensor, mean_pooling } = extractor.runtime; // the instance that loaded the model
  if (tooLong.length) inputs = truncatedInputs(extractor.tokenizer, texts, limit, inputs, Tensor);
  const outputs = await extractor.model(inputs);
  const pooled = mean_pooling(outputs.last_hidden_state, inputs.attention_mask).normalize(2, -1);
  return { vectors: pooled.tolist(), lengths, limit, truncated: tooLong,
    ...notice(modelId, dtype) };
}

// -- generation -----------------------------------------------------------------------

class TokenStreamer extends bundled.BaseStreamer { // put() is all generate() calls
  constructor(onToken) {
    super();
    this.onToken = onToken;
    this.seenPrompt = false;
  }

  put(ids) {
    if (!this.seenPrompt) { // generate() first puts the prompt
      this.seenPrompt = true;
      return;
    }
    this.onToken(Number(ids[0][0]));
  }

  end() {}
}

function eosIds(config) {
  const eos = config.eos_token_id;
  return new Set(eos == null ? [] : Array.isArray(eos) ? eos : [eos]);
}

// Starts a generation; answers {promise, interrupt}. `interrupt()` stops it
// before its next token. The decoding mirrors taskloom.ai.onnx_local: greedy
// when temperature is 0; text grows by what each token adds once it decodes
// to whole characters; past the context the window slides (the last
// `contextLength` tokens are read again for each further token).
export function startGeneration(modelId, dtype, prompt, options, onToken) {
  const stop = new bundled.InterruptableStoppingCriteria(); // called, whichever instance
  running += 1;
  started += 1;
  const promise = generate(modelId, dtype, prompt, options, onToken, stop)
    .finally(() => { running -= 1; });
  return { promise, interrupt: () => stop.interrupt() };
}

let running = 0;
let started = 0;
// How many generations this worker started, and how many still run (an
// interrupted one ends at its next token).
export const generations = () => ({ started, running });

async function generate(modelId, dtype, prompt, options, onToken, stop) {
  const { tokenizer, model, runtime, contextLength: limit } = await causalLM(modelId, dtype);
  const total = options.max_new_tokens ?? 64;
  let ids = Array.from(tokenizer.encode(prompt));
  const promptTokens = ids.length;
  if (ids.length > limit) {
    if (!options.truncate) return { tooLong: ids.length, limit };
    ids = ids.slice(-limit);
  }
  const eos = eosIds(model.config);
  const sampling = options.temperature > 0
    ? { do_sample: true, temperature: options.temperature, top_k: options.top_k ?? 0 }
    : { do_sample: false };
  const generated = [];
  let shown = "";
  let ended = false;
  const streamer = new TokenStreamer((token) => {
    if (eos.has(token)) {
      ended = true;
      return;
    }
    generated.push(token);
    const text = tokenizer.decode(generated, { skip_special_tokens: true });
    if (!text.endsWith("\ufffd")) shown += text.slice(shown.length);
    try {
      onToken?.(generated.length, total, shown); // the text so far: Python streams it
    } catch {
      // the caller went away (its job was aborted); the interrupt stops us next
    }
  });
  const run = async (window, count) => {
    const input_ids = [window.map(BigInt)];
    await model.generate({
      input_ids: tensorOf(runtime.Tensor, input_ids),
      attention_mask: tensorOf(runtime.Tensor, [window.map(() => 1n)]),
      max_new_tokens: count,
      ...sampling,
      streamer,
      stopping_criteria: [stop],
    });
    streamer.seenPrompt = false;
  };
  // While prompt + output fit the context, one generate() with its KV cache.
  const first = Math.min(total, limit - ids.length + 1);
  if (first > 0) await run(ids, first);
  while (!ended && !stop.interrupted && generated.length < total) {
    await run([...ids, ...generated].slice(-limit), 1);
  }
  return {
    text: shown,
    tokens: generated.length,
    promptTokens,
    truncated: promptTokens > limit,
    interrupted: stop.interrupted,
    ...notice(modelId, dtype),
  };
}

function tensorOf(Tensor, rows) {
  return new Tensor("int64", BigInt64Array.from(rows.flat()), [rows.length, rows[0].length]);
}

// -- downloads ------------------------------------------------------------------------

// Fetches `files` from `baseURL` into Cache Storage under `folderURL`,
// calling onProgress(done, total) as bytes arrive. Sizes come first (HEAD)
// so that progress counts the whole folder. `required` files must exist;
// others are skipped on 404. A manifest stored last marks the folder
// complete; a complete folder is not fetched again ({cached: true}).
export async function download(baseURL, folderURL, required, optional, onProgress, signal,
  tasks = null) {
  const cache = await caches.open(DOWNLOADS_CACHE);
  const manifestURL = folderURL + MANIFEST;
  const existing = await cache.match(manifestURL);
  if (existing) {
    const manifest = await existing.json();
    // Another variant of the same folder may lack this one's weights: fetch again.
    if (required.every((file) => file in manifest.files)) return { cached: true, ...manifest };
  }
  const urlOf = (file) => new URL(file.split("/").map(encodeURIComponent).join("/"), baseURL).href;
  const sizes = {};
  for (const file of [...required, ...optional]) {
    const response = await fetch(urlOf(file), { method: "HEAD", signal });
    if (response.status === 404) {
      if (required.includes(file)) return { missing: file, url: urlOf(file) };
      continue;
    }
    if (!response.ok) return { failed: `${response.status} ${response.statusText}`, url: urlOf(file) };
    sizes[file] = Number(response.headers.get("content-length") ?? 0);
  }
  const total = Object.values(sizes).reduce((a, b) => a + b, 0) || 1;
  let done = 0;
  onProgress?.(0, total);
  for (const file of Object.keys(sizes)) {
    const response = await fetch(urlOf(file), { signal });
    if (!response.ok) return { failed: `${response.status} ${response.statusText}`, url: urlOf(file) };
    const reader = response.body.getReader();
    const chunks = [];
    let got = 0;
    for (;;) {
      const { done: finished, value } = await reader.read();
      if (finished) break;
      chunks.push(value);
      got += value.byteLength;
      done += value.byteLength;
      onProgress?.(Math.min(done, total), total);
    }
    if (sizes[file] && got !== sizes[file]) {
      return { failed: `ended after ${got} of ${sizes[file]} bytes`, url: urlOf(file) };
    }
    sizes[file] = got;
    const headers = { "content-type": response.headers.get("content-type") ?? "application/octet-stream",
      "content-length": String(got) };
    await cache.put(folderURL + file, new Response(new Blob(chunks), { headers }));
  }
  const manifest = { base_url: baseURL, files: sizes, tasks };
  await cache.put(manifestURL, new Response(JSON.stringify(manifest),
    { headers: { "content-type": "application/json" } }));
  return { cached: false, ...manifest };
}

export async function readConfig(folderURL) {
  const response = await cachedFirst(folderURL + "config.json");
  return response.ok ? await response.json() : null;
}

export { env, pipeline };
