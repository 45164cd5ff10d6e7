// Building a graph without code: the edits the canvas (bundles/canvas.js, React
// Flow) and the palette (web/palette.js) ask for — add, move, connect, remove,
// paste — and undo and redo over them (the store's history, web/document.js).
//
// Every edit builds the next graph JSON and hands it to the engine's
// open_graph, which checks it as the runner would and answers its code: the
// store then holds the graph, the JSON and code views show it, and Run runs
// it. An edit the engine refuses changes nothing, and its reason goes to
// #editor-status (a live region). A connection is asked of check_dataflow
// first, so a refused one is never drawn.

import { NODE_WIDTH, mountCanvas } from "./bundles/canvas.js";
import { GRAPH } from "./document.js";
import { mountInspector } from "./inspector.js";

const $ = (id) => document.getElementById(id);
const GRID = { x: NODE_WIDTH + 80, y: 190, columns: 4 };
const PASTE_OFFSET = 40; // px a pasted copy sits below and right of its original

const emptyGraph = () => ({ schema_version: 1, tasks: [], dataflows: [] });
const copy = (value) => JSON.parse(JSON.stringify(value));
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** A fresh task id: the type's builder method name (or `base`), numbered when taken. */
function freshId(taken, base) {
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n += 1;
  return `${base}_${n}`;
}

