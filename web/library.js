// The library pane's keeping of work: named graphs (saved in the engine's
// IndexedDB as documents: core/taskloom/browser/saved_graphs.py), export and
// import of graph JSON files (a file picker, or a file dropped anywhere on
// the page), and the runs: the run history and the unfinished runs.
//
// Whatever replaces the current document asks first when that would lose
// edits, as opening an example does (views.openExample). An import or a
// saved graph goes through the engine's open_graph, so a bad one shows its
// error and replaces nothing.
//
// Unfinished runs: runs that a reload, a closed tab or Abort cut short, and
// runs that failed. The engine keeps them in IndexedDB
// (core/taskloom/browser/page_store.py says why the page asks before it
// resumes one). Each stays listed until it completes or is discarded.
// One owner per run: the tab running a run holds its Web Lock. A run another
// tab holds is shown as such, with no Resume or Discard. Tabs tell each
// other through a BroadcastChannel when a run starts or ends, and a waiting
// shared lock request notices a tab that died without saying so.
//
// app.js starts it all with `watchRuns(engine, run)`: `run` is how a Resume
// starts a run, so that it is drawn like any other.

import { GRAPH, TRUSTED } from "./document.js";
import { page } from "./page.js";
import { views } from "./views.js";

const $ = (id) => document.getElementById(id);

const RUN_LOCK = "taskloom-run:"; // core/taskloom/browser/web_locks.py
const CHANNEL = "taskloom-runs";
/** How long "Deleted X — Undo" stays up. */
const UNDO_MS = 10_000;
const HISTORY_LIMIT = 30;
/** A graph file this big is not one a person made: refuse it before reading it. */
const MAX_IMPORT_BYTES = 20 * 1024 * 1024;

const store = page.store;

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (text) made.textContent = text;
  return made;
}

function button(text, className, label, onclick) {
  const made = element("button", { type: "button", class: className, "aria-label": label }, text);
  made.onclick = onclick;
  return made;
}

const quoted = (name) => `“${name}”`;
const when = (iso) => new Date(iso).toLocaleString();

function duration(ms) {
  if (ms == null) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

// -- what the pane says: a status line, errors, and the undo toast -------------------------

function say(text) {
  $("library-error").textContent = "";
  $("library-error").hidden = true;
  $("library-status").textContent = text;
}

/** An error the user must see; `field` is the input it is about, if any. */
function fail(text, field = null) {
  $("library-status").textContent = "";
  $("library-error").hidden = false;
  $("library-error").textContent = text;
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-describedby", "library-error");
    field.focus();
  }
}

function clearFieldError(field) {
  field.removeAttribute("aria-invalid");
  field.removeAttribute("aria-describedby");
}

/** Asks before `what` replaces edited work; true when nothing would be lost. */
function confirmReplace(what) {
  return !store.dirty || window.confirm(
    `Open ${what}? It replaces the current document, and its edits are lost unless you ` +
    "save them under a name first.");
}

function mountChrome() {
  const saved = $("saved-section");
  const actions = element("div", { class: "actions library-files" });
  const exportButton = button("Export", "export", "Export the graph as a JSON file",
                              () => exportDocument());
  exportButton.id = "export-graph";
  const picker = element("input", { type: "file", id: "import-file", accept: ".json,application/json",
                                    class: "visually-hidden", tabindex: "-1",
                                    "aria-hidden": "true" });
  picker.onchange = () => {
    if (picker.files.length) importFile(picker.files[0]);
    picker.value = ""; // the same file again is a new import
  };
  const importButton = button("Import…", "import", "Import a graph JSON file",
                              () => picker.click());
  importButton.id = "import-graph";
  importButton.disabled = true; // until the engine, which checks every import, is up
  const hint = element("span", { class: "hint", id: "drop-hint" },
                       "or drop a .json file on the page");
  actions.append(exportButton, importButton, picker, hint);
  const status = element("p", { id: "library-status", class: "library-status", role: "status",
                                "aria-live": "polite" });
  const error = element("p", { id: "library-error", class: "library-error", role: "alert" });
  error.hidden = true;
  // Always there and empty when idle: a live region that appears is not always announced.
  const toast = element("div", { id: "library-toast", class: "library-toast", role: "status",
                                 "aria-live": "polite" });
  saved.querySelector(".actions").after(actions);
  saved.append(status, error, toast);
  const overlay = element("div", { id: "drop-overlay", class: "drop-overlay", "aria-hidden": "true" },
                          "Drop the graph JSON file to open it");
  document.body.append(overlay);
  $("graph-name").addEventListener("input", () => clearFieldError($("graph-name")));
  store.subscribe((state, what) => {
    if (what === "document") showExportable(state);
  });
  showExportable(store.state);
}

