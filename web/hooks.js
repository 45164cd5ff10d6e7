// The page's one adapter for tests and automation: everything a Playwright
// test or a script reads from the page hangs off `window.taskloom`. A plain
// script, loaded first, so that the object exists before any module runs.
window.taskloom = {
  /** @type {boolean} the engine is up and the document is open */
  ready: false,
  /** @type {object[]} every engine event of the current run, as received */
  events: [],
  /** @type {object|null} the last run's report (ok, statuses, outputs, error…) */
  lastRun: null,
  /** @type {string|null} how the last Abort stopped the run: asked, interrupted, restarted */
  lastAbort: null,
  /** @type {object|null} engine_info: taskloom and Python versions */
  info: null,
  /** @type {object} start-up instants (ms), for scripts/bench/browser_startup.py */
  timings: {},
  /** @type {import("./engine-client.js").EngineClient|null} the engine client */
  engine: null,
  /** @type {object|null} the graph document store (web/document.js) */
  document: null,
  /** @type {object|null} the canvas (bundles/canvas.js): viewport(), fitView(), select(ids) */
  canvas: null,
  /** @type {() => string} the code view's text (its editor is CodeMirror; #code is its content) */
  codeText: () => "",
  /** @type {() => number} the code view's caret, a character offset */
  codeCaret: () => 0,
  /** @type {() => string} the JSON view's text (#graph-json) */
  jsonText: () => "",
  /** @type {string} the code box's first example */
  example: "",
  /** @type {Object<string, string>} the examples gallery by name (web/examples.js) */
  examples: {},
  /** @type {boolean} the service worker has precached the site */
  offlineReady: false,
  /** @type {object[]|null} the Models panel's last list_models answer (web/panels/models.js) */
  models: null,
  /** @type {object[]|null} the Packages panel's kept wheels (web/panels/packages.js) */
  packages: null,
  /** @type {object[]|null} the Files list: files under the page's file root, OPFS (web/files.js) */
  files: null,
};
