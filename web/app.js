// The page's thin glue: starts the engine (Pyodide + taskloom, in a Web
// Worker), forwards clicks to it and draws the events it streams back.
// Every message across the worker boundary is a JSON string.

import { offerResume } from "./resume.js";

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
const timings = (window.taskloomTimings = { start: performance.now() });

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
  window.taskloomOfflineReady = true;
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

function onEngineEvent(json) {
  const event = JSON.parse(json);
  window.taskloomEvents.push(event);
  if (!event.task_id) {
    if (event.kind === "graph_progress" && event.progress != null) {
      $("run-status").textContent = `running… ${Math.round(event.progress * 100)}%`;
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

function showError(text) {
  $("error").hidden = !text;
  $("error").textContent = text || "";
}

// `call` starts the run and answers its report (resume.js passes a resume).
async function run(engine, call = () => engine.call("run_code", $("code").value)) {
  $("run").disabled = true;
  $("abort").disabled = false;
  showError("");
  $("outputs").textContent = "";
  $("tasks").tBodies[0].replaceChildren();
  tasks.clear();
  window.taskloomEvents = [];
  $("run-status").textContent = "running…";
  document.body.dataset.runState = "running";
  try {
    const report = JSON.parse(await call());
    for (const [id, status] of Object.entries(report.statuses || {})) {
      setStatus(taskRow(id), status);
    }
    $("outputs").textContent = JSON.stringify(report.outputs || {}, null, 2);
    if (!report.ok) showError(report.traceback || report.error);
    $("run-status").textContent = report.ok
      ? `done in ${report.elapsed_ms} ms` : `failed: ${report.error}`;
    timings.lastRunComplete = performance.now();
    timings.firstRunComplete ??= timings.lastRunComplete;
    window.taskloomLastRun = report;
    document.body.dataset.runState = report.ok ? "completed" : "failed";
  } finally {
    $("run").disabled = false;
    $("abort").disabled = true;
  }
}

async function refreshGraphs(engine) {
  const { names } = JSON.parse(await engine.call("list_graphs"));
  const list = $("graphs");
  list.replaceChildren();
  for (const name of names) {
    const item = document.createElement("li");
    item.dataset.name = name;
    const label = document.createElement("span");
    label.textContent = name;
    const load = document.createElement("button");
    load.textContent = "Load";
    load.className = "load";
    load.onclick = async () => {
      const answer = JSON.parse(await engine.call("load_graph", name));
      if (!answer.ok) return showError(answer.error);
      $("code").value = answer.graph.code;
      $("graph-name").value = name;
    };
    const remove = document.createElement("button");
    remove.textContent = "Delete";
    remove.className = "delete";
    remove.onclick = async () => {
      await engine.call("delete_graph", name);
      await refreshGraphs(engine);
    };
    item.append(label, load, remove);
    list.append(item);
  }
  document.body.dataset.savedGraphs = String(names.length);
}

// The engine, behind one interface: `await engine.call(method, ...args)`.
// Default: PyScript's PyWorker running web/engine.py. `?engine=module` starts
// the same engine in a plain module Worker (web/engine-worker.mjs) instead,
// which skips PyScript's own start-up; scripts/bench/browser_startup.py
// measures both.
function startModuleEngine() {
  const worker = new Worker("./engine-worker.mjs", { type: "module" });
  const pending = new Map();
  let nextId = 0;
  const call = (method, ...args) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, method, args });
  });
  return new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(event.message || "the engine worker failed"));
    worker.onmessage = ({ data }) => {
      if (data.event !== undefined) return onEngineEvent(data.event);
      if (data.ready) return resolve({ call });
      if (data.failed) return reject(new Error(data.failed));
      const { resolve: answer, reject: fail } = pending.get(data.id);
      pending.delete(data.id);
      if (data.error !== undefined) fail(new Error(data.error));
      else answer(data.result);
    };
  });
}

async function startPyScriptEngine() {
  const { PyWorker } = await import("./pyscript/core.js");
  // PyWorker must wait for PyScript's plugins: before they settle its worker
  // hooks are unset and the worker starts without the `pyscript` module.
  await customElements.whenDefined("py-script");
  timings.pyscriptLoaded = performance.now();
  const interpreter = new URL("./pyodide/pyodide.mjs", location.href).href;
  // `version` (not only config.interpreter) is what makes PyScript's worker
  // load this local Pyodide instead of its CDN default.
  const worker = await PyWorker("./engine.py", {
    version: interpreter,
    config: { interpreter, packages: ["taskloom"], packages_cache: "passthrough" },
  });
  worker.sync.taskloom_event = onEngineEvent;
  return { call: (method, ...args) => worker.sync[method](...args) };
}

async function main() {
  $("code").value = EXAMPLE;
  window.taskloomExample = EXAMPLE;
  window.taskloomEvents = [];
  const viaPyScript = new URLSearchParams(location.search).get("engine") !== "module";
  // Multi-threaded ONNX Runtime wants isolation too; only PyScript needs it.
  if (!(await ensureCrossOriginIsolation()) && viaPyScript) {
    throw new Error("PyScript's worker needs cross-origin isolation (use scripts/serve)");
  }
  const engine = viaPyScript ? await startPyScriptEngine() : await startModuleEngine();
  const info = JSON.parse(await engine.call("engine_info"));
  // The worker's clock counts from its own origin; both share the epoch.
  const [codeStartedAt, importedAt] = await engine.call("start_timeline");
  timings.workerCodeStart = codeStartedAt - performance.timeOrigin;
  timings.importMs = importedAt - codeStartedAt;
  window.taskloomEngine = engine;
  window.taskloomInfo = info;
  $("engine-status").textContent =
    `engine ready: taskloom ${info.taskloom}, Python ${info.python}`;
  for (const id of ["run", "save"]) $(id).disabled = false;
  $("run").onclick = () => run(engine);
  $("abort").onclick = () => engine.call("abort_run");
  $("save").onclick = async () => {
    const answer = JSON.parse(
      await engine.call("save_graph", $("graph-name").value, $("code").value));
    if (!answer.ok) return showError(answer.error);
    await refreshGraphs(engine);
  };
  await refreshGraphs(engine);
  await offerResume(engine, run);
  timings.engineReady = performance.now();
  window.taskloomReady = true;
  document.body.dataset.engineReady = "";
  enableOffline().catch((error) => console.warn("offline cache unavailable:", error));
}

main().catch((error) => {
  $("engine-status").textContent = `engine failed to start: ${error}`;
  document.body.dataset.engineError = String(error);
  console.error(error);
});
