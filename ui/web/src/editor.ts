// The editor: CodeMirror's configuration for the replica's text, themes,
// and dispatching remote patches (computed in glue.ts).

import { history, historyKeymap, defaultKeymap, indentWithTab } from "@codemirror/commands";
import { Compartment, EditorState, type Extension, Transaction } from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightSpecialChars,
  keymap,
  placeholder,
} from "@codemirror/view";

import { cpIndex } from "./cpindex";
import { noSplitPairs, patchSpecs } from "./glue";
import { refuseLocal } from "./members";
import type { FlatPatch } from "./wasm";

// applyRemote dispatches a patch into the view.
export function applyRemote(view: EditorView, p: FlatPatch): void {
  for (const spec of patchSpecs(view.state, p)) view.dispatch(spec);
}

// replaceAll sets the whole text as one remote change (the first load).
export function replaceAll(view: EditorView, text: string): void {
  view.dispatch({
    changes: { from: 0, to: view.state.doc.length, insert: text },
    annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
  });
}

export const editable = new Compartment();
export const darkMode = new Compartment();

const theme = EditorView.theme({
  "&": { height: "100%", color: "var(--fg)", backgroundColor: "var(--bg)" },
  "&.cm-focused": { outline: "none" },
  ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
  ".cm-content": { caretColor: "var(--caret)", padding: "12px 0" },
  ".cm-line": { padding: "0 16px" },
  "&.cm-focused .cm-cursor": { borderLeftColor: "var(--caret)" },
  ".cm-activeLine": { backgroundColor: "var(--active-line)" },
  "&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground":
    { backgroundColor: "var(--selection)" },
  ".cm-placeholder": { color: "var(--muted)" },
  // Other users' cursors; colours are set per element, or for selections
  // in the constructed sheet of presence.ts.
  ".weft-caret": {
    position: "relative",
    borderLeft: "2px solid",
    marginLeft: "-1px",
    marginRight: "-1px",
    pointerEvents: "none",
  },
  ".weft-caret-label": {
    position: "absolute",
    left: "-2px",
    bottom: "100%",
    padding: "0 4px",
    borderRadius: "3px 3px 3px 0",
    color: "#fff",
    font: "600 11px/1.5 var(--sans)",
    whiteSpace: "nowrap",
    userSelect: "none",
    opacity: "0.92",
    zIndex: "5",
  },
  ".cm-line:first-child .weft-caret-label": { bottom: "auto", top: "100%", borderRadius: "0 3px 3px 3px" },
});

export function baseExtensions(extra: Extension[]): Extension[] {
  return [
    // Only "\n" breaks lines, so the editor's text is exactly the crdt's
    // ("\r" stays a character, shown as a special character).
    EditorState.lineSeparator.of("\n"),
    cpIndex,
    noSplitPairs,
    history(),
    drawSelection(),
    highlightSpecialChars(),
    highlightActiveLine(),
    EditorView.lineWrapping,
    keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
    placeholder("Start typing…"),
    theme,
    editable.of(modeExtensions("wait")),
    darkMode.of(EditorView.darkTheme.of(false)),
    ...extra,
  ];
}

// Mode is what the editor lets the user do: wait (nothing, while the
// document loads), edit, or read (a reader: nothing, ever; remote changes
// still show).
export type Mode = "wait" | "edit" | "read";

function modeExtensions(m: Mode): Extension {
  if (m === "edit") return [];
  const locked = [EditorView.editable.of(false), EditorState.readOnly.of(true)];
  return m === "read" ? [...locked, refuseLocal] : locked;
}

export function setMode(view: EditorView, m: Mode): void {
  view.dispatch({ effects: editable.reconfigure(modeExtensions(m)) });
}

export function setDark(view: EditorView, dark: boolean): void {
  view.dispatch({ effects: darkMode.reconfigure(EditorView.darkTheme.of(dark)) });
}
