// The inspector: a form for the selected task, generated from its type's
// Input JSON Schema (from describe_types): text fields and text areas for
// strings, number fields with the schema's bounds, a list for enums, a
// checkbox for booleans and JSON for lists and objects. It edits the task's
// defaults and its config (title, cacheable, timeout). Each field is checked
// as it is typed; a valid change is applied when the field is left (change),
// an invalid one is shown and changes nothing.

const $ = (id) => document.getElementById(id);
const copy = (value) => JSON.parse(JSON.stringify(value));
// Strings that are usually more than a line get a text area.
const LONG_TEXT = /text|prompt|question|context|template|content|code|query|document/i;

/** The schema to build a field from: an Optional[X] (anyOf with null) is X. */
function concrete(schema) {
  if (schema.anyOf) {
    const others = schema.anyOf.filter((option) => option.type !== "null");
    if (others.length === 1) return { ...schema, ...others[0], anyOf: undefined };
  }
  return schema;
}

function kindOf(name, schema) {
  if (schema.enum) return "enum";
  if (schema.type === "boolean") return "boolean";
  if (schema.type === "integer" || schema.type === "number") return "number";
  if (schema.type === "string") {
    if (schema.maxLength != null) return schema.maxLength > 200 ? "long" : "string";
    return LONG_TEXT.test(name) ? "long" : "string";
  }
  return "json";
}

/** The value a field's text stands for, or {error}; undefined when empty (no default). */
export function parseField(kind, schema, text) {
  if (kind === "boolean") return { value: text };
  if (text === "") return { value: undefined };
  if (kind === "enum") return { value: schema.enum.find((option) => String(option) === text) };
  if (kind === "number") {
    const value = Number(text);
    if (!Number.isFinite(value)) return { error: "enter a number" };
    if (schema.type === "integer" && !Number.isInteger(value)) {
      return { error: "enter a whole number" };
    }
    if (schema.minimum != null && value < schema.minimum) {
      return { error: `must be at least ${schema.minimum}` };
    }
    if (schema.exclusiveMinimum != null && value <= schema.exclusiveMinimum) {
      return { error: `must be more than ${schema.exclusiveMinimum}` };
    }
    if (schema.maximum != null && value > schema.maximum) {
      return { error: `must be at most ${schema.maximum}` };
    }
    if (schema.exclusiveMaximum != null && value >= schema.exclusiveMaximum) {
      return { error: `must be less than ${schema.exclusiveMaximum}` };
    }
    return { value };
  }
  if (kind === "json") {
    let value;
    try {
      value = JSON.parse(text);
    } catch (error) {
      return { error: `not JSON: ${error.message}` };
    }
    if (schema.type === "array" && !Array.isArray(value)) return { error: "must be a JSON list" };
    if (schema.type === "object" && (value === null || typeof value !== "object" ||
                                     Array.isArray(value))) {
      return { error: "must be a JSON object" };
    }
    return { value };
  }
  if (schema.minLength != null && text.length < schema.minLength) {
    return { error: `must be at least ${schema.minLength} characters` };
  }
  if (schema.maxLength != null && text.length > schema.maxLength) {
    return { error: `must be at most ${schema.maxLength} characters` };
  }
  if (schema.pattern && !new RegExp(schema.pattern, "u").test(text)) {
    return { error: `must match ${schema.pattern}` };
  }
  return { value: text };
}

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
  if (kind !== "boolean" && kind !== "enum" && schema.default !== undefined) {
    input.placeholder = `default: ${JSON.stringify(schema.default)}`;
  }
  input.id = id;
  return input;
}

