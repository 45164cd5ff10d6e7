// The canvas: draws the store's graph document, laid out left to right by
// dagre (build/browser.toml pins it), and shows each task's status and
// progress while a run streams its events. Nodes are HTML (text wraps and
// is readable by assistive technology), edges an SVG layer beneath them.
// A task placed by hand keeps its place in its metadata ("ui": {x, y}, the
// node's top-left corner); dagre places the others. Each node shows its
// ports as labelled handles with their types (web/editor.js wires them).
//
// Test and automation hooks: every node carries data-task-id, data-task-type
// and data-status; every edge data-source, data-source-port, data-target and
// data-target-port; every handle data-port and data-direction ("in", "out").

import dagre from "./dagre/dagre.esm.js";

import { GRAPH } from "./document.js";

const SVG = "http://www.w3.org/2000/svg";
export const NODE_WIDTH = 190;
const NODE_HEIGHT = 72;
const PORT_ROW = 20;
const MARGIN = 16;
// dagre places edge labels as nodes of their own; it needs their size.
const LABEL_CHAR_WIDTH = 6.5;
const LABEL_HEIGHT = 14;
/** The handle of an open-input task (DebugLog): an edge to it keeps the source's port name. */
export const ANY_PORT = "*";

/** A port's type as the handle shows it: its format where it has one, else its JSON type. */
export function portType(schema = {}) {
  if (schema.format) return schema.format;
  if (schema.anyOf) return schema.anyOf.map(portType).join(" | ");
  if (schema.enum) return "choice";
  if (schema.type === "array") return `list[${schema.items ? portType(schema.items) : "any"}]`;
  return schema.type || "any";
}

/** A type's ports, from describe_types: [{name, type}] both ways, and whether inputs are open. */
export function portsOf(described) {
  if (!described) return { inputs: [], outputs: [], open: false };
  const list = (schema) => Object.entries(schema?.properties || {}).map(
    ([name, property]) => ({ name, type: portType(property) }));
  return { inputs: list(described.input_schema), outputs: list(described.output_schema),
           open: !!described.open_inputs };
}

function inputRows(ports) {
  return ports.inputs.length + (ports.open ? 1 : 0);
}

const nodeHeight = (ports) => NODE_HEIGHT +
  PORT_ROW * Math.max(inputRows(ports), ports.outputs.length);

function placedAt(task) {
  const ui = task.metadata?.ui;
  return ui && Number.isFinite(ui.x) && Number.isFinite(ui.y) ? ui : null;
}

function layout(graph, portsFor) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 28, ranksep: 90, edgesep: 16, marginx: MARGIN,
               marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of graph.tasks) {
    g.setNode(task.id, { width: NODE_WIDTH, height: nodeHeight(portsFor(task.type)) });
  }
  graph.dataflows.forEach((flow, index) => {
    const label = edgeLabel(flow);
    g.setEdge(flow.source_task_id, flow.target_task_id, {
      width: label.length * LABEL_CHAR_WIDTH, height: LABEL_HEIGHT, labelpos: "c",
    }, String(index));
  });
  dagre.layout(g);
  return g;
}

const edgeLabel = (flow) => flow.source_port === flow.target_port
  ? flow.source_port : `${flow.source_port} → ${flow.target_port}`;

function svg(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function handle(task, port, direction) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `port port-${direction}`;
  button.dataset.port = port.name;
  button.dataset.direction = direction;
  button.dataset.taskId = task.id;
  const label = port.name === ANY_PORT ? "any input" : port.name;
  button.setAttribute("aria-label", `${direction === "in" ? "input" : "output"} ${label} of ` +
                      `${task.id}: ${port.type}`);
  button.title = `${label}: ${port.type}`;
  const name = document.createElement("span");
  name.className = "port-name";
  name.textContent = port.name === ANY_PORT ? "+ any" : port.name;
  const type = document.createElement("span");
  type.className = "port-type";
  type.textContent = port.type;
  button.append(name, type);
  return button;
}

function nodeElement(task, box, ports) {
  const node = document.createElement("div");
  node.className = "node";
  node.dataset.taskId = task.id;
  node.dataset.taskType = task.type;
  node.dataset.status = "pending";
  node.setAttribute("role", "listitem");
  node.tabIndex = 0;
  node.style.left = `${box.left}px`;
  node.style.top = `${box.top}px`;
  node.style.width = `${box.width}px`;
  node.style.height = `${box.height}px`;
  const title = document.createElement("span");
  title.className = "node-title";
  title.textContent = task.config?.title || task.metadata?.title || task.id;
  node.setAttribute("aria-label", `${title.textContent} (${task.type})`);
  const type = document.createElement("span");
  type.className = "node-type";
  type.textContent = task.type;
  const status = document.createElement("span");
  status.className = "node-status";
  status.textContent = "pending";
  const progress = document.createElement("progress");
  progress.max = 1;
  progress.value = 0;
  progress.setAttribute("aria-label", `progress of ${task.id}`);
  const message = document.createElement("span");
  message.className = "node-message";
  const inputs = document.createElement("div");
  inputs.className = "ports ports-in";
  for (const port of ports.inputs) inputs.append(handle(task, port, "in"));
  if (ports.open) inputs.append(handle(task, { name: ANY_PORT, type: "any" }, "in"));
  const outputs = document.createElement("div");
  outputs.className = "ports ports-out";
  for (const port of ports.outputs) outputs.append(handle(task, port, "out"));
  node.append(title, type, status, progress, message, inputs, outputs);
  return node;
}

