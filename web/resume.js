// The "Unfinished runs" list: runs that a reload, a closed tab or Abort cut
// short, and runs that failed. The engine keeps them in IndexedDB
// (core/taskloom/browser/page_store.py says why the page asks before it
// resumes one). Each stays listed until it completes or is discarded.
//
// One owner per run: the tab running a run holds its Web Lock. A run another
// tab holds is shown as such, with no Resume or Discard. Tabs tell each
// other through a BroadcastChannel when a run starts or ends, and a waiting
// shared lock request notices a tab that died without saying so.
const $ = (id) => document.getElementById(id);

const RUN_LOCK = "taskloom-run:"; // core/taskloom/browser/web_locks.py
const CHANNEL = "taskloom-runs";

export function watchRuns(engine, run) {
  const channel = new BroadcastChannel(CHANNEL);
  const watched = new Set();
  let refreshing = Promise.resolve();

  const refresh = () => (refreshing = refreshing.then(() => draw()).catch(
    (error) => console.warn("could not list the unfinished runs:", error)));

  // Granted once the owning tab lets go of the run, even if it just died.
  function watch(runId) {
    if (watched.has(runId)) return;
    watched.add(runId);
    navigator.locks.request(RUN_LOCK + runId, { mode: "shared" }, () => {}).then(() => {
      watched.delete(runId);
      refresh();
    });
  }

  async function draw() {
    const { runs } = await engine.request("unfinished_runs");
    const list = $("resume-runs");
    list.replaceChildren();
    for (const entry of runs) list.append(item(entry));
    $("resume").hidden = list.children.length === 0;
    document.body.dataset.unfinishedRuns = String(list.children.length);
    for (const { run_id: runId, owner } of runs) if (owner === "another tab") watch(runId);
  }

  function item({ run_id: runId, status, error, created_at: createdAt, owner }) {
    const entry = document.createElement("li");
    entry.dataset.runId = runId;
    entry.dataset.status = status;
    entry.dataset.owner = owner ?? "";
    const label = document.createElement("span");
    const state = owner === "another tab" ? "running in another tab"
      : owner === "this tab" ? "running" : status === "processing" ? "interrupted" : status;
    label.className = "state";
    label.textContent = `run ${runId.slice(0, 8)} from ${new Date(createdAt).toLocaleString()}` +
      ` — ${state}`;
    entry.append(label);
    if (error && !owner) {
      const why = document.createElement("span");
      why.className = "run-error";
      why.textContent = error;
      entry.append(why);
    }
    if (!owner) {
      const resume = document.createElement("button");
      resume.textContent = "Resume";
      resume.className = "resume";
      resume.onclick = () => {
        if (document.body.dataset.runState === "running") return; // one run at a time
        run(engine, () => engine.resumeRun(runId));
      };
      const discard = document.createElement("button");
      discard.textContent = "Discard";
      discard.className = "discard";
      discard.onclick = async () => {
        const answer = await engine.request("discard_run", runId);
        if (!answer.ok) console.warn(answer.error);
        await refresh();
        channel.postMessage({ changed: runId });
      };
      entry.append(resume, discard);
    }
    return entry;
  }

  channel.onmessage = () => refresh();
  return {
    refresh,
    /** This tab started or ended a run: redraw here, and tell the other tabs. */
    changed() {
      refresh();
      channel.postMessage({ changed: true });
    },
  };
}
