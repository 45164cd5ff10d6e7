// The canvas's node components: a task (title, type and category, status,
// progress, ports as labelled handles, its streaming text, cache mark or
// error, and the toggle of its group) and a group's child (a GraphAsTask's
// inner task, or one item of an expanded array).
import { memo, useContext } from "react";
import { Handle, Position } from "@xyflow/react";

import { ANY_PORT, categoryColour } from "./model.js";
import { CanvasContext } from "./context.js";

function PortHandle({ task, port, direction }) {
  const actions = useContext(CanvasContext);
  const label = port.name === ANY_PORT ? "any input" : port.name;
  const isOut = direction === "out";
  const armed = actions.armed && actions.armed.task === task && actions.armed.port === port.name;
  return (
    <div className={`port-row port-row-${direction}`}>
      <Handle
        type={isOut ? "source" : "target"} position={isOut ? Position.Right : Position.Left}
        id={port.name} className={`port port-${direction}`} tabIndex={0} role="button"
        data-port={port.name} data-direction={direction} data-task-id={task}
        data-armed={armed ? "true" : undefined}
        aria-label={`${isOut ? "output" : "input"} ${label} of ${task}: ${port.type}`}
        title={`${label}: ${port.type}`}
        onKeyDown={(event) => {
          if (event.key !== "Enter" && event.key !== " ") return;
          event.preventDefault();
          event.stopPropagation(); // not the node's own Enter (select)
          actions.pickPort({ task, port: port.name, direction });
        }}
      />
      <span className="port-name">{port.name === ANY_PORT ? "+ any" : port.name}</span>
      <span className="port-type">{port.type}</span>
    </div>
  );
}

function TaskNodeView({ id, data, selected }) {
  const actions = useContext(CanvasContext);
  const { task, title, status, ports, category, progress, message, error, cached, group, open }
    = data;
  const inputs = ports.open ? [...ports.inputs, { name: ANY_PORT, type: "any" }] : ports.inputs;
  const note = error ? `error: ${error}` : message;
  return (
    <div className="task-node" style={{ "--category": categoryColour(category) }}>
      <div className="node-head">
        <span className="node-title" title={title}>{title}</span>
        <span className="node-status" data-status={status}>{status}</span>
      </div>
      <div className="node-type" title={`${task.type} · ${category}`}>
        {task.type}{category ? <span className="node-category"> · {category}</span> : null}
      </div>
      <div className="node-bar">
        <progress max={1} value={progress} aria-label={`progress of ${id}`} />
        {cached ? <span className="node-cached" title="output reused from the cache"
                        data-cache-hit="true">cached</span> : null}
      </div>
      <div className="node-ports">
        <div className="ports ports-in">
          {inputs.map((port) => <PortHandle key={port.name} task={id} port={port}
                                            direction="in" />)}
        </div>
        <div className="ports ports-out">
          {ports.outputs.map((port) => <PortHandle key={port.name} task={id} port={port}
                                                   direction="out" />)}
        </div>
      </div>
      <div className={error ? "node-note node-error" : "node-note node-message"}
           role={error ? "alert" : undefined} title={note || undefined}>{note}</div>
      {group ? (
        <button type="button" className="group-toggle nodrag" aria-expanded={open}
                onClick={(event) => { event.stopPropagation(); actions.toggleGroup(id); }}>
          {open ? "▾" : "▸"} {group.count} {group.kind === "body"
            ? (group.count === 1 ? "inner task" : "inner tasks")
            : (group.count === 1 ? "item" : "items")}
        </button>
      ) : null}
      {open && group.blocks ? group.blocks.map((block) => (
        // Each body's label (model.js: "body · once per item", "alternative 1 · …"), in
        // the band above its tasks.
        <div key={block.key} className="group-label" data-group-label={block.label}
             style={{ position: "absolute", left: 12, right: 12, top: block.top + 3,
                      fontSize: 11, lineHeight: "16px", opacity: 0.8, whiteSpace: "nowrap",
                      overflow: "hidden", textOverflow: "ellipsis" }}>{block.label}</div>
      )) : null}
      {selected ? (
        <button type="button" className="run-to-here nodrag" title="Run the graph up to here"
                onClick={(event) => { event.stopPropagation(); actions.runToHere(id); }}>
          ▶ Run to here
        </button>
      ) : null}
    </div>
  );
}

function ChildNodeView({ data }) {
  return (
    <div className="child-body">
      <Handle type="target" position={Position.Left} isConnectable={false}
              className="child-handle" />
      <span className="child-title">{data.title}</span>
      <span className="child-type">{data.kind === "item" ? `${data.type} item` : data.type}</span>
      <span className="child-note" title={data.message || undefined}>
        {data.message || data.status}
      </span>
      <Handle type="source" position={Position.Right} isConnectable={false}
              className="child-handle" />
    </div>
  );
}

export const nodeTypes = { task: memo(TaskNodeView), child: memo(ChildNodeView) };
