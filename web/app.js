// The page's thin glue: starts the engine (Pyodide + taskloom, in a Web
// Worker), forwards clicks to it and draws the events it streams back.
// Every message across the worker boundary is a JSON string.

import { mountDrawer, showPanel } from "./drawer.js";
import { EngineClient, EngineStopped } from "./engine-client.js";
import "./examples.js"; // the examples gallery (library pane)
import "./files.js"; // the page's files in OPFS (library pane)
import "./code-consent.js"; // asks before code from elsewhere runs
import { page } from "./page.js";
import "./panels/cache.js"; import "./panels/logs.js"; import "./panels/queue.js"; // drawer panels
import "./panels/settings.js"; // cloud keys and limits (Settings panel)
import "./panels/models.js"; import "./panels/packages.js"; // Models and Packages panels
import { watchRuns } from "./library.js"; // library pane: saved graphs, runs, import/export
import { views } from "./views.js"; // the graph document: code and JSON views, canvas

const EXAMPLE = `import asyncio

from pydantic import BaseModel

from taskloom import Task, Workflow


class CountTo(Task):
    """Counts slowly, reporting progress as it goes."""

    class Input(BaseModel):
        n: int = 20

    class Output(BaseModel):
        total: int

    async def run(self, input, ctx):
        total = 0
        for i in range(1, input.n + 1):
            await asyncio.sleep(0.02)
            total += i
            ctx.progress(i / input.n, f"added {i}")
        return {"total": total}


class Describe(Task):
    class Input(BaseModel):
        total: int

    class Output(BaseModel):
        text: str

    async def run(self, input, ctx):
        return {"text": f"the sum is {input.total}"}


wf = Workflow()
wf.add_task(CountTo, id="count", n=20)
wf.add_task(Describe, id="describe")
`;

const $ = (id) => document.getElementById(id);
const timings = Object.assign(window.taskloom.timings, { start: performance.now() });

// Cross-origin isolation (SharedArrayBuffer) is needed by PyScript's worker
// and by multi-threaded ONNX Runtime Web. scripts/serve sends COOP/COEP
// itself; on a static host that does not, the service worker adds them,
// which takes one reload after it first installs.
async function ensureCrossOriginIsolation() {
  if (window.crossOriginIsolated) return true;
  if (!("serviceWorker" in navigator)) return false;
  if (sessionStorage.getItem("taskloom-coi-reload")) return false;
  await navigator.serviceWorker.register("./sw.js");
  await navigator.serviceWorker.ready;
  sessionStorage.setItem("taskloom-coi-reload", "1");
  location.reload();
  return new Promise(() => {}); // the reload replaces this page
}

// Registered only once the engine is up, so that precaching the site does
// not compete with the first start for the network and the CPU.
async function enableOffline() {
  if (!("serviceWorker" in navigator)) return;
  await navigator.serviceWorker.register("./sw.js");
  await navigator.serviceWorker.ready; // active = every file is precached
  window.taskloom.offlineReady = true;
  document.body.dataset.offlineReady = "";
}

const tasks = new Map();

function taskRow(id) {
  if (!tasks.has(id)) {
    const row = document.createElement("tr");
    row.dataset.taskId = id;
    row.innerHTML = `<td class="id"></td><td class="status">pending</td>` +
      `<td><progress max="1" value="0"></progress></td><td class="message"></td>`;
    row.querySelector(".id").textContent = id;
    $("tasks").tBodies[0].append(row);
    tasks.set(id, row);
  }
  return tasks.get(id);
}

function setStatus(row, status) {
  const cell = row.querySelector(".status");
  cell.textContent = status;
  cell.className = `status status-${status}`;
  row.dataset.status = status;
}

const STATUS_BY_KIND = {
  task_start: "processing", task_complete: "completed", task_error: "failed",
  task_abort: "aborted", task_cache_hit: "completed", task_skipped: "skipped",
};

