// The engine's Web Worker without PyScript: Pyodide + taskloom (from the
// start-up snapshot when the site has one: engine-snapshot.mjs), answering
// the page's {id, method, args} messages (args: a JSON array) with
// {id, result} or {id, error}, and streaming run events as {event}.
import { loadPyodide } from "./engine-snapshot.mjs";

const epoch = () => performance.timeOrigin + performance.now();

try {
  const pyodide = await loadPyodide({
    packages: ["taskloom"], // resolved offline through our pyodide-lock.json
    snapshot: new URL(import.meta.url).searchParams.get("snapshot") !== "0",
  });
  const codeStartedAt = epoch();
  const { BrowserEngine } = pyodide.pyimport("taskloom.browser.engine");
  const engine = BrowserEngine.callKwargs((event) => postMessage({ event }),
    { timeline: [codeStartedAt, epoch()], startup: pyodide.toPy(self.taskloomStartup) });
  self.onmessage = async ({ data: { id, method, args } }) => {
    try {
      const result = method === "set_interrupt_buffer"
        ? pyodide.setInterruptBuffer(args) // a SharedArrayBuffer view, not JSON
        : await engine.call(method, args);
      postMessage({ id, result });
    } catch (error) {
      postMessage({ id, error: String(error) });
    }
  };
  postMessage({ ready: true });
} catch (error) {
  postMessage({ failed: String(error) });
}
