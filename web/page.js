// What every part of the page shares, so that each part (library, inspector,
// panels, canvas) mounts itself from its own module: the engine once it is
// up, the document store, and the run's events.
//
//   import { page } from "./page.js";
//   const engine = await page.ready;                        // an EngineClient
//   page.on("run-events", ({ detail: events }) => …);       // a batch per animation frame
//   page.on("run-start", …); page.on("run-end", ({ detail: report }) => …);
//   page.store                                              // the DocumentStore (document.js)
import { DocumentStore } from "./document.js";
import { showPanel } from "./drawer.js";

let resolveReady;
const bus = new EventTarget();

export const page = {
  /** @type {import("./engine-client.js").EngineClient|null} */
  engine: null,
  /** Resolves with the engine once it is up and the document is open. */
  ready: new Promise((resolve) => { resolveReady = resolve; }),
  /** The graph document and the run state (web/document.js). */
  store: new DocumentStore(),
  showPanel,
  on(name, listener) {
    bus.addEventListener(name, listener);
    return () => bus.removeEventListener(name, listener);
  },
  emit(name, detail) {
    bus.dispatchEvent(new CustomEvent(name, { detail }));
  },
  /** app.js: the engine is up. */
  started(engine) {
    page.engine = engine;
    resolveReady(engine);
  },
};