export function mountInspector({ store, describe, commit, say }) {
  const form = $("inspector-form");
  let shown = null; // [task id, the task's JSON] that the form shows

  const taskOf = (id) => store.state.graph?.tasks.find((task) => task.id === id);

  function field({ key, label, kind, schema, value, help, onValue }) {
    const id = `inspect-${key}`;
    const row = document.createElement("div");
    row.className = `field field-${kind}`;
    row.dataset.field = key;
    const caption = document.createElement("label");
    caption.htmlFor = id;
    caption.textContent = label;
    const input = control(kind, schema, value, id);
    const error = document.createElement("span");
    error.className = "field-error";
    error.id = `${id}-error`;
    error.setAttribute("aria-live", "polite");
    input.setAttribute("aria-describedby", error.id);
    const read = () => parseField(kind, schema, kind === "boolean" ? input.checked : input.value);
    const check = () => {
      const parsed = read();
      error.textContent = parsed.error || "";
      input.setAttribute("aria-invalid", String(!!parsed.error));
      row.dataset.invalid = String(!!parsed.error);
      return parsed;
    };
    input.addEventListener("input", check);
    input.addEventListener("change", () => {
      const parsed = check();
      if (!parsed.error) onValue(parsed.value);
    });
    if (kind === "boolean") row.append(input, caption, error);
    else row.append(caption, input, error);
    if (help) {
      const hint = document.createElement("small");
      hint.textContent = help;
      row.append(hint);
    }
    return row;
  }

  function edit(id, change, what) {
    const graph = copy(store.state.graph);
    const task = graph.tasks.find((t) => t.id === id);
    change(task);
    return commit(graph, what);
  }

  const setDefault = (id, name) => (value) => edit(id, (task) => {
    task.defaults = { ...(task.defaults || {}) };
    if (value === undefined) delete task.defaults[name];
    else task.defaults[name] = value;
  }, `Set ${id}.${name}.`);

  const setConfig = (id, name) => (value) => edit(id, (task) => {
    task.config = { ...(task.config || {}) };
    if (value === undefined) delete task.config[name];
    else task.config[name] = value;
    if (!Object.keys(task.config).length) delete task.config;
  }, `Set ${id}'s ${name}.`);

  function render(id) {
    const task = taskOf(id);
    const described = task && describe(task.type);
    form.replaceChildren();
    $("inspector-title").textContent = task ? `Inspector — ${task.id}` : "Inspector";
    if (!task) {
      const note = document.createElement("p");
      note.className = "hint";
      note.textContent = "Select a task on the canvas to edit its inputs and config.";
      form.append(note);
      return;
    }
    const about = document.createElement("p");
    about.className = "hint";
    about.textContent = described?.description ? `${task.type} — ${described.description}`
      : task.type;
    const inputs = document.createElement("fieldset");
    inputs.append(Object.assign(document.createElement("legend"), { textContent: "Inputs" }));
    const schema = described?.input_schema || {};
    const required = new Set(schema.required || []);
    for (const [name, property] of Object.entries(schema.properties || {})) {
      const plain = concrete(property);
      const kind = kindOf(name, plain);
      inputs.append(field({
        key: `input-${name}`, label: `${plain.title || name}${required.has(name) ? " *" : ""}`,
        kind, schema: plain, value: task.defaults?.[name],
        help: kind === "json" ? "JSON" : plain.format ? plain.format : "",
        onValue: setDefault(task.id, name),
      }));
    }
    const config = document.createElement("fieldset");
    config.append(Object.assign(document.createElement("legend"), { textContent: "Config" }));
    config.append(
      field({ key: "config-title", label: "Title", kind: "string", schema: { type: "string" },
              value: task.config?.title, onValue: setConfig(task.id, "title") }),
      field({ key: "config-cacheable", label: "Cacheable", kind: "enum",
              schema: { enum: ["yes", "no"], default: described?.cacheable ? "yes" : "no" },
              value: task.config?.cacheable == null ? undefined
                : task.config.cacheable ? "yes" : "no",
              onValue: (value) => setConfig(task.id, "cacheable")(
                value === undefined ? undefined : value === "yes") }),
      field({ key: "config-timeout", label: "Timeout (seconds)", kind: "number",
              schema: { type: "number", exclusiveMinimum: 0 }, value: task.config?.timeout,
              onValue: setConfig(task.id, "timeout") }),
    );
    form.append(about, inputs, config);
  }

  return {
    /** Shows the task `id` (null: none); redraws only when the task itself changed. */
    show(id) {
      const task = taskOf(id);
      const key = task ? JSON.stringify(task) : null;
      if (shown && shown[0] === id && shown[1] === key) return;
      const focused = document.activeElement?.closest?.("#inspector-form [data-field]");
      const keep = focused && shown?.[0] === id ? focused.dataset.field : null;
      shown = [id, key];
      render(id);
      const field = keep && form.querySelector(`[data-field="${keep}"]`);
      field?.querySelector("input, select, textarea")?.focus();
    },
    say,
  };
}
