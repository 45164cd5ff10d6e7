// The inspector (#inspector): the selected task's form, its reactive preview,
// and what its last run left (outputs, logs, error).
//
// The form is generated from the type's Input JSON Schema (describe_types):
// text fields and text areas for strings, number fields with the schema's
// bounds, a list for enums, a checkbox for booleans, a model picker for
// `format: model` (the engine's list_models: local and cloud), add/remove
// editors for lists, fieldsets for nested objects, and JSON for the rest. It
// edits the task's defaults and its config (title, cacheable, timeout, queue).
//
// pydantic in the engine is the truth about a value: as you type, the values
// go to the engine's check_task_input (debounced), and each problem is shown
// at its field (aria-invalid, aria-describedby). Only text that cannot be a
// value at all (not a number, not JSON) is refused here without asking. A
// change is applied when a field is left (change) and the engine found no
// problem in it: through `commit`, the store's one way in, so it is undoable.
//
// The contract with the canvas: mountInspector({store, describe, commit, say})
// answers {show(id)}; the canvas calls show(id) when the selection changes
// (null: none). The inspector follows the store by itself after that.

import { renderOutputs, renderValue } from "./renderers.js";

const $ = (id) => document.getElementById(id);
const copy = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
// page.js imports the views, which mount the inspector: imported lazily, the cycle is harmless.
const pageReady = import("./page.js").then(({ page }) => page);
const engineReady = pageReady.then((page) => page.ready);

// Strings that are usually more than a line get a text area.
const LONG_TEXT = /text|prompt|question|context|template|content|code|query|document|statement/i;
const CHECK_DELAY_MS = 200; // typing pauses this long before the engine checks the values
const LOG_LINES = 200; // a task's last log lines shown
const OTHER_MODEL = "\u0000other"; // the model picker's "another model id" choice
const SCALAR_KINDS = new Set(["string", "long", "number", "boolean", "enum", "model"]);

function element(tag, attributes = {}, text = "") {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
  if (text) made.textContent = text;
  return made;
}

// -- reading a schema ----------------------------------------------------------------------

/** The schema to build a field from: $ref followed, an Optional[X] (anyOf with null) is X. */
function resolve(schema, root) {
  let plain = schema || {};
  for (let depth = 0; depth < 8 && plain.$ref; depth++) {
    const name = plain.$ref.replace(/^#\/\$defs\//, "");
    const { $ref: _ref, ...rest } = plain;
    plain = { ...(root?.$defs?.[name] || {}), ...rest };
  }
  if (plain.allOf?.length === 1) {
    const { allOf, ...rest } = plain;
    plain = { ...resolve(allOf[0], root), ...rest };
  }
  if (plain.anyOf) {
    const others = plain.anyOf.filter((option) => option.type !== "null");
    if (others.length === 1) {
      const { anyOf: _anyOf, ...rest } = plain;
      plain = { ...resolve(others[0], root), ...rest, nullable: true };
    }
  }
  return plain;
}

function scalarKind(name, schema) {
  if (schema.enum) return "enum";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string") {
    if (schema.format === "model") return "model";
    if (schema.maxLength != null) return schema.maxLength > 200 ? "long" : "string";
    return LONG_TEXT.test(name) ? "long" : "string";
  }
  return null;
}

/** How a field is edited: a scalar kind, "list", "object", "expanded" or "json". */
export function kindOf(name, schema, value, root) {
  const scalar = scalarKind(name, schema);
  // A list given to a single-valued port runs the task once per item (array expansion).
  if (scalar && Array.isArray(value)) return "expanded";
  if (scalar) return scalar;
  if (schema.type === "array" && schema.items) {
    const items = resolve(schema.items, root);
    if (scalarKind(name, items) || (items.type === "object" && items.properties)) return "list";
    return "json";
  }
  if (schema.type === "object" && schema.properties && Object.keys(schema.properties).length &&
      (value === undefined || (value && typeof value === "object" && !Array.isArray(value)))) {
    return "object";
  }
  return "json";
}

/** The value a field's text stands for, or {error}; undefined when empty (no value).
 * Only what the text cannot be is checked here: bounds, lengths and patterns are the
 * engine's (pydantic's) to judge. */
