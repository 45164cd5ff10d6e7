// The Models panel: every model the engine can run (list_models), with its size and
// whether its files are stored in this browser, a download with progress (the
// DownloadModel task, as a graph would run it: progress comes back as
// `model_download` events) that Cancel (or Esc in the panel) stops, keeping none of it, the cloud models with whether Settings gave them a key,
// and what the local models run on: the acceleration this browser has (a WebGPU adapter,
// else wasm), the setting that picks it (auto, webgpu or wasm: web/webgpu.js) and, per
// loaded ONNX model, the device it runs on (the engine's worker says, web/models.js).
import { page } from "../page.js";
import { DEVICES, chooseDevice, detectWebGPU, readDevicePreference, saveDevicePreference }
  from "../webgpu.js";

const $ = (id) => document.getElementById(id);
const STORED = {
  downloads: "stored (downloaded)",
  site: "stored (offline copy of the site)",
  disk: "on disk",
  package: "in its package",
};

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

export function formatBytes(bytes) {
  if (bytes == null) return "unknown";
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KB", "MB", "GB"];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function buildPanel() {
  const root = $("panel-models");
  root.classList.add("models-panel");
  root.innerHTML = `
    <section class="panel-section" aria-labelledby="models-heading">
      <div class="panel-bar">
        <h2 id="models-heading">Local models</h2>
        <button type="button" id="models-refresh">Refresh</button>
      </div>
      <div class="panel-bar">
        <label>Run local models on <select id="models-device">
          <option value="auto">auto (WebGPU when there is an adapter)</option>
          <option value="webgpu">WebGPU</option>
          <option value="wasm">wasm</option>
        </select></label>
        <span id="models-backend" class="panel-status" role="status" aria-live="polite"></span>
      </div>
      <table id="models-local">
        <thead><tr><th scope="col">Model</th><th scope="col">Tasks</th><th scope="col">Size</th>
          <th scope="col">In this browser</th><th scope="col">Runs on</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody></tbody>
      </table>
      <form id="model-download-form" class="panel-bar" novalidate>
        <label>Model id <input id="model-download-id" required spellcheck="false"
          placeholder="onnx:owner/name:q8" size="30"></label>
        <label>From <input id="model-download-url" spellcheck="false" size="30"
          placeholder="a folder URL (default: Hugging Face)"></label>
        <button type="submit" id="model-download">Download</button>
      </form>
      <div class="model-progress panel-bar">
        <progress id="model-download-progress" max="1" value="0" hidden
          aria-label="Download progress"></progress>
        <button type="button" id="model-download-cancel" hidden
          aria-keyshortcuts="Escape">Cancel download</button>
        <span id="models-status" class="panel-status" role="status" aria-live="polite"></span>
      </div>
    </section>
    <section class="panel-section" aria-labelledby="cloud-models-heading">
      <h2 id="cloud-models-heading">Cloud models</h2>
      <table id="models-cloud">
        <thead><tr><th scope="col">Model</th><th scope="col">Tasks</th><th scope="col">API key</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>`;
}

// -- what the local models run on ------------------------------------------------------

let detection = null; // this page's answer; the worker asks for itself (the same browser)

// An adapter is asked for: navigator.gpu alone is no WebGPU (headless Chromium has it and
// gives no adapter; Chromium then prints a console warning, not an error).
async function showAcceleration() {
  detection ??= await detectWebGPU();
  const preference = await readDevicePreference();
  $("models-device").value = preference;
  const { device } = chooseDevice(preference, detection);
  const out = $("models-backend");
  const found = detection.webgpu ? `WebGPU (${detection.name})` : `wasm (${detection.reason})`;
  const runs = device === "webgpu"
    ? "Local models run on WebGPU (a model that cannot falls back to wasm)."
    : detection.webgpu
      ? "Local models run on WebAssembly (wasm), as the setting asks."
      : preference === "webgpu"
        ? "WebGPU is asked for but cannot run here: local models run on WebAssembly (wasm)."
        : "Local models run on WebAssembly (wasm).";
  out.textContent = `Acceleration: ${found}. ${runs}`;
  out.dataset.webgpu = String("gpu" in navigator); // the API is there (maybe with no adapter)
  out.dataset.adapter = detection.name ?? "";
  out.dataset.device = device;
  out.dataset.preference = preference;
}