function showExportable(state) {
  const exportButton = $("export-graph");
  const can = state.mode === GRAPH && !!state.graph;
  exportButton.disabled = !can;
  exportButton.title = can ? "Download the graph JSON" : "Trusted Python has no graph JSON: " +
    "save it by name instead";
}

// -- saved graphs -----------------------------------------------------------------------------

let engine = null;
let listed = []; // the saved graphs' summaries, as last drawn
let undoTimer = null;

const MODE_LABEL = { [GRAPH]: "graph", [TRUSTED]: "trusted Python" };

async function refreshGraphs() {
  const answer = await engine.request("list_graphs");
  if (!answer.ok) return fail(answer.error);
  listed = answer.graphs ?? answer.names.map((name) => ({ name }));
  const list = $("graphs");
  list.replaceChildren(...listed.map(savedItem));
  document.body.dataset.savedGraphs = String(listed.length);
}

function savedItem(summary) {
  const { name } = summary;
  const item = element("li", { "data-name": name, "data-mode": summary.mode ?? "code" });
  const label = element("span", { class: "name" }, name);
  const details = [MODE_LABEL[summary.mode] ?? "code"];
  if (summary.tasks != null) details.push(`${summary.tasks} task${summary.tasks === 1 ? "" : "s"}`);
  if (summary.saved_at) details.push(`saved ${new Date(summary.saved_at * 1000).toLocaleString()}`);
  if (summary.error) details.push(summary.error);
  const meta = element("span", { class: "meta" }, details.join(" · "));
  const buttons = element("span", { class: "item-actions" });
  buttons.append(
    button("Open", "load", `Open ${quoted(name)}`, () => openSaved(name)),
    button("Rename", "rename", `Rename ${quoted(name)}`, () => startRename(item, name)),
    button("Duplicate", "duplicate", `Duplicate ${quoted(name)}`, () => duplicate(name)),
    button("Delete", "delete", `Delete ${quoted(name)}`, () => remove(name)),
  );
  item.append(label, meta, buttons);
  return item;
}

async function save() {
  const field = $("graph-name");
  const name = field.value.trim();
  const state = store.state;
  // Code typed but not applied is kept as written; opened again, it is read like any code.
  const document_ = store.pending ? state.draft
    : { mode: state.mode, graph: state.graph, code: state.code };
  if (name && name !== state.name && listed.some((graph) => graph.name === name) &&
      !window.confirm(`A graph is already saved as ${quoted(name)}. Replace it?`)) {
    return;
  }
  const answer = await engine.request("save_graph", field.value, document_);
  if (!answer.ok) return fail(answer.error, field);
  clearFieldError(field);
  // What was saved is the document now, so opening something else loses nothing.
  if (store.pending) await views.openSaved(answer.graph.code, answer.graph.name);
  else await store.keptAs(answer.graph.name);
  await refreshGraphs();
  say(`Saved ${quoted(answer.graph.name)}.`);
}

async function openRecord(record) {
  const { name } = record;
  if (record.mode === GRAPH) {
    const opened = await engine.request("open_graph", JSON.stringify(record.graph));
    if (!opened.ok) return fail(`Could not open ${quoted(name)}: ${opened.error}`);
    await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code, name });
  } else if (record.mode === TRUSTED) {
    await store.open({ mode: TRUSTED, code: record.code, name });
  } else {
    await views.openSaved(record.code, name); // a record older than documents: its code
  }
  $("graph-name").value = name;
  document.body.dataset.graphOpened = name;
  return true;
}

async function openSaved(name) {
  const answer = await engine.request("load_graph", name);
  if (!answer.ok) return fail(answer.error);
  if (!confirmReplace(`the saved graph ${quoted(name)}`)) return;
  if (await openRecord(answer.graph)) say(`Opened ${quoted(name)}.`);
}

