// Bergamot translation in the engine's worker, for taskloom.browser.bergamot_provider.
//
// bergamot-translator's worker script (translator-worker.js) loads Marian's
// Emscripten glue with importScripts, so it cannot run inside the engine's
// module worker: it runs as its own classic Worker, started from here on the
// first translation, and spoken to with its own {id, name, args} messages.
// Translating there also keeps the engine's worker free while Marian works.
//
// Lines from concurrent calls (separate jobs, separate tasks) are queued per
// model and sent as one batch whenever Marian is idle, as
// bergamot-translator's own BatchTranslator does: Marian packs a batch into
// one matrix product, which is where its speed comes from. An idle Marian
// waits until no line came for QUIET_MS (at most GATHER_MS) before it starts:
// an expansion's jobs reach it a few milliseconds apart, and a first batch of
// one sentence would hold the others back for a whole translation.

export const DOWNLOADS_CACHE = "taskloom-models"; // as web/models.js
const MANIFEST = ".taskloom-download.json";
const MAX_BATCH = 256; // lines per call to Marian
const QUIET_MS = 15;
const GATHER_MS = 60;

let engine = null; // Promise<{call}> of the one translator worker
const loaded = new Map(); // model key -> Promise (model loaded in the worker)
const queues = new Map(); // model key -> [{text, resolve, reject}]
let busy = false;
let gathering = null; // {timer, since}: an idle Marian waiting for more lines

function startEngine(workerURL) {
  engine ??= new Promise((resolve, reject) => {
    const worker = new Worker(workerURL); // classic: it calls importScripts
    let serial = 0;
    const pending = new Map();
    const fail = (error) => {
      for (const { reject: rejectCall } of pending.values()) rejectCall(error);
      pending.clear();
      engine = null; // a broken worker is dropped: the next call starts a fresh one
      loaded.clear();
      worker.terminate();
      reject(error);
    };
    worker.addEventListener("message", ({ data: { id, result, error } }) => {
      const call = pending.get(id);
      if (!call) return;
      pending.delete(id);
      if (error !== undefined) call.reject(new Error(`bergamot-translator: ${error.message}`));
      else call.resolve(result);
    });
    worker.addEventListener("error", (event) => {
      event.preventDefault();
      fail(new Error(`bergamot-translator's worker failed: ${event.message || workerURL}`));
    });
    const call = (name, args, transfer = []) => new Promise((ok, ko) => {
      const id = ++serial;
      pending.set(id, { resolve: ok, reject: ko });
      worker.postMessage({ id, name, args }, transfer);
    });
    call("initialize", [{ cacheSize: 0 }]).then(() => resolve({ call }), fail);
  });
  return engine;
}