async function chooseDeviceSetting(preference) {
  if (!DEVICES.includes(preference)) return;
  await saveDevicePreference(preference);
  await showAcceleration();
  status(`local models: ${preference}, from their next call`);
  document.body.dataset.modelDevice = preference;
}

// A loaded ONNX model's device, as the worker reports it (null: not loaded yet).
function deviceCell(model) {
  const cell = element("td", { className: "model-device" });
  const where = model.device;
  if (model.provider !== "onnx") {
    cell.textContent = "its own runtime";
  } else if (!where) {
    cell.textContent = "not loaded yet";
  } else {
    const name = where.device === "webgpu" ? `WebGPU${where.adapter ? ` (${where.adapter})` : ""}`
      : "wasm";
    cell.textContent = where.fallback ? `${name}: fell back from WebGPU (${where.fallback})` : name;
    cell.dataset.device = where.device;
    if (where.fallback) cell.dataset.fallback = where.fallback;
  }
  return cell;
}

// -- the list --------------------------------------------------------------------------

let downloading = null; // the model id being fetched, or null

function status(text, state = "") {
  const out = $("models-status");
  out.textContent = text;
  out.classList.toggle("error", state === "error");
  if (state) document.body.dataset.modelDownload = state;
}

// A site model's own folder, to fetch into the downloads cache (it then runs offline).
function folderURL(model) {
  const location = model.location || "";
  if (/^[a-z]+:/i.test(location)) return location.endsWith("/") ? location : `${location}/`;
  return location ? `models/${location.replace(/^\/+|\/+$/g, "")}/` : null;
}

function localRow(model) {
  const row = element("tr");
  row.dataset.modelId = model.id;
  row.dataset.cached = String(model.cached);
  const where = model.cached ? (STORED[model.stored] || "stored") : "not stored";
  const action = element("td");
  const url = model.provider === "onnx" ? folderURL(model) : null;
  if (!model.cached && url) {
    const button = element("button", { type: "button", className: "model-fetch",
      textContent: "Download" });
    button.setAttribute("aria-label", `Download ${model.id} into this browser`);
    button.disabled = downloading !== null;
    button.addEventListener("click", () => download(model.id, url));
    action.append(button);
  }
  row.append(
    element("th", { scope: "row", className: "model-id", textContent: model.id }),
    element("td", { className: "model-tasks", textContent: model.task.join(", ") }),
    element("td", { className: "model-size", textContent: formatBytes(model.size_bytes) }),
    element("td", { className: "model-cached", textContent: where }),
    deviceCell(model),
    action);
  row.querySelector(".model-size").dataset.bytes = String(model.size_bytes ?? "");
  return row;
}

function cloudRow(model) {
  const row = element("tr");
  row.dataset.modelId = model.id;
  row.dataset.keySet = String(model.key_set);
  const key = element("td", { className: "model-key" });
  if (model.key_set) {
    key.textContent = "key set";
  } else {
    const link = element("button", { type: "button", className: "link",
      textContent: "no key: add one in Settings" });
    link.addEventListener("click", () => page.showPanel("settings", { focus: true }));
    key.append(link);
  }
  row.append(element("th", { scope: "row", className: "model-id", textContent: model.id }),
    element("td", { className: "model-tasks", textContent: model.task.join(", ") }), key);
  return row;
}

let listing = 0; // the latest refresh: an older one's late answer is dropped

async function refresh() {
  const mine = ++listing;
  const engine = await page.ready;
  let reply;
  try {
    reply = await engine.listModels();
  } catch (error) {
    if (mine !== listing) return;
    return status(`cannot list the models: ${error.message}`, "error");
  }
  // A refresh asked while the engine was busy (a run) can answer after a later one:
  // its list is older, and must not replace the newer one.
  if (mine !== listing) return;
  const models = reply.models;
  $("models-local").tBodies[0].replaceChildren(...models.filter((m) => m.local).map(localRow));
  $("models-cloud").tBodies[0].replaceChildren(...models.filter((m) => !m.local).map(cloudRow));
  window.taskloom.models = models;
  document.body.dataset.models = String(models.length);
}

