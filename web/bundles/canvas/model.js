// From the store's graph document to React Flow's nodes and edges: each
// type's ports (from describe_types), each node's size, the left-to-right
// layout (dagre), groups (the bodies of a GraphAsTask, Map, While, Reduce and a
// Fallback's alternatives; an expanded array's items), edge labels (ports, an
// If's branch and condition, transforms) and the run state each node and edge shows.
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
  if (task.subgraph || task.alternatives) {
    const derived = constructPorts(task, describe);
    if (derived) return derived;
  }
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

const listOf = (ports) => ports.map((p) => ({ name: p.name, type: `list[${p.type}]` }));
const CONDITION = { name: "condition", type: "string | object" };

/** The ports of a construct with a body, as core/taskloom/tasks/control.py derives them:
 * Map takes and gives lists of its body's ports, While adds its condition, cap and count,
 * Fallback over alternatives takes all of theirs and gives the first's; Reduce keeps its own. */
function constructPorts(task, describe) {
  if (task.type === "Fallback" && task.alternatives?.length) {
    const bodies = task.alternatives.map((g) => subgraphPorts(g, describe));
    const inputs = [];
    for (const body of bodies) {
      for (const port of body.inputs) {
        if (!inputs.some((p) => p.name === port.name)) inputs.push(port);
      }
    }
    return { inputs, outputs: [{ name: "alternative", type: "integer" }, ...bodies[0].outputs],
             open: false };
  }
  if (!task.subgraph || task.type === "Reduce") return null;
  const body = subgraphPorts(task.subgraph, describe);
  if (task.type === "Map") {
    return { inputs: [{ name: "concurrency", type: "integer" }, ...listOf(body.inputs)],
             outputs: listOf(body.outputs), open: false };
  }
  if (task.type === "While") {
    return { inputs: [CONDITION, { name: "max_iterations", type: "integer" }, ...body.inputs],
             outputs: [{ name: "iterations", type: "integer" }, ...body.outputs], open: false };
  }
  return body;
}

/** How a transform reads on an edge: `.field`, `[index]`, `as type`. */
export function transformLabel(transform) {
  if (!Array.isArray(transform) || !transform.length) return "";
  return transform.map((step) => ("field" in step ? `.${step.field}`
    : "index" in step ? `[${step.index}]` : "cast" in step ? ` as ${step.cast}`
      : JSON.stringify(step))).join("").trim();
}

export const edgeLabel = (flow) => {
  const ports = flow.source_port === flow.target_port
    ? flow.source_port : `${flow.source_port} → ${flow.target_port}`;
  const transform = transformLabel(flow.transform);
  return transform ? `${ports} · ${transform}` : ports;
};

/** An If's condition as its edges show it (a condition fed by an edge is not known here). */
function conditionOf(task) {
  const condition = task?.defaults?.condition;
  if (typeof condition === "string") return condition;
  if (condition?.function) return `${condition.function}()`;
  return "";
}

const BRANCHES = { then: (c) => c, otherwise: (c) => `not (${c})` };

/** The branch an edge carries (an If's then/otherwise, any task's error port), or "". */
function branchOf(flow, source) {
  if (flow.source_port === "error") return "error";
  return source?.type === "If" && BRANCHES[flow.source_port] ? flow.source_port : "";
}

/** An edge's label: its ports, the branch with its condition where it leaves an If. */
function labelOf(flow, source) {
  const branch = branchOf(flow, source);
  if (branch !== "then" && branch !== "otherwise") return edgeLabel(flow);
  const condition = conditionOf(source);
  const rest = edgeLabel(flow).slice(flow.source_port.length);
  return `${branch}${condition ? ` (${BRANCHES[branch](condition)})` : ""}${rest}`;
}

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

/** A body's label, saying how it runs. */
function bodyLabel(task) {
  if (task.type === "Map") return "body · once per item";
  if (task.type === "Reduce") return "body · folds each item";
  if (task.type === "While") {
    const condition = conditionOf(task);
    return `body · while ${condition || "its condition holds"}`;
  }
  return "body";
}

/** The subgraphs a task's group draws: [{key, label, graph}] (key prefixes inner ids). */
function blocksOf(task) {
  if (task.subgraph) return [{ key: "", label: bodyLabel(task), graph: task.subgraph }];
  if (task.type === "Fallback" && task.alternatives?.length) {
    return task.alternatives.map((graph, n) => ({
      key: `${n}/`, label: `alternative ${n}${n ? " · if the ones before fail" : ""}`, graph }));
  }
  return null;
}

/** What a task's group holds: its bodies' tasks (GraphAsTask, Map, While, Reduce, Fallback)
 * or its array items (a run). */
