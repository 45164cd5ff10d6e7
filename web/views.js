// The views of the page's document (web/document.js): the code box as the
// code view (to_code of the graph; Apply parses it with from_code, which
// never runs it), the JSON view, the canvas and the palette. app.js hands
// the engine over with `views.start(engine)` and forwards run events; every
// other view reaches the document only through the store.

import { mountCanvas } from "./canvas.js";
import { DocumentStore, GRAPH, TRUSTED } from "./document.js";
import { mountEditor } from "./editor.js";

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

const store = new DocumentStore();
const types = new Map(); // type name -> its describe_types entry (palette, ports, inspector)
let canvasView = null;
let editor = null;
let engineUp;
const engineReady = new Promise((resolve) => { engineUp = resolve; });

async function call(method, ...args) {
  const ready = await engineReady;
  return ready.request(method, ...args);
}

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (text) made.textContent = text;
  return made;
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
  if (answer?.line != null) selectPosition($("code"), answer.line, answer.column ?? 1);
}

/** Puts the caret where the error is (line and column count from 1). */
function selectPosition(textarea, line, column) {
  const lines = textarea.value.split("\n");
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  textarea.focus();
  textarea.setSelectionRange(offset, offset);
}

function showJsonError(text) {
  $("json-error").textContent = text || "";
}

function render(state, what) {
  const code = $("code");
  if (what === "document") {
    if (code.value !== state.draft) code.value = state.draft;
    $("graph-json").value = state.graph ? JSON.stringify(state.graph, null, 2) : "";
    $("graph-json").placeholder = state.graph ? "" : "trusted Python has no graph JSON: " +
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
  const draft = $("code").value;
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
  await store.open({ mode: TRUSTED, code: $("code").value, name: store.state.name,
                     edited: true });
}

async function applyJson() {
  const opened = await call("open_graph", $("graph-json").value);
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
  const byCategory = new Map();
  for (const type of listed) {
    if (!byCategory.has(type.category)) byCategory.set(type.category, []);
    byCategory.get(type.category).push(type);
  }
  const items = $("palette-items");
  items.replaceChildren();
  for (const [category, members] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
    const group = element("div", { class: "palette-group" });
    group.append(element("h3", {}, category));
    const list = element("ul");
    for (const type of members) {
      const item = element("li", { "data-task-type": type.type, title: type.description || "" },
                           type.title || type.type);
      editor.wirePaletteItem(item);
      list.append(item);
    }
    group.append(list);
    items.append(group);
  }
  document.body.dataset.paletteTypes = String(listed.length);
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
      await openCode($("code").value).catch(
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
    $("code").value = code; // at once: the rest waits for the engine
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

  runEvent(event) {
    store.runEvent(event);
  },

  runEnded(report) {
    store.runEnded(report);
  },
};

function mount() {
  const code = $("code");
  if (!code) return;
  const canvas = $("canvas");
  store.subscribe(render);
  canvasView = mountCanvas(store, canvas, { describe: (type) => types.get(type) });
  editor = mountEditor({ store, canvas, call, describe: (type) => types.get(type) });
  $("inspector-form").addEventListener("submit", (event) => event.preventDefault());
  render(store.state, "document");
  code.addEventListener("input", () => store.setDraft(code.value));
  $("apply-code").onclick = () => applyCode();
  $("keep-trusted").onclick = () => keepTrusted();
  $("apply-json").onclick = () => applyJson();
  window.taskloom.document = store; // the test and automation adapter's view of the document
}

mount();