// -- downloads -------------------------------------------------------------------------

function onEvents({ detail: events }) {
  for (const event of events) {
    if (event.kind !== "model_download" || event.model !== downloading) continue;
    const bar = $("model-download-progress");
    if (event.progress != null) bar.value = event.progress;
    if (event.message) status(`${downloading}: ${event.message}`);
  }
}

async function download(modelId, url) {
  if (downloading) return;
  downloading = modelId;
  const bar = $("model-download-progress");
  const cancelButton = $("model-download-cancel");
  bar.hidden = false;
  bar.value = 0;
  // The button pressed is disabled now: keep the keyboard's place on Cancel.
  const hadFocus = $("panel-models").contains(document.activeElement);
  $("model-download").disabled = true;
  for (const button of document.querySelectorAll(".model-fetch")) button.disabled = true;
  cancelButton.hidden = false;
  cancelButton.disabled = false;
  if (hadFocus) cancelButton.focus();
  status(`downloading ${modelId}…`, "running");
  try {
    const engine = await page.ready;
    const reply = await engine.downloadModel(modelId, url);
    if (reply.ok) {
      bar.value = 1;
      status(`${reply.model} is downloaded and stored in this browser`, "done");
    } else if (reply.aborted) {
      bar.hidden = true;
      status(`${modelId}: download cancelled, none of it is kept`, "cancelled");
    } else {
      status(`${modelId} was not downloaded: ${reply.error}`, "error");
    }
  } catch (error) {
    status(`${modelId} was not downloaded: ${error.message}`, "error");
  } finally {
    downloading = null;
    const focused = document.activeElement === cancelButton;
    cancelButton.hidden = true;
    $("model-download").disabled = false;
    await refresh();
    if (focused) $("models-refresh").focus();
  }
}

async function cancel() {
  if (!downloading) return;
  const modelId = downloading;
  $("model-download-cancel").disabled = true;
  status(`cancelling the download of ${modelId}…`);
  const engine = await page.ready;
  const reply = await engine.abortDownload(modelId);
  // Too late (it had just ended): download() reports how it ended.
  if (!reply.ok) console.warn(`could not cancel ${modelId}: ${reply.error}`);
}

function main() {
  if (!$("panel-models")) return;
  buildPanel();
  showAcceleration().catch((error) => console.warn(`WebGPU detection failed: ${error.message}`));
  $("models-device").addEventListener("change", (event) => {
    chooseDeviceSetting(event.target.value)
      .catch((error) => status(`the setting was not saved: ${error.message}`, "error"));
  });
  page.on("run-events", onEvents);
  // A graph's own DownloadModel adds a model: the list follows if it is on screen.
  page.on("run-end", () => {
    if (document.body.dataset.panel === "models") refresh();
  });
  $("models-refresh").addEventListener("click", () => refresh());
  $("model-download-cancel").addEventListener("click", () => cancel());
  $("panel-models").addEventListener("keydown", (event) => {
    if (event.key !== "Escape" || !downloading) return;
    event.preventDefault();
    cancel();
  });
  $("model-download-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("model-download-id");
    const modelId = id.value.trim();
    if (!modelId) {
      id.setAttribute("aria-invalid", "true");
      return status("give the id to register the model as, e.g. onnx:owner/name:q8", "error");
    }
    id.removeAttribute("aria-invalid");
    download(modelId, $("model-download-url").value.trim() || null);
  });
  // Listed when the panel is first shown, and again whenever the keys change.
  document.addEventListener("taskloom:panel", ({ detail }) => {
    if (detail === "models") refresh();
  });
  document.addEventListener("taskloom:cloud-keys", () => {
    if (document.body.dataset.models !== undefined) refresh();
  });
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main);
} else {
  main();
}
