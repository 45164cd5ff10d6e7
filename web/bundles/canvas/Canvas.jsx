// The canvas: React Flow drawing the store's graph document. It reads the
// store (useSyncExternalStore; run events repaint at most once a frame) and
// hands every edit to `actions` (web/editor.js), which has the engine check
// it and records it in the store's history, so that each one is undoable.
// Nothing here changes the document by itself: a move, a connection or a
// deletion shows once the store holds the graph that has it.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import {
  Background, ControlButton, Controls, MiniMap, ReactFlow, applyEdgeChanges, applyNodeChanges,
  useNodesInitialized, useReactFlow,
} from "@xyflow/react";

import { CanvasContext } from "./context.js";
import { edgeTypes } from "./edges.jsx";
import { ANY_PORT, NODE_WIDTH, build, categoryColour } from "./model.js";
import { nodeTypes } from "./nodes.jsx";

export const DRAG_TYPE = "application/x-taskloom-type";
const GRAPH = "graph"; // web/document.js's mode of a graph document
// Fit to view, bounded: a small graph is not blown up past its natural size, a long one is
// not shrunk until its text is unreadable (it is shown from its start, the rest a pan away).
export const FIT = { padding: 0.1, minZoom: 0.6, maxZoom: 1 };
const FIT_MARGIN = 16; // px left of a graph too wide to fit

/** A number that changes with the document at once, and with the run at most once a frame. */
function useStoreVersion(store) {
  const version = useRef(0);
  const subscribe = useCallback((notify) => {
    let frame = 0;
    const off = store.subscribe((_state, what) => {
      if (what === "document") {
        cancelAnimationFrame(frame);
        frame = 0;
        version.current += 1;
        notify();
      } else if (what === "run" && !frame) {
        frame = requestAnimationFrame(() => {
          frame = 0;
          version.current += 1;
          notify();
        });
      }
    });
    return () => {
      off();
      cancelAnimationFrame(frame);
    };
  }, [store]);
  return useSyncExternalStore(subscribe, () => version.current);
}

// React Flow's fit-view icon (its own FitViewIcon is not exported).
const FIT_ICON = "M3.692 4.63c0-.53.4-.938.939-.938h5.215V0H4.708C2.13 0 0 2.054 0 4.63v5.216h3.692V4.631zM27.354 0h-5.2v3.692h5.17c.53 0 .984.4.984.939v5.215H32V4.631A4.624 4.624 0 0027.354 0zm.954 24.83c0 .532-.4.94-.939.94h-5.215v3.768h5.215c2.577 0 4.631-2.13 4.631-4.707v-5.139h-3.692v5.139zm-23.677.94c-.531 0-.939-.4-.939-.94v-5.138H0v5.139c0 2.577 2.13 4.707 4.708 4.707h5.138V25.77H4.631z";

const sameItems = (a, b) => a.length === b.length && a.every((item, i) => item === b[i]);

function shallowSame(a = {}, b = {}, deep = []) {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => a[key] === b[key] ||
    (deep.includes(key) && JSON.stringify(a[key]) === JSON.stringify(b[key])));
}

// build() makes fresh objects on every call: compare what is drawn, not identity. A task's
// ports and group are rebuilt from the same document, so they are compared by value.
const sameNode = (old, n) => old.type === n.type && old.parentId === n.parentId &&
  old.width === n.width && old.height === n.height && old.ariaLabel === n.ariaLabel &&
  old.className === n.className && old.position.x === n.position.x &&
  old.position.y === n.position.y && shallowSame(old.domAttributes, n.domAttributes) &&
  shallowSame(old.data, n.data, ["ports", "group"]);

const sameEdge = (old, e) => old.source === e.source && old.target === e.target &&
  old.sourceHandle === e.sourceHandle && old.targetHandle === e.targetHandle &&
  shallowSame(old.data, e.data);

const typing = (target) => target instanceof HTMLElement &&
  (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));

