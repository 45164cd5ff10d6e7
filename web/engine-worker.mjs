// The engine's Web Worker without PyScript: Pyodide + taskloom, answering
// the page's {id, method, args} messages with {id, result} or {id, error},
// and streaming run events as {event}. Every payload is a JSON string.
import { loadPyodide } from "./pyodide/pyodide.mjs";

const epoch = () => performance.timeOrigin + performance.now();

try {
  const pyodide = await loadPyodide({
    indexURL: new URL("./pyodide/", import.meta.url).href,
    packages: ["taskloom"], // resolved offline through our pyodide-lock.json
  });
  const codeStartedAt = epoch();
  const { BrowserEngine } = pyodide.pyimport("taskloom.browser.engine");
  const importedAt = epoch();
  const engine = BrowserEngine((event) => postMessage({ event }));
  const methods = {
    engine_info: () => engine.info(),
    start_timeline: () => [codeStartedAt, importedAt],
    run_code: (code) => engine.run_code(code),
    abort_run: () => engine.abort(),
    save_graph: (name, code) => engine.save_graph(name, code),
    load_graph: (name) => engine.load_graph(name),
    delete_graph: (name) => engine.delete_graph(name),
    list_graphs: () => engine.list_graphs(),
    unfinished_runs: () => engine.unfinished_runs(),
    resume_run: (runId) => engine.resume_run(runId),
    discard_run: (runId) => engine.discard_run(runId),
    record_abort: (runId, reason) => engine.record_abort(runId, reason),
    set_interrupt_buffer: (buffer) => pyodide.setInterruptBuffer(buffer),
    configure_cloud: pyodide.pyimport("taskloom.browser.cloud").BrowserCloud.install().configure,
    // The graph document (web/views.js): graph <-> code, the palette, edge checks.
    from_code: (code) => engine.from_code(code),
    open_graph: (graphJson) => engine.open_graph(graphJson),
    describe_types: () => engine.describe_types(),
    check_dataflow: (...args) => engine.check_dataflow(...args),
  };
  self.onmessage = async ({ data: { id, method, args } }) => {
    try {
      postMessage({ id, result: await methods[method](...args) });
    } catch (error) {
      postMessage({ id, error: String(error) });
    }
  };
  postMessage({ ready: true });
} catch (error) {
  postMessage({ failed: String(error) });
}
