// The Queue panel: the jobs of every queue the engine knows (the page's
// durable `ai:<provider>` queues and any other), with their state, attempts,
// progress and, for a job put back after a 429, a countdown to when it runs
// again; Abort for a job and for a run.
//
// The engine answers `list_jobs` with its own clock (`now`), so a countdown is
// `run_after - now` minus the time since that answer: it ticks here, between
// refreshes, without trusting the page's clock against the worker's.
// Refreshes: when the panel is shown, on run events (at most one in flight),
// and every second while the panel is visible and some job is not finished.
import { page } from "../page.js";

const POLL_MS = 1000;
const TICK_MS = 250;
const EVENT_REFRESH_GAP_MS = 400;
const ACTIVE = new Set(["pending", "processing", "aborting"]);

const panel = document.getElementById("panel-queue");
let engine = null;
let answer = null; // the last list_jobs answer
let answeredAt = 0; // performance.now() when it came
let inFlight = null;
let again = false;
let lastEventRefresh = 0;
let pollTimer = null;
let tickTimer = null;

function build() {
  panel.innerHTML = `<section class="panel-section queue-panel" aria-labelledby="queue-title">
      <div class="panel-bar">
        <h2 id="queue-title">Queues</h2>
        <button id="queue-refresh" type="button">Refresh</button>
        <span id="queue-status" class="panel-status" role="status" aria-live="polite"></span>
      </div>
      <p class="hint">Jobs of the queues that tasks run on (AI models use
        <code>ai:&lt;provider&gt;</code>). A job put back after a rate limit (HTTP 429)
        shows how long it waits before its next try.</p>
      <div id="queue-list"></div>
    </section>`;
  panel.querySelector("#queue-refresh").onclick = () => refresh();
  panel.addEventListener("click", onClick);
}

const visible = () => !panel.hidden;
const short = (id) => (id ? String(id).slice(0, 8) : "—");

/** Seconds a pending job still waits, on the engine's clock, now. */
function secondsLeft(job) {
  if (job.state !== "pending" || !answer) return 0;
  const elapsed = (performance.now() - answeredAt) / 1000;
  return Math.max(0, job.run_after - answer.now - elapsed);
}

function waitText(seconds) {
  if (seconds <= 0) return "due";
  return seconds >= 10 ? `waits ${Math.ceil(seconds)} s` : `waits ${seconds.toFixed(1)} s`;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function button(text, className, label, data) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = text;
  b.setAttribute("aria-label", label);
  Object.assign(b.dataset, data);
  return b;
}

function jobRow(queue, job) {
  const row = document.createElement("tr");
  Object.assign(row.dataset, { jobId: job.id, queue, state: job.state, runId: job.run_id || "" });
  cell(row, short(job.id), "job-id").title = job.id;
  cell(row, job.task_type || "—");
  cell(row, short(job.run_id), "run-id").title = job.run_id || "";
  cell(row, job.state, `job-state state-${job.state}`);
  cell(row, `${job.attempts} / ${job.max_attempts}`, "attempts");
  const progressCell = cell(row, "");
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = job.state === "completed" ? 1 : job.progress || 0;
  bar.setAttribute("aria-label", `progress of job ${short(job.id)}`);
  progressCell.append(bar);
  if (job.message) progressCell.append(" ", job.message);
  const wait = cell(row, "", "run-after");
  if (job.state === "pending") wait.dataset.runAfter = String(job.run_after);
  cell(row, job.error || "", "job-error");
  const actions = cell(row, "");
  if (ACTIVE.has(job.state) && job.state !== "aborting") {
    actions.append(button("Abort", "abort-job",
      `Abort job ${short(job.id)} (${job.task_type || "job"})`, { queue, jobId: job.id }));
  }
  return row;
}