// The run in progress: its call, and its id once the engine names it.
let current = null;

// Events arrive one message each; the page draws them once per animation
// frame, in order, so a burst of progress never floods the main thread.
let pendingEvents = [];
let frameRequested = false;

function onEngineEvent(json) {
  pendingEvents.push(JSON.parse(json));
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(flushEvents);
}

function flushEvents() {
  frameRequested = false;
  const batch = pendingEvents;
  pendingEvents = [];
  for (const event of batch) drawEvent(event);
  views.runEvents(batch);
  page.emit("run-events", batch);
}

function drawEvent(event) {
  window.taskloom.events.push(event);
  if (current && event.kind === "graph_start") {
    current.runId = event.run_id;
    runs?.changed(); // its record and its Web Lock exist from here on
  }
  if (!event.task_id) {
    if (event.kind === "graph_progress" && event.progress != null) {
      $("run-status").textContent = `running… ${Math.round(event.progress * 100)}%`;
      $("run-progress").value = event.progress;
    }
    return;
  }
  const row = taskRow(event.task_id);
  if (STATUS_BY_KIND[event.kind]) setStatus(row, STATUS_BY_KIND[event.kind]);
  if (event.kind === "task_progress" || event.kind === "task_complete") {
    const progress = event.kind === "task_complete" ? 1 : event.progress;
    if (progress != null) {
      row.querySelector("progress").value = progress;
      row.dataset.progress = String(progress);
    }
  }
  if (event.message || event.error) {
    row.querySelector(".message").textContent = event.error || event.message;
  }
}

// The Run panel's raw outputs can be megabytes of vectors: written out only once the
// panel is open, so that the end of a run never costs the page a long task.
let unseenOutputs = null;

function showOutputsWhenSeen(outputs) {
  unseenOutputs = outputs;
  if (!$("panel-run").hidden) writeOutputs();
}

function writeOutputs() {
  if (unseenOutputs === null) return;
  $("outputs").textContent = JSON.stringify(unseenOutputs, null, 2);
  unseenOutputs = null;
}

page.on("show-outputs", ({ detail }) => showOutputsWhenSeen(detail)); // a reopened run's

document.addEventListener("taskloom:panel", ({ detail }) => {
  if (detail === "run") writeOutputs();
});

function showError(text) {
  if (text) showPanel("run"); // a failure's traceback is in the Run panel: bring it forward
  $("error").hidden = !text;
  $("error").textContent = text || "";
}

// What a run that the page had to stop answers instead of a report.
function stoppedReport(error) {
  return { ok: false, aborted: true, error: error.message, run_id: current?.runId };
}

// `call` starts the run and answers its report (library.js passes a resume).
/** What the toolbar asks for: the Cache switch, plus a preview or a run-to-here target. */
const runOptions = (extra = {}) => ({ cache: $("cache-enabled").checked, ...extra });

async function run(engine, call = () => engine.runCode(views.code.value, runOptions())) {
  if (current) return; // one run at a time: Ctrl+Enter during a run does nothing
  $("run").disabled = true;
  $("preview").disabled = true;
  $("run-progress").value = 0;
  $("abort").disabled = false;
  showError("");
  $("outputs").textContent = "";
  unseenOutputs = null;
  $("tasks").tBodies[0].replaceChildren();
  tasks.clear();
  window.taskloom.events = [];
  $("run-status").textContent = "running…";
  document.body.dataset.runState = "running";
  page.emit("run-start", {});
  const running = (current = { call: call() });
  try {
    let report;
    try {
      report = await running.call;
    } catch (error) {
      if (!(error instanceof EngineStopped)) throw error;
      report = stoppedReport(error);
    }
    if (frameRequested) flushEvents(); // every event before the report that ends them
    for (const [id, status] of Object.entries(report.statuses || {})) {
      setStatus(taskRow(id), status);
    }
    if (report.aborted) {
      for (const row of tasks.values()) {
        if (row.dataset.status === "processing") setStatus(row, "aborted");
      }
    }
    showOutputsWhenSeen(report.outputs || {});
    if (!report.ok && !report.aborted) showError(report.traceback || report.error);
    if (report.ok) $("run-progress").value = 1;
    $("run-status").textContent = report.ok ? `done in ${report.elapsed_ms} ms`
      : report.aborted ? "aborted: resume it from Unfinished runs"
      : `failed: ${report.error}`;
    timings.lastRunComplete = performance.now();
    timings.firstRunComplete ??= timings.lastRunComplete;
    window.taskloom.lastRun = report;
    views.runEnded(report);
    page.emit("run-end", report);
    document.body.dataset.runState = report.ok ? "completed"
      : report.aborted ? "aborted" : "failed";
  } finally {
    current = null;
    engine.clearInterrupt();
    $("run").disabled = false;
    $("preview").disabled = false;
    $("abort").disabled = true;
    runs?.changed();
  }
}