function childrenOf(task, run) {
  const blocks = blocksOf(task);
  if (blocks) {
    return { kind: "body", count: blocks.reduce((n, b) => n + b.graph.tasks.length, 0),
             label: blocks.map((b) => b.label).join(" | ") };
  }
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
  if (target === "skipped") return "skipped"; // a branch not taken, or after a failure
  if (source === "completed" && target === "completed") return "done";
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
  const byId = new Map(graph.tasks.map((t) => [t.id, t]));
  graph.dataflows.forEach((f, i) => g.setEdge(f.source_task_id, f.target_task_id,
                                               { width: 8 * labelOf(f, byId.get(f.source_task_id))
                                                 .length, height: 14, labelpos: "c" },
                                               String(i)));
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
        // One block per body (a Fallback has one per alternative), stacked, each labelled.
        let top = 0;
        const laid = blocksOf(task).map((b) => {
          const body = { ...b, ...bodyLayout(b.graph), top };
          top += body.height;
          return body;
        });
        bodies.set(task.id, laid);
        block = { width: Math.max(...laid.map((b) => b.width)), height: top };
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
    const described = describe(task.type); // a Map's is "control", a GraphAsTask's "compound"
    const status = statusOf(run, task.id);
    const title = task.config?.title || task.metadata?.title || task.id;
    let group = childrenOf(task, run);
    const open = !!group && expanded.has(task.id);
    if (open && group.kind === "body") {
      group = { ...group, blocks: bodies.get(task.id).map((b) => ({
        key: b.key, label: b.label, top: size.top + b.top })) };
    }
    // web/document.js keeps each item's and inner task's deltas apart (streamKey); the
    // node itself shows the stream of its own output.
    const stream = run.streams?.[task.id];
    nodes.push({
      id: task.id, type: "task", position, width: size.width, height: size.height,
      className: "node", ariaLabel: `${title} (${task.type}), ${status}`,
      domAttributes: { "data-task-id": task.id, "data-task-type": task.type,
                       "data-status": status,
                       ...(run.progress?.[task.id] != null
                         ? { "data-progress": String(run.progress[task.id]) } : {}),
                       ...(group ? { "data-group": group.kind,
                                     "data-expanded": String(open) } : {}),
                       ...(group?.label ? { "data-group-label": group.label } : {}) },
      data: {
        task, title, status, ports: portsById.get(task.id),
        category: described?.category || (task.subgraph ? "compound" : ""),
        progress: run.progress?.[task.id] ?? 0,
        // While it runs, a streaming task shows the end of its text so far.
        message: status === "processing" && stream ? stream.slice(-160)
          : run.messages?.[task.id] ?? "",
        error: run.errors?.[task.id] ?? (status === "failed" ? run.messages?.[task.id] : ""),
        cached: !!run.cached?.[task.id],
        group, open, childTop: size.top,
      },
    });
    if (!open) continue;
    if (group.kind === "body") {
      for (const body of bodies.get(task.id)) {
        for (const inner of body.graph.tasks) {
          const at = body.at.get(inner.id);
          nodes.push(childNode(task.id, inner.id, inner.type,
                               { x: CHILD.pad + at.x,
                                 y: size.top + body.top + CHILD.header + at.y },
                               { title: inner.config?.title || inner.id, kind: "inner",
                                 block: body.key, status: statusOf(run, task.id) }));
        }
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

  const tasksById = new Map(graph.tasks.map((t) => [t.id, t]));
  const edges = graph.dataflows.map((flow, index) => {
    const source = tasksById.get(flow.source_task_id);
    return {
      id: `e${index}:${flow.source_task_id}.${flow.source_port}->${flow.target_task_id}.` +
          flow.target_port,
      type: "port", source: flow.source_task_id, target: flow.target_task_id,
      sourceHandle: flow.source_port,
      targetHandle: targetHandleFor(portsById.get(flow.target_task_id), flow.target_port),
      data: { flow, label: labelOf(flow, source), branch: branchOf(flow, source),
              transform: transformLabel(flow.transform),
              state: edgeState(statusOf(run, flow.source_task_id),
                               statusOf(run, flow.target_task_id)) },
    };
  });
  for (const task of graph.tasks) {
    if (!bodies.has(task.id) || !expanded.has(task.id)) continue;
    const state = edgeState(statusOf(run, task.id), statusOf(run, task.id));
    for (const body of bodies.get(task.id)) {
      const byId = new Map(body.graph.tasks.map((t) => [t.id, t]));
      body.graph.dataflows.forEach((flow, index) => edges.push({
        id: `${task.id}/${body.key}e${index}`, type: "port", selectable: false,
        deletable: false, zIndex: 1,
        source: `${task.id}/${body.key}${flow.source_task_id}`,
        target: `${task.id}/${body.key}${flow.target_task_id}`,
        data: { flow, label: labelOf(flow, byId.get(flow.source_task_id)),
                branch: branchOf(flow, byId.get(flow.source_task_id)),
                transform: transformLabel(flow.transform), inner: true, state },
      }));
    }
  }
  return { nodes, edges };
}

function targetHandleFor(ports, port) {
  if (!ports) return port;
  if (ports.inputs.some((p) => p.name === port)) return port;
  return ports.open ? ANY_PORT : port;
}

function childNode(parent, id, type, position, data) {
  // A body's task is `parent/id`; one of a Fallback's alternatives', `parent/n/id`.
  const childId = data.kind === "inner" ? `${parent}/${data.block || ""}${id}` : id;
  return {
    id: childId, type: "child", parentId: parent, extent: "parent", position,
    width: CHILD.width, height: CHILD.height, draggable: false, selectable: false,
    deletable: false, connectable: false, focusable: false, className: "child-node",
    domAttributes: { "data-child-of": parent, "data-child-id": id, "data-child-kind": data.kind,
                     "data-task-type": type, "data-status": data.status,
                     ...(data.block ? { "data-block": data.block.slice(0, -1) } : {}) },
    data: { ...data, type },
  };
}
