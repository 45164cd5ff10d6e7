// Outputs rendered by what they are, for the inspector (web/inspector.js):
// text keeps its line breaks; a vector (a list of numbers) or a list of
// vectors shows its dimension, a small SVG plot and a copy button; numbers
// and scores show as values; anything else is a JSON tree of
// <details>/<summary> that collapses. Nothing here can blow up the page: long
// strings, long lists and big objects show their first part and a "show more"
// button, and a plot draws at most PLOT_POINTS points whatever the dimension.

const TEXT_CHARS = 2000; // characters of a string shown before "show more"
const LIST_ITEMS = 50; // items or keys of a list or object shown per "show more"
const VECTORS_SHOWN = 5; // plots of a list of vectors shown per "show more"
const PLOT_POINTS = 128;
const PLOT = { width: 240, height: 40 };

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (text) made.textContent = text;
  return made;
}

const isNumber = (value) => typeof value === "number" && Number.isFinite(value);

/** A list of numbers (at least two: a lone number in a list is not a vector). */
export function isVector(value) {
  return Array.isArray(value) && value.length > 1 && value.every(isNumber);
}

/** A non-empty list of vectors of one dimension. */
export function isVectorList(value) {
  return Array.isArray(value) && value.length > 0 && value.every(isVector) &&
    value.every((vector) => vector.length === value[0].length);
}

/** What `value` renders as: "text", "number", "vector", "vectors" or "json". */
export function kindOfValue(value) {
  if (typeof value === "string") return "text";
  if (isNumber(value)) return "number";
  if (isVector(value)) return "vector";
  if (isVectorList(value)) return "vectors";
  return "json";
}

/** A number as people read it: integers whole, others to 6 significant digits. */
export function formatNumber(value) {
  if (Number.isInteger(value)) return value.toLocaleString("en");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e9)) return value.toExponential(4);
  return String(Number(value.toPrecision(6)));
}

/** A button that reveals `more()` (answering elements) in place of itself (or of the list
 * item holding it), a page at a time; the focus moves to the first element revealed. */
function showMore(label, more) {
  const button = element("button", { type: "button", class: "show-more" }, label);
  button.addEventListener("click", () => {
    const next = more();
    const holder = button.parentElement?.tagName === "LI" ? button.parentElement : button;
    holder.replaceWith(...next);
    if (next[0]) {
      next[0].tabIndex = -1;
      next[0].focus();
    }
  });
  return button;
}

function renderText(text) {
  const box = element("pre", { class: "out-text", "data-render": "text" });
  if (text.length <= TEXT_CHARS) {
    box.textContent = text;
    return box;
  }
  const rest = document.createTextNode("");
  box.append(text.slice(0, TEXT_CHARS), rest);
  const wrap = element("div", { class: "out-text-wrap" });
  wrap.append(box, showMore(`show all ${text.length.toLocaleString("en")} characters`, () => {
    rest.textContent = text.slice(TEXT_CHARS);
    return [];
  }));
  return wrap;
}

function renderNumber(value) {
  const out = element("output", { class: "out-number", "data-render": "number",
                                  title: String(value) }, formatNumber(value));
  return out;
}

/** An SVG sparkline of a vector, downsampled to at most PLOT_POINTS points (min/max kept). */
export function plotVector(vector) {
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", `0 0 ${PLOT.width} ${PLOT.height}`);
  svg.setAttribute("class", "out-plot");
  svg.setAttribute("role", "img");
  let low = Infinity;
  let high = -Infinity;
  for (const x of vector) {
    if (x < low) low = x;
    if (x > high) high = x;
  }
  svg.setAttribute("aria-label", `plot of ${vector.length} values from ${formatNumber(low)} ` +
                   `to ${formatNumber(high)}`);
  const span = high - low || 1;
  const buckets = Math.min(PLOT_POINTS, vector.length);
  const points = [];
  for (let b = 0; b < buckets; b++) {
    const from = Math.floor((b * vector.length) / buckets);
    const to = Math.max(from + 1, Math.floor(((b + 1) * vector.length) / buckets));
    let bucketLow = Infinity;
    let bucketHigh = -Infinity;
    for (let i = from; i < to; i++) {
      bucketLow = Math.min(bucketLow, vector[i]);
      bucketHigh = Math.max(bucketHigh, vector[i]);
    }
    const x = buckets === 1 ? PLOT.width / 2 : (b * PLOT.width) / (buckets - 1);
    for (const value of bucketLow === bucketHigh ? [bucketLow] : [bucketLow, bucketHigh]) {
      const y = PLOT.height - 2 - ((value - low) / span) * (PLOT.height - 4);
      points.push(`${x.toFixed(1)},${y.toFixed(1)}`);
    }
  }
  if (low < 0 && high > 0) { // the zero line, so the sign of each value can be read
    const zero = document.createElementNS(svgNS, "line");
    const y = (PLOT.height - 2 - ((0 - low) / span) * (PLOT.height - 4)).toFixed(1);
    Object.entries({ x1: 0, x2: PLOT.width, y1: y, y2: y, class: "out-plot-zero" })
      .forEach(([key, value]) => zero.setAttribute(key, value));
    svg.append(zero);
  }
  const line = document.createElementNS(svgNS, "polyline");
  line.setAttribute("points", points.join(" "));
  line.setAttribute("class", "out-plot-line");
  svg.append(line);
  return svg;
}

