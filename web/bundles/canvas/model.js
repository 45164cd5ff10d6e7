// From the store's graph document to React Flow's nodes and edges: each
// type's ports (from describe_types), each node's size, the left-to-right
// layout (dagre), groups (a GraphAsTask's body, an expanded array's items)
// and the run state each node and edge shows.
import dagre from "@dagrejs/dagre";

export const NODE_WIDTH = 220;
export const HEADER = 78; // title, type, status and progress rows (canvas.css keeps them fixed)
export const PORT_ROW = 20;
export const NOTE = 34; // the node's last line: streaming text, cache mark or error (two lines)
export const CHILD = { width: 180, height: 58, gap: 10, pad: 12, header: 22 };
/** The handle of an open-input task (DebugLog): an edge to it keeps the source's port name. */
export const ANY_PORT = "*";

/** A port's type as the handle shows it: its format where it has one, else its JSON type. */
export function portType(schema = {}) {
  if (schema.format) return schema.format;
  if (schema.anyOf) {
    const types = schema.anyOf.filter((s) => s.type !== "null").map(portType);
    return types.join(" | ") || "any";
  }
  if (schema.enum) return "choice";
  if (schema.type === "array") return `list[${schema.items ? portType(schema.items) : "any"}]`;
  return schema.type || "any";
}

const listPorts = (schema) => Object.entries(schema?.properties || {}).map(
  ([name, property]) => ({ name, type: portType(property) }));

/** A task's ports: [{name, type}] both ways, and whether its inputs are open. A GraphAsTask's
 * come from its body (core/taskloom/compound.py): inner inputs no inner edge feeds, and the
 * outputs of its sinks, named task__port where two inner tasks share a name. */
export function portsOf(task, describe) {
  if (task.subgraph) return subgraphPorts(task.subgraph, describe);
  const described = describe(task.type);
  if (!described) return { inputs: [], outputs: [], open: false };
  return { inputs: listPorts(described.input_schema), outputs: listPorts(described.output_schema),
           open: !!described.open_inputs };
}

function named(candidates) {
  const counts = new Map();
  for (const c of candidates) counts.set(c.port, (counts.get(c.port) || 0) + 1);
  return candidates.map((c) => ({ name: counts.get(c.port) === 1 ? c.port : `${c.task}__${c.port}`,
                                  type: c.type }));
}

function subgraphPorts(subgraph, describe) {
  const inputs = [];
  const outputs = [];
  const fedFrom = new Set(subgraph.dataflows.map((f) => f.source_task_id));
  for (const task of subgraph.tasks) {
    const ports = portsOf(task, describe);
    const fed = new Set(subgraph.dataflows.filter((f) => f.target_task_id === task.id)
      .map((f) => f.target_port));
    for (const port of ports.inputs) {
      if (!fed.has(port.name)) inputs.push({ task: task.id, port: port.name, type: port.type });
    }
    if (!fedFrom.has(task.id)) {
      for (const port of ports.outputs) outputs.push({ task: task.id, port: port.name,
                                                       type: port.type });
    }
  }
  return { inputs: named(inputs), outputs: named(outputs), open: false };
}

export const edgeLabel = (flow) => flow.source_port === flow.target_port
  ? flow.source_port : `${flow.source_port} → ${flow.target_port}`;

function placedAt(task) {
  const ui = task.metadata?.ui;
  return ui && Number.isFinite(ui.x) && Number.isFinite(ui.y) ? ui : null;
}

const rows = (ports) => Math.max(ports.inputs.length + (ports.open ? 1 : 0), ports.outputs.length);

// A stable colour per category; the category is also written on the node (not colour alone).
const CATEGORY_COLOURS = ["#3763d8", "#1b7a33", "#9b4dca", "#c05a00", "#00838f", "#b0306a",
                          "#6d6a00", "#5d4037"];
export function categoryColour(category = "") {
  let hash = 0;
  for (const ch of category) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return CATEGORY_COLOURS[hash % CATEGORY_COLOURS.length];
}

