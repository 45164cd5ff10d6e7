// QuickJS in the engine's worker, for taskloom.browser.quickjs_provider: the
// JavaScript task's sandbox in the page. quickjs-emscripten's core drives its
// quickjs-ng wasm variant, the engine PyPI's quickjs-ng binds under CPython,
// and this file does what that binding does (taskloom.tasks.javascript): a
// fresh runtime and context per call, a memory limit, a deadline, the input
// ports as globals parsed from JSON, the value of the last expression (or
// what its Promise settles to). The answer is a JSON text the Python side
// turns into the same result, or the same error, as CPython gives.
//
// The core is its CommonJS build: its one require is the FFI types package,
// loaded the same way. The wasm module loads once per worker.

let module = null;

async function commonJs(url, requires = {}) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const exports = {};
  const box = { exports };
  const require = (name) => {
    if (!(name in requires)) throw new Error(`quickjs.js cannot require ${name}`);
    return requires[name];
  };
  new Function("module", "exports", "require", await response.text())(box, exports, require);
  return box.exports;
}

function load(urls) {
  module ??= (async () => {
    const types = await commonJs(urls.ffiTypes);
    const core = await commonJs(urls.core, { "@jitl/quickjs-ffi-types": types });
    // The variant object its own index.mjs exports, with our URLs for its modules.
    const variant = {
      type: "sync",
      importFFI: () => import(urls.ffi).then((m) => m.QuickJSFFI),
      importModuleLoader: () => import(urls.loader).then((m) => m.default),
    };
    return { core, wasm: await core.newQuickJSWASMModuleFromVariant(variant) };
  })();
  module.catch(() => { module = null; }); // a failed load may be retried
  return module;
}

// Helpers compiled before the user's code runs, so that it cannot replace them.
const DESCRIBE = `(v) => {
  const t = typeof v;
  if (v !== null && (t === "object" || t === "function")) {
    const s = JSON.stringify(v);
    return JSON.stringify({ kind: "json", text: s === undefined ? null : s });
  }
  if (t === "number") {
    return JSON.stringify(Number.isNaN(v) ? { kind: "nan" }
      : Number.isFinite(v) ? { kind: "value", value: v } : { kind: "inf", negative: v < 0 });
  }
  if (t === "bigint" || t === "symbol") return JSON.stringify({ kind: t });
  return JSON.stringify({ kind: "value", value: v === undefined ? null : v });
}`;
// What the CPython binding's JSException says: the value, a newline, its stack.
const ERROR_TEXT = `(e) => {
  let stack;
  if (e !== null && e !== undefined) { try { stack = e.stack; } catch (_) { stack = ""; } }
  return String(e) + "\\n" + (stack === undefined ? "undefined" : String(stack));
}`;
const SETTLE = `(p) => {
  p.then((v) => { globalThis.__taskloom_result = { ok: true, v }; },
         (e) => { globalThis.__taskloom_result = { ok: false,
                    e: e && e.stack ? String(e) + "\\n" + e.stack : String(e) }; });
}`;

/**
 * Runs `code` with `variables` (name → JSON text). Answers a JSON text:
 * {ok: true, result: {kind, …}} or {ok: false, error} (what was thrown, as CPython
 * words it), {ok: false, rejected} (a Promise's rejection), {ok: false, unsettled: true}.
 */
export async function evaluate(urls, code, variablesJson, timeLimit, memoryLimit) {
  const { core, wasm } = await load(urls);
  const runtime = wasm.newRuntime();
  const vm = runtime.newContext();
  const handles = [];
  const keep = (handle) => { handles.push(handle); return handle; };
  const helper = (source) => keep(vm.unwrapResult(vm.evalCode(source, "<taskloom>")));
  const text = (handle) => { const s = vm.getString(handle); handle.dispose(); return s; };
  try {
    const describe = helper(DESCRIBE);
    const errorText = helper(ERROR_TEXT);
    const settle = helper(SETTLE);
    const parse = keep(vm.getProp(keep(vm.getProp(vm.global, "JSON")), "parse"));
    for (const [name, json] of Object.entries(JSON.parse(variablesJson))) {
      const value = keep(vm.unwrapResult(vm.callFunction(parse, vm.undefined,
        keep(vm.newString(json)))));
      vm.setProp(vm.global, name, value);
    }
    runtime.setMemoryLimit(memoryLimit);
    // Endless recursion must meet QuickJS's own check (a RangeError, as under CPython)
    // before the worker's native stack overflows: at 1 MiB (QuickJS's default) it does
    // not. 128 KiB allows ~740 nested calls; PyPI's quickjs-ng, ~610.
    runtime.setMaxStackSize(128 * 1024);
    runtime.setInterruptHandler(core.shouldInterruptAfterDeadline(Date.now() + timeLimit * 1000));
    let outcome = vm.evalCode(code, "<input>");
    const lift = () => { // the answer itself is read without the user's limits
      runtime.setMemoryLimit(-1);
      runtime.removeInterruptHandler();
    };
    if (outcome.error) {
      lift();
      const thrown = keep(outcome.error);
      return JSON.stringify({ ok: false, error: text(vm.unwrapResult(
        vm.callFunction(errorText, vm.undefined, thrown))) });
    }
    let value = keep(outcome.value);
    const isPromise = keep(vm.unwrapResult(vm.evalCode("x => x instanceof Promise", "<taskloom>")));
    if (vm.dump(keep(vm.unwrapResult(vm.callFunction(isPromise, vm.undefined, value))))) {
      keep(vm.unwrapResult(vm.callFunction(settle, vm.undefined, value)));
      const jobs = runtime.executePendingJobs(-1);
      if (jobs.error) {
        lift();
        const thrown = keep(jobs.error);
        return JSON.stringify({ ok: false, error: text(vm.unwrapResult(
          vm.callFunction(errorText, vm.undefined, thrown))) });
      }
      const settled = keep(vm.getProp(vm.global, "__taskloom_result"));
      if (vm.typeof(settled) === "undefined") {
        return JSON.stringify({ ok: false, unsettled: true });
      }
      if (!vm.dump(keep(vm.getProp(settled, "ok")))) {
        lift();
        return JSON.stringify({ ok: false, rejected: vm.dump(keep(vm.getProp(settled, "e"))) });
      }
      value = keep(vm.getProp(settled, "v"));
    }
    outcome = vm.callFunction(describe, vm.undefined, value);
    lift();
    if (outcome.error) {
      const thrown = keep(outcome.error);
      return JSON.stringify({ ok: false, error: text(vm.unwrapResult(
        vm.callFunction(errorText, vm.undefined, thrown))) });
    }
    return JSON.stringify({ ok: true, result: JSON.parse(text(outcome.value)) });
  } finally {
    for (const handle of handles.reverse()) if (handle.alive) handle.dispose();
    try {
      vm.dispose();
      runtime.dispose();
    } catch (error) {
      module = null; // a wasm abort leaves the instance unusable: the next call loads anew
      throw error;
    }
  }
}