function startRename(item, name) {
  const form = element("form", { class: "rename-form" });
  const input = element("input", { value: name, "aria-label": `New name for ${quoted(name)}`,
                                   class: "rename-name" });
  const cancel = button("Cancel", "cancel", "Cancel the rename", () => refreshGraphs());
  form.append(input, element("button", { type: "submit", class: "confirm-rename" }, "Rename"),
              cancel);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      refreshGraphs().then(() => $("graphs").querySelector(
        `li[data-name="${CSS.escape(name)}"] .rename`)?.focus());
    }
  });
  form.onsubmit = async (event) => {
    event.preventDefault();
    const answer = await engine.request("rename_graph", name, input.value);
    if (!answer.ok) return fail(answer.error, input);
    const renamed = answer.graph.name;
    if (store.state.name === name && !store.state.edited) await store.keptAs(renamed);
    await refreshGraphs();
    say(`Renamed ${quoted(name)} to ${quoted(renamed)}.`);
    $("graphs").querySelector(`li[data-name="${CSS.escape(renamed)}"] .rename`)?.focus();
  };
  item.replaceChildren(form);
  input.focus();
  input.select();
}

async function duplicate(name) {
  const answer = await engine.request("duplicate_graph", name);
  if (!answer.ok) return fail(answer.error);
  await refreshGraphs();
  say(`Duplicated ${quoted(name)} as ${quoted(answer.graph.name)}.`);
  $("graphs").querySelector(`li[data-name="${CSS.escape(answer.graph.name)}"] .load`)?.focus();
}

async function remove(name) {
  const answer = await engine.request("delete_graph", name);
  if (!answer.ok) return fail(answer.error);
  await refreshGraphs();
  const record = answer.graph;
  if (!record) return say(`Deleted ${quoted(name)}.`); // unreadable: nothing to give back
  const toast = $("library-toast");
  clearTimeout(undoTimer);
  const undo = button("Undo", "undo-delete", `Undo deleting ${quoted(name)}`, async () => {
    clearTimeout(undoTimer);
    closeToast(toast);
    const restored = await engine.request("restore_graph", record);
    if (!restored.ok) return fail(restored.error);
    await refreshGraphs();
    say(`Restored ${quoted(name)}.`);
    $("graphs").querySelector(`li[data-name="${CSS.escape(name)}"] .load`)?.focus();
  });
  toast.replaceChildren(element("span", {}, `Deleted ${quoted(name)}.`), undo);
  toast.dataset.deleted = name;
  undo.focus(); // the item's own button is gone: keep the keyboard user's place
  undoTimer = setTimeout(() => closeToast(toast), UNDO_MS);
}

function closeToast(toast) {
  toast.replaceChildren();
  delete toast.dataset.deleted;
}

// -- export and import --------------------------------------------------------------------------

const fileName = (name) =>
  `${(name || "untitled graph").replace(/[\\/:*?"<>|\u0000-\u001f]/g, "-")}.taskloom.json`;

function exportDocument() {
  const state = store.state;
  if (state.mode !== GRAPH || !state.graph) {
    return fail("Trusted Python has no graph JSON to export: save it by name instead.");
  }
  const blob = new Blob([JSON.stringify(state.graph, null, 2) + "\n"],
                        { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const link = element("a", { href: url, download: fileName(state.name) });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
  say(`Exported ${fileName(state.name)}` + (store.pending
    ? " (the code edits not applied yet are not in it)." : "."));
}

async function importFile(file) {
  if (!engine || $("import-graph").disabled) {
    return fail("The engine is still starting: import the file once it is ready.");
  }
  if (!/\.json$/i.test(file.name) && file.type !== "application/json") {
    return fail(`${quoted(file.name)} is not a graph JSON file (.json): nothing was opened.`);
  }
  if (file.size > MAX_IMPORT_BYTES) {
    return fail(`${quoted(file.name)} is over ${MAX_IMPORT_BYTES >> 20} MB: not a graph file.`);
  }
  const text = await file.text();
  const opened = await engine.request("open_graph", text);
  if (!opened.ok) {
    document.body.dataset.graphImport = "refused";
    return fail(`Could not import ${quoted(file.name)}: ${opened.error}. Nothing was replaced.`);
  }
  const name = file.name.replace(/(\.taskloom)?\.json$/i, "");
  if (!confirmReplace(`the imported graph ${quoted(name)}`)) return;
  await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code, name,
                     foreign: true }); // its code tasks ask first (code-consent.js)
  $("graph-name").value = name;
  const count = opened.graph.tasks?.length ?? 0;
  say(`Imported ${quoted(name)}: ${count} task${count === 1 ? "" : "s"}.`);
  document.body.dataset.graphImport = name;
}

