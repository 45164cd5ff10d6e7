// The drawer's tabs (WAI-ARIA tabs pattern): click or arrow keys choose a
// panel; `showPanel(name)` lets the rest of the page bring one forward.
const tabs = () => [...document.querySelectorAll('#drawer [role="tab"]')];

export function showPanel(name, { focus = false } = {}) {
  for (const tab of tabs()) {
    const selected = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    document.getElementById(tab.getAttribute("aria-controls")).hidden = !selected;
    if (selected && focus) tab.focus();
  }
  document.body.dataset.panel = name;
  document.dispatchEvent(new CustomEvent("taskloom:panel", { detail: name }));
}

export function mountDrawer() {
  const all = tabs();
  for (const tab of all) {
    tab.type = "button";
    tab.addEventListener("click", () => showPanel(tab.id.slice(4)));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      const at = all.indexOf(tab);
      let next = null;
      if (step) next = all[(at + step + all.length) % all.length];
      if (event.key === "Home") next = all[0];
      if (event.key === "End") next = all[all.length - 1];
      if (!next) return;
      event.preventDefault();
      showPanel(next.id.slice(4), { focus: true });
    });
  }
  showPanel("code");
}
