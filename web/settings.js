// The cloud settings panel: an API key and an optional base URL for OpenAI and
// Anthropic. They are kept in this browser's localStorage (this origin only)
// and handed to the engine's worker, which holds them in memory for the cloud
// providers (taskloom.browser.cloud). They never go into a graph, a saved
// graph, a run's outputs or the console: the worker answers only whether a
// key is set.

const STORAGE_KEY = "taskloom-cloud-settings";
const VENDORS = [
  { id: "openai", title: "OpenAI", baseHint: "https://api.openai.com/v1" },
  { id: "anthropic", title: "Anthropic", baseHint: "https://api.anthropic.com" },
];

function readStored() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE_KEY)) || {};
  } catch {
    return {}; // unreadable settings are as good as none
  }
}

function buildPanel() {
  const section = document.createElement("section");
  section.className = "cloud-settings";
  section.innerHTML = `<h2>Cloud models</h2>
    <p class="hint">Keys stay in this browser (localStorage) and go only to the
    vendor's API, or to the base URL you give (an OpenAI-compatible server).</p>
    <form id="cloud-form">
      <div class="cloud-fields"></div>
      <div class="actions">
        <button id="cloud-save" type="submit">Save keys</button>
        <button id="cloud-clear" type="button">Forget keys</button>
        <span id="cloud-status" role="status"></span>
      </div>
    </form>`;
  const fields = section.querySelector(".cloud-fields");
  for (const { id, title, baseHint } of VENDORS) {
    const row = document.createElement("fieldset");
    row.innerHTML = `<legend></legend>
      <label>API key <input type="password" autocomplete="off" spellcheck="false"
        id="cloud-${id}-key"></label>
      <label>Base URL <input type="url" spellcheck="false" id="cloud-${id}-base-url"></label>`;
    row.querySelector("legend").textContent = title;
    row.querySelector(`#cloud-${id}-base-url`).placeholder = `${baseHint} (default)`;
    fields.append(row);
  }
  document.getElementById("panel-settings").append(section);
  return section;
}

function readForm() {
  const settings = {};
  for (const { id } of VENDORS) {
    settings[id] = {
      api_key: document.getElementById(`cloud-${id}-key`).value.trim() || null,
      base_url: document.getElementById(`cloud-${id}-base-url`).value.trim() || null,
    };
  }
  return settings;
}

function fillForm(settings) {
  for (const { id } of VENDORS) {
    document.getElementById(`cloud-${id}-key`).value = settings[id]?.api_key || "";
    document.getElementById(`cloud-${id}-base-url`).value = settings[id]?.base_url || "";
  }
}

function showStatus(text, state) {
  document.getElementById("cloud-status").textContent = text;
  document.body.dataset.cloudSettings = state;
}

// Tells the worker; its answer says which vendors have a key, never the key.
async function apply(settings) {
  const engine = window.taskloom.engine;
  if (!engine) return showStatus("saved; the engine is still starting", "pending");
  const answer = await engine.request("configure_cloud", JSON.stringify(settings));
  if (!answer.ok) return showStatus(answer.error, "error");
  const ready = VENDORS.filter(({ id }) => answer[id].api_key_set || answer[id].base_url)
    .map(({ title }) => title);
  showStatus(ready.length ? `ready: ${ready.join(", ")}` : "no cloud keys set", "applied");
}

function engineReady() {
  return new Promise((resolve) => {
    if (document.body.dataset.engineReady !== undefined) return resolve();
    new MutationObserver((_changes, observer) => {
      if (document.body.dataset.engineReady === undefined) return;
      observer.disconnect();
      resolve();
    }).observe(document.body, { attributes: true, attributeFilter: ["data-engine-ready"] });
  });
}

function main() {
  buildPanel();
  fillForm(readStored());
  document.getElementById("cloud-form").onsubmit = (event) => {
    event.preventDefault(); // stay on the page: the settings never go into a URL
    const settings = readForm();
    localStorage.setItem(STORAGE_KEY, JSON.stringify(settings));
    apply(settings).catch(() => showStatus("the engine did not take the settings", "error"));
  };
  document.getElementById("cloud-clear").onclick = () => {
    localStorage.removeItem(STORAGE_KEY);
    fillForm({});
    apply({}).catch(() => showStatus("the engine did not take the settings", "error"));
  };
  engineReady().then(() => apply(readStored()))
    .catch(() => showStatus("the engine did not take the settings", "error"));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main);
} else {
  main();
}
