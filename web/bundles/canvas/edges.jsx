// An edge labelled with its ports (an If's branch with its condition, a
// transform) and drawn by its state (pending, flowing, done, skipped, failed:
// colour and dash both, so that colour is not the only signal).
// The <g> carries the test and automation hooks.
import { memo } from "react";
import { BaseEdge, getBezierPath } from "@xyflow/react";

// A branch not taken: dotted and faint (canvas.css styles the other states).
const SKIPPED = { strokeDasharray: "1 5", opacity: 0.6 };

function PortEdgeView({ id, sourceX, sourceY, targetX, targetY, sourcePosition, targetPosition,
                        data, markerEnd, selected }) {
  const [path, labelX, labelY] = getBezierPath({ sourceX, sourceY, targetX, targetY,
                                                 sourcePosition, targetPosition });
  const { flow, label, state, inner, branch, transform } = data;
  return (
    <g className={`${inner ? "inner-edge" : "edge"} edge-${state}`}
       data-source={inner ? undefined : flow.source_task_id}
       data-source-port={flow.source_port}
       data-target={inner ? undefined : flow.target_task_id}
       data-target-port={flow.target_port} data-state={state}
       data-branch={branch || undefined} data-transform={transform || undefined}
       data-selected={selected ? "true" : undefined}>
      <BaseEdge id={id} path={path} markerEnd={markerEnd} label={label} labelX={labelX}
                labelY={labelY} labelBgPadding={[3, 1]} labelBgBorderRadius={2}
                labelShowBg style={state === "skipped" ? SKIPPED : undefined} />
    </g>
  );
}

export const edgeTypes = { port: memo(PortEdgeView) };
