// The Settings panel: API keys and base URLs for OpenAI and Anthropic, and each cloud
// provider's limits (requests per minute, calls at once).
//
// Keys: kept in this browser's localStorage (this origin only) and handed to the
// engine's worker (configure_cloud), which holds them in memory for the cloud
// providers (taskloom.browser.cloud). A key is never written back into a field a
// script can read: the field is emptied once the key is saved, and the panel shows
// only "key set (…last 4)". An empty key field on Save keeps the saved key; "Forget"
// removes it. The worker answers only whether a key is set. Base URLs are not
// secrets, so they are filled back.
//
// Limits: kept in localStorage too and applied to the page's cloud queues through
// set_provider_limits (taskloom.browser.cloud_limits), at every engine start.
import { page } from "../page.js";

const KEYS_STORAGE = "taskloom-cloud-settings";
const LIMITS_STORAGE = "taskloom-provider-limits";
const VENDORS = [
  { id: "openai", title: "OpenAI", baseHint: "https://api.openai.com/v1" },
  { id: "anthropic", title: "Anthropic", baseHint: "https://api.anthropic.com" },
];
const $ = (id) => document.getElementById(id);

function readStored(key) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value && typeof value === "object" ? value : {};
  } catch {
    return {}; // unreadable settings are as good as none
  }
}

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function buildPanel() {
  const root = $("panel-settings");
  root.classList.add("settings-panel");
  root.innerHTML = `
    <section class="panel-section cloud-settings" aria-labelledby="cloud-heading">
      <h2 id="cloud-heading">Cloud models</h2>
      <p class="hint">Keys stay in this browser and go only to the vendor's API, or to the
      base URL you give (an OpenAI-compatible server). A saved key is never shown again:
      the panel keeps only its last four characters on screen.</p>
      <form id="cloud-form" novalidate>
        <div class="cloud-fields"></div>
        <div class="panel-bar">
          <button id="cloud-save" type="submit">Save keys</button>
          <button id="cloud-clear" type="button">Forget all keys</button>
          <span id="cloud-status" class="panel-status" role="status"></span>
        </div>
      </form>
    </section>
    <section class="panel-section limit-settings" aria-labelledby="limits-heading">
      <h2 id="limits-heading">Limits per provider</h2>
      <p class="hint">How fast the page calls each cloud API: raise them for a higher tier
      of your account. They apply to the page's queues at once, and to the runs after.</p>
      <form id="limits-form" novalidate>
        <table>
          <thead><tr><th scope="col">Provider</th><th scope="col">Requests per minute</th>
            <th scope="col">Calls at once</th></tr></thead>
          <tbody id="limits-rows"></tbody>
        </table>
        <div class="panel-bar">
          <button id="limits-save" type="submit">Save limits</button>
          <button id="limits-reset" type="button">Back to the defaults</button>
          <span id="limits-status" class="panel-status" role="status"></span>
        </div>
      </form>
    </section>`;
  const fields = root.querySelector(".cloud-fields");
  for (const { id, title, baseHint } of VENDORS) {
    const key = element("input", { type: "password", id: `cloud-${id}-key`, autocomplete: "off",
      spellcheck: false, placeholder: "paste a new key" });
    key.setAttribute("aria-describedby", `cloud-${id}-key-state`);
    const base = element("input", { type: "url", id: `cloud-${id}-base-url`, spellcheck: false,
      placeholder: `${baseHint} (default)` });
    const forget = element("button", { type: "button", id: `cloud-${id}-forget`,
      textContent: "Forget key" });
    forget.dataset.vendor = id;
    forget.setAttribute("aria-label", `Forget key: ${title}`); // starts with its visible text
    fields.append(element("fieldset", { className: "cloud-vendor" },
      element("legend", { textContent: title }),
      element("label", {}, "API key ", key),
      element("span", { id: `cloud-${id}-key-state`, className: "key-state" }),
      forget,
      element("label", {}, "Base URL ", base)));
  }
  const rows = $("limits-rows");
  for (const { id, title } of VENDORS) {
    const number = (field, label) => {
      const input = element("input", { type: "number", min: 1, step: 1, id: `limit-${id}-${field}`,
        inputMode: "numeric" });
      input.dataset.provider = id;
      input.dataset.field = field;
      input.setAttribute("aria-label", `${title} ${label}`);
      return element("td", {}, input);
    };
    const row = element("tr", {}, element("th", { scope: "row", textContent: title }),
      number("requests_per_minute", "requests per minute"),
      number("max_concurrent", "calls at once"));
    row.dataset.provider = id;
    rows.append(row);
  }
}

// -- keys ------------------------------------------------------------------------------

function showKeyStates(settings) {
  for (const { id } of VENDORS) {
    const key = settings[id]?.api_key;
    const state = $(`cloud-${id}-key-state`);
    state.textContent = key ? `key set (…${key.slice(-4)})` : "no key";
    state.dataset.keySet = String(Boolean(key));
    $(`cloud-${id}-forget`).disabled = !key;
    $(`cloud-${id}-base-url`).value = settings[id]?.base_url || "";
  }
}

