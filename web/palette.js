// The palette (#palette-items): every registered task type, from the engine's
// describe_types (registry.describe()), grouped by category and searchable
// (#palette-search). Each item is a button: it shows its description on hover
// and on focus, can be dragged onto the canvas, and Enter, Space or a click adds it.
//
// Hooks: every item (a <button>) carries data-task-type; body[data-palette-types] is the
// number of types listed once they are.

import { DRAG_TYPE } from "./bundles/canvas.js";

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (text) made.textContent = text;
  return made;
}

/** Lists `types` (describe_types entries) in the palette; `add(type)` adds one to the graph. */
export function drawPalette(types, { add }) {
  const items = $("palette-items");
  const search = $("palette-search");
  const byCategory = new Map();
  for (const type of types) {
    const category = type.category || "other";
    if (!byCategory.has(category)) byCategory.set(category, []);
    byCategory.get(category).push(type);
  }
  items.replaceChildren();
  const about = element("p", { id: "palette-about", class: "palette-about",
                               "aria-live": "polite" });
  for (const [category, members] of [...byCategory].sort(([a], [b]) => a.localeCompare(b))) {
    const heading = `palette-${category.replace(/\W+/g, "-")}`;
    const group = element("div", { class: "palette-group", role: "group",
                                   "aria-labelledby": heading });
    group.append(element("h3", { id: heading }, category));
    const list = element("ul");
    for (const type of members.sort((a, b) => (a.title || a.type).localeCompare(
      b.title || b.type))) {
      const description = type.description || "";
      const item = element("button", {
        type: "button", "data-task-type": type.type, title: description, draggable: "true",
        "aria-label": `add ${type.title || type.type} to the graph`,
        "aria-describedby": "palette-about",
      }, type.title || type.type);
      item.dataset.search = `${type.type} ${type.title || ""} ${category} ${description}`
        .toLowerCase();
      item.addEventListener("dragstart", (event) => {
        event.dataTransfer.setData(DRAG_TYPE, type.type);
        event.dataTransfer.effectAllowed = "copy";
      });
      // A button: Enter, Space and a click all add it.
      item.addEventListener("click", () => add(type.type));
      // The description on focus too (a title shows on hover only).
      item.addEventListener("focus", () => {
        about.textContent = `${type.title || type.type}: ${description || "no description"}`;
      });
      const entry = element("li");
      entry.append(item);
      list.append(entry);
    }
    group.append(list);
    items.append(group);
  }
  items.append(about);

  function filter() {
    const words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const item of items.querySelectorAll("button[data-task-type]")) {
      const match = words.every((word) => item.dataset.search.includes(word));
      item.hidden = !match; // and its list item, so that the list closes up
      item.parentElement.hidden = !match;
      shown += match ? 1 : 0;
    }
    for (const group of items.querySelectorAll(".palette-group")) {
      group.hidden = !group.querySelector("li:not([hidden])");
    }
    items.dataset.shown = String(shown);
    if (words.length) about.textContent = `${shown} of ${types.length} task types match.`;
  }
  search.oninput = filter;
  filter();
  document.body.dataset.paletteTypes = String(types.length);
}
