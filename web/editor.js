// Building a graph without code, on the canvas (web/canvas.js): add a task
// from the palette (drag it onto the canvas, or Enter on a palette item),
// connect an output handle to an input handle (the engine's check_dataflow
// is asked first, and its reason shown when it refuses), select, move and
// delete tasks, undo and redo (the store's history, web/document.js).
//
// Every edit builds the next graph JSON and hands it to the engine's
// open_graph, which checks it as the runner would and answers its code: the
// store then holds the graph, the JSON view and the code view show it, and
// Run runs it. An edit the engine refuses changes nothing.

import { ANY_PORT, NODE_WIDTH } from "./canvas.js";
import { GRAPH } from "./document.js";
import { mountInspector } from "./inspector.js";

const $ = (id) => document.getElementById(id);
const DRAG_TYPE = "application/x-taskloom-type";
const NUDGE = 16; // px an arrow key moves the selected task
const GRID = { x: NODE_WIDTH + 60, y: 150, columns: 4 };

const emptyGraph = () => ({ schema_version: 1, tasks: [], dataflows: [] });
const copy = (value) => JSON.parse(JSON.stringify(value));

/** A fresh task id for a type: its builder method's name, numbered when taken. */
function freshId(graph, described) {
  const base = described.method || described.type.toLowerCase();
  const taken = new Set(graph.tasks.map((task) => task.id));
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n += 1;
  return `${base}_${n}`;
}