async function abort(engine) {
  if (!current) return;
  $("abort").disabled = true;
  const running = current;
  const how = await engine.abort(running.call);
  window.taskloom.lastAbort = how;
  if (how !== "restarted") return;
  $("engine-status").textContent = "restarting the engine…";
  await engine.ready;
  if (running.runId) {
    await engine.recordAbort( running.runId, "aborted from the page: the engine was " +
      "restarted because the run's code did not stop");
  }
  $("engine-status").textContent = readyText(window.taskloom.info);
  runs?.changed();
}

const readyText = (info) => `engine ready: taskloom ${info.taskloom}, Python ${info.python}`;

let runs = null; // the run history and Unfinished runs (library.js)

async function main() {
  mountDrawer();
  views.code.value = EXAMPLE;
  window.taskloom.example = EXAMPLE;
  window.taskloom.events = [];
  const viaPyScript = new URLSearchParams(location.search).get("engine") !== "module";
  // Multi-threaded ONNX Runtime wants isolation too; only PyScript needs it.
  if (!(await ensureCrossOriginIsolation()) && viaPyScript) {
    throw new Error("PyScript's worker needs cross-origin isolation (use scripts/serve)");
  }
  const engine = new EngineClient({ viaPyScript, onEvent: onEngineEvent, timings });
  const info = await engine.engineInfo();
  // The worker's clock counts from its own origin; both share the epoch.
  const [codeStartedAt, importedAt] = info.timeline;
  timings.workerCodeStart = codeStartedAt - performance.timeOrigin;
  timings.importMs = importedAt - codeStartedAt;
  window.taskloom.engine = engine;
  window.taskloom.info = info;
  $("engine-status").textContent = readyText(info);
  $("run").disabled = false;
  $("run").onclick = () => run(engine);
  $("abort").onclick = () => abort(engine);
  $("preview").disabled = false;
  $("preview").onclick = () => run(engine,
    () => engine.runCode(views.code.value, runOptions({ preview: true })));
  page.on("run-to-here", ({ detail: taskId }) => run(engine,
    () => engine.runCode(views.code.value, runOptions({ target: taskId }))));
  // Capture phase: before the code editor's own Mod-Enter / Escape bindings.
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !$("run").disabled) {
      event.preventDefault();
      run(engine);
    } else if (event.key === "Escape" && current && !$("abort").disabled) {
      event.preventDefault();
      abort(engine);
    }
  }, { capture: true });
  runs = watchRuns(engine, run);
  await runs.refresh();
  await views.start(engine); // reopens the autosaved document
  page.started(engine);
  timings.engineReady = performance.now();
  window.taskloom.ready = true;
  document.body.dataset.engineReady = "";
  enableOffline().catch((error) => console.warn("offline cache unavailable:", error));
}

main().catch((error) => {
  $("engine-status").textContent = `engine failed to start: ${error}`;
  document.body.dataset.engineError = String(error);
  console.error(error);
});
