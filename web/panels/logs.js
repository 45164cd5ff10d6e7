// The Logs panel: what the user's code and tasks print during a run, what
// taskloom's loggers record (DebugLog's output among them) and warnings. The
// engine sends each line as a `log` event (taskloom.browser.panels) tagged with
// the task whose code wrote it; they arrive here in the page's per-frame
// batches and are appended one batch at a time. Filter by task and level,
// Clear, and a count on the Logs tab.
import { page } from "../page.js";

/** Lines kept at most; the oldest go first. */
const MAX_LINES = 5000;
const LEVELS = ["stdout", "stderr", "debug", "info", "warning", "error", "critical"];

const panel = document.getElementById("panel-logs");
const tab = document.getElementById("tab-logs");
let count = 0;
const taskIds = new Set();

function build() {
  panel.innerHTML = `<section class="panel-section logs-panel" aria-labelledby="logs-title">
      <div class="panel-bar">
        <h2 id="logs-title">Logs</h2>
        <label>Task <select id="logs-task"><option value="">every task</option>
          <option value="-">outside any task</option></select></label>
        <label>Level <select id="logs-level"><option value="">every level</option></select></label>
        <button id="logs-clear" type="button">Clear</button>
        <span id="logs-count" class="panel-status"></span>
      </div>
      <div id="logs-lines" class="log-lines" role="log" aria-label="run output" tabindex="0"></div>
      <p id="logs-empty" class="hint">Nothing logged yet: <code>print()</code> in the code box
        or in a task, taskloom's log records and warnings appear here as a graph runs.</p>
    </section>`;
  const level = panel.querySelector("#logs-level");
  for (const name of LEVELS) level.append(new Option(name, name));
  panel.querySelector("#logs-task").onchange = applyFilter;
  level.onchange = applyFilter;
  panel.querySelector("#logs-clear").onclick = clear;
  const badge = document.createElement("span");
  badge.className = "tab-badge";
  badge.hidden = true;
  badge.innerHTML = `<span aria-hidden="true"></span><span class="visually-hidden"></span>`;
  tab.append(badge);
}

function matches(line) {
  const task = panel.querySelector("#logs-task").value;
  const level = panel.querySelector("#logs-level").value;
  const lineTask = line.dataset.taskId || "-";
  return (!task || task === lineTask) && (!level || level === line.dataset.level);
}

function applyFilter() {
  for (const line of panel.querySelectorAll(".log-line")) line.hidden = !matches(line);
}

function addTask(id) {
  if (!id || taskIds.has(id)) return;
  taskIds.add(id);
  panel.querySelector("#logs-task").append(new Option(id, id));
}

function lineOf(event) {
  const line = document.createElement("div");
  line.className = `log-line level-${event.level}`;
  line.dataset.level = event.level;
  if (event.task_id) line.dataset.taskId = event.task_id;
  if (event.run_id) line.dataset.runId = event.run_id;
  if (event.job_id) line.dataset.jobId = event.job_id; // a queue job's body (an AI call)
  const time = document.createElement("time");
  const at = new Date(event.time * 1000);
  time.dateTime = at.toISOString();
  time.textContent = at.toLocaleTimeString();
  const where = document.createElement("span");
  where.className = "log-task";
  where.textContent = event.task_id || (event.job_id ? `job ${event.job_id.slice(0, 8)}` : "code");
  const level = document.createElement("span");
  level.className = "log-level";
  level.textContent = event.level; // a word, not only a colour
  const text = document.createElement("span");
  text.className = "log-text";
  text.textContent = event.text;
  line.append(time, " ", where, " ", level, " ", text);
  line.hidden = !matches(line);
  return line;
}

function setCount(value) {
  count = value;
  const badge = tab.querySelector(".tab-badge");
  badge.hidden = !count;
  badge.dataset.count = String(count);
  badge.firstElementChild.textContent = String(count);
  badge.lastElementChild.textContent = ` (${count} line${count === 1 ? "" : "s"})`;
  panel.querySelector("#logs-count").textContent = count
    ? `${count} line${count === 1 ? "" : "s"}` : "";
  panel.querySelector("#logs-empty").hidden = Boolean(count);
}

function append(events) {
  const box = panel.querySelector("#logs-lines");
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  const batch = document.createDocumentFragment();
  for (const event of events) {
    addTask(event.task_id);
    batch.append(lineOf(event));
  }
  box.append(batch);
  let kept = count + events.length;
  while (kept > MAX_LINES) {
    box.firstElementChild.remove();
    kept -= 1;
  }
  setCount(kept);
  if (atBottom) box.scrollTop = box.scrollHeight; // follow the output unless scrolled up
}

function clear() {
  panel.querySelector("#logs-lines").replaceChildren();
  setCount(0);
}

build();
setCount(0);
page.on("run-events", ({ detail: events }) => {
  const logs = events.filter((event) => event.kind === "log");
  if (logs.length) append(logs);
});
