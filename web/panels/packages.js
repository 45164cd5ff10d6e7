// The Packages panel: the user's own pure-Python wheels for their tasks. A wheel
// dropped here (or picked with the file input) goes to the engine, which checks it,
// installs it with micropip and keeps it in this browser's IndexedDB; every engine
// start installs the kept wheels again before the first run
// (taskloom.browser.packages). An install from PyPI is the one thing here that leaves
// the site: it runs only when the user presses its button, and only online.
import { page } from "../page.js";
import { formatBytes } from "./models.js";

const $ = (id) => document.getElementById(id);

function element(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function buildPanel() {
  const root = $("panel-packages");
  root.classList.add("packages-panel");
  root.innerHTML = `
    <section class="panel-section" aria-labelledby="packages-heading">
      <h2 id="packages-heading">Your packages</h2>
      <p class="hint">Pure-Python wheels (<code>…-none-any.whl</code>) for your own tasks'
      imports. They stay in this browser and are installed again at every start. A wheel's
      own requirements are not fetched: drop those too.</p>
      <div id="package-drop" class="package-drop" data-state="idle">
        <label for="package-file">Drop a wheel here, or choose one:</label>
        <input type="file" id="package-file" accept=".whl" multiple>
      </div>
      <table id="packages-list">
        <thead><tr><th scope="col">Package</th><th scope="col">Version</th>
          <th scope="col">Size</th><th scope="col">State</th>
          <th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
        <tbody></tbody>
      </table>
      <p id="packages-empty" class="hint">No packages yet.</p>
    </section>
    <section class="panel-section" aria-labelledby="pypi-heading">
      <h2 id="pypi-heading">From PyPI</h2>
      <form id="pypi-form" class="panel-bar" novalidate>
        <label>Requirement <input id="pypi-requirement" spellcheck="false"
          placeholder="e.g. humanize==4.9.0" aria-describedby="pypi-note"></label>
        <button type="submit" id="pypi-install">Install from PyPI</button>
      </form>
      <p id="pypi-note" class="hint">This asks pypi.org, so it needs the network; the
      package lasts until the engine restarts (drop its wheel above to keep it).</p>
    </section>
    <p id="packages-status" class="panel-status" role="status" aria-live="polite"></p>`;
}

function status(text, state) {
  const out = $("packages-status");
  out.textContent = text;
  out.classList.toggle("error", state === "error");
  document.body.dataset.packages = state;
}

function show(packages) {
  const rows = packages.map((item) => {
    const remove = element("button", { type: "button", className: "package-remove",
      textContent: "Remove" });
    remove.setAttribute("aria-label", `Remove ${item.filename}`);
    remove.addEventListener("click", () => call(
      (engine) => engine.removePackage(item.filename),
      `${item.name} removed: it is not installed at the next start`));
    const state = element("td", { className: "package-state",
      textContent: item.state === "installed" ? "installed" : `failed: ${item.error}` });
    const row = element("tr", {},
      element("th", { scope: "row", textContent: item.name }),
      element("td", { textContent: item.version }),
      element("td", { textContent: formatBytes(item.size) }),
      state, element("td", {}, remove));
    row.dataset.package = item.name;
    row.dataset.filename = item.filename;
    row.dataset.state = item.state;
    return row;
  });
  $("packages-list").tBodies[0].replaceChildren(...rows);
  $("packages-empty").hidden = packages.length > 0;
  window.taskloom.packages = packages;
}

// Runs one engine call; its reply carries the kept wheels, shown whatever happened.
async function call(work, done) {
  status("working…", "working");
  try {
    const engine = await page.ready;
    const reply = await work(engine);
    if (reply.packages) show(reply.packages);
    if (reply.ok) status(typeof done === "function" ? done(reply) : done, "done");
    else status(reply.error, "error");
  } catch (error) {
    status(error.message, "error");
  }
}

function base64Of(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let at = 0; at < bytes.length; at += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  }
  return btoa(text);
}

async function addFiles(files) {
  for (const file of files) {
    if (!file.name.endsWith(".whl")) {
      status(`${file.name} is not a wheel (.whl): build one with \`python -m pip wheel .\``,
        "error");
      continue;
    }
    const data = base64Of(await file.arrayBuffer());
    await call((engine) => engine.addPackage(file.name, data),
      (reply) => `${reply.package.name} ${reply.package.version} is installed and kept`);
  }
}

function main() {
  if (!$("panel-packages")) return;
  buildPanel();
  const drop = $("package-drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault(); // allows the drop
    drop.dataset.state = "over";
  });
  drop.addEventListener("dragleave", () => { drop.dataset.state = "idle"; });
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.dataset.state = "idle";
    addFiles([...event.dataTransfer.files]);
  });
  $("package-file").addEventListener("change", (event) => {
    addFiles([...event.target.files]).finally(() => { event.target.value = ""; });
  });
  $("pypi-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const requirement = $("pypi-requirement").value.trim();
    if (!requirement) return status("type the package to install, e.g. humanize", "error");
    // Checked here first, so that offline not even the engine is asked.
    if (!navigator.onLine) {
      return status("This browser is offline: installing from PyPI needs the network. "
        + "Drop the package's wheel file above instead.", "error");
    }
    call((engine) => engine.installFromPyPI(requirement),
      (reply) => `installed from PyPI: ${reply.installed.join(", ") || "already there"}`);
  });
  // Listing also makes the engine install the kept wheels now, not at the first run.
  page.ready.then((engine) => engine.whenStarted((client) => {
    client.listPackages().then((reply) => show(reply.packages))
      .catch((error) => status(`cannot list the packages: ${error.message}`, "error"));
  }));
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", main);
} else {
  main();
}
