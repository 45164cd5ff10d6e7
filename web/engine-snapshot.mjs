// Pyodide's loadPyodide, started from the site's memory snapshot when it has
// one: an interpreter that had already imported taskloom, made at build time
// (scripts/build_site/make_snapshot.mjs). PyScript's worker imports this
// module as its `version` (it calls our `loadPyodide`); the module engine
// (engine-worker.mjs) imports it directly.
//
// Restoring, in order:
// 1. Pyodide's `_loadSnapshot` puts the heap back. The heap must first be as
//    large as the snapshot: Pyodide does not grow it, so the `fsInit` hook
//    (a pre-run step, after the wasm is instantiated) grows it through the
//    runtime's own emscripten_resize_heap, caught on its way into
//    WebAssembly.instantiate. Python's call trampoline, which this browser
//    made and the maker (Node, no wasm GC) could not, is put back after.
// 2. The files the wheels installed are written back (the file system is
//    JavaScript state, not in the heap; the build appends them to the
//    snapshot), and Pyodide's loadedPackages is told about them: far faster
//    than loadPackage unpacking the wheels in a cold interpreter.
// 3. Each side module (pydantic_core) is instantiated again at the memory and
//    table bases it had: the table is grown to its base, `__memory_base` is
//    handed in, and its data (which instantiation rewrites) is put back.
// Anything that does not match (no snapshot, another Pyodide build, a table
// that does not line up, a corrupt file) falls back to a normal start, and
// `globalThis.taskloomStartup` says which start it was and why.
import { loadPyodide as loadPlainPyodide, version } from "./pyodide/pyodide.mjs";

export { version };

// Epoch ms, comparable with the page's clock (the start-up benchmark splits on them).
const epoch = () => performance.timeOrigin + performance.now();

const INDEX_URL = new URL("./pyodide/", import.meta.url).href;
const SNAPSHOT_URL = new URL("taskloom-snapshot.bin.gz", INDEX_URL).href;
const METADATA_URL = new URL("taskloom-snapshot.json", INDEX_URL).href;

async function fetchOk(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url.split("/").pop()}: HTTP ${response.status}`);
  return response;
}

/** The snapshot's metadata and its bytes (gunzipped as they arrive). */
async function fetchSnapshot() {
  const [metadata, compressed] = await Promise.all([
    fetchOk(METADATA_URL).then((response) => response.json()),
    fetchOk(SNAPSHOT_URL),
  ]);
  const stream = compressed.body.pipeThrough(new DecompressionStream("gzip"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  return { metadata, bytes };
}

/**
 * Runs `load` with WebAssembly's instantiate calls watched: `onInstance(imports,
 * instance)` sees the runtime's imports and its instance.
 */
async function watchingInstantiate(onInstance, load) {
  const wasm = WebAssembly;
  const originals = { instantiate: wasm.instantiate, instantiateStreaming: wasm.instantiateStreaming };
  const watch = (original) => function (source, imports) {
    return original.call(this, source, imports).then((result) => {
      onInstance(imports, result.instance ?? result);
      return result;
    });
  };
  wasm.instantiate = watch(originals.instantiate);
  wasm.instantiateStreaming = watch(originals.instantiateStreaming);
  try {
    return await load();
  } finally {
    Object.assign(wasm, originals);
  }
}

/** The field of _PyRuntime that holds Python's call trampoline (a table index, or 0). */
function trampolineField(exports, heap32) {
  return exports._PyRuntime.value + heap32[exports._PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET.value >>> 2];
}

/** A side module of the snapshot, instantiated again where the snapshot has it. */
function relink(module, lib) {
  const word = (offset) => module.HEAPU32[(lib.handle + offset) >>> 2];
  const placed = [word(12), word(16), word(20), word(24)];
  const expected = [lib.memoryBase, lib.memorySize, lib.tableBase, lib.tableSize];
  if (placed.join() !== expected.join()) throw new Error(`${lib.path} is not where the snapshot says`);
  const length = module.wasmTable.length;
  if (length > lib.tableBase) throw new Error(`the function table is past ${lib.path}'s slots`);
  module.wasmTable.grow(lib.tableBase - length); // libdylink places it at the table's end
  const data = module.HEAPU8.slice(lib.memoryBase, lib.memoryBase + lib.memorySize);
  const bytes = module.FS.readFile(lib.path);
  const Instance = WebAssembly.Instance;
  WebAssembly.Instance = function (wasmModule, imports) {
    const env = new Proxy(imports.env, {
      get: (target, name, receiver) => (name === "__memory_base"
        ? lib.memoryBase : Reflect.get(target, name, receiver)),
    });
    return new Instance(wasmModule, { ...imports, env, wasi_snapshot_preview1: env });
  };
  let exports;
  try {
    exports = module.loadWebAssemblyModule(bytes, { loadAsync: false, nodelete: true }, lib.path, {});
  } finally {
    WebAssembly.Instance = Instance;
  }
  module.HEAPU8.set(data, lib.memoryBase); // its static data as the snapshot left it
  const dso = module.newDSO(lib.path, lib.handle, exports);
  dso.global = false; // as Pyodide's dlopen (RTLD_LOCAL) has it
}

