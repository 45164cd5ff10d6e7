// The canvas: React Flow drawing the store's graph document. It reads the
// store (useSyncExternalStore; run events repaint at most once a frame) and
// hands every edit to `actions` (web/editor.js), which has the engine check
// it and records it in the store's history, so that each one is undoable.
// Nothing here changes the document by itself: a move, a connection or a
// deletion shows once the store holds the graph that has it.
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from "react";
import {
  Background, Controls, MiniMap, ReactFlow, applyEdgeChanges, applyNodeChanges,
  useNodesInitialized, useReactFlow,
} from "@xyflow/react";

import { CanvasContext } from "./context.js";
import { edgeTypes } from "./edges.jsx";
import { ANY_PORT, NODE_WIDTH, build, categoryColour } from "./model.js";
import { nodeTypes } from "./nodes.jsx";

export const DRAG_TYPE = "application/x-taskloom-type";
const GRAPH = "graph"; // web/document.js's mode of a graph document

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
    setNodes((previous) => {
      const before = new Map(previous.map((n) => [n.id, n]));
      return built.nodes.map((n) => {
        const old = before.get(n.id);
        const selected = want ? want.ids.includes(n.id) : !!old?.selected;
        const same = old && old.width === n.width && old.height === n.height;
        return { ...n, selected, ...(same && old.measured ? { measured: old.measured } : {}) };
      });
    });
    setEdges((previous) => {
      const before = new Map(previous.map((e) => [e.id, e]));
      return built.edges.map((e) => ({ ...e, selected: !!before.get(e.id)?.selected }));
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
    if (outside) flow.fitView({ maxZoom: 1, padding: 0.1 });
  }, [idsKey, initialized]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- what the page may ask of the canvas (web/editor.js) --------------------------------
  useEffect(() => {
    api.current = {
      select(ids, { focus = false } = {}) {
        wanted.current = { ids, focus };
        setNodes((current) => current.map((n) => ({ ...n, selected: ids.includes(n.id) })));
      },
      rebuild: () => setReset((n) => n + 1),
      fitView: () => flow.fitView({ maxZoom: 1, padding: 0.1 }),
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
          fitView fitViewOptions={{ maxZoom: 1, padding: 0.1 }} nodesFocusable
          edgesFocusable={false} elevateEdgesOnSelect
          defaultEdgeOptions={{ type: "port" }}
          ariaLabelConfig={{
            "node.a11yDescription.default":
              "Press Enter or Space to select a task, arrow keys to move it, Delete to remove it.",
          }}>
          <Background gap={16} size={1} />
          <Controls showInteractive={false} position="bottom-left"
                    aria-label="zoom and fit the canvas" />
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
