// The engine as the page sees it: the one client of the engine protocol.
// `request(method, ...args)` sends a method name and its arguments (a JSON
// array) to BrowserEngine.call in the Web Worker and answers the parsed
// reply; the typed methods below are the whole protocol, and
// tests/browser/test_engine_protocol.py checks ENGINE_METHODS against the
// Python side's @endpoint list. Events stream back through `onEvent`.
// `abort(run)` stops a run whatever its code does.
//
// Default: PyScript's PyWorker running web/engine.py. `?engine=module` starts
// the same engine in a plain module Worker (web/engine-worker.mjs) instead,
// which skips PyScript's own start-up; scripts/bench/browser_startup.py
// measures both. Both start Pyodide from the build's memory snapshot when the
// site has one (engine-snapshot.mjs; `?snapshot=0` starts without it), and
// engineInfo().startup says which start it was.
//
// Abort, in three steps, each only if the run has not ended yet:
// 1. ask the engine (`abort_run`): enough whenever the run awaits now and then;
// 2. interrupt Python: SIGINT through Pyodide's interrupt buffer, a
//    SharedArrayBuffer both sides see (the page is cross-origin isolated);
//    this stops code that never awaits;
// 3. terminate the worker and start a fresh engine: nothing can hold the
//    page after that (a loop that swallows the interrupt, a long call into C).
// The run's Web Lock dies with a terminated worker, so the run is listed as
// resumable at once; the new engine records it as aborted.

const INTERRUPT_AFTER_MS = 200;
const TERMINATE_AFTER_MS = 600;
const SIGINT = 2;

/** A call that could not finish because the page stopped the engine. */
export class EngineStopped extends Error {}

const settledWithin = (promise, ms) => Promise.race([
  promise.then(() => true, () => true),
  new Promise((resolve) => setTimeout(() => resolve(false), ms)),
]);

function startModuleEngine(onEvent) {
  const url = new URL("./engine-worker.mjs", location.href);
  if (new URLSearchParams(location.search).get("snapshot") === "0") url.searchParams.set("snapshot", "0");
  const worker = new Worker(url, { type: "module" });
  const pending = new Map();
  let nextId = 0;
  const call = (method, args) => new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    worker.postMessage({ id, method, args });
  });
  return new Promise((resolve, reject) => {
    worker.onerror = (event) => reject(new Error(event.message || "the engine worker failed"));
    worker.onmessage = ({ data }) => {
      if (data.event !== undefined) return onEvent(data.event);
      if (data.ready) return resolve({ call, terminate: () => worker.terminate() });
      if (data.failed) return reject(new Error(data.failed));
      const { resolve: answer, reject: fail } = pending.get(data.id);
      pending.delete(data.id);
      if (data.error !== undefined) fail(new Error(data.error));
      else answer(data.result);
    };
  });
}

async function startPyScriptEngine(onEvent, timings) {
  const { PyWorker } = await import("./pyscript/core.js");
  // PyWorker must wait for PyScript's plugins: before they settle its worker
  // hooks are unset and the worker starts without the `pyscript` module.
  await customElements.whenDefined("py-script");
  timings.pyscriptLoaded ??= performance.now();
  // `version` (not only config.interpreter) is what makes PyScript's worker
  // load this local Pyodide instead of its CDN default: here our wrapper of
  // it, which starts from the build's memory snapshot (engine-snapshot.mjs);
  // the page's `?snapshot=0` starts without it.
  const interpreter = new URL("./engine-snapshot.mjs", location.href);
  if (new URLSearchParams(location.search).get("snapshot") === "0") {
    interpreter.searchParams.set("snapshot", "0");
  }
  const worker = await PyWorker("./engine.py", {
    version: interpreter.href,
    config: { interpreter: interpreter.href, packages: ["taskloom"], packages_cache: "passthrough" },
  });
  worker.sync.taskloom_event = onEvent;
  return {
    call: (method, args) => method === "set_interrupt_buffer"
      ? worker.sync.set_interrupt_buffer(args) : worker.sync.call(method, args),
    terminate: () => worker.terminate(),
  };
}