export function parseField(kind, schema, text) {
  if (kind === "boolean") return { value: text };
  if (text === "") return { value: undefined };
  if (kind === "enum") return { value: schema.enum.find((option) => String(option) === text) };
  if (kind === "number") {
    const value = Number(text);
    if (!Number.isFinite(value)) return { error: "enter a number" };
    return { value };
  }
  if (kind === "json") {
    try {
      return { value: JSON.parse(text) };
    } catch (error) {
      return { error: `not JSON: ${error.message}` };
    }
  }
  return { value: text };
}

function emptyItem(kind, schema) {
  if (schema.default !== undefined) return copy(schema.default);
  if (kind === "number") return schema.minimum ?? (schema.exclusiveMinimum ?? -1) + 1;
  if (kind === "boolean") return false;
  if (kind === "enum") return schema.enum[0];
  if (kind === "object") return {};
  return "";
}

/** `root` with the value at `path` replaced (undefined: removed from an object). */
function setIn(root, path, value) {
  if (!path.length) return value;
  const [key, ...rest] = path;
  const base = Array.isArray(root) ? [...root] : { ...(root && typeof root === "object" ? root
    : {}) };
  const next = setIn(base[key], rest, value);
  if (next === undefined && !Array.isArray(base)) delete base[key];
  else base[key] = next;
  return base;
}

// -- controls ------------------------------------------------------------------------------

function control(kind, schema, value, id) {
  let input;
  if (kind === "enum") {
    input = document.createElement("select");
    const none = new Option(schema.default != null ? `default (${schema.default})` : "—", "");
    input.append(none, ...schema.enum.map((option) => new Option(String(option),
                                                                  String(option))));
    input.value = value === undefined ? "" : String(value);
  } else if (kind === "boolean") {
    input = document.createElement("input");
    input.type = "checkbox";
    input.checked = value ?? schema.default ?? false;
  } else if (kind === "long" || kind === "json") {
    input = document.createElement("textarea");
    input.rows = kind === "json" ? 3 : 4;
    input.spellcheck = kind !== "json";
    input.value = value === undefined ? "" : kind === "json" ? JSON.stringify(value) : value;
  } else {
    input = document.createElement("input");
    input.type = kind === "number" ? "number" : "text";
    if (kind === "number") {
      input.step = schema.type === "integer" ? "1" : "any";
      const low = schema.minimum ?? schema.exclusiveMinimum;
      const high = schema.maximum ?? schema.exclusiveMaximum;
      if (low != null) input.min = String(low);
      if (high != null) input.max = String(high);
    }
    input.value = value === undefined ? "" : String(value);
  }
  if (kind !== "boolean" && kind !== "enum" && schema.default !== undefined &&
      schema.default !== null) {
    input.placeholder = `default: ${JSON.stringify(schema.default)}`;
  }
  input.id = id;
  return input;
}

const formatBytes = (n) => (n == null ? "" : n >= 1e9 ? `${(n / 1e9).toFixed(1)} GB`
  : n >= 1e6 ? `${Math.round(n / 1e6)} MB` : `${Math.round(n / 1e3)} kB`);

function modelLabel(model) {
  const parts = [model.id];
  if (model.local) parts.push(model.cached ? "downloaded" : "not downloaded");
  else if (model.key_set === false) parts.push("needs an API key");
  if (model.size_bytes) parts.push(formatBytes(model.size_bytes));
  return parts.filter(Boolean).join(" · ");
}

// The models the engine knows (list_models, owned by the Models panel), asked once per
// rendering of a form that needs them: a download elsewhere changes "cached".
let modelsAsked = null;
function listModels() {
  modelsAsked ??= engineReady.then(async (engine) => {
    if (typeof engine.listModels !== "function") return null;
    const reply = await engine.listModels();
    return reply.models || [];
  }).catch((error) => {
    console.warn("the model picker could not list the models:", error);
    return null;
  }).finally(() => setTimeout(() => { modelsAsked = null; }, 0));
  return modelsAsked;
}

// -- the inspector -------------------------------------------------------------------------

