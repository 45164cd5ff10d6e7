// The Cache panel: the task outputs the engine keeps (in IndexedDB) so that a
// task whose inputs did not change is not run again — each entry's task type,
// key, size and when it was stored — their total, and Clear, which asks first.
// Refreshed when the panel is shown and after each run while it is visible.
import { page } from "../page.js";

const panel = document.getElementById("panel-cache");
let engine = null;

function build() {
  panel.innerHTML = `<section class="panel-section cache-panel" aria-labelledby="cache-title">
      <div class="panel-bar">
        <h2 id="cache-title">Output cache</h2>
        <button id="cache-refresh" type="button">Refresh</button>
        <button id="cache-clear" type="button" aria-haspopup="dialog"
                aria-controls="cache-confirm">Clear cache…</button>
        <span id="cache-summary" class="panel-status" role="status" aria-live="polite"></span>
      </div>
      <div id="cache-confirm" class="confirm" role="alertdialog" aria-modal="false"
           aria-labelledby="cache-confirm-text" hidden>
        <p id="cache-confirm-text"></p>
        <div class="actions">
          <button id="cache-clear-confirm" type="button" class="danger">Clear</button>
          <button id="cache-clear-cancel" type="button">Cancel</button>
        </div>
      </div>
      <p class="hint">A task whose type, version and inputs match an entry reuses its
        output instead of running. Tasks defined in the code box are keyed by that code too.</p>
      <table id="cache-entries" hidden>
        <caption class="visually-hidden">cached task outputs, newest first</caption>
        <thead><tr><th>task type</th><th>key</th><th>size</th><th>stored</th></tr></thead>
        <tbody></tbody>
      </table>
    </section>`;
  panel.querySelector("#cache-refresh").onclick = () => refresh();
  panel.querySelector("#cache-clear").onclick = () => askToClear();
  panel.querySelector("#cache-clear-cancel").onclick = () => closeConfirm();
  panel.querySelector("#cache-clear-confirm").onclick = () => clear();
  panel.querySelector("#cache-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation(); // Esc here closes the question, it does not abort a run
      closeConfirm();
    }
  });
}

export function formatBytes(bytes) {
  if (bytes == null) return "unreadable";
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB"];
  let value = bytes;
  let unit = "B";
  for (const next of units) {
    if (value < 1000) break;
    value /= 1000;
    unit = next;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
}

let last = { count: 0, size: 0, entries: [] };

function draw(stats) {
  last = stats;
  const shown = stats.entries.length;
  panel.querySelector("#cache-summary").textContent = stats.count
    ? `${stats.count} entr${stats.count === 1 ? "y" : "ies"}, ${formatBytes(stats.size)}` +
      (shown < stats.count ? ` (the newest ${shown} listed)` : "")
    : "the cache is empty";
  panel.querySelector("#cache-clear").disabled = !stats.count;
  const table = panel.querySelector("#cache-entries");
  table.hidden = !shown;
  const rows = stats.entries.map((entry) => {
    const row = document.createElement("tr");
    Object.assign(row.dataset, { cacheKey: entry.key, taskType: entry.task_type });
    const key = entry.key.slice(entry.task_type.length + 1);
    const stored = new Date(entry.stored_at * 1000);
    for (const [text, className, title] of [
      [entry.task_type + (entry.code_box ? " (code box)" : ""), "task-type"],
      [key.length > 28 ? `${key.slice(0, 27)}…` : key, "cache-key", entry.key],
      [formatBytes(entry.size), "size"],
      [stored.toLocaleString(), "stored", stored.toISOString()],
    ]) {
      const td = document.createElement("td");
      td.className = className;
      td.textContent = text;
      if (title) td.title = title;
      row.append(td);
    }
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
}

async function refresh() {
  if (!engine) return;
  try {
    draw(await engine.cacheStats());
  } catch (error) {
    panel.querySelector("#cache-summary").textContent = `could not read the cache: ${error.message}`;
  }
}

function askToClear() {
  const box = panel.querySelector("#cache-confirm");
  panel.querySelector("#cache-confirm-text").textContent =
    `Remove ${last.count === 1 ? "the one cached output" : `all ${last.count} cached outputs`} ` +
    `(${formatBytes(last.size)})? Tasks will run again the next time.`;
  box.hidden = false;
  panel.querySelector("#cache-clear").setAttribute("aria-expanded", "true");
  panel.querySelector("#cache-clear-cancel").focus(); // the safe choice first
}

function closeConfirm() {
  panel.querySelector("#cache-confirm").hidden = true;
  panel.querySelector("#cache-clear").setAttribute("aria-expanded", "false");
  panel.querySelector("#cache-clear").focus();
}

async function clear() {
  const summary = panel.querySelector("#cache-summary");
  try {
    const { cleared } = await engine.clearCache();
    closeConfirm();
    await refresh();
    summary.textContent = `cleared ${cleared} entr${cleared === 1 ? "y" : "ies"}; the cache is empty`;
  } catch (error) {
    summary.textContent = `could not clear the cache: ${error.message}`;
  }
}

build();
page.ready.then((ready) => {
  engine = ready;
  if (!panel.hidden) refresh();
});
document.addEventListener("taskloom:panel", ({ detail }) => {
  if (detail === "cache") refresh();
});
page.on("run-end", () => { if (!panel.hidden) refresh(); });