/** Every method BrowserEngine answers (its @endpoint methods), by their Python names. */
export const ENGINE_METHODS = Object.freeze([
  "abort_download", "abort_job", "abort_run", "abort_run_jobs", "add_package", "cache_stats",
  "check_dataflow",
  "check_task_input", "clear_cache", "code_tasks", "configure_cloud", "delete_file",
  "delete_graph", "describe_types",
  "discard_run", "download_model", "duplicate_graph", "engine_info", "from_code",
  "install_from_pypi", "label_run", "list_files", "list_graphs", "list_jobs", "list_models",
  "list_packages", "list_runs", "load_graph", "open_graph", "preview_task", "provider_limits",
  "put_file", "record_abort", "remove_package", "rename_graph", "restore_graph", "resume_run",
  "run_code",
  "run_report", "save_graph", "set_provider_limits", "to_code", "unfinished_runs",
]);

/** A reply the engine marked `ok: false`, from a typed method. */
export class EngineError extends Error {
  constructor(reply) {
    super(reply.error || "the engine refused");
    this.reply = reply;
  }
}

export class EngineClient {
  #startHooks = [];

  /**
   * Calls `hook(client)` each time an engine is up: the first start and every restart
   * after an Abort. What a fresh engine holds only in memory (the cloud keys, the
   * provider limits) is sent again from there.
   */
  whenStarted(hook) {
    this.#startHooks.push(hook);
    if (this.backend) queueMicrotask(() => hook(this));
  }

  constructor({ viaPyScript, onEvent, timings }) {
    this.viaPyScript = viaPyScript;
    this.onEvent = onEvent;
    this.timings = timings;
    this.restarts = 0;
    this.ready = this.#start();
  }

  async #start() {
    const backend = this.viaPyScript
      ? await startPyScriptEngine(this.onEvent, this.timings)
      : await startModuleEngine(this.onEvent);
    let stop;
    backend.stopped = new Promise((_resolve, reject) => { stop = reject; });
    backend.stopped.catch(() => {});
    backend.stop = stop;
    // PyScript has no interrupt of its own: the engine installs the buffer.
    // Without cross-origin isolation (a module engine on a plain host) there
    // is no SharedArrayBuffer, and Abort goes from asking to restarting.
    backend.interrupt = self.crossOriginIsolated ? new Int32Array(new SharedArrayBuffer(4)) : null;
    if (backend.interrupt) await backend.call("set_interrupt_buffer", backend.interrupt);
    this.backend = backend;
    for (const hook of this.#startHooks) queueMicrotask(() => hook(this));
    return backend;
  }

  /**
   * Sends one request once the engine is up and answers its parsed reply (replies
   * carry `ok`); rejects with EngineStopped if the engine is stopped meanwhile.
   */
  async request(method, ...args) {
    if (!ENGINE_METHODS.includes(method)) throw new Error(`the engine has no method ${method}`);
    const backend = await this.ready;
    const reply = await Promise.race([backend.call(method, JSON.stringify(args)), backend.stopped]);
    return JSON.parse(reply);
  }