function copyButton(value, what) {
  const button = element("button", { type: "button", class: "copy" }, "Copy");
  button.setAttribute("aria-label", `copy ${what} as JSON`);
  const said = element("span", { class: "copy-status", role: "status" });
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(JSON.stringify(value));
      said.textContent = "copied";
      button.dataset.copied = "true";
    } catch (error) {
      said.textContent = `could not copy: ${error.message}`;
      button.dataset.copied = "false";
    }
  });
  return [button, said];
}

function renderVector(vector) {
  const box = element("div", { class: "out-vector", "data-render": "vector",
                               "data-dimension": String(vector.length) });
  const head = element("div", { class: "out-vector-head" });
  head.append(element("span", { class: "out-dimension" },
                      `${vector.length.toLocaleString("en")}-dimensional vector`),
              ...copyButton(vector, "the vector"));
  box.append(head, plotVector(vector));
  return box;
}

function renderVectors(vectors) {
  const dimension = vectors[0].length;
  const box = element("div", { class: "out-vectors", "data-render": "vectors",
                               "data-dimension": String(dimension),
                               "data-count": String(vectors.length) });
  const head = element("div", { class: "out-vector-head" });
  head.append(element("span", { class: "out-dimension" },
                      `${vectors.length.toLocaleString("en")} vector` +
                      `${vectors.length === 1 ? "" : "s"} of ` +
                      `${dimension.toLocaleString("en")} dimensions`),
              ...copyButton(vectors, "the vectors"));
  const list = element("ol", { class: "out-vector-list" });
  const page = (from) => {
    const items = vectors.slice(from, from + VECTORS_SHOWN).map((vector) => {
      const item = element("li");
      item.append(plotVector(vector));
      return item;
    });
    const next = from + VECTORS_SHOWN;
    if (next < vectors.length) {
      const more = element("li");
      more.append(showMore(`show ${Math.min(VECTORS_SHOWN, vectors.length - next)} more of ` +
                           `${vectors.length - next}`, () => page(next)));
      items.push(more);
    }
    return items;
  };
  list.append(...page(0));
  box.append(head, list);
  return box;
}

// -- the JSON tree -------------------------------------------------------------------------

function scalar(value) {
  if (typeof value === "string") {
    const shown = value.length > 200 ? `${value.slice(0, 200)}…` : value;
    const out = element("span", { class: "json-string" }, JSON.stringify(shown));
    if (shown !== value) out.title = `${value.length.toLocaleString("en")} characters`;
    return out;
  }
  if (isNumber(value)) return element("span", { class: "json-number" }, formatNumber(value));
  return element("span", { class: `json-${value === null ? "null" : typeof value}` },
                 JSON.stringify(value) ?? String(value));
}

function summaryText(value) {
  if (Array.isArray(value)) return `[…] ${value.length} item${value.length === 1 ? "" : "s"}`;
  const n = Object.keys(value).length;
  return `{…} ${n} key${n === 1 ? "" : "s"}`;
}

function treeNode(value, depth) {
  if (value === null || typeof value !== "object") return scalar(value);
  if (isVector(value)) return renderVector(value);
  if (isVectorList(value)) return renderVectors(value);
  const entries = Array.isArray(value) ? value.map((item, i) => [i, item])
    : Object.entries(value);
  const details = element("details", { class: "json-tree", "data-render": "json" });
  // Open the first levels, so a small value reads at a glance; deeper ones wait for a click.
  details.open = depth < 2 && entries.length <= LIST_ITEMS;
  details.append(element("summary", {}, summaryText(value)));
  const list = element("ul", { class: "json-entries" });
  const page = (from) => {
    const items = entries.slice(from, from + LIST_ITEMS).map(([key, item]) => {
      const row = element("li");
      row.append(element("span", { class: "json-key" }, `${key}: `), treeNode(item, depth + 1));
      return row;
    });
    const next = from + LIST_ITEMS;
    if (next < entries.length) {
      const more = element("li");
      more.append(showMore(`show ${Math.min(LIST_ITEMS, entries.length - next)} more of ` +
                           `${entries.length - next}`, () => page(next)));
      items.push(more);
    }
    return items;
  };
  // Built on first open: a closed subtree of a huge value costs nothing.
  const fill = () => {
    if (!list.childElementCount) list.append(...page(0));
  };
  if (details.open) fill();
  details.addEventListener("toggle", fill);
  details.append(list);
  return details;
}

/** One value as an element, by kind (see kindOfValue). */
export function renderValue(value) {
  switch (kindOfValue(value)) {
    case "text": return renderText(value);
    case "number": return renderNumber(value);
    case "vector": return renderVector(value);
    case "vectors": return renderVectors(value);
    default: return treeNode(value, 0);
  }
}

/** A task's outputs (port → value) as a list of labelled values, each by its kind. */
export function renderOutputs(outputs) {
  const list = element("dl", { class: "out-ports" });
  for (const [port, value] of Object.entries(outputs || {})) {
    const term = element("dt", {}, port);
    const kind = kindOfValue(value);
    const detail = element("dd", { "data-output-port": port, "data-kind": kind });
    detail.append(renderValue(value));
    list.append(term, detail);
  }
  return list;
}