/** What a task's group holds: its body's tasks (GraphAsTask) or its array items (a run). */
function childrenOf(task, run) {
  if (task.subgraph) return { kind: "body", count: task.subgraph.tasks.length };
  const items = run.items?.[task.id];
  if (items && Object.keys(items).length) {
    return { kind: "items", count: Math.max(...Object.keys(items).map(Number)) + 1 };
  }
  return null;
}

function childBlock(count) {
  const columns = Math.min(count, 3);
  const lines = Math.ceil(count / 3);
  return { width: CHILD.pad * 2 + columns * CHILD.width + (columns - 1) * CHILD.gap,
           height: CHILD.header + CHILD.pad + lines * (CHILD.height + CHILD.gap) };
}

/** Lays out a body's tasks left to right, inside its group. */
function bodyLayout(subgraph) {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: CHILD.gap, ranksep: 40, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of subgraph.tasks) g.setNode(task.id, { width: CHILD.width, height: CHILD.height });
  subgraph.dataflows.forEach((f, i) => g.setEdge(f.source_task_id, f.target_task_id, {}, String(i)));
  dagre.layout(g);
  const at = new Map();
  let width = 0;
  let height = 0;
  for (const task of subgraph.tasks) {
    const n = g.node(task.id);
    const x = n.x - CHILD.width / 2;
    const y = n.y - CHILD.height / 2;
    at.set(task.id, { x, y });
    width = Math.max(width, x + CHILD.width);
    height = Math.max(height, y + CHILD.height);
  }
  return { at, width: width + CHILD.pad * 2, height: height + CHILD.header + CHILD.pad * 2 };
}

const statusOf = (run, id) => run.statuses?.[id] || "pending";

/** The state an edge shows, from its two ends' statuses. */
export function edgeState(source, target) {
  if (["failed", "aborted"].includes(source) || ["failed", "aborted"].includes(target)) {
    return "failed";
  }
  if (source === "completed" && ["completed", "skipped"].includes(target)) return "done";
  if (source === "completed" || source === "processing") return "flowing";
  return "pending";
}

// A run repaints many times a second; the layout changes only with the graph or the sizes.
const layouts = new WeakMap(); // graph -> {key, at}

function layout(graph, sizes) {
  const key = [...sizes].map(([id, size]) => `${id}:${size.width}x${size.height}`).join(",");
  const cached = layouts.get(graph);
  if (cached?.key === key) return cached.at;
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "LR", nodesep: 36, ranksep: 110, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const task of graph.tasks) g.setNode(task.id, { ...sizes.get(task.id) });
  graph.dataflows.forEach((f, i) => g.setEdge(f.source_task_id, f.target_task_id,
                                               { width: 8 * edgeLabel(f).length, height: 14,
                                                 labelpos: "c" }, String(i)));
  dagre.layout(g);
  const at = new Map(graph.tasks.map((task) => {
    const { x, y } = g.node(task.id);
    return [task.id, { x, y }];
  }));
  layouts.set(graph, { key, at });
  return at;
}

/**
 * React Flow's nodes and edges for `graph`. `expanded`: the ids of open groups;
 * `describe(type)`: the type's describe_types entry.
 */