export function mountInspector({ store, describe, commit, say = () => {} }) {
  const form = $("inspector-form");
  const outputsBox = $("inspector-outputs");
  let selected = null; // the task id the inspector shows
  let shown = null; // [task id, the task's JSON] that the form shows
  let pendingFocus = null; // a data-focus key to focus after the next rendering

  // The form's state for the shown task: the values it holds (maybe not yet applied), its
  // rows by path (for errors), and the problems known, by path.
  let draft = {};
  let configDraft = {};
  let rows = new Map();
  const localErrors = new Map();
  let engineErrors = [];
  let checkSeq = 0;
  let checkTimer = null;
  let previewTimer = null;
  const noPreview = new Set(); // types whose engine said they have no reactive preview

  // What the last run said, per task (kept across edits: the store forgets its run on each).
  const freshRun = (started = null) => ({ events: [], outputs: {}, statuses: {}, errors: {},
                                           started, report: null });
  let run = freshRun();

  const taskOf = (id) => store.state.graph?.tasks.find((task) => task.id === id);
  const current = () => taskOf(selected);

  // -- errors at their fields --------------------------------------------------------------

  /** The row an engine error's path belongs to: its own, or the nearest enclosing one. */
  function rowFor(field) {
    const parts = String(field).split(".");
    while (parts.length) {
      const row = rows.get(parts.join("."));
      if (row) return row;
      parts.pop();
    }
    return null;
  }

  function paint() {
    const messages = new Map();
    const loose = [];
    for (const { field, message } of engineErrors) {
      const row = rowFor(field);
      if (!row) {
        loose.push(`${field}: ${message}`);
        continue;
      }
      const path = row.path;
      const prefix = path === field ? "" : `${field.slice(path.length + 1)}: `;
      messages.set(path, [...(messages.get(path) || []), prefix + message]);
    }
    for (const [path, row] of rows) {
      const text = localErrors.get(path) || (messages.get(path) || []).join("; ");
      row.error.textContent = text;
      row.input?.setAttribute("aria-invalid", String(!!text));
      row.element.dataset.invalid = String(!!text);
    }
    const box = form.querySelector(".inspector-errors");
    if (box) {
      box.textContent = loose.join("\n");
      box.hidden = !loose.length;
    }
    form.dataset.errors = String(engineErrors.length + localErrors.size);
  }

  /** Asks the engine about `values`/`config`; answers its errors (null: a later ask won). */
  async function check(values, config) {
    const task = current();
    if (!task) return null;
    const seq = ++checkSeq;
    const engine = await engineReady;
    const reply = await engine.checkTaskInput(task.type, values, config);
    if (seq !== checkSeq || current() !== task) return null;
    engineErrors = reply.errors || [];
    if (reply.error && !engineErrors.length) engineErrors = [{ field: "", message: reply.error }];
    paint();
    form.dataset.checked = String(seq);
    return engineErrors;
  }

  function checkSoon(values, config) {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(() => {
      check(values, config).then((errors) => {
        if (errors) previewSoon(values);
      }).catch((error) => console.warn("could not check the inspector's values:", error));
    }, CHECK_DELAY_MS);
  }

  // -- applying edits ----------------------------------------------------------------------

  function edit(id, change, what) {
    const graph = copy(store.state.graph);
    const task = graph.tasks.find((t) => t.id === id);
    change(task);
    return commit(graph, what);
  }

  /** Applies the draft's value of input `name` unless the engine finds a problem in it. */
  async function applyInput(name) {
    const task = current();
    const errors = await check(draft, configDraft);
    if (!errors) return false;
    const own = errors.filter((e) => e.field === name || e.field.startsWith(`${name}.`));
    if (own.length) {
      say(`Not changed: ${own[0].field}: ${own[0].message}`, { refused: true });
      return false;
    }
    const value = draft[name];
    return edit(task.id, (t) => {
      t.defaults = { ...(t.defaults || {}) };
      if (value === undefined) delete t.defaults[name];
      else t.defaults[name] = value;
    }, `Set ${task.id}.${name}.`);
  }

  async function applyConfig(name) {
    const task = current();
    const errors = await check(draft, configDraft);
    if (!errors) return false;
    const own = errors.filter((e) => e.field === `config.${name}`);
    if (own.length) {
      say(`Not changed: ${name}: ${own[0].message}`, { refused: true });
      return false;
    }
    const value = configDraft[name];
    return edit(task.id, (t) => {
      t.config = { ...(t.config || {}) };
      if (value === undefined) delete t.config[name];
      else t.config[name] = value;
      if (!Object.keys(t.config).length) delete t.config;
    }, `Set ${task.id}'s ${name}.`);
  }

  // -- building the form -------------------------------------------------------------------

  /** A row for one value: its label, control and error; `path` is its place in the draft. */
  function leaf({ path, scope, label, kind, schema, value, help, where, convert = (v) => v }) {
    const key = path.join(".");
    const field = scope === "config" ? `config-${path[path.length - 1]}` : `input-${key}`;
    const id = `inspect-${field.replace(/[^\w-]/g, "_")}`;
    const row = element("div", { class: `field field-${kind}`, "data-field": field });
    const caption = element("label", { for: id }, label);
    const input = control(kind === "model" ? "string" : kind, schema, value, id);
    input.dataset.focus = field;
    const error = element("span", { class: "field-error", id: `${id}-error`,
                                    "aria-live": "polite" });
    const hint = help ? element("small", { id: `${id}-hint` }, help) : null;
    input.setAttribute("aria-describedby", [error.id, hint?.id].filter(Boolean).join(" "));
    const errorKey = scope === "config" ? `config.${path[path.length - 1]}` : key;
    rows.set(errorKey, { path: errorKey, element: row, input, error });
    const rootPath = scope === "config" ? [path[path.length - 1]] : path;
    const nested = rootPath.length > 1;

    const read = () => {
      const parsed = parseField(kind === "model" ? "string" : kind, schema,
                                kind === "boolean" ? input.checked : input.value);
      // Inside a list an empty field is an empty string, or a missing value.
      if (!parsed.error && parsed.value === undefined && nested) {
        if (kind === "string" || kind === "long" || kind === "model") return { value: "" };
        if (typeof path[path.length - 1] === "number") return { error: "enter a value" };
      }
      return parsed;
    };
    const local = () => {
      const parsed = read();
      if (parsed.error) localErrors.set(errorKey, parsed.error);
      else localErrors.delete(errorKey);
      return parsed;
    };
    const candidate = (parsed) => setIn(scope === "config" ? configDraft : draft, rootPath,
                                        convert(parsed.value));
    input.addEventListener("input", () => {
      const parsed = local();
      paint();
      if (parsed.error) return;
      if (scope === "config") checkSoon(draft, candidate(parsed));
      else checkSoon(candidate(parsed), configDraft);
    });
    input.addEventListener("change", () => {
      const parsed = local();
      paint();
      if (parsed.error) return;
      clearTimeout(checkTimer);
      if (scope === "config") {
        configDraft = candidate(parsed);
        where(configDraft);
      } else {
        draft = candidate(parsed);
        where(draft);
      }
    });
    if (kind === "boolean") row.append(input, caption, error);
    else row.append(caption, input, error);
    if (hint) row.append(hint);
    if (kind === "model") modelPicker(row, input, value, schema);
    return row;
  }

  /** A select of the engine's models (local, cloud) over the model's text field. */
  function modelPicker(row, input, value, schema) {
    const picker = element("select", { class: "model-picker", id: `${input.id}-picker`,
                                       "aria-label": `${row.querySelector("label").textContent}: ` +
                                       "choose a model" });
    picker.dataset.focus = `${input.dataset.focus}:picker`;
    const about = element("small", { class: "model-about", id: `${input.id}-about` });
    input.setAttribute("aria-describedby",
                       `${input.getAttribute("aria-describedby")} ${about.id}`);
    picker.hidden = true;
    row.querySelector("label").after(picker);
    input.after(about);
    row.dataset.models = "loading";
    listModels().then((models) => {
      if (!models || !row.isConnected) {
        row.dataset.models = "unavailable";
        return;
      }
      const none = new Option(schema.default ? `default (${schema.default})` : "— choose —", "");
      // The models that run this task type (list_models names the types each one serves).
      const type = current()?.type;
      const suited = models.filter((m) => !m.task?.length || [].concat(m.task).includes(type));
      const groups = [["Local models", suited.filter((m) => m.local)],
                      ["Cloud models", suited.filter((m) => !m.local)]];
      picker.replaceChildren(none);
      for (const [label, members] of groups) {
        if (!members.length) continue;
        const group = element("optgroup", { label });
        group.append(...members.map((model) => {
          const option = new Option(modelLabel(model), model.id);
          option.dataset.local = String(!!model.local);
          return option;
        }));
        picker.append(group);
      }
      picker.append(new Option("another model id…", OTHER_MODEL));
      const known = new Map(models.map((model) => [model.id, model]));
      const describeChoice = () => {
        const model = known.get(input.value);
        about.textContent = !input.value ? "" : model ? (model.local
          ? `local model${model.cached ? ", downloaded" : ", downloaded on first use"}` +
            `${model.size_bytes ? `, ${formatBytes(model.size_bytes)}` : ""}`
          : `cloud model (${model.provider})${model.key_set === false
            ? ": needs its API key in Settings" : ""}`)
          : "not a model the engine lists";
      };
      const listed = value === undefined || value === "" || suited.some((m) => m.id === value);
      picker.value = listed ? (value ?? "") : OTHER_MODEL;
      input.hidden = listed;
      picker.hidden = false;
      row.dataset.models = String(models.length);
      describeChoice();
      picker.addEventListener("change", () => {
        if (picker.value === OTHER_MODEL) {
          input.hidden = false;
          input.focus();
          return;
        }
        input.hidden = true;
        input.value = picker.value;
        describeChoice();
        input.dispatchEvent(new Event("change"));
      });
      input.addEventListener("input", describeChoice);
    });
  }

  /** A field of any kind at `path` in the inputs (top level: path of one name). */
  function inputField({ path, label, schema, value, root, apply }) {
    const name = String(path[path.length - 1]);
    let kind = kindOf(name, schema, value, root);
    // A one-line field would drop a value's line breaks.
    if (kind === "string" && typeof value === "string" && value.includes("\n")) kind = "long";
    const key = path.join(".");
    if (SCALAR_KINDS.has(kind) || kind === "json") {
      const help = [schema.description, kind === "json" ? "JSON" : "",
                    schema.format && schema.format !== "model" ? schema.format : ""]
        .filter(Boolean).join(" · ");
      return leaf({ path, scope: "input", label, kind, schema, value, help, where: apply });
    }
    const box = element("fieldset", { class: `field field-${kind}`, "data-field": `input-${key}` });
    box.append(element("legend", {}, label));
    const error = element("span", { class: "field-error", id: `inspect-${key}-error`,
                                    "aria-live": "polite" });
    rows.set(key, { path: key, element: box, input: null, error });
    if (kind === "object") {
      const required = new Set(schema.required || []);
      for (const [sub, property] of Object.entries(schema.properties)) {
        const plain = resolve(property, root);
        box.append(inputField({ path: [...path, sub], root, apply,
                                label: `${plain.title || sub}${required.has(sub) ? " *" : ""}`,
                                schema: plain, value: value?.[sub] }));
      }
      box.append(error);
      return box;
    }
    // A list (or an expanded single value): its items, each removable, and Add.
    const itemSchema = kind === "expanded" ? { ...schema, default: undefined }
      : resolve(schema.items, root);
    const itemKind = kindOf(name, itemSchema, undefined, root);
    const items = Array.isArray(value) ? value : [];
    if (kind === "expanded") {
      box.append(element("p", { class: "hint" }, "A list: the task runs once per item."));
    }
    const list = element("ol", { class: "list-items" });
    const noun = label.replace(/ \*$/, ""); // "required" belongs to the list, not its items
    items.forEach((item, index) => {
      const entry = element("li", { class: "list-item" });
      entry.append(inputField({ path: [...path, index], root, apply, schema: itemSchema,
                                label: `${noun} ${index + 1}`, value: item }));
      const remove = element("button", { type: "button", class: "list-remove",
                                         "aria-label": `remove ${noun} ${index + 1}` },
                             "Remove");
      remove.dataset.focus = `input-${key}.${index}:remove`;
      remove.addEventListener("click", () => {
        const next = items.filter((_, i) => i !== index);
        pendingFocus = next.length ? `input-${key}.${Math.min(index, next.length - 1)}:remove`
          : `input-${key}:add`;
        draft = setIn(draft, path, next.length || path.length > 1 ? next : undefined);
        apply(draft);
      });
      entry.append(remove);
      list.append(entry);
    });
    const add = element("button", { type: "button", class: "list-add" }, `Add ${noun}`);
    add.dataset.focus = `input-${key}:add`;
    add.addEventListener("click", () => {
      const next = [...items, emptyItem(itemKind, itemSchema)];
      pendingFocus = `input-${key}.${next.length - 1}`;
      draft = setIn(draft, path, next);
      apply(draft);
    });
    box.append(list, add, error);
    if (schema.description) box.append(element("small", {}, schema.description));
    return box;
  }

  function configFields(task, described) {
    const config = element("fieldset");
    config.append(element("legend", {}, "Config"));
    const apply = (name) => () => applyConfig(name);
    const cacheable = task.config?.cacheable;
    config.append(
      leaf({ path: ["title"], scope: "config", label: "Title", kind: "string",
             schema: { type: "string" }, value: task.config?.title, where: apply("title") }),
      leaf({ path: ["cacheable"], scope: "config", label: "Cacheable", kind: "enum",
             schema: { enum: ["yes", "no"], default: described?.cacheable === false ? "no"
               : "yes" },
             value: cacheable == null ? undefined : cacheable ? "yes" : "no",
             // A yes/no choice here, a boolean in the document.
             convert: (v) => (v === undefined ? undefined : v === "yes"),
             where: apply("cacheable") }),
      leaf({ path: ["timeout"], scope: "config", label: "Timeout (seconds)", kind: "number",
             schema: { type: "number", exclusiveMinimum: 0 }, value: task.config?.timeout,
             where: apply("timeout") }),
      leaf({ path: ["queue"], scope: "config", label: "Queue", kind: "string",
             schema: { type: "string" }, value: task.config?.queue, where: apply("queue"),
             help: "the job queue its model calls go through (default: the provider's)" }),
    );
    return config;
  }

  function render() {
    const task = current();
    const described = task && describe(task.type);
    form.replaceChildren();
    rows = new Map();
    localErrors.clear();
    engineErrors = [];
    clearTimeout(checkTimer);
    clearTimeout(previewTimer);
    $("inspector-title").textContent = task ? `Inspector — ${task.id}` : "Inspector";
    if (!task) {
      form.append(element("p", { class: "hint" },
                          "Select a task on the canvas to edit its inputs and config."));
      form.dataset.task = "";
      return;
    }
    form.dataset.task = task.id;
    draft = copy(task.defaults || {});
    configDraft = copy(task.config || {});
    form.append(element("p", { class: "hint" }, described?.description
      ? `${task.type} — ${described.description}` : task.type));
    const inputs = element("fieldset", { class: "inspector-inputs" });
    inputs.append(element("legend", {}, "Inputs"));
    const schema = described?.input_schema || {};
    const required = new Set(schema.required || []);
    const properties = Object.entries(schema.properties || {});
    for (const [name, property] of properties) {
      const plain = resolve(property, schema);
      inputs.append(inputField({ path: [name], root: schema, schema: plain,
                                 label: `${plain.title || name}${required.has(name) ? " *" : ""}`,
                                 value: draft[name], apply: () => applyInput(name) }));
    }
    if (!properties.length) {
      inputs.append(element("p", { class: "hint" }, described?.open_inputs
        ? "Takes any inputs: connect them on the canvas."
        : "No inputs of its own."));
    }
    const loose = element("p", { class: "inspector-errors field-error", role: "status" });
    loose.hidden = true;
    inputs.append(loose);
    form.append(inputs, previewSection(task), configFields(task, described));
    // What the document holds may already be wrong (an old graph, a changed type): say so.
    check(draft, configDraft).then((errors) => {
      if (errors) previewSoon(draft);
    }).catch((error) => console.warn("could not check the inspector's values:", error));
  }

  // -- the reactive preview ----------------------------------------------------------------

  function previewSection(task) {
    const section = element("section", { class: "inspector-preview", id: "inspector-preview",
                                         "aria-labelledby": "inspector-preview-title" });
    section.append(element("h3", { id: "inspector-preview-title" }, "Preview"),
                   element("div", { class: "preview-body", "aria-live": "polite" }));
    section.hidden = noPreview.has(task.type);
    return section;
  }

  function previewSoon(values) {
    const task = current();
    if (!task || noPreview.has(task.type)) return;
    clearTimeout(previewTimer);
    previewTimer = setTimeout(() => preview(task, values).catch(
      (error) => console.warn("could not preview the task:", error)), CHECK_DELAY_MS);
  }

  async function preview(task, values) {
    const engine = await engineReady;
    const reply = await engine.previewTask(task.type, values);
    const section = form.querySelector("#inspector-preview");
    if (current() !== task || !section) return;
    if (reply.ok && reply.reactive === false) {
      noPreview.add(task.type);
      section.hidden = true;
      return;
    }
    const body = section.querySelector(".preview-body");
    section.hidden = false;
    section.dataset.state = reply.ok ? "shown" : "refused";
    if (!reply.ok) {
      const missing = (reply.errors || []).filter((e) => /required/i.test(e.message))
        .map((e) => e.field);
      body.replaceChildren(element("p", { class: "hint" }, missing.length
        ? `No preview yet: it needs ${missing.join(", ")} (give a value or connect it).`
        : `No preview: ${reply.error}`));
      return;
    }
    const output = reply.output || {};
    body.replaceChildren(Object.keys(output).length ? renderOutputs(output)
      : element("p", { class: "hint" }, "The preview has no outputs."));
  }

  // -- the last run: outputs, logs, error --------------------------------------------------

  function logLines(task) {
    const lines = [];
    for (const event of run.events) {
      if (event.task_id !== task.id) continue;
      const at = run.started && event.time ? `+${(event.time - run.started).toFixed(2)} s` : "";
      let text;
      switch (event.kind) {
        case "task_start": text = "started"; break;
        case "task_progress":
          text = [event.progress != null ? `${Math.round(event.progress * 100)}%` : "",
                  event.message || ""].filter(Boolean).join(" ");
          break;
        case "task_complete": text = "completed"; break;
        case "task_cache_hit": text = "answered from the cache"; break;
        case "task_error": text = `failed: ${event.error}`; break;
        case "task_abort": text = `aborted${event.message ? `: ${event.message}` : ""}`; break;
        case "task_skipped": text = `skipped${event.message ? `: ${event.message}` : ""}`; break;
        default: text = event.message || event.error || event.kind; // e.g. print() lines
      }
      if (text) lines.push({ at, text, kind: event.kind });
      // DebugLog logs what it passes through: its record, as the engine's logger writes it.
      if (task.type === "DebugLog" && event.kind === "task_complete" && event.output) {
        const limit = Number(task.defaults?.max_chars) || 2000;
        const record = JSON.stringify(event.output);
        lines.push({ at, kind: "debug_log",
                     text: `[${task.defaults?.log_level || "info"}] ${record.length > limit
                       ? `${record.slice(0, limit)}… [truncated to ${limit} characters]`
                       : record}` });
      }
    }
    return lines;
  }

  function renderRun() {
    const task = current();
    outputsBox.replaceChildren();
    if (!task) return;
    const status = run.statuses[task.id] || store.state.run?.statuses?.[task.id];
    const outputs = run.outputs[task.id];
    const lines = logLines(task);
    const error = run.errors[task.id];
    outputsBox.dataset.task = task.id;
    outputsBox.dataset.status = status || "none";
    const head = element("h3", { id: "inspector-run-title" }, "Last run");
    const state = element("p", { class: "task-run-status", role: "status" },
                          status ? `Status: ${status}` : "Not run yet: press Run.");
    outputsBox.append(head, state);
    if (error) {
      const box = element("div", { class: "task-error", role: "alert" });
      box.append(element("strong", {}, "Error: "), document.createTextNode(error));
      outputsBox.append(box);
    }
    if (outputs !== undefined) {
      const section = element("section", { class: "task-outputs",
                                           "aria-labelledby": "inspector-outputs-title" });
      section.append(element("h4", { id: "inspector-outputs-title" }, "Outputs"));
      const ports = outputs && typeof outputs === "object" && !Array.isArray(outputs);
      section.append(!ports ? renderValue(outputs) : Object.keys(outputs).length
        ? renderOutputs(outputs) : element("p", { class: "hint" }, "No outputs."));
      outputsBox.append(section);
    }
    if (lines.length) {
      const section = element("section", { class: "task-logs",
                                           "aria-labelledby": "inspector-logs-title" });
      section.append(element("h4", { id: "inspector-logs-title" }, "Logs"));
      const list = element("ol", { class: "log-lines" });
      const shown = lines.slice(-LOG_LINES);
      if (shown.length < lines.length) {
        section.append(element("p", { class: "hint" },
                               `the last ${LOG_LINES} of ${lines.length} lines`));
      }
      for (const line of shown) {
        const item = element("li", { "data-kind": line.kind });
        if (line.at) item.append(element("span", { class: "log-at" }, line.at));
        item.append(element("span", { class: "log-text" }, line.text));
        list.append(item);
      }
      section.append(list);
      outputsBox.append(section);
    }
  }

  function onEvents(events) {
    let touched = false;
    for (const event of events) {
      if (event.kind === "graph_start") {
        run = freshRun(event.time);
      }
      run.events.push(event);
      const id = event.task_id;
      if (!id) continue;
      if (event.output !== undefined &&
          (event.kind === "task_complete" || event.kind === "task_cache_hit")) {
        run.outputs[id] = event.output;
      }
      if (event.kind === "task_error") run.errors[id] = event.error;
      const status = { task_start: "processing", task_complete: "completed",
                       task_error: "failed", task_abort: "aborted",
                       task_cache_hit: "completed", task_skipped: "skipped" }[event.kind];
      if (status) run.statuses[id] = status;
      touched ||= id === selected;
    }
    if (touched) renderRun();
  }

  function onRunEnd(report) {
    run.report = report;
    for (const [id, value] of Object.entries(report?.outputs || {})) run.outputs[id] = value;
    Object.assign(run.statuses, report?.statuses || {});
    if (report?.aborted) {
      for (const [id, status] of Object.entries(run.statuses)) {
        if (status === "processing") run.statuses[id] = "aborted";
      }
    }
    renderRun();
  }

  pageReady.then((page) => {
    page.on("run-start", () => {
      run = freshRun();
      renderRun();
    });
    page.on("run-events", ({ detail }) => onEvents(detail));
    page.on("run-end", ({ detail }) => onRunEnd(detail));
  });

  // -- showing a task ----------------------------------------------------------------------

  function show(id) {
    const task = taskOf(id);
    const key = task ? JSON.stringify(task) : null;
    if (shown && shown[0] === id && shown[1] === key) return;
    const active = document.activeElement;
    const keep = pendingFocus ?? (shown?.[0] === id && form.contains(active)
      ? active.dataset.focus : null);
    pendingFocus = null;
    selected = task ? id : null;
    shown = [id, key];
    render();
    renderRun();
    const target = keep && form.querySelector(`[data-focus="${CSS.escape(keep)}"]`);
    (target?.hidden ? target.parentElement.querySelector("select") : target)?.focus();
  }

  // An undo, a redo or an edit elsewhere changes the task under the form: follow it.
  store.subscribe((state, what) => {
    if (what !== "document") return;
    // A document opened as it is (an example, a saved graph) has not run: its tasks may
    // share ids with the last run's, but not its outputs.
    if (!state.edited) {
      run = freshRun();
      renderRun();
    }
    if (shown) show(shown[0]);
  });

  return { show, say };
}
