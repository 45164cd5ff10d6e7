// Runs that a reload interrupted: the engine keeps them in IndexedDB, and
// the page offers to resume each one (core/taskloom/browser/page_store.py
// says why it asks instead of resuming by itself).
const $ = (id) => document.getElementById(id);

export async function offerResume(engine, run) {
  const { runs } = JSON.parse(await engine.call("unfinished_runs"));
  const list = $("resume-runs");
  list.replaceChildren();
  for (const { run_id: runId, created_at: createdAt } of runs) {
    const item = document.createElement("li");
    item.dataset.runId = runId;
    const label = document.createElement("span");
    label.textContent = `run ${runId.slice(0, 8)} from ${new Date(createdAt).toLocaleString()}`;
    const resume = document.createElement("button");
    resume.textContent = "Resume";
    resume.className = "resume";
    resume.onclick = async () => {
      item.remove();
      setCount(list);
      await run(engine, () => engine.call("resume_run", runId));
    };
    item.append(label, resume);
    list.append(item);
  }
  setCount(list);
}

function setCount(list) {
  $("resume").hidden = list.children.length === 0;
  document.body.dataset.unfinishedRuns = String(list.children.length);
}
