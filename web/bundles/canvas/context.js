import { createContext } from "react";

/** What nodes call back into the canvas: pick a port (keyboard), toggle a group, run to here. */
export const CanvasContext = createContext(null);
