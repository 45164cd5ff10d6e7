// Asks before the page runs code that came from elsewhere. A graph imported
// from a file may hold JavaScript or Lambda tasks, whose config is code: the
// first Run (or Preview, or Run to here) of such a document names those tasks
// in a dialog and runs only if the user allows it. A yes is kept with that
// document (the store autosaves it) until another document is opened; a no
// stops this run, and the next Run asks again. The user's own documents
// (typed, examples, saved graphs) never ask: the CLI's --allow-code, for the page.
import { page } from "./page.js";

let dialog = null;

function build() {
  dialog = document.createElement("dialog");
  dialog.id = "code-consent";
  dialog.setAttribute("aria-labelledby", "code-consent-title");
  dialog.setAttribute("aria-describedby", "code-consent-text");
  dialog.innerHTML = `
    <form method="dialog">
      <h2 id="code-consent-title">Run code from elsewhere?</h2>
      <p id="code-consent-text">This graph was opened from a file, and these tasks run code
        it carries. Run them only if you trust where the file came from.</p>
      <ul id="code-consent-tasks"></ul>
      <div class="actions">
        <button value="allow" id="code-consent-allow">Run the code</button>
        <button value="refuse" id="code-consent-refuse" autofocus>Do not run</button>
      </div>
    </form>`;
  document.body.append(dialog);
}

function ask(tasks) {
  if (!dialog) build();
  const list = dialog.querySelector("#code-consent-tasks");
  list.replaceChildren(...tasks.map((id) => {
    const item = document.createElement("li");
    item.textContent = id;
    item.dataset.task = id;
    return item;
  }));
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "allow"),
                            { once: true });
    dialog.showModal(); // Escape closes it: a refusal
  });
}

async function beforeRun(engine, code) {
  const { state } = page.store;
  if (!state.foreign || state.codeAllowed) return null;
  const { tasks } = await engine.codeTasks(code);
  if (!tasks.length) return null;
  if (await ask(tasks)) {
    await page.store.allowCode();
    return null;
  }
  return {
    ok: false, refused: true, statuses: {}, outputs: {},
    error: `not run: the graph came from a file and its code tasks (${tasks.join(", ")}) ` +
      "were not allowed; press Run again to be asked again",
  };
}

page.ready.then((engine) => {
  engine.beforeRun = (code) => beforeRun(engine, code);
});
