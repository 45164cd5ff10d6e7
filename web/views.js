// The views of the page's document (web/document.js): the code box as the
// code view (to_code of the graph; Apply parses it with from_code, which
// never runs it), the JSON view, the canvas and the palette. app.js hands
// the engine over with `views.start(engine)` and forwards run events; every
// other view reaches the document only through the store.

import { drawPalette as listTypes } from "./palette.js";
import { GRAPH, TRUSTED } from "./document.js";
import { page } from "./page.js";
import { mountEditor } from "./editor.js";
import { createCodeEditor } from "./code-editor.js";

const $ = (id) => document.getElementById(id);

const MODE_TEXT = {
  [GRAPH]: "graph code — safe to share",
  [TRUSTED]: "trusted Python — runs as written",
};
const MODE_HINT = {
  [GRAPH]: "Builder calls only: Apply reads it without running it, so code from anywhere " +
    "is safe to open.",
  [TRUSTED]: "Defines its own tasks or uses more than the builder: Run executes it as " +
    "written, so run only code you trust. The canvas draws graph code only.",
};

const store = page.store; // the one document store, shared by every part of the page
const types = new Map(); // type name -> its describe_types entry (palette, ports, inspector)
let canvasView = null;
let codeView = null; // the code view's editor (code-editor.js)
let jsonView = null; // the JSON view's
let editor = null;
let engineUp;
const engineReady = new Promise((resolve) => { engineUp = resolve; });

async function call(method, ...args) {
  const ready = await engineReady;
  return ready.request(method, ...args);
}

// -- keeping the views in step with the store ----------------------------------------------

function showCodeError(answer) {
  const box = $("code-error");
  box.hidden = !answer;
  box.textContent = answer ? answer.error : "";
  for (const key of ["line", "column"]) {
    if (answer?.[key] != null) box.dataset[key] = String(answer[key]);
    else delete box.dataset[key];
  }
  $("keep-trusted").hidden = !answer?.refused;
  if (answer?.line != null) codeView.showError(answer.error, answer.line, answer.column);
  else codeView.clearError();
}

function showJsonError(text) {
  $("json-error").textContent = text || "";
  // JSON's own errors say where: "line 3 column 5 (char 20)".
  const where = /line (\d+) column (\d+)/.exec(text || "");
  if (where) jsonView.showError(text, Number(where[1]), Number(where[2]));
  else jsonView.clearError();
}

function render(state, what) {
  if (what === "document") {
    codeView.value = state.draft;
    jsonView.value = state.graph ? JSON.stringify(state.graph, null, 2) : "";
    $("panel-json").dataset.empty = state.graph ? "" : "trusted Python has no graph JSON: " +
      "paste a graph's JSON here and Apply it to open that graph";
    $("document-mode").textContent = MODE_TEXT[state.mode];
    $("document-mode").dataset.mode = state.mode;
    $("document-hint").textContent = MODE_HINT[state.mode];
    $("document-name").textContent = state.name || "untitled graph";
    document.body.dataset.documentMode = state.mode;
  }
  if (what === "document" || what === "draft") {
    $("code-pending").hidden = !store.pending;
    document.body.dataset.documentPending = String(store.pending);
  }
}

// -- what the user does --------------------------------------------------------------------

/** Opens code as the document: as a graph if it is builder-only, else as trusted code. */
async function openCode(code, { name = "", edited = false } = {}) {
  const parsed = await call("from_code", code);
  if (parsed.ok) {
    const opened = await call("open_graph", JSON.stringify(parsed.graph));
    if (opened.ok) {
      await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code, name, edited });
      return GRAPH;
    }
  } else if (!parsed.refused) {
    showCodeError(parsed); // builder-only code with a mistake: say where, keep it as written
  }
  await store.open({ mode: TRUSTED, code, name, edited });
  return TRUSTED;
}

