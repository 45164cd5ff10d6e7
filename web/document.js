// The page's document and the state of its run, in one store that the views
// (code, JSON, canvas) subscribe to. The document is the graph JSON; code
// that is not builder-only (it defines its own Task classes, imports, …) is
// kept as written instead, as the user's trusted code.
//
// The store autosaves to its own IndexedDB database, separate from the
// engine's ("taskloom", core/taskloom/browser/page_store.py): the page keeps
// what is being typed even while the engine is busy or restarting, and the
// engine never reads it.

const DATABASE = "taskloom-document";
const STORE = "autosave";
const KEY = "current";

/** "graph": a graph JSON document; "trusted": Python that runs as written. */
export const GRAPH = "graph";
export const TRUSTED = "trusted";

const STATUS_BY_KIND = {
  task_start: "processing", task_complete: "completed", task_error: "failed",
  task_abort: "aborted", task_cache_hit: "completed", task_skipped: "skipped",
};

/** Where a task_stream delta's text is kept: the task's own key ("gen"), or one per
 *  step and inner task ("each[2]", "loop#1", "fb@0", "wrap/inner"), so items that stream
 *  at once never mix. */
export function streamKey(event) {
  let key = event.task_id;
  if (Number.isInteger(event.item)) key += `[${event.item}]`;
  if (Number.isInteger(event.iteration)) key += `#${event.iteration}`;
  if (Number.isInteger(event.alternative)) key += `@${event.alternative}`;
  if (event.inner) key += `/${event.inner}`;
  return key;
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function openDatabase() {
  const opening = indexedDB.open(DATABASE, 1);
  opening.onupgradeneeded = () => opening.result.createObjectStore(STORE);
  return request(opening);
}

// cached: task ids whose output came from the cache; errors: task id -> its task_error;
// items: task id -> {item index: its last message}, for an expanded array (expansion.py).
const emptyRun = () => ({ runId: null, statuses: {}, progress: {}, messages: {}, cached: {},
                          errors: {}, items: {}, streams: {} });
// Snapshots kept for undo: enough for a long session, small next to one model's weights.
const HISTORY_LIMIT = 200;

export class DocumentStore {
  constructor() {
    // `code` is the document's code (to_code of the graph, or the trusted
    // code); `draft` is what the code view holds, edited but not applied.
    // `edited`: changed since it was opened (an example, a saved graph).
    // `foreign`: opened from elsewhere (an imported file), so its JavaScript and Lambda
    // tasks run only once the user allows them (web/code-consent.js); `codeAllowed` is
    // that answer, kept for this document only.
    this.state = { mode: TRUSTED, graph: null, code: "", draft: "", name: "", edited: false,
                   foreign: false, codeAllowed: false, run: emptyRun() };
    this.listeners = new Set();
    // Undo and redo: snapshots of the document ({mode, graph, code}) before and after the
    // current one. Every edit (canvas, inspector, Apply) goes through open(), so one place
    // records them all; opening something as it is (an example, a saved graph) starts afresh.
    this.past = [];
    this.future = [];
    this.saving = null;
    this.saveAgain = false;
  }

  /** Calls `listener(state, what)` on every change; `what` is "document", "draft" or "run". */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  #changed(what) {
    for (const listener of this.listeners) listener(this.state, what);
  }

  /** Work that replacing the document would lose: edits, applied or not. */
  get dirty() {
    return this.state.edited || this.state.draft !== this.state.code;
  }

  /** The code view holds text that Apply has not made the document yet. */
  get pending() {
    return this.state.draft !== this.state.code;
  }

  /** Replaces the document: a graph (with its code) or trusted code. `edited` is true when
   * the user's own edit made it (Apply), false when it was opened as it is. */
  open({ mode, graph = null, code, name = "", edited = false, foreign = false }) {
    if (edited) {
      this.past.push(this.#snapshot());
      if (this.past.length > HISTORY_LIMIT) this.past.shift();
    } else {
      this.past = [];
    }
    this.future = [];
    // An edit keeps the document's origin and answer; opening another starts afresh.
    const origin = edited ? { foreign: this.state.foreign, codeAllowed: this.state.codeAllowed }
      : { foreign, codeAllowed: false };
    this.state = { ...this.state, mode, graph: mode === GRAPH ? graph : null, code, draft: code,
                   name, edited, ...origin, run: emptyRun() };
    this.#changed("document");
    return this.save();
  }

  /** The document was kept under `name` (saved by name, or its saved copy renamed): it is
   * named so, replacing it loses nothing, and its undo history stays. */
  keptAs(name) {
    this.state = { ...this.state, name, edited: false };
    this.#changed("document");
    return this.save();
  }

  /** The user allowed this document's code tasks to run (web/code-consent.js). */
  allowCode() {
    this.state = { ...this.state, codeAllowed: true };
    return this.save();
  }

  get canUndo() {
    return this.past.length > 0;
  }

  get canRedo() {
    return this.future.length > 0;
  }

  /** Goes back one edit; answers whether there was one. */
  undo() {
    return this.#travel(this.past, this.future);
  }

  /** Goes forward again over an undone edit; answers whether there was one. */
  redo() {
    return this.#travel(this.future, this.past);
  }

  #snapshot() {
    const { mode, graph, code } = this.state;
    return { mode, graph, code };
  }

  #travel(from, to) {
    if (!from.length) return false;
    to.push(this.#snapshot());
    const { mode, graph, code } = from.pop();
    this.state = { ...this.state, mode, graph, code, draft: code, edited: true, run: emptyRun() };
    this.#changed("document");
    this.save();
    return true;
  }

  setDraft(text) {
    if (text === this.state.draft) return Promise.resolve();
    this.state = { ...this.state, draft: text, edited: true };
    this.#changed("draft");
    return this.save();
  }

  /** A batch of run events (one animation frame's): applied in order, drawn once. */
  runEvents(events) {
    let changed = false;
    for (const event of events) changed = this.#apply(event) || changed;
    if (changed) this.#changed("run");
  }

  runEvent(event) {
    if (this.#apply(event)) this.#changed("run");
  }

  /** Applies one event to the run state; answers whether anything drawn changed. */
  #apply(event) {
    const run = this.state.run;
    if (event.kind === "log") return false; // the Logs panel's, not the canvas's
    if (event.kind === "graph_start") {
      this.state = { ...this.state, run: { ...emptyRun(), runId: event.run_id } };
    } else if (event.kind === "graph_abort") {
      this.#abortProcessing();
    } else if (event.task_id) {
      const status = STATUS_BY_KIND[event.kind];
      if (status) run.statuses[event.task_id] = status;
      const progress = event.kind === "task_complete" ? 1 : event.progress;
      if (progress != null) run.progress[event.task_id] = progress;
      if (event.error || event.message) run.messages[event.task_id] = event.error || event.message;
      if (event.kind === "task_cache_hit") run.cached[event.task_id] = true;
      // A streaming port's text so far (task_stream deltas arrive in order): the canvas shows it.
      // Each item, iteration, alternative and inner task is a stream of its own.
      if (event.kind === "task_stream") {
        const key = streamKey(event);
        run.streams[key] = (run.streams[key] ?? "") + event.delta;
      }
      if (event.kind === "task_error" && event.error) run.errors[event.task_id] = event.error;
      const item = event.details?.item;
      if (Number.isInteger(item)) {
        const items = (run.items[event.task_id] ??= {});
        items[item] = event.message ?? items[item] ?? "";
      }
    } else {
      return false;
    }
    return true;
  }

  /** The run's report: its final statuses win over any event that did not arrive. */
  runEnded(report) {
    Object.assign(this.state.run.statuses, report.statuses || {});
    if (report.aborted) this.#abortProcessing();
    this.#changed("run");
  }

  #abortProcessing() {
    const statuses = this.state.run.statuses;
    for (const [id, status] of Object.entries(statuses)) {
      if (status === "processing") statuses[id] = "aborted";
    }
  }

  /** What the autosave keeps: the document and the unapplied draft, never the run. */
  #record() {
    const { mode, graph, code, draft, name, edited, foreign, codeAllowed } = this.state;
    return { mode, graph, code, draft, name, edited, foreign, codeAllowed,
             saved_at: Date.now() };
  }

  /** Writes the latest state; writes asked for meanwhile coalesce into one more. */
  save() {
    if (this.saving) {
      this.saveAgain = true;
      return this.saving;
    }
    this.saving = (async () => {
      try {
        do {
          this.saveAgain = false;
          const db = await openDatabase();
          try {
            const tx = db.transaction(STORE, "readwrite");
            tx.objectStore(STORE).put(this.#record(), KEY);
            await new Promise((resolve, reject) => {
              tx.oncomplete = resolve;
              tx.onerror = () => reject(tx.error);
            });
          } finally {
            db.close();
          }
        } while (this.saveAgain);
        // For tests and automation: the length of the draft last written, to wait on.
        document.body.dataset.documentSaved = String(this.state.draft.length);
      } catch (error) {
        console.warn("could not autosave the document:", error);
      } finally {
        this.saving = null;
      }
    })();
    return this.saving;
  }

  /** Reopens the autosaved document, with its draft; answers whether there was one. */
  async restore() {
    const db = await openDatabase();
    let record;
    try {
      record = await request(db.transaction(STORE).objectStore(STORE).get(KEY));
    } finally {
      db.close();
    }
    if (!record) return false;
    const { mode, graph, code, draft, name, edited, foreign, codeAllowed } = record;
    this.state = { ...this.state, mode, graph, code, draft, name: name || "", edited: !!edited,
                   foreign: !!foreign, codeAllowed: !!codeAllowed, run: emptyRun() };
    this.#changed("document");
    return true;
  }
}
