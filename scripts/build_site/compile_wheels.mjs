// Compiles wheels to Python 3.14 bytecode with the pinned Pyodide runtime
// itself (no host Python matches Pyodide's bytecode), as Pyodide does for
// the wheels it ships: imports then skip compiling every module at start-up.
// usage: node compile_wheels.mjs RUNTIME_DIR SCRIPT.py IN.whl=OUT.whl=KEEP_SOURCES ...
import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [runtimeDir, scriptPath, ...pairs] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${runtimeDir}/pyodide.mjs`).href);
const pyodide = await loadPyodide({ indexURL: `${runtimeDir}/` });
pyodide.runPython(readFileSync(scriptPath, "utf8"));
const compileWheel = pyodide.globals.get("compile_wheel");
pyodide.FS.mkdirTree("/wheels");
for (const pair of pairs) {
  const [input, output, keepSources] = pair.split("=");
  pyodide.FS.writeFile("/wheels/in.whl", readFileSync(input));
  const count = compileWheel("/wheels/in.whl", "/wheels/out.whl", keepSources === "1");
  writeFileSync(output, pyodide.FS.readFile("/wheels/out.whl"));
  console.log(`${count} modules compiled: ${output}`);
}