function queueSection({ name, total, jobs }) {
  const section = document.createElement("section");
  section.className = "queue";
  section.dataset.queue = name;
  const heading = document.createElement("h3");
  const active = jobs.filter((job) => ACTIVE.has(job.state)).length;
  heading.textContent = `${name} — ${total} job${total === 1 ? "" : "s"}` +
    (active ? `, ${active} unfinished` : "");
  section.append(heading);
  if (!jobs.length) return section;
  // One Abort per run that still has unfinished jobs here.
  const runs = [...new Set(jobs.filter((job) => ACTIVE.has(job.state) && job.run_id)
    .map((job) => job.run_id))];
  if (runs.length) {
    const list = document.createElement("div");
    list.className = "actions queue-runs";
    for (const runId of runs) {
      list.append(button(`Abort run ${short(runId)}`, "abort-run",
        `Abort run ${short(runId)} and its unfinished jobs`, { runId }));
    }
    section.append(list);
  }
  const table = document.createElement("table");
  table.className = "queue-jobs";
  table.innerHTML = `<caption class="visually-hidden"></caption><thead><tr><th>job</th>
    <th>task type</th><th>run</th><th>state</th><th>attempts</th><th>progress</th>
    <th>next try</th><th>error</th><th><span class="visually-hidden">actions</span></th>
    </tr></thead><tbody></tbody>`;
  table.caption.textContent = `jobs of queue ${name}`;
  for (const job of jobs) table.tBodies[0].append(jobRow(name, job));
  section.append(table);
  return section;
}

function draw() {
  const list = panel.querySelector("#queue-list");
  const queues = answer?.queues || [];
  if (!queues.some((queue) => queue.total)) {
    const empty = document.createElement("p");
    empty.className = "hint empty";
    empty.textContent = queues.length
      ? `No jobs yet on ${queues.map((queue) => queue.name).join(", ")}.`
      : "No queue is registered yet: one appears when a task runs on a queue.";
    list.replaceChildren(empty);
  } else {
    list.replaceChildren(...queues.map(queueSection));
  }
  tick();
  schedule();
}

function tick() {
  let counting = false;
  for (const td of panel.querySelectorAll("td.run-after[data-run-after]")) {
    const seconds = secondsLeft({ state: "pending", run_after: Number(td.dataset.runAfter) });
    td.textContent = waitText(seconds);
    td.dataset.seconds = seconds.toFixed(1);
    counting ||= seconds > 0;
  }
  clearTimeout(tickTimer);
  if (counting && visible()) tickTimer = setTimeout(tick, TICK_MS);
}

function unfinished() {
  return (answer?.queues || []).some((queue) => queue.jobs.some((job) => ACTIVE.has(job.state)));
}

function schedule() {
  clearTimeout(pollTimer);
  if (visible() && unfinished()) pollTimer = setTimeout(() => refresh(), POLL_MS);
}

/** Asks the engine for the jobs; at most one request at a time (one more is queued). */
async function refresh() {
  if (!engine) return;
  if (inFlight) {
    again = true;
    return inFlight;
  }
  inFlight = (async () => {
    try {
      answer = await engine.listJobs();
      answeredAt = performance.now();
      draw();
    } catch (error) {
      status(`could not list the jobs: ${error.message}`, true);
    }
  })();
  await inFlight;
  inFlight = null;
  if (again) {
    again = false;
    await refresh();
  }
}

function status(text, isError = false) {
  const line = panel.querySelector("#queue-status");
  line.textContent = text;
  line.classList.toggle("error", isError);
}

async function onClick(event) {
  const target = event.target.closest("button.abort-job, button.abort-run");
  if (!target || !engine) return;
  target.disabled = true;
  try {
    if (target.classList.contains("abort-job")) {
      const { queue, jobId } = target.dataset;
      const reply = await engine.abortJob(queue, jobId);
      status(`job ${short(jobId)} aborted` + (reply.run_aborted ? ", and its run" : ""));
    } else {
      const reply = await engine.abortRunJobs(target.dataset.runId);
      status(`run ${short(target.dataset.runId)}: ${reply.aborted} job` +
        `${reply.aborted === 1 ? "" : "s"} aborted` + (reply.run_aborted ? ", run aborted" : ""));
    }
  } catch (error) {
    status(error.message, true);
    target.disabled = false;
  }
  await refresh();
}

build();
page.ready.then((ready) => {
  engine = ready;
  if (visible()) refresh();
});
document.addEventListener("taskloom:panel", ({ detail }) => {
  if (detail === "queue") refresh();
  else {
    clearTimeout(pollTimer);
    clearTimeout(tickTimer);
  }
});
page.on("run-events", () => {
  if (!visible() || performance.now() - lastEventRefresh < EVENT_REFRESH_GAP_MS) return;
  lastEventRefresh = performance.now();
  refresh();
});
page.on("run-end", () => { if (visible()) refresh(); });