/** Where an edge meets a node: its port's handle row, or the node's middle. */
function anchor(box, ports, name, direction) {
  const list = direction === "in"
    ? [...ports.inputs.map((p) => p.name), ...(ports.open ? [ANY_PORT] : [])]
    : ports.outputs.map((p) => p.name);
  let index = list.indexOf(name);
  if (index < 0 && direction === "in" && ports.open) index = list.length - 1;
  const x = direction === "in" ? box.left : box.left + box.width;
  const y = index < 0 ? box.top + box.height / 2
    : box.top + NODE_HEIGHT + PORT_ROW * index + PORT_ROW / 2 - 4;
  return { x, y };
}

function edgeElement(flow, points, at) {
  const edge = svg("g", {
    class: "edge", "data-source": flow.source_task_id, "data-source-port": flow.source_port,
    "data-target": flow.target_task_id, "data-target-port": flow.target_port,
  });
  const path = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`);
  edge.append(svg("path", { d: path.join(" "), "marker-end": "url(#canvas-arrow)" }));
  const label = svg("text", { x: at.x, y: at.y, "text-anchor": "middle",
                              "dominant-baseline": "middle" });
  label.textContent = edgeLabel(flow);
  edge.append(label);
  return edge;
}

/** Draws the store's document in `container`; `describe(type)` is the palette's entry for a
 * type (undefined until the engine has listed them: call `redraw()` then). */
export function mountCanvas(store, container, { describe = () => undefined } = {}) {
  const nodes = new Map();
  const portsFor = (type) => portsOf(describe(type));

  function draw(state) {
    nodes.clear();
    container.replaceChildren();
    container.dataset.mode = state.mode;
    if (state.mode !== GRAPH || !state.graph) {
      const note = document.createElement("p");
      note.className = "canvas-note";
      note.textContent = "This document is trusted Python, not a graph: it runs as written, " +
        "and the canvas draws graph code only. Press New graph to build one from the task " +
        "types.";
      container.append(note);
      container.dataset.tasks = "0";
      return;
    }
    const g = layout(state.graph, portsFor);
    const boxes = new Map();
    const placedByHand = state.graph.tasks.some(placedAt);
    let width = g.graph().width || 0;
    let height = g.graph().height || 0;
    for (const task of state.graph.tasks) {
      const laid = g.node(task.id);
      const at = placedAt(task);
      const box = { width: laid.width, height: laid.height,
                    left: at ? at.x : laid.x - laid.width / 2,
                    top: at ? at.y : laid.y - laid.height / 2 };
      boxes.set(task.id, box);
      width = Math.max(width, box.left + box.width + MARGIN);
      height = Math.max(height, box.top + box.height + MARGIN);
    }
    const stage = document.createElement("div");
    stage.className = "canvas-stage";
    stage.style.width = `${width}px`;
    stage.style.height = `${height}px`;
    stage.setAttribute("role", "list");
    stage.setAttribute("aria-label", "tasks of the graph");
    const edges = svg("svg", { class: "edges", width, height, "aria-hidden": "true" });
    const marker = svg("marker", { id: "canvas-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
                                   markerWidth: 7, markerHeight: 7, orient: "auto" });
    marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z" }));
    edges.append(svg("defs"));
    edges.firstChild.append(marker);
    const types = new Map(state.graph.tasks.map((task) => [task.id, task.type]));
    state.graph.dataflows.forEach((flow, index) => {
      if (placedByHand) {
        // dagre's routes know nothing of hand-placed nodes: join the ports' handles.
        const from = anchor(boxes.get(flow.source_task_id),
                            portsFor(types.get(flow.source_task_id)), flow.source_port, "out");
        const to = anchor(boxes.get(flow.target_task_id),
                          portsFor(types.get(flow.target_task_id)), flow.target_port, "in");
        const middle = { x: (from.x + to.x) / 2, y: (from.y + to.y) / 2 - 8 };
        edges.append(edgeElement(flow, [from, to], middle));
      } else {
        const routed = g.edge(flow.source_task_id, flow.target_task_id, String(index));
        edges.append(edgeElement(flow, routed.points, routed));
      }
    });
    stage.append(edges);
    for (const task of state.graph.tasks) {
      const node = nodeElement(task, boxes.get(task.id), portsFor(task.type));
      nodes.set(task.id, node);
      stage.append(node);
    }
    container.append(stage);
    container.dataset.tasks = String(state.graph.tasks.length);
    paintRun(state.run);
    container.dispatchEvent(new CustomEvent("canvas-drawn"));
  }

  function paintRun(run) {
    for (const [id, node] of nodes) {
      const status = run.statuses[id] || "pending";
      if (node.dataset.status !== status) {
        node.dataset.status = status;
        node.querySelector(".node-status").textContent = status;
      }
      const progress = run.progress[id];
      if (progress != null) {
        node.querySelector("progress").value = progress;
        node.dataset.progress = String(progress);
      }
      const message = run.messages[id];
      if (message != null) node.querySelector(".node-message").textContent = message;
    }
  }

  // A run streams many events: repaint at most once per frame.
  let frame = 0;
  store.subscribe((state, what) => {
    if (what === "document") {
      cancelAnimationFrame(frame);
      frame = 0;
      draw(state);
    } else if (what === "run" && !frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        paintRun(store.state.run);
      });
    }
  });
  draw(store.state);
  return { redraw: () => draw(store.state) };
}