async function applyCode() {
  const draft = codeView.value;
  const parsed = await call("from_code", draft);
  if (!parsed.ok) {
    showCodeError(parsed);
    document.body.dataset.codeApplied = "refused";
    return;
  }
  const opened = await call("open_graph", JSON.stringify(parsed.graph));
  if (!opened.ok) {
    showCodeError(opened);
    document.body.dataset.codeApplied = "refused";
    return;
  }
  showCodeError(null);
  await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code,
                     name: store.state.name, edited: true });
  document.body.dataset.codeApplied = "applied";
}

async function keepTrusted() {
  showCodeError(null);
  await store.open({ mode: TRUSTED, code: codeView.value, name: store.state.name,
                     edited: true });
}

async function applyJson() {
  const opened = await call("open_graph", jsonView.value);
  if (!opened.ok) {
    showJsonError(opened.error);
    document.body.dataset.jsonApplied = "refused";
    return;
  }
  showJsonError("");
  showCodeError(null);
  await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code,
                     name: store.state.name, edited: true });
  document.body.dataset.jsonApplied = "applied";
}

async function drawPalette() {
  const listed = (await call("describe_types")).types;
  types.clear();
  for (const type of listed) types.set(type.type, type);
  listTypes(listed, { add: (type) => editor.actions.add(type) });
  canvasView.redraw(); // now with each task's ports
}

// -- the interface app.js and examples.js use ----------------------------------------------

export const views = {
  store,

  /** The engine is up: reopen the autosaved document (or take the code box's as it is). */
  async start(readyEngine) {
    engineUp(readyEngine);
    let restored = false;
    try {
      restored = await store.restore();
    } catch (error) {
      console.warn("could not read the autosaved document:", error);
    }
    if (!restored) {
      await openCode(codeView.value).catch(
        (error) => console.warn("could not open the code box as the document:", error));
    }
    for (const id of ["apply-code", "apply-json"]) $(id).disabled = false;
    drawPalette().catch((error) => console.warn("could not list the task types:", error));
    document.body.dataset.documentReady = "";
  },

  /** An example, or any code from elsewhere: asks first if that would lose the user's edits. */
  async openExample(name, code) {
    if (store.dirty && !window.confirm(
      `Open the example “${name}”? It replaces the current document, and its edits are ` +
      "lost unless you save them under a name first.")) {
      return false;
    }
    codeView.value = code; // at once: the rest waits for the engine
    showCodeError(null);
    await openCode(code, { name });
    document.body.dataset.exampleOpened = name;
    return true;
  },

  /** A saved graph the user chose to load. */
  openSaved(code, name) {
    showCodeError(null);
    return openCode(code, { name }).catch(
      (error) => console.warn("could not open the saved graph as the document:", error));
  },

  runEvents(events) {
    store.runEvents(events);
  },

  runEnded(report) {
    store.runEnded(report);
  },
};

function mount() {
  if (!$("code")) return;
  codeView = createCodeEditor($("code"), {
    language: "python", onInput: (text) => store.setDraft(text) });
  jsonView = createCodeEditor($("graph-json"), { language: "json" });
  views.code = codeView;
  window.taskloom.codeText = () => codeView.value;
  window.taskloom.jsonText = () => jsonView.value;
  window.taskloom.codeCaret = () => codeView.view.state.selection.main.head;
  const canvas = $("canvas");
  store.subscribe(render);
  editor = mountEditor({ store, canvas, call, describe: (type) => types.get(type) });
  canvasView = editor.canvas; // React Flow (bundles/canvas.js), wired by editor.js
  $("inspector-form").addEventListener("submit", (event) => event.preventDefault());
  render(store.state, "document");
  $("apply-code").onclick = () => applyCode();
  $("keep-trusted").onclick = () => keepTrusted();
  $("apply-json").onclick = () => applyJson();
  window.taskloom.document = store; // the test and automation adapter's view of the document
}

mount();