function showStatus(text, state) {
  const status = $("cloud-status");
  status.textContent = text;
  status.classList.toggle("error", state === "error");
  document.body.dataset.cloudSettings = state;
}

// Tells the worker; its answer says which vendors have a key, never the key.
async function applyKeys(engine, settings) {
  const answer = await engine.request("configure_cloud", JSON.stringify(settings));
  if (!answer.ok) return showStatus(answer.error, "error");
  const ready = VENDORS.filter(({ id }) => answer[id].api_key_set || answer[id].base_url)
    .map(({ title }) => title);
  showStatus(ready.length ? `ready: ${ready.join(", ")}` : "no cloud keys set", "applied");
  document.dispatchEvent(new CustomEvent("taskloom:cloud-keys")); // the Models panel listens
}

function saveKeys(change) {
  const settings = change(readStored(KEYS_STORAGE));
  localStorage.setItem(KEYS_STORAGE, JSON.stringify(settings));
  for (const { id } of VENDORS) $(`cloud-${id}-key`).value = ""; // never left in a field
  showKeyStates(settings);
  if (!page.engine) return showStatus("saved; the engine is still starting", "pending");
  applyKeys(page.engine, settings)
    .catch(() => showStatus("the engine did not take the settings", "error"));
}

function fromForm(stored) {
  const settings = {};
  for (const { id } of VENDORS) {
    const typed = $(`cloud-${id}-key`).value.trim();
    settings[id] = {
      api_key: typed || stored[id]?.api_key || null, // empty: keep the saved key
      base_url: $(`cloud-${id}-base-url`).value.trim() || null,
    };
  }
  return settings;
}

// -- limits ----------------------------------------------------------------------------

function showLimits(limits) {
  for (const [provider, values] of Object.entries(limits)) {
    for (const field of ["requests_per_minute", "max_concurrent"]) {
      const input = $(`limit-${provider}-${field}`);
      if (!input) continue;
      input.value = String(values[field]);
      input.placeholder = String(values.default[field]);
      input.title = `default ${values.default[field]}`;
    }
  }
}

function limitsStatus(text, state) {
  const status = $("limits-status");
  status.textContent = text;
  status.classList.toggle("error", state === "error");
  document.body.dataset.providerLimits = state;
}

// Only the numbers that differ from nothing typed are sent; an empty field is the default.
function limitsFromForm() {
  const limits = {};
  const problems = [];
  for (const input of document.querySelectorAll("#limits-rows input")) {
    const { provider, field } = input.dataset;
    limits[provider] ??= {};
    input.removeAttribute("aria-invalid");
    const text = input.value.trim();
    if (!text) continue;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1) {
      input.setAttribute("aria-invalid", "true");
      problems.push(`${input.getAttribute("aria-label")} must be a whole number of at least 1`);
      continue;
    }
    limits[provider][field] = value;
  }
  return { limits, problems };
}

async function applyLimits(engine, limits) {
  const answer = await engine.setProviderLimits(limits);
  if (!answer.ok) return limitsStatus(answer.error, "error");
  showLimits(answer.limits);
  const shown = VENDORS.map(({ id, title }) => `${title} ${answer.limits[id].requests_per_minute}/min, `
    + `${answer.limits[id].max_concurrent} at once`);
  limitsStatus(`applied: ${shown.join("; ")}`, "applied");
}

// -- start -----------------------------------------------------------------------------

function main() {
  if (!$("panel-settings")) return;
  buildPanel();
  showKeyStates(readStored(KEYS_STORAGE));
  $("cloud-form").addEventListener("submit", (event) => {
    event.preventDefault(); // stay on the page: the settings never go into a URL
    saveKeys(fromForm);
  });
  $("cloud-clear").addEventListener("click", () => saveKeys(() => ({})));
  for (const { id } of VENDORS) {
    $(`cloud-${id}-forget`).addEventListener("click", () => saveKeys((stored) => {
      const kept = { ...stored, [id]: { ...stored[id], api_key: null } };
      return kept;
    }));
  }
  $("limits-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const { limits, problems } = limitsFromForm();
    if (problems.length) return limitsStatus(problems.join("; "), "error");
    localStorage.setItem(LIMITS_STORAGE, JSON.stringify(limits));
    if (!page.engine) return limitsStatus("saved; the engine is still starting", "pending");
    applyLimits(page.engine, limits).catch((error) => limitsStatus(error.message, "error"));
  });
  $("limits-reset").addEventListener("click", () => {
    localStorage.removeItem(LIMITS_STORAGE);
    for (const input of document.querySelectorAll("#limits-rows input")) input.value = "";
    if (page.engine) {
      applyLimits(page.engine, {}).catch((error) => limitsStatus(error.message, "error"));
    }
  });
  // Each engine (the first, and a fresh one after an Abort had to restart it) gets the
  // keys and limits again: it keeps them in memory only.
  page.ready.then((engine) => engine.whenStarted((client) => {
    applyKeys(client, readStored(KEYS_STORAGE))
      .catch(() => showStatus("the engine did not take the settings", "error"));
    applyLimits(client, readStored(LIMITS_STORAGE))
      .catch((error) => limitsStatus(error.message, "error"));
  }));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main);
} else {
  main();
}