// A file of the model: from the downloads in Cache Storage first, else the site.
async function fetchFile(url) {
  const cache = await caches.open(DOWNLOADS_CACHE);
  const response = (await cache.match(url)) ?? (await fetch(url));
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

// files: {model, shortlist, vocabs: [url, ...], config: {option: value}}
function loadModel(key, files) {
  let promise = loaded.get(key);
  if (!promise) {
    promise = (async () => {
      const [model, shortlist, ...vocabs] = await Promise.all(
        [files.model, files.shortlist, ...files.vocabs].map(fetchFile));
      const { call } = await engine;
      await call("loadTranslationModel", [{ from: key, to: "" },
        { model, shortlist, vocabs, config: files.config ?? {} }], [model, shortlist, ...vocabs]);
    })();
    loaded.set(key, promise);
    promise.catch(() => loaded.delete(key)); // a failed fetch may be retried
  }
  return promise;
}

// Called when lines arrive: starts a batch once they stop coming (see the top).
function gather() {
  if (busy) return; // the running batch's end flushes what came meanwhile
  const now = performance.now();
  if (gathering) clearTimeout(gathering.timer);
  const since = gathering?.since ?? now;
  const wait = Math.max(0, Math.min(QUIET_MS, since + GATHER_MS - now));
  gathering = { since, timer: setTimeout(() => { gathering = null; flush(); }, wait) };
}

async function flush() {
  if (busy) return;
  const key = [...queues.keys()][0];
  if (key === undefined) return;
  const queue = queues.get(key);
  const batch = queue.splice(0, MAX_BATCH);
  if (!queue.length) queues.delete(key);
  busy = true;
  try {
    const { call } = await engine;
    const responses = await call("translate", [{
      models: [{ from: key, to: "" }],
      texts: batch.map(({ text }) => ({ text, html: false, qualityScores: false })),
    }]);
    batch.forEach(({ resolve }, i) => resolve(responses[i].target.text));
  } catch (error) {
    batch.forEach(({ reject }) => reject(error));
  } finally {
    busy = false;
  }
  if (queues.size) flush();
}

// The translations of `lines` (each one line of text, not blank), in order.
// `gathered`: the caller sent every line it has at once (taskloom's batcher),
// so an idle Marian starts at once instead of waiting for more.
export async function translate(workerURL, key, files, lines, gathered = false) {
  await startEngine(workerURL);
  await loadModel(key, files);
  const done = Promise.all(lines.map((text) => new Promise((resolve, reject) => {
    if (!queues.has(key)) queues.set(key, []);
    queues.get(key).push({ text, resolve, reject });
  })));
  if (gathered && !gathering) flush();
  else gather();
  return done;
}

// -- downloads ------------------------------------------------------------------------

async function gunzip(blob) {
  return new Response(blob.stream().pipeThrough(new DecompressionStream("gzip"))).blob();
}

// Fetches `files` (paths under `baseURL`) into Cache Storage under `folderURL`,
// calling onProgress(done, total) as bytes arrive. A file the server lacks is
// looked for as `<file>.gz` too (how Mozilla publishes its models) and stored
// decompressed under its own name. A manifest stored last marks the folder
// complete; a complete folder is not fetched again ({cached: true}).
export async function download(baseURL, folderURL, files, onProgress, signal, extra) {
  const cache = await caches.open(DOWNLOADS_CACHE);
  const manifestURL = folderURL + MANIFEST;
  const existing = await cache.match(manifestURL);
  if (existing) {
    const manifest = await existing.json();
    if (files.every((file) => file in manifest.files)) return { cached: true, ...manifest };
  }
  const urlOf = (file) => new URL(file.split("/").map(encodeURIComponent).join("/"), baseURL).href;
  const responses = [];
  for (const file of files) {
    let url = urlOf(file);
    let response = await fetch(url, { signal });
    let gzipped = false;
    if (response.status === 404) {
      url += ".gz";
      response = await fetch(url, { signal });
      gzipped = true;
    }
    if (response.status === 404) return { missing: file, url: urlOf(file) };
    if (!response.ok) return { failed: `${response.status} ${response.statusText}`, url };
    responses.push({ file, url, response, gzipped });
  }
  const total = responses.reduce(
    (sum, { response }) => sum + Number(response.headers.get("content-length") ?? 0), 0) || 1;
  let done = 0;
  onProgress?.(0, total);
  const sizes = {};
  for (const { file, url, response, gzipped } of responses) {
    const reader = response.body.getReader();
    const chunks = [];
    for (;;) {
      const { done: finished, value } = await reader.read();
      if (finished) break;
      chunks.push(value);
      done += value.byteLength;
      onProgress?.(Math.min(done, total), total);
    }
    let blob = new Blob(chunks);
    if (gzipped) {
      try {
        blob = await gunzip(blob);
      } catch (error) {
        return { failed: `not a gzip file (${error.message})`, url };
      }
    }
    sizes[file] = blob.size;
    const headers = { "content-type": "application/octet-stream", "content-length": String(blob.size) };
    await cache.put(folderURL + file, new Response(blob, { headers }));
  }
  const manifest = { base_url: baseURL, files: sizes, ...extra };
  await cache.put(manifestURL, new Response(JSON.stringify(manifest),
    { headers: { "content-type": "application/json" } }));
  return { cached: false, ...manifest };
}

// The manifests of the completed Bergamot downloads under `modelsURL`: [[folderURL, manifest]].
export async function downloads(modelsURL) {
  const cache = await caches.open(DOWNLOADS_CACHE);
  const found = [];
  for (const request of await cache.keys()) {
    if (!request.url.startsWith(modelsURL) || !request.url.endsWith(MANIFEST)) continue;
    const manifest = await (await cache.match(request)).json();
    if (manifest.provider === "bergamot") found.push([request.url.slice(0, -MANIFEST.length), manifest]);
  }
  return found;
}