const carriesFiles = (event) => event.dataTransfer?.types?.includes("Files");

function mountDrop() {
  let depth = 0; // dragenter/dragleave fire for every child the file passes over
  const over = (on) => document.body.toggleAttribute("data-file-over", on);
  document.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event)) return;
    depth += 1;
    over(true);
  });
  document.addEventListener("dragleave", (event) => {
    if (!carriesFiles(event)) return;
    depth = Math.max(0, depth - 1);
    if (!depth) over(false);
  });
  document.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return; // a palette item on its way to the canvas
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // the browser would open the file in place of the page
    depth = 0;
    over(false);
    if (event.target.closest?.("[data-files-drop]")) return; // the Files list's (files.js)
    const files = [...event.dataTransfer.files];
    if (files.length !== 1) return fail("Drop one graph JSON file at a time.");
    importFile(files[0]);
  });
}

// -- runs: the history and the unfinished runs ---------------------------------------------

/** Reopens a past run: its graph (asking first) and its statuses and outputs. */
async function reopenRun(runId) {
  if (document.body.dataset.runState === "running") {
    return fail("A run is in progress: open past runs once it ends.");
  }
  const report = await engine.request("run_report", runId);
  if (report.missing) return fail(report.error);
  const name = report.name || "";
  const current = store.state;
  if (report.code != null && report.code !== current.code && report.code !== current.draft) {
    if (!confirmReplace(`the graph of the run from ${when(report.created_at)}`)) return;
    await views.openSaved(report.code, name);
  }
  showReport(report);
  say(`Reopened the run of ${quoted(name || "untitled graph")} from ` +
      `${when(report.created_at)}: ${report.status}.`);
}

/** A past run drawn as a live run's report is: on the canvas (the store's run state), the Run
 * panel, and for whoever listens to "run-end" (marked `reopened`). */
function showReport(report) {
  store.runEvent({ kind: "graph_start", run_id: report.run_id });
  for (const [taskId, error] of Object.entries(report.errors || {})) {
    store.runEvent({ kind: "task_error", task_id: taskId, error });
  }
  store.runEnded(report);
  const rows = Object.entries(report.statuses || {}).map(([taskId, status]) => {
    const row = element("tr", { "data-task-id": taskId, "data-status": status });
    const progress = element("progress", { max: "1" });
    progress.value = status === "completed" ? 1 : 0;
    const cell = (text, className) => element("td", className ? { class: className } : {}, text);
    const progressCell = cell("");
    progressCell.append(progress);
    row.append(cell(taskId, "id"), cell(status, `status status-${status}`), progressCell,
               cell(report.errors?.[taskId] || "", "message"));
    return row;
  });
  $("tasks").tBodies[0].replaceChildren(...rows);
  page.emit("show-outputs", report.outputs || {}); // the Run panel writes them (app.js)
  $("error").hidden = !report.error;
  $("error").textContent = report.error || "";
  $("run-status").textContent = `run from ${when(report.created_at)}: ${report.status}` +
    (report.status === "completed" ? ` in ${duration(report.duration_ms)}` : "");
  page.showPanel("run");
  page.emit("run-end", { ...report, reopened: true });
  document.body.dataset.runReopened = report.run_id;
}

const stateText = (status, owner) => owner === "another tab" ? "running in another tab"
  : owner === "this tab" ? "running" : status === "processing" ? "interrupted" : status;