export function Canvas({ store, describe, actions, api, typesVersion }) {
  const version = useStoreVersion(store);
  const flow = useReactFlow();
  const initialized = useNodesInitialized();
  const wrapper = useRef(null);
  const [nodes, setNodes] = useState([]);
  const [edges, setEdges] = useState([]);
  const [expanded, setExpanded] = useState(() => new Set());
  const [armed, setArmed] = useState(null); // an output picked by keyboard, waiting for an input
  const [reset, setReset] = useState(0); // rebuild from the document (an edit was refused)
  const wanted = useRef(null); // {ids, focus}: the selection to set at the next build
  const clipboard = useRef(null);
  const state = store.state;
  const isGraph = state.mode === GRAPH && !!state.graph;

  // -- from the document to React Flow's nodes and edges ----------------------------------
  useEffect(() => {
    const current = store.state;
    if (current.mode !== GRAPH || !current.graph) {
      setNodes([]);
      setEdges([]);
      return;
    }
    const built = build(current.graph, { run: current.run, describe, expanded });
    const want = wanted.current;
    // A node or edge whose drawing did not change keeps its object, so that React Flow
    // repaints only what a run's frame changed (a whole-canvas repaint per frame of a
    // run is what cost the page its long tasks).
    setNodes((previous) => {
      const before = new Map(previous.map((n) => [n.id, n]));
      const next = built.nodes.map((n) => {
        const old = before.get(n.id);
        const selected = want ? want.ids.includes(n.id) : !!old?.selected;
        if (old && old.selected === selected && sameNode(old, n)) return old;
        const same = old && old.width === n.width && old.height === n.height;
        return { ...n, selected, ...(same && old.measured ? { measured: old.measured } : {}) };
      });
      return sameItems(previous, next) ? previous : next;
    });
    setEdges((previous) => {
      const before = new Map(previous.map((e) => [e.id, e]));
      const next = built.edges.map((e) => {
        const old = before.get(e.id);
        if (old && sameEdge(old, e)) return old;
        return { ...e, selected: !!old?.selected };
      });
      return sameItems(previous, next) ? previous : next;
    });
  }, [version, typesVersion, expanded, reset, describe, store]);

  // A selection asked for (a new or pasted task): focus it once it is drawn.
  useEffect(() => {
    const want = wanted.current;
    if (!want) return;
    const drawn = want.ids.every((id) => nodes.some((n) => n.id === id));
    if (!drawn) return;
    wanted.current = null;
    if (want.focus && want.ids.length) {
      requestAnimationFrame(() => wrapper.current?.querySelector(
        `.react-flow__node[data-id="${CSS.escape(want.ids[0])}"]`)?.focus({ preventScroll: true }));
    }
  }, [nodes]);

  // -- the selection, told to the inspector -----------------------------------------------
  const selectedIds = useMemo(() => nodes.filter((n) => n.selected && !n.parentId).map((n) => n.id),
                              [nodes]);
  const selectedKey = selectedIds.join("\n");
  useEffect(() => {
    actions.select(selectedIds);
  }, [selectedKey]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- keep every task in view when the graph's tasks change ------------------------------
  const idsKey = nodes.map((n) => `${n.id}:${n.width}x${n.height}`).join(",");
  useEffect(() => {
    if (!initialized || !wrapper.current) return;
    const { x, y, zoom } = flow.getViewport();
    const { clientWidth: w, clientHeight: h } = wrapper.current;
    const outside = nodes.some((n) => !n.parentId && (
      n.position.x * zoom + x < 0 || n.position.y * zoom + y < 0 ||
      (n.position.x + n.width) * zoom + x > w || (n.position.y + n.height) * zoom + y > h));
    if (outside) fit();
  }, [idsKey, initialized]); // eslint-disable-line react-hooks/exhaustive-deps

  // React Flow's fitView, bounded, and from the graph's start when it is wider than the view
  // at the least zoom (centred, both ends would be cut off).
  function fit() {
    const box = wrapper.current;
    const top = nodes.filter((n) => !n.parentId);
    if (!box || !top.length) return;
    const left = Math.min(...top.map((n) => n.position.x));
    const upper = Math.min(...top.map((n) => n.position.y));
    const width = Math.max(...top.map((n) => n.position.x + n.width)) - left;
    const height = Math.max(...top.map((n) => n.position.y + n.height)) - upper;
    const { clientWidth: w, clientHeight: h } = box;
    const zoom = Math.min(FIT.maxZoom, Math.max(FIT.minZoom, Math.min(
      w / (width * (1 + FIT.padding)), h / (height * (1 + FIT.padding)))));
    const place = (size, room, from) => (size * zoom <= room
      ? (room - size * zoom) / 2 - from * zoom : FIT_MARGIN - from * zoom);
    flow.setViewport({ x: place(width, w, left), y: place(height, h, upper), zoom });
  }

  // -- what the page may ask of the canvas (web/editor.js) --------------------------------
  useEffect(() => {
    api.current = {
      select(ids, { focus = false } = {}) {
        wanted.current = { ids, focus };
        setNodes((current) => current.map((n) => ({ ...n, selected: ids.includes(n.id) })));
      },
      rebuild: () => setReset((n) => n + 1),
      fitView: () => fit(),
      viewport: () => flow.getViewport(),
      toggleGroup,
    };
  });

  // -- React Flow's changes: selection and dragging here, edits to the document -----------
  const onNodesChange = useCallback((changes) => {
    const moved = changes.filter((c) => c.type === "position" && c.dragging === false &&
                                         c.position && !c.id.includes("/") &&
                                         !c.id.includes("["));
    setNodes((current) => applyNodeChanges(changes.filter((c) => c.type !== "remove"), current));
    if (moved.length) {
      actions.move(moved.map((c) => ({ id: c.id, x: c.position.x, y: c.position.y })))
        .then((ok) => { if (!ok) setReset((n) => n + 1); });
    }
  }, [actions]);

  const onEdgesChange = useCallback((changes) => {
    setEdges((current) => applyEdgeChanges(changes.filter((c) => c.type !== "remove"), current));
  }, []);

  const onBeforeDelete = useCallback(async ({ nodes: gone, edges: cut }) => {
    const ids = gone.filter((n) => n.type === "task").map((n) => n.id);
    const flows = cut.filter((e) => !e.data?.inner).map((e) => e.data.flow);
    if (ids.length || flows.length) await actions.remove({ ids, flows });
    return false; // the store's next document is what shows the deletion
  }, [actions]);

  const connect = useCallback((source, target) => {
    const port = target.port === ANY_PORT ? source.port : target.port;
    return actions.connect(source, { task: target.task, port });
  }, [actions]);

  const onConnect = useCallback((c) => {
    connect({ task: c.source, port: c.sourceHandle }, { task: c.target, port: c.targetHandle });
  }, [connect]);

  const isValidConnection = useCallback((c) => c.source !== c.target &&
    !c.source.includes("/") && !c.target.includes("/"), []);

  function toggleGroup(id) {
    setExpanded((current) => {
      const next = new Set(current);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });
  }

  const pickPort = useCallback(({ task, port, direction }) => {
    if (direction === "out") {
      setArmed({ task, port });
      actions.say(`Picked output ${port} of ${task}: now pick an input to connect it to.`);
    } else if (armed) {
      const source = armed;
      setArmed(null);
      connect(source, { task, port });
    } else {
      actions.say("Pick an output first (Enter on an output handle), then an input.");
    }
  }, [armed, actions, connect]);

  const context = useMemo(() => ({
    armed, pickPort, toggleGroup, runToHere: actions.runToHere,
  }), [armed, pickPort, actions]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- dropping a palette item, copy and paste --------------------------------------------
  const onDragOver = useCallback((event) => {
    if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
  }, []);

  const onDrop = useCallback((event) => {
    const type = event.dataTransfer.getData(DRAG_TYPE);
    if (!type) return;
    event.preventDefault();
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    // The node's top middle just above the pointer: where it was dropped is where it lands.
    actions.add(type, { x: at.x - NODE_WIDTH / 2, y: at.y - 20 });
  }, [actions, flow]);

  const onKeyDown = useCallback((event) => {
    if (typing(event.target)) return;
    if (event.key === "Escape" && armed) {
      setArmed(null);
      actions.say("Connection cancelled.");
      return;
    }
    if (!(event.ctrlKey || event.metaKey) || event.shiftKey || event.altKey) return;
    const key = event.key.toLowerCase();
    if (key === "c" || key === "x") {
      const picked = nodes.filter((n) => n.selected && n.type === "task");
      if (!picked.length) return;
      event.preventDefault();
      const ids = new Set(picked.map((n) => n.id));
      clipboard.current = {
        tasks: picked.map((n) => ({ ...structuredClone(n.data.task),
                                    at: { x: n.position.x, y: n.position.y } })),
        dataflows: store.state.graph.dataflows.filter(
          (f) => ids.has(f.source_task_id) && ids.has(f.target_task_id)),
      };
      actions.say(`Copied ${picked.length} ${picked.length === 1 ? "task" : "tasks"}.`);
    } else if (key === "v" && clipboard.current) {
      event.preventDefault();
      actions.paste(clipboard.current);
    }
  }, [armed, nodes, actions, store]);

  const onFocus = useCallback((event) => {
    // Tabbing to a task selects it (the inspector follows, arrow keys move it); a click's
    // focus is left to React Flow's own click selection (shift/ctrl-click adds to it).
    const node = event.target.closest?.(".react-flow__node.node");
    if (!node || event.target !== node || !node.matches(":focus-visible")) return;
    const id = node.dataset.id;
    setNodes((current) => current.some((n) => n.id === id && n.selected) ? current
      : current.map((n) => ({ ...n, selected: n.id === id })));
  }, []);

  return (
    <CanvasContext.Provider value={context}>
      <div ref={wrapper} className="canvas-flow" data-mode={state.mode}
           data-tasks={isGraph ? state.graph.tasks.length : 0}
           data-armed={armed ? `${armed.task}.${armed.port}` : undefined}
           onKeyDown={onKeyDown} onFocus={onFocus} onDragOver={onDragOver} onDrop={onDrop}>
        <ReactFlow
          nodes={nodes} edges={edges} nodeTypes={nodeTypes} edgeTypes={edgeTypes}
          onNodesChange={onNodesChange} onEdgesChange={onEdgesChange} onConnect={onConnect}
          isValidConnection={isValidConnection} onBeforeDelete={onBeforeDelete}
          deleteKeyCode={["Delete", "Backspace"]} selectionKeyCode="Shift"
          multiSelectionKeyCode={["Shift", "Control", "Meta"]} minZoom={0.2} maxZoom={2}
          fitView fitViewOptions={FIT} nodesFocusable
          edgesFocusable={false} elevateEdgesOnSelect
          defaultEdgeOptions={{ type: "port" }}
          ariaLabelConfig={{
            "node.a11yDescription.default":
              "Press Enter or Space to select a task, arrow keys to move it, Delete to remove it.",
          }}>
          <Background gap={16} size={1} />
          <Controls showInteractive={false} showFitView={false} position="bottom-left"
                    aria-label="zoom and fit the canvas">
            {/* React Flow's own button fits without bounds: up to 2x on a small graph. */}
            <ControlButton className="react-flow__controls-fitview" onClick={() => fit()}
                           title="Fit view" aria-label="Fit view">
              <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 30" aria-hidden="true">
                <path d={FIT_ICON} />
              </svg>
            </ControlButton>
          </Controls>
          <MiniMap pannable zoomable ariaLabel="minimap of the graph" position="bottom-right"
                   style={{ width: 150, height: 96 }}
                   nodeColor={(n) => n.type === "task"
                     ? categoryColour(n.data.category) : "#c3c9d5"} />
        </ReactFlow>
        {!isGraph ? (
          <p className="canvas-note">
            This document is trusted Python, not a graph: it runs as written, and the canvas
            draws graph code only. Press New to build a graph from the task types.
          </p>
        ) : null}
      </div>
    </CanvasContext.Provider>
  );
}