const typing = (target) => target instanceof HTMLElement &&
  (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

const sameFlow = (a, b) => a.source_task_id === b.source_task_id &&
  a.source_port === b.source_port && a.target_task_id === b.target_task_id &&
  a.target_port === b.target_port;

export function mountEditor({ store, canvas: element, call, describe }) {
  const status = $("editor-status");
  function say(text, { refused = false } = {}) {
    status.textContent = text;
    status.dataset.refused = String(refused);
  }

  const graphOrNull = () => (store.state.mode === GRAPH && store.state.graph
    ? store.state.graph : null);

  /** Opens `graph` as the document's next state; answers whether the engine took it. */
  async function commit(graph, what) {
    const opened = await call("open_graph", JSON.stringify(graph));
    if (!opened.ok) {
      say(`Not changed: ${opened.error}`, { refused: true });
      document.body.dataset.editorRefused = opened.error;
      return false;
    }
    await store.open({ mode: GRAPH, graph: opened.graph, code: opened.code,
                       name: store.state.name, edited: true });
    await canvas.drawn();
    say(what);
    document.body.dataset.editorEdits = String(Number(document.body.dataset.editorEdits || 0)
                                               + 1);
    return true;
  }

  /** The graph to edit: the document's, or a new one when it is trusted Python (asked). */
  function editable() {
    const graph = graphOrNull();
    if (graph) return copy(graph);
    if (store.state.code.trim() && !window.confirm(
      "The document is trusted Python, not a graph. Start a new graph instead? The code is " +
      "lost unless you save it under a name first.")) {
      return null;
    }
    return emptyGraph();
  }

  function nextFreeSpot(graph) {
    const n = graph.tasks.length;
    return { x: 16 + (n % GRID.columns) * GRID.x, y: 16 + Math.floor(n / GRID.columns) * GRID.y };
  }

  const actions = {
    say,

    /** Adds a task of `typeName`, at `at` (flow coordinates) or the next free spot. */
    async add(typeName, at = null) {
      const described = describe(typeName);
      const graph = editable();
      if (!described || !graph) return false;
      const id = freshId(new Set(graph.tasks.map((t) => t.id)),
                         described.method || typeName.toLowerCase());
      const ui = at ?? nextFreeSpot(graph);
      graph.tasks.push({ id, type: typeName, defaults: {},
                         metadata: { ui: { x: Math.round(ui.x), y: Math.round(ui.y) } } });
      canvas.select([id], { focus: true }); // once it is drawn
      const ok = await commit(graph, `Added ${id} (${typeName}).`);
      if (!ok) canvas.select([]);
      return ok;
    },

    /** Keeps where tasks were moved to, in their metadata ("ui": the node's top-left). */
    async move(moves) {
      const graph = graphOrNull();
      if (!graph) return false;
      const next = copy(graph);
      for (const { id, x, y } of moves) {
        const task = next.tasks.find((t) => t.id === id);
        if (task) task.metadata = { ...(task.metadata || {}), ui: { x: Math.round(x),
                                                                    y: Math.round(y) } };
      }
      return commit(next, moves.length === 1 ? `Moved ${moves[0].id}.`
        : `Moved ${plural(moves.length, "task")}.`);
    },

    /** Connects an output to an input if check_dataflow says it fits; else says why not. */
    async connect(source, target) {
      const graph = graphOrNull();
      if (!graph) return false;
      const check = await call("check_dataflow", JSON.stringify(graph), source.task,
                               source.port, target.task, target.port);
      if (!check.ok) {
        say(`Not connected: ${check.reason}`, { refused: true });
        document.body.dataset.connectRefused = check.reason;
        return false;
      }
      const next = copy(graph);
      next.dataflows.push({ source_task_id: source.task, source_port: source.port,
                            target_task_id: target.task, target_port: target.port });
      return commit(next, `Connected ${source.task}.${source.port} to ` +
                          `${target.task}.${target.port}.`);
    },

    /** Removes tasks (with their edges) and edges. */
    async remove({ ids = [], flows = [] }) {
      const graph = graphOrNull();
      if (!graph) return false;
      const gone = new Set(ids);
      const next = copy(graph);
      next.tasks = next.tasks.filter((t) => !gone.has(t.id));
      next.dataflows = next.dataflows.filter((f) => !gone.has(f.source_task_id) &&
        !gone.has(f.target_task_id) && !flows.some((cut) => sameFlow(cut, f)));
      const what = [ids.length ? `Deleted ${ids.join(", ")}` : "",
                    flows.length ? `removed ${plural(flows.length, "connection")}` : ""]
        .filter(Boolean).join("; ");
      const ok = await commit(next, `${what}.`);
      if (ok) element.focus();
      return ok;
    },

    /** Pastes copied tasks under new ids, with the edges among them. */
    async paste(clip) {
      const graph = editable();
      if (!graph) return false;
      const taken = new Set(graph.tasks.map((t) => t.id));
      const renamed = new Map();
      for (const task of clip.tasks) {
        const id = freshId(taken, task.id.replace(/_\d+$/, ""));
        taken.add(id);
        renamed.set(task.id, id);
        const { at, ...rest } = copy(task);
        graph.tasks.push({ ...rest, id, metadata: { ...(rest.metadata || {}),
                                                    ui: { x: Math.round(at.x + PASTE_OFFSET),
                                                          y: Math.round(at.y + PASTE_OFFSET) } } });
      }
      for (const flow of clip.dataflows) {
        graph.dataflows.push({ ...flow, source_task_id: renamed.get(flow.source_task_id),
                               target_task_id: renamed.get(flow.target_task_id) });
      }
      const ids = [...renamed.values()];
      canvas.select(ids, { focus: true }); // once they are drawn
      const ok = await commit(graph, `Pasted ${ids.join(", ")}.`);
      if (!ok) canvas.select([]);
      return ok;
    },

    /** The canvas's selection: the inspector shows the one selected task. */
    select(ids) {
      const id = ids.length === 1 ? ids[0] : null;
      inspector.show(id);
      if (ids.length) document.body.dataset.selectedTask = ids.join(" ");
      else delete document.body.dataset.selectedTask;
    },

    /** Run-to-here on a node: the lead's run wiring listens for it (app.js). */
    runToHere(id) {
      // page.js imports views.js, which imports this module: reach it once the page is up.
      import("./page.js").then(({ page }) => page.emit("run-to-here", id));
      say(`Running up to ${id}.`);
    },
  };

  async function newGraph() {
    if (store.dirty && !window.confirm("Start a new, empty graph? It replaces the current " +
      "document, and its edits are lost unless you save them under a name first.")) return;
    await commit(emptyGraph(), "A new, empty graph: add tasks from Task types.");
  }

  function travel(back) {
    const went = back ? store.undo() : store.redo();
    if (went) say(back ? "Undone." : "Redone.");
    return went;
  }

  document.addEventListener("keydown", (event) => {
    // In a text field Ctrl+Z belongs to the field's own undo.
    if (!(event.ctrlKey || event.metaKey) || typing(event.target)) return;
    if (event.target.closest?.(".cm-editor")) return; // the code editor's own history
    const key = event.key.toLowerCase();
    if (key === "z" || key === "y") {
      event.preventDefault();
      travel(key === "z" && !event.shiftKey);
    }
  });
  $("undo").onclick = () => travel(true);
  $("redo").onclick = () => travel(false);
  $("new-graph").onclick = () => newGraph();
  store.subscribe(() => {
    $("undo").disabled = !store.canUndo;
    $("redo").disabled = !store.canRedo;
  });

  const canvas = mountCanvas(element, { store, describe, actions });
  const inspector = mountInspector({ store, describe, commit, say });
  // Redraw when the document changes: the inspector shows the selected task's new state.
  store.subscribe((_state, what) => {
    if (what === "document") {
      const selected = document.body.dataset.selectedTask;
      inspector.show(selected && !selected.includes(" ") && graphOrNull()?.tasks.some(
        (t) => t.id === selected) ? selected : null);
    }
  });
  window.taskloom.canvas = canvas;
  return { actions, canvas };
}