export function watchRuns(readyEngine, run) {
  engine = readyEngine;
  const channel = new BroadcastChannel(CHANNEL);
  const watched = new Set();
  let refreshing = Promise.resolve();

  const refresh = () => (refreshing = refreshing.then(() => draw()).catch(
    (error) => console.warn("could not list the runs:", error)));

  // Granted once the owning tab lets go of the run, even if it just died.
  function watch(runId) {
    if (watched.has(runId)) return;
    watched.add(runId);
    navigator.locks.request(RUN_LOCK + runId, { mode: "shared" }, () => {}).then(() => {
      watched.delete(runId);
      refresh();
    });
  }

  async function draw() {
    const [{ runs }, history] = await Promise.all([
      engine.request("unfinished_runs"), engine.request("list_runs", HISTORY_LIMIT)]);
    const list = $("resume-runs");
    list.replaceChildren(...runs.map(unfinishedItem));
    $("resume").hidden = list.children.length === 0;
    document.body.dataset.unfinishedRuns = String(list.children.length);
    for (const { run_id: runId, owner } of runs) if (owner === "another tab") watch(runId);
    if (history.ok) {
      $("run-history").replaceChildren(...history.runs.map(historyItem));
      document.body.dataset.runHistory = String(history.runs.length);
    }
  }

  function resumeAndDiscard(entry, runId, label) {
    const resume = button("Resume", "resume", `Resume the run ${label}`, () => {
      if (document.body.dataset.runState === "running") return; // one run at a time
      run(engine, () => engine.resumeRun(runId));
    });
    const discard = button("Discard", "discard", `Discard the run ${label}`, async () => {
      const answer = await engine.request("discard_run", runId);
      if (!answer.ok) console.warn(answer.error);
      await refresh();
      channel.postMessage({ changed: runId });
    });
    entry.append(resume, discard);
  }

  function unfinishedItem({ run_id: runId, status, error, created_at: createdAt, owner }) {
    const entry = element("li", { "data-run-id": runId, "data-status": status,
                                  "data-owner": owner ?? "" });
    entry.append(element("span", { class: "state" }, `run ${runId.slice(0, 8)} from ` +
                         `${when(createdAt)} — ${stateText(status, owner)}`));
    if (error && !owner) entry.append(element("span", { class: "run-error" }, error));
    if (!owner) resumeAndDiscard(entry, runId, `from ${when(createdAt)}`);
    return entry;
  }

  function historyItem(entry) {
    const { run_id: runId, status, owner } = entry;
    const state = stateText(status, owner);
    const item = element("li", { "data-run-id": runId, "data-status": status,
                                 "data-owner": owner ?? "",
                                 "data-unfinished": String(entry.unfinished) });
    const title = element("span", { class: "run-name" }, entry.name || "untitled graph");
    const started = element("time", { datetime: entry.created_at, class: "run-start" },
                            when(entry.created_at));
    const outcome = element("span", { class: `run-state run-state-${status}` }, state);
    const took = element("span", { class: "run-duration" },
                         owner ? "" : duration(entry.duration_ms));
    item.append(title, started, outcome, took);
    if (entry.error && !owner) item.append(element("span", { class: "run-error" }, entry.error));
    const label = `of ${quoted(entry.name || "untitled graph")} from ${when(entry.created_at)}`;
    if (!owner) {
      item.append(button("Open", "open", `Open the run ${label}`, () => reopenRun(runId)));
      if (entry.unfinished) resumeAndDiscard(item, runId, label);
    }
    return item;
  }

  // The history names each run after the document that ran it.
  page.on("run-events", ({ detail: events }) => {
    for (const event of events) {
      if (event.kind !== "graph_start" || !event.run_id) continue;
      engine.labelRun(event.run_id, store.state.name || "").then(() => refresh()).catch(
        (error) => console.warn("could not name the run:", error));
    }
  });

  channel.onmessage = () => refresh();
  const graphsDrawn = refreshGraphs().catch(
    (error) => console.warn("could not list the saved graphs:", error));
  page.ready.then(() => {
    for (const id of ["save", "import-graph"]) $(id).disabled = false;
  });
  return {
    /** Redraws the runs (and, the first time, waits for the saved graphs too). */
    refresh: () => Promise.all([refresh(), graphsDrawn]),
    /** This tab started or ended a run: redraw here, and tell the other tabs. */
    changed() {
      refresh();
      channel.postMessage({ changed: true });
    },
  };
}

function mount() {
  if (!$("saved-section")) return;
  mountChrome();
  mountDrop();
  $("save").onclick = () => save().catch((error) => fail(String(error)));
  $("graph-name").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !$("save").disabled) save().catch((error) => fail(String(error)));
  });
}

mount();
