// The code and JSON views' editor: CodeMirror 6 (bundles/codemirror.js) with
// line numbers, highlighting, Tab indenting (Esc then Tab leaves the editor,
// as CodeMirror documents) and the view's error marked at its line.
import {
  EditorState, EditorView, HighlightStyle, basicSetup, indentWithTab, json, keymap, lintGutter,
  python, setDiagnostics, syntaxHighlighting, tags as t,
} from "./bundles/codemirror.js";

// Colours that keep a 4.5:1 contrast on white and on the active line (CodeMirror's default
// highlight style has some lighter ones); it takes precedence over basicSetup's fallback.
const READABLE = HighlightStyle.define([
  { tag: t.keyword, color: "#6f1d8f" },
  { tag: [t.string, t.special(t.string), t.regexp], color: "#8a1c1c" },
  { tag: [t.number, t.bool, t.atom, t.null], color: "#1f4e8f" },
  { tag: t.comment, color: "#4a5b3a", fontStyle: "italic" },
  { tag: [t.definition(t.variableName), t.function(t.variableName)], color: "#14532d" },
  { tag: [t.typeName, t.className, t.propertyName], color: "#0b5366" },
  { tag: [t.operator, t.punctuation, t.bracket], color: "#1d2330" },
  { tag: t.meta, color: "#4a5264" },
  { tag: t.invalid, color: "#b00020" },
]);

const LANGUAGES = { python, json };

/** Character offset of a 1-based line and column, clamped to the document. */
function offsetOf(doc, line, column = 1) {
  const at = doc.line(Math.min(Math.max(1, line), doc.lines));
  return Math.min(at.from + Math.max(0, column - 1), at.to);
}

/**
 * Replaces `textarea` with an editor that keeps its id and label (tests and
 * people reach it the same way); `onInput(text)` follows the user's edits.
 */
export function createCodeEditor(textarea, { language, onInput = () => {} }) {
  const label = document.querySelector(`label[for="${textarea.id}"]`)?.textContent || "";
  let silent = false; // a change the page makes is not the user's input
  const view = new EditorView({
    parent: textarea.parentElement,
    state: EditorState.create({
      doc: textarea.value,
      extensions: [
        basicSetup,
        keymap.of([indentWithTab]),
        LANGUAGES[language](),
        syntaxHighlighting(READABLE),
        lintGutter(),
        // tabindex: the editor is its scroll region's keyboard way in (axe: scrollable-region).
        EditorView.contentAttributes.of({ id: textarea.id, "aria-label": label, tabindex: "0" }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged && !silent) onInput(update.state.doc.toString());
        }),
      ],
    }),
  });
  textarea.before(view.dom);
  textarea.remove();
  view.dom.classList.add("code-editor");

  return {
    view,
    get value() {
      return view.state.doc.toString();
    },
    set value(text) {
      if (text === view.state.doc.toString()) return;
      silent = true;
      try {
        view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
      } finally {
        silent = false;
      }
    },
    /** Marks `message` at its line (and column), and puts the caret there. */
    showError(message, line, column) {
      const doc = view.state.doc;
      if (line == null) {
        view.dispatch(setDiagnostics(view.state, []));
        return;
      }
      const from = offsetOf(doc, line, column ?? 1);
      const lineEnd = doc.lineAt(from).to;
      view.dispatch(setDiagnostics(view.state, [
        { from, to: Math.max(from, lineEnd), severity: "error", message },
      ]));
      view.dispatch({ selection: { anchor: from }, scrollIntoView: true });
      view.dom.dataset.errorLine = String(line);
    },
    clearError() {
      view.dispatch(setDiagnostics(view.state, []));
      delete view.dom.dataset.errorLine;
    },
    focus() {
      view.focus();
    },
  };
}
