// Makes the page's start-up snapshot: the wasm memory of a Pyodide that has
// loaded taskloom's wheels and imported taskloom.browser.engine, taken with
// Pyodide's own _makeSnapshot / makeMemorySnapshot, in Node with the very
// runtime and wheels the site ships. web/engine-snapshot.mjs restores it.
// usage: node make_snapshot.mjs RUNTIME_DIR OUT.bin OUT.json MODULE...
//
// A memory snapshot holds the wasm heap, not JavaScript state. So:
// - Pyodide refuses a snapshot with packages in loadedPackages; it is emptied
//   here and written to OUT.json. The file system lives in JavaScript, not in
//   the heap: the files the wheels installed follow the heap in OUT.bin, and
//   the page writes them back.
// - A compiled extension (pydantic_core) is a wasm side module: its code and
//   its slots in the function table are not in the heap. Its placement is
//   written to OUT.json, and the page instantiates it again at the same
//   memory and table bases (web/engine-snapshot.mjs).
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [runtimeDir, outBin, outJson, ...modules] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${runtimeDir}/pyodide.mjs`).href);
// The page's worker globals that modules bind at import time (`from js import
// indexedDB`) and Node lacks: the snapshot records them by name and the page
// looks each up in its own globals when it restores.
const jsglobals = Object.assign(Object.create(globalThis), {
  indexedDB: {}, IDBKeyRange: {}, navigator: { locks: {} },
});
// A fixed hash seed: the same inputs give the same heap layout.
const pyodide = await loadPyodide({
  indexURL: `${runtimeDir}/`, _makeSnapshot: true, env: { PYTHONHASHSEED: "0" }, jsglobals,
});
// Browsers with wasm GC give Python a call trampoline, one function-table slot
// made before anything else loads; Node 20 cannot. Keep that slot free here
// too, so that the side modules sit at the table indices the page gives them.
const module = pyodide._module;
const trampoline = module.HEAP32[(module.__PyRuntime
  + module.HEAP32[module.__PyEM_EMSCRIPTEN_TRAMPOLINE_OFFSET >>> 2]) >>> 2];
if (trampoline === 0) module.wasmTable.grow(1);
const packages = ["taskloom"];
await pyodide.loadPackage(packages, { messageCallback() {}, errorCallback: (m) => console.error(m) });
pyodide.runPython(modules.map((name) => `import ${name}`).join("\n"));

const dynlibs = Object.entries(module.LDSO.loadedLibsByHandle)
  .filter(([handle]) => Number(handle) !== 0)
  .map(([handle, dso]) => {
    const at = Number(handle); // the C side's struct dso: its placement, as libdylink wrote it
    const word = (offset) => module.HEAPU32[(at + offset) >>> 2];
    return { path: dso.name, handle: at, memoryBase: word(12), memorySize: word(16),
             tableBase: word(20), tableSize: word(24) };
  })
  .sort((a, b) => a.tableBase - b.tableBase); // load order
// The files the wheels installed, to be written back by the page (in JavaScript,
// much faster than loadPackage unpacking the wheels again in a cold interpreter).
const { FS } = pyodide;
const files = [];
const walk = (dir) => {
  for (const name of FS.readdir(dir)) {
    if (name === "." || name === "..") continue;
    const path = `${dir}/${name}`;
    if (FS.isDir(FS.stat(path).mode)) walk(path);
    else files.push([path, FS.readFile(path)]);
  }
};
const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
walk(sitePackages);
files.sort(([a], [b]) => (a < b ? -1 : 1));
const loadedPackages = { ...pyodide.loadedPackages };
for (const name of Object.keys(pyodide.loadedPackages)) delete pyodide.loadedPackages[name];
const snapshot = pyodide.makeMemorySnapshot();
// One stream: the heap, then the files' bytes one after the other.
writeFileSync(outBin, Buffer.concat([snapshot, ...files.map(([, bytes]) => bytes)]));
writeFileSync(outJson, JSON.stringify({
  format: 1, pyodide: pyodide.version, packages, modules, loadedPackages,
  snapshotBytes: snapshot.length, files: files.map(([path, bytes]) => [path, bytes.length]),
  dynlibs,
  heapBytes: module.HEAPU8.length, tableLength: module.wasmTable.length,
  trampolineSlotKept: trampoline === 0,
}, null, 1) + "\n");
console.log(`snapshot: ${snapshot.length} bytes of heap, ${files.length} files, `
            + `${dynlibs.length} side module(s)`);