/** The files the wheels installed (the file system is not in the heap), written back. */
function writeFiles(FS, metadata, all) {
  let offset = metadata.snapshotBytes;
  for (const [path, size] of metadata.files) {
    FS.mkdirTree(path.slice(0, path.lastIndexOf("/")));
    FS.writeFile(path, all.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== all.length) throw new Error("the snapshot's files do not add up");
}

async function restore(options, packages, fetched, marks) {
  let runtime, resizeHeap, size, trampoline;
  // The snapshot downloads while Pyodide fetches its own script and wasm.
  const bytes = fetched.then(({ metadata, bytes: all }) => {
    marks.fetched = epoch();
    size = metadata.snapshotBytes;
    return all.subarray(0, size);
  });
  bytes.catch(() => {}); // awaited by Pyodide; its failure surfaces there
  const pyodide = await watchingInstantiate(
    (imports, instance) => {
      if (!imports?.env?.emscripten_resize_heap || runtime) return;
      marks.instantiated = epoch();
      runtime = instance.exports;
      resizeHeap = imports.env.emscripten_resize_heap;
    },
    () => loadPlainPyodide({
      ...options,
      _loadSnapshot: bytes,
      fsInit() { // a pre-run step: the runtime is instantiated, the heap not yet restored
        // The trampoline this browser made (wasm GC; Node's maker has none): the
        // snapshot's heap would put the maker's 0 in its place.
        trampoline = new Int32Array(runtime.memory.buffer)[
          trampolineField(runtime, new Int32Array(runtime.memory.buffer)) >>> 2];
        if (!resizeHeap(size)) throw new Error("cannot grow the heap to the snapshot's size");
      },
    }),
  );
  marks.restored = epoch();
  const module = pyodide._module;
  module.HEAP32[trampolineField(runtime, module.HEAP32) >>> 2] = trampoline;
  const { metadata, bytes: all } = await fetched;
  const wanted = packages.filter((name) => !metadata.packages.includes(name));
  if (wanted.length) throw new Error(`the snapshot has no ${wanted.join(", ")}`);
  writeFiles(pyodide.FS, metadata, all);
  Object.assign(pyodide.loadedPackages, metadata.loadedPackages);
  marks.filesWritten = epoch();
  for (const lib of metadata.dynlibs) relink(module, lib);
  // A snapshot is the same for every visit: `random` must not replay its state.
  // The files are new to the import system's caches.
  pyodide.runPython("import importlib, random; importlib.invalidate_caches(); random.seed()");
  const missing = metadata.modules.filter((name) => !pyodide.runPython(
    `import sys; ${JSON.stringify(name)} in sys.modules`));
  if (missing.length) throw new Error(`the snapshot lacks ${missing.join(", ")}`);
  return pyodide;
}

/**
 * loadPyodide(options) as Pyodide's, from the snapshot when the site has one.
 * `options.snapshot: false` (or `?snapshot=0` on this module's URL) starts plainly.
 */
export async function loadPyodide({ snapshot = true, ...options } = {}) {
  const startedAt = epoch();
  const marks = {};
  const packages = options.packages ?? [];
  options = { ...options, indexURL: INDEX_URL };
  const wanted = snapshot && new URL(import.meta.url).searchParams.get("snapshot") !== "0";
  let reason = "not asked for";
  if (wanted) {
    try {
      const pyodide = await restore({ ...options, packages: [] }, packages, fetchSnapshot(), marks);
      globalThis.taskloomStartup = { snapshot: true, startedAt, ...marks, readyAt: epoch() };
      return pyodide;
    } catch (error) {
      reason = String(error?.message ?? error).split("\n")[0];
      console.warn(`taskloom: starting without the snapshot (${reason})`);
    }
  }
  const pyodide = await loadPlainPyodide(options); // loads `packages` as it starts
  globalThis.taskloomStartup = { snapshot: false, reason, startedAt, readyAt: epoch() };
  return pyodide;
}