export function build(graph, { run, describe, expanded }) {
  const portsById = new Map(graph.tasks.map((t) => [t.id, portsOf(t, describe)]));
  const sizes = new Map();
  const bodies = new Map();
  for (const task of graph.tasks) {
    const ports = portsById.get(task.id);
    let width = NODE_WIDTH;
    let height = HEADER + PORT_ROW * rows(ports) + NOTE;
    const group = childrenOf(task, run);
    if (group && expanded.has(task.id)) {
      let block;
      if (group.kind === "body") {
        const body = bodyLayout(task.subgraph);
        bodies.set(task.id, body);
        block = body;
      } else {
        block = childBlock(group.count);
      }
      width = Math.max(width, block.width);
      height += block.height;
    }
    sizes.set(task.id, { width, height, top: HEADER + PORT_ROW * rows(ports) + NOTE });
  }

  const laidOut = layout(graph, sizes);

  const nodes = [];
  for (const task of graph.tasks) {
    const size = sizes.get(task.id);
    const laid = laidOut.get(task.id);
    const position = placedAt(task) ?? { x: laid.x - size.width / 2, y: laid.y - size.height / 2 };
    const described = task.subgraph ? null : describe(task.type);
    const status = statusOf(run, task.id);
    const title = task.config?.title || task.metadata?.title || task.id;
    const group = childrenOf(task, run);
    const open = !!group && expanded.has(task.id);
    nodes.push({
      id: task.id, type: "task", position, width: size.width, height: size.height,
      className: "node", ariaLabel: `${title} (${task.type}), ${status}`,
      domAttributes: { "data-task-id": task.id, "data-task-type": task.type,
                       "data-status": status,
                       ...(run.progress?.[task.id] != null
                         ? { "data-progress": String(run.progress[task.id]) } : {}),
                       ...(group ? { "data-group": group.kind,
                                     "data-expanded": String(open) } : {}) },
      data: {
        task, title, status, ports: portsById.get(task.id),
        category: described?.category || (task.subgraph ? "graph" : ""),
        progress: run.progress?.[task.id] ?? 0,
        message: run.messages?.[task.id] ?? "",
        error: run.errors?.[task.id] ?? (status === "failed" ? run.messages?.[task.id] : ""),
        cached: !!run.cached?.[task.id],
        group, open, childTop: size.top,
      },
    });
    if (!open) continue;
    if (group.kind === "body") {
      const body = bodies.get(task.id);
      for (const inner of task.subgraph.tasks) {
        const at = body.at.get(inner.id);
        nodes.push(childNode(task.id, inner.id, inner.type,
                             { x: CHILD.pad + at.x, y: size.top + CHILD.header + at.y },
                             { title: inner.config?.title || inner.id, kind: "inner",
                               status: statusOf(run, task.id) }));
      }
    } else {
      const items = run.items[task.id];
      for (let i = 0; i < group.count; i++) {
        const column = i % 3;
        const line = Math.floor(i / 3);
        nodes.push(childNode(task.id, `${task.id}[${i}]`, task.type,
                             { x: CHILD.pad + column * (CHILD.width + CHILD.gap),
                               y: size.top + CHILD.header + line * (CHILD.height + CHILD.gap) },
                             { title: `item ${i}`, kind: "item", item: i,
                               message: items[i] || "", status }));
      }
    }
  }

  const edges = graph.dataflows.map((flow, index) => ({
    id: `e${index}:${flow.source_task_id}.${flow.source_port}->${flow.target_task_id}.` +
        flow.target_port,
    type: "port", source: flow.source_task_id, target: flow.target_task_id,
    sourceHandle: flow.source_port,
    targetHandle: targetHandleFor(portsById.get(flow.target_task_id), flow.target_port),
    data: { flow, label: edgeLabel(flow),
            state: edgeState(statusOf(run, flow.source_task_id),
                             statusOf(run, flow.target_task_id)) },
  }));
  for (const task of graph.tasks) {
    if (!task.subgraph || !expanded.has(task.id)) continue;
    task.subgraph.dataflows.forEach((flow, index) => edges.push({
      id: `${task.id}/e${index}`, type: "port", selectable: false, deletable: false,
      source: `${task.id}/${flow.source_task_id}`, target: `${task.id}/${flow.target_task_id}`,
      zIndex: 1,
      data: { flow, label: edgeLabel(flow), inner: true,
              state: edgeState(statusOf(run, task.id), statusOf(run, task.id)) },
    }));
  }
  return { nodes, edges };
}

function targetHandleFor(ports, port) {
  if (!ports) return port;
  if (ports.inputs.some((p) => p.name === port)) return port;
  return ports.open ? ANY_PORT : port;
}

function childNode(parent, id, type, position, data) {
  const childId = data.kind === "inner" ? `${parent}/${id}` : id;
  return {
    id: childId, type: "child", parentId: parent, extent: "parent", position,
    width: CHILD.width, height: CHILD.height, draggable: false, selectable: false,
    deletable: false, connectable: false, focusable: false, className: "child-node",
    domAttributes: { "data-child-of": parent, "data-child-id": id, "data-child-kind": data.kind,
                     "data-task-type": type, "data-status": data.status },
    data: { ...data, type },
  };
}