const typing = (target) => target instanceof HTMLElement &&
  (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

export function mountEditor({ store, canvas, call, describe }) {
  let selected = null; // the selected task's id
  let armed = null; // an output handle picked by click or keyboard, waiting for an input

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

  // -- adding ------------------------------------------------------------------------------

  function nextFreeSpot(graph) {
    const n = graph.tasks.length;
    return { x: 16 + (n % GRID.columns) * GRID.x, y: 16 + Math.floor(n / GRID.columns) * GRID.y };
  }

  async function addTask(typeName, at = null) {
    const described = describe(typeName);
    const graph = editable();
    if (!described || !graph) return;
    const id = freshId(graph, described);
    const ui = at ?? nextFreeSpot(graph);
    graph.tasks.push({ id, type: typeName, defaults: {},
                       metadata: { ui: { x: Math.round(ui.x), y: Math.round(ui.y) } } });
    if (await commit(graph, `Added ${id} (${typeName}).`)) select(id, { focus: !at });
  }

  async function newGraph() {
    if (store.dirty && !window.confirm("Start a new, empty graph? It replaces the current " +
      "document, and its edits are lost unless you save them under a name first.")) return;
    await commit(emptyGraph(), "A new, empty graph: add tasks from Task types.");
  }

  function wirePaletteItem(item) {
    item.tabIndex = 0;
    item.draggable = true;
    item.setAttribute("role", "button");
    item.setAttribute("aria-label", `add ${item.textContent} to the graph`);
    item.addEventListener("dragstart", (event) => {
      event.dataTransfer.setData(DRAG_TYPE, item.dataset.taskType);
      event.dataTransfer.effectAllowed = "copy";
    });
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        addTask(item.dataset.taskType);
      }
    });
  }

  canvas.addEventListener("dragover", (event) => {
    if (event.dataTransfer.types.includes(DRAG_TYPE)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    }
  });
  canvas.addEventListener("drop", (event) => {
    const type = event.dataTransfer.getData(DRAG_TYPE);
    if (!type) return;
    event.preventDefault();
    const box = canvas.getBoundingClientRect();
    addTask(type, { x: Math.max(0, event.clientX - box.left + canvas.scrollLeft - NODE_WIDTH / 2),
                    y: Math.max(0, event.clientY - box.top + canvas.scrollTop - 20) });
  });

  // -- connecting --------------------------------------------------------------------------

  async function connect(source, target) {
    const graph = graphOrNull();
    if (!graph) return;
    const targetPort = target.port === ANY_PORT ? source.port : target.port;
    const check = await call("check_dataflow", JSON.stringify(graph), source.task, source.port,
                             target.task, targetPort);
    if (!check.ok) {
      say(`Not connected: ${check.reason}`, { refused: true });
      document.body.dataset.connectRefused = check.reason;
      return;
    }
    const next = copy(graph);
    next.dataflows.push({ source_task_id: source.task, source_port: source.port,
                          target_task_id: target.task, target_port: targetPort });
    await commit(next, `Connected ${source.task}.${source.port} to ${target.task}.${targetPort}.`);
  }

  const handleOf = (element) => element?.closest?.(".port");
  const portOf = (handle) => ({ task: handle.dataset.taskId, port: handle.dataset.port });

  function arm(handle) {
    disarm();
    armed = portOf(handle);
    handle.dataset.armed = "true";
    say(`Picked output ${armed.port} of ${armed.task}: now pick an input to connect it to.`);
  }

  function disarm() {
    armed = null;
    for (const handle of canvas.querySelectorAll(".port[data-armed]")) {
      delete handle.dataset.armed;
    }
  }

  canvas.addEventListener("click", (event) => {
    const handle = handleOf(event.target);
    if (handle?.dataset.direction === "out") {
      arm(handle);
    } else if (handle && armed) {
      const source = armed;
      disarm();
      connect(source, portOf(handle));
    }
  });

  // -- dragging: from an output handle (connect) or a node's body (move) --------------------

  let drag = null;

  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    const handle = handleOf(event.target);
    const node = event.target.closest?.(".node");
    if (!node) return;
    if (handle && handle.dataset.direction !== "out") return;
    event.preventDefault(); // no text selection while dragging
    drag = { handle, node, startX: event.clientX, startY: event.clientY, moved: false,
             left: parseFloat(node.style.left), top: parseFloat(node.style.top), line: null };
    if (!handle) select(node.dataset.taskId, { focus: true });
  });

  window.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const dx = event.clientX - drag.startX;
    const dy = event.clientY - drag.startY;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    if (drag.handle) {
      drag.line ??= rubberBand();
      const box = canvas.querySelector(".canvas-stage").getBoundingClientRect();
      const from = drag.handle.getBoundingClientRect();
      drag.line.setAttribute("x1", from.right - box.left);
      drag.line.setAttribute("y1", from.top + from.height / 2 - box.top);
      drag.line.setAttribute("x2", event.clientX - box.left);
      drag.line.setAttribute("y2", event.clientY - box.top);
    } else {
      drag.node.style.left = `${Math.max(0, drag.left + dx)}px`;
      drag.node.style.top = `${Math.max(0, drag.top + dy)}px`;
    }
  });

  window.addEventListener("pointerup", (event) => {
    if (!drag) return;
    const ended = drag;
    drag = null;
    ended.line?.remove();
    if (!ended.moved) return; // a click: the click handler arms or selects
    if (ended.handle) {
      const target = handleOf(document.elementFromPoint(event.clientX, event.clientY));
      if (target?.dataset.direction === "in") connect(portOf(ended.handle), portOf(target));
    } else {
      moveTo(ended.node.dataset.taskId, parseFloat(ended.node.style.left),
             parseFloat(ended.node.style.top));
    }
  });

  function rubberBand() {
    const edges = canvas.querySelector("svg.edges");
    const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
    line.setAttribute("class", "rubber-band");
    edges.append(line);
    return line;
  }

  async function moveTo(id, x, y) {
    const graph = graphOrNull();
    const next = graph && copy(graph);
    const moved = next?.tasks.find((t) => t.id === id);
    if (!moved) return;
    moved.metadata = { ...(moved.metadata || {}), ui: { x: Math.round(x), y: Math.round(y) } };
    await commit(next, `Moved ${id}.`);
  }

  // -- selecting and deleting --------------------------------------------------------------

  function select(id, { focus = false } = {}) {
    selected = id;
    for (const node of canvas.querySelectorAll(".node")) {
      const on = node.dataset.taskId === id;
      // aria-current, not aria-selected: a listitem has no selected state in ARIA.
      if (on) node.setAttribute("aria-current", "true");
      else node.removeAttribute("aria-current");
      if (on && focus && document.activeElement !== node) node.focus();
    }
    inspector.show(id);
    if (id) document.body.dataset.selectedTask = id;
    else delete document.body.dataset.selectedTask;
  }

  canvas.addEventListener("focusin", (event) => {
    const node = event.target.closest?.(".node");
    if (node && event.target === node) select(node.dataset.taskId);
  });

  async function deleteTask(id) {
    const graph = graphOrNull();
    if (!graph) return;
    const next = copy(graph);
    next.tasks = next.tasks.filter((task) => task.id !== id);
    next.dataflows = next.dataflows.filter(
      (flow) => flow.source_task_id !== id && flow.target_task_id !== id);
    if (await commit(next, `Deleted ${id}.`)) {
      select(null);
      canvas.focus();
    }
  }

  canvas.addEventListener("keydown", (event) => {
    if (event.key === "Escape") disarm();
    if (typing(event.target) || !selected) return;
    if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      deleteTask(selected);
      return;
    }
    const step = { ArrowLeft: [-NUDGE, 0], ArrowRight: [NUDGE, 0], ArrowUp: [0, -NUDGE],
                   ArrowDown: [0, NUDGE] }[event.key];
    const node = event.target.closest?.(".node");
    if (step && node && !handleOf(event.target)) {
      event.preventDefault();
      moveTo(selected, Math.max(0, parseFloat(node.style.left) + step[0]),
             Math.max(0, parseFloat(node.style.top) + step[1]));
    }
  });

  // -- undo and redo -----------------------------------------------------------------------

  function travel(back) {
    const went = back ? store.undo() : store.redo();
    if (went) say(back ? "Undone." : "Redone.");
    return went;
  }

  document.addEventListener("keydown", (event) => {
    // In a text field Ctrl+Z belongs to the field's own undo.
    if (!(event.ctrlKey || event.metaKey) || typing(event.target)) return;
    const key = event.key.toLowerCase();
    if (key === "z" || key === "y") {
      event.preventDefault();
      travel(key === "z" && !event.shiftKey);
    }
  });
  $("undo").onclick = () => travel(true);
  $("redo").onclick = () => travel(false);
  $("new-graph").onclick = () => newGraph();

  const inspector = mountInspector({ store, describe, commit, say });

  // The canvas redraws on every document change: keep the selection and its focus.
  canvas.addEventListener("canvas-drawn", () => {
    const node = selected && canvas.querySelector(`.node[data-task-id="${CSS.escape(selected)}"]`);
    if (!node) {
      if (selected) select(null);
      return;
    }
    // The focused node was just replaced, which leaves the focus on the body.
    const hadFocus = canvas.contains(document.activeElement) ||
      document.activeElement === document.body;
    select(selected, { focus: hadFocus });
  });
  store.subscribe(() => {
    $("undo").disabled = !store.canUndo;
    $("redo").disabled = !store.canRedo;
  });

  return { wirePaletteItem, addTask, select };
}