  /** Like request, but throws EngineError when the reply is not ok. */
  async #ok(method, ...args) {
    const reply = await this.request(method, ...args);
    if (reply.ok === false) throw new EngineError(reply);
    return reply;
  }

  // -- the protocol, typed. Run-shaped replies stay whole (a failed run is a report). --
  /** @returns {Promise<{taskloom: string, python: string, platform: string, timeline: number[]}>} */
  engineInfo() { return this.request("engine_info"); }
  /**
   * Runs Workflow code. @param {string} code
   * @param {{resume?: string, cache?: boolean, target?: string, preview?: boolean}} options
   *   resume a run id; cache off neither reuses nor keeps outputs; target runs only that task
   *   and what it needs; preview runs the reactive previews, unrecorded
   * @returns {Promise<object>} a run report
   */
  async runCode(code, { resume = null, ...options } = {}) {
    // web/code-consent.js: code from elsewhere runs only once the user allows it.
    const refused = await this.beforeRun?.(code, options);
    if (refused) return refused;
    return this.request("run_code", code, resume, options);
  }
  /** @param {string} runId @returns {Promise<object>} a run report */
  resumeRun(runId) { return this.request("resume_run", runId); }
  /** @returns {Promise<{ok: boolean}>} */
  abortRun() { return this.request("abort_run"); }
  /** @returns {Promise<{runs: object[]}>} */
  unfinishedRuns() { return this.#ok("unfinished_runs"); }
  discardRun(runId) { return this.#ok("discard_run", runId); }
  recordAbort(runId, reason) { return this.request("record_abort", runId, reason); }
  /** @returns {Promise<{names: string[]}>} */
  listGraphs() { return this.#ok("list_graphs"); }
  /** @param {object|string} document {mode, graph, code}, or plain code */
  saveGraph(name, document) { return this.#ok("save_graph", name, document); }
  loadGraph(name) { return this.#ok("load_graph", name); }
  /** @returns {Promise<{graph: object|null}>} what it held, for restoreGraph (Undo) */
  deleteGraph(name) { return this.#ok("delete_graph", name); }
  renameGraph(name, newName) { return this.#ok("rename_graph", name, newName); }
  duplicateGraph(name, newName) { return this.#ok("duplicate_graph", name, ...(newName ? [newName] : [])); }
  restoreGraph(record) { return this.#ok("restore_graph", record); }
  /** @returns {Promise<{runs: object[]}>} the run history, newest first */
  listRuns(limit = 50) { return this.#ok("list_runs", limit); }
  /** @returns {Promise<object>} a past run, shaped like a run report (a failed run is ok: false) */
  runReport(runId) { return this.request("run_report", runId); }
  labelRun(runId, name) { return this.request("label_run", runId, name); }
  // The page's files (web/files.js): OPFS under the tasks' file root.
  listFiles() { return this.#ok("list_files"); }
  putFile(name, dataBase64) { return this.#ok("put_file", name, dataBase64); }
  deleteFile(name) { return this.#ok("delete_file", name); }
  /** @returns {Promise<{tasks: string[]}>} the JavaScript and Lambda tasks of graph code */
  codeTasks(code) { return this.#ok("code_tasks", code); }
  /** @param {object} settings keys and base URLs per provider */
  configureCloud(settings) { return this.#ok("configure_cloud", JSON.stringify(settings)); }
  /** @returns {Promise<{types: object[]}>} registry.describe() */
  describeTypes() { return this.#ok("describe_types"); }
  /** Graph JSON → Workflow code. @returns {Promise<{ok: boolean, code?: string, error?: string}>} */
  toCode(graph) { return this.request("to_code", JSON.stringify(graph)); }
  /** Workflow code → graph JSON, never executed. @returns {Promise<{ok: boolean, graph?: object, error?: string, line?: number, column?: number, refused?: boolean}>} */
  fromCode(code) { return this.request("from_code", code); }
  /** A graph checked as the runner loads it. @returns {Promise<{ok: boolean, graph?: object, code?: string, error?: string}>} */
  openGraph(graphJson) { return this.request("open_graph", graphJson); }
  /** @returns {Promise<{ok: boolean, reason?: string}>} whether the edge may be drawn */
  /**
   * Every model the engine can run (local and cloud).
   * @returns {Promise<{ok: boolean, models: {id: string, provider: string, task: string[], local: boolean, cached: boolean|null, size_bytes: number|null, stored?: string|null, key_set?: boolean}[]}>}
   * `task` lists every task type the model serves: filter with `m.task.includes(type)`.
   */
  listModels() { return this.#ok("list_models"); }
  /** @returns {Promise<{ok: boolean, limits: Object<string, {requests_per_minute: number, max_concurrent: number, default: object}>}>} */
  providerLimits() { return this.#ok("provider_limits"); }
  /** @param {object} limits {provider: {requests_per_minute, max_concurrent}} */
  setProviderLimits(limits) { return this.request("set_provider_limits", JSON.stringify(limits)); }
  /** @returns {Promise<{ok: boolean, packages: object[]}>} the kept wheels */
  listPackages() { return this.#ok("list_packages"); }
  /** @param {string} filename @param {string} base64 the wheel's bytes */
  addPackage(filename, base64) { return this.request("add_package", filename, base64); }
  removePackage(filename) { return this.request("remove_package", filename); }
  installFromPyPI(requirement) { return this.request("install_from_pypi", requirement); }
  /** Runs DownloadModel; progress arrives as `model_download` events. @returns {Promise<{ok: boolean, model?: string, error?: string}>} */
  downloadModel(modelId, url) { return this.request("download_model", modelId, url || null); }
  /** Cancels downloadModel's download of `modelId` (its call answers `aborted: true`). @returns {Promise<{ok: boolean, error?: string}>} */
  abortDownload(modelId) { return this.request("abort_download", modelId); }
  checkDataflow(graph, source, sourcePort, target, targetPort) {
    return this.request("check_dataflow", JSON.stringify(graph), source, sourcePort, target, targetPort);
  }
  /** The inspector's values for a task type, checked by pydantic. @returns {Promise<{ok: boolean, errors: {field: string, message: string}[], error?: string}>} */
  checkTaskInput(type, input, config) {
    return this.request("check_task_input", type, JSON.stringify(input),
                        ...(config ? [JSON.stringify(config)] : []));
  }
  /** A type's reactive preview on those values. @returns {Promise<{ok: boolean, reactive?: boolean, output?: object, errors?: object[], error?: string}>} */
  previewTask(type, input) { return this.request("preview_task", type, JSON.stringify(input)); }
  // -- the Queue, Cache and Logs panels (web/panels/) --
  /** @returns {Promise<{now: number, queues: {name: string, total: number, jobs: object[]}[]}>} */
  listJobs() { return this.#ok("list_jobs"); }
  /** @returns {Promise<{job: object, run_aborted: boolean}>} */
  abortJob(queue, jobId) { return this.#ok("abort_job", queue, jobId); }
  /** @returns {Promise<{aborted: number, run_aborted: boolean}>} */
  abortRunJobs(runId) { return this.#ok("abort_run_jobs", runId); }
  /** @returns {Promise<{count: number, size: number, entries: object[]}>} */
  cacheStats() { return this.#ok("cache_stats"); }
  /** @param {number=} olderThan seconds @returns {Promise<{cleared: number}>} */
  clearCache(olderThan) { return this.#ok("clear_cache", ...(olderThan == null ? [] : [olderThan])); }

  /**
   * Stops the run whose call is `run` (a promise); answers how: "asked",
   * "interrupted" or "restarted".
   */
  async abort(run) {
    const backend = await this.ready;
    backend.call("abort_run", "[]").catch(() => {});
    if (await settledWithin(run, INTERRUPT_AFTER_MS)) return "asked";
    if (backend.interrupt) {
      backend.interrupt[0] = SIGINT;
      if (await settledWithin(run, TERMINATE_AFTER_MS)) return "interrupted";
    }
    this.restart();
    await run.catch(() => {});
    return "restarted";
  }

  /** An interrupt the run did not need must not hit the next call. */
  clearInterrupt() {
    if (this.backend?.interrupt) this.backend.interrupt[0] = 0;
  }

  restart() {
    const backend = this.backend;
    this.backend = null;
    backend.terminate();
    backend.stop(new EngineStopped("the run did not stop, so the engine was restarted"));
    this.restarts += 1;
    this.ready = this.#start();
    return this.ready;
  }
}
