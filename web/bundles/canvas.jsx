// The canvas bundle: React Flow (@xyflow/react) and dagre behind a small
// vanilla API, so that the rest of the page stays plain ES modules.
//
//   const canvas = mountCanvas(element, { store, describe, actions });
//   canvas.redraw();          // the task types arrived: draw every node's ports
//   canvas.select(["id"], { focus: true });
//
// `store` is the DocumentStore (web/document.js); `describe(type)` a type's
// describe_types entry; `actions` (web/editor.js) makes the edits: add, move,
// connect, remove, paste, select, say, runToHere.
import "@xyflow/react/dist/style.css";
import "./canvas/canvas.css";

import { createRef, useState } from "react";
import { createRoot } from "react-dom/client";
import { ReactFlowProvider } from "@xyflow/react";

import { Canvas, DRAG_TYPE } from "./canvas/Canvas.jsx";
import { ANY_PORT, NODE_WIDTH, portType } from "./canvas/model.js";

export { ANY_PORT, DRAG_TYPE, NODE_WIDTH, portType };

export function mountCanvas(element, { store, describe, actions }) {
  const api = createRef();
  let redraw = () => {};
  function Root() {
    const [typesVersion, setTypesVersion] = useState(0);
    redraw = () => setTypesVersion((n) => n + 1);
    return (
      <ReactFlowProvider>
        <Canvas store={store} describe={describe} actions={actions} api={api}
                typesVersion={typesVersion} />
      </ReactFlowProvider>
    );
  }
  createRoot(element).render(<Root />);
  /** Resolves once the canvas shows the store's document: every task and every edge (React
   * Flow draws edges after it has measured their nodes' handles). */
  function drawn() {
    return new Promise((resolve) => {
      let frames = 0;
      let steady = 0;
      let last = null;
      const check = () => {
        const graph = store.state.graph;
        const done = !graph || (
          element.querySelectorAll(".react-flow__node.node").length === graph.tasks.length &&
          element.querySelectorAll(".edge").length === graph.dataflows.length &&
          !element.querySelector('.react-flow__node[style*="visibility: hidden"]'));
        // ... and the view has settled (fitting a new task into view moves it).
        const view = element.querySelector(".react-flow__viewport")?.style.transform;
        steady = done && view === last ? steady + 1 : 0;
        last = view;
        if (steady >= 3 || ++frames > 120) resolve(done);
        else requestAnimationFrame(check);
      };
      requestAnimationFrame(check);
    });
  }
  return {
    drawn,
    redraw: () => redraw(),
    select: (ids, options) => api.current?.select(ids, options),
    fitView: () => api.current?.fitView(),
    viewport: () => api.current?.viewport(),
    toggleGroup: (id) => api.current?.toggleGroup(id),
    rebuild: () => api.current?.rebuild(),
  };
}
