// The CodeMirror side of the replica: local changes go into the crdt as
// they are dispatched, remote patches come out of it as changes kept out
// of the local undo history, and offsets are converted between UTF-16 and
// code points at this boundary.

import { history, historyKeymap, defaultKeymap, indentWithTab } from "@codemirror/commands";
import {
  ChangeSet,
  Compartment,
  EditorState,
  type Extension,
  Transaction,
} from "@codemirror/state";
import {
  drawSelection,
  EditorView,
  highlightActiveLine,
  highlightSpecialChars,
  keymap,
  placeholder,
} from "@codemirror/view";

import { cpIndex, setIndex, splitsPair } from "./cpindex";
import type { FlatPatch, Replica } from "./wasm";

// noSplitPairs drops local transactions that would cut a surrogate pair
// or insert an unpaired surrogate: the crdt counts code points and could
// not represent the result.
const noSplitPairs = EditorState.transactionFilter.of((tr) => {
  if (!tr.docChanged || tr.annotation(Transaction.remote)) return tr;
  const doc = tr.startState.doc;
  let bad = false;
  tr.changes.iterChanges((fromA, toA, _fromB, _toB, ins) => {
    if (splitsPair(doc, fromA) || splitsPair(doc, toA) || !ins.toString().isWellFormed()) bad = true;
  });
  if (bad) console.warn("weft: refused an edit that splits a surrogate pair");
  return bad ? [] : tr;
});

// applyLocal records the changes of a local transaction in the replica,
// change by change, each at its position in the document as it was when
// the change applies.
export function applyLocal(tr: Transaction, rep: Replica): void {
  const before = tr.startState.field(cpIndex);
  const after = tr.state.field(cpIndex);
  const oldDoc = tr.startState.doc;
  const newDoc = tr.newDoc;
  tr.changes.iterChanges((fromA, toA, fromB, _toB, ins) => {
    // The text before fromB is the same in the new document as in the
    // one this change applies to (earlier changes done, later ones not).
    const pos = after.toCp(newDoc, fromB);
    const del = before.toCp(oldDoc, toA) - before.toCp(oldDoc, fromA);
    rep.editLocal(pos, del, ins.toString());
  });
}

// remoteChanges dispatches a patch (code points, applied in order) into the
// view as remote changes outside the undo history. Changes are composed
// into transactions of at most CHUNK changes.
const CHUNK = 256;

export function applyRemote(view: EditorView, p: FlatPatch): number {
  const n = p.nums.length / 3;
  let off = 0;
  let inserted = 0;
  for (let start = 0; start < n; start += CHUNK) {
    let doc = view.state.doc;
    let idx = view.state.field(cpIndex);
    let all: ChangeSet | null = null;
    for (let i = start; i < Math.min(n, start + CHUNK); i++) {
      const pos = p.nums[3 * i];
      const del = p.nums[3 * i + 1];
      const len = p.nums[3 * i + 2];
      const ins = p.text.slice(off, off + len);
      off += len;
      inserted += len;
      const from = idx.toU16(doc, pos);
      const to = del > 0 ? idx.toU16(doc, pos + del) : from;
      const cs = ChangeSet.of({ from, to, insert: ins }, doc.length, "\n");
      doc = cs.apply(doc);
      idx = idx.update(cs, doc);
      all = all ? all.compose(cs) : cs;
    }
    if (all)
      view.dispatch({
        changes: all,
        effects: setIndex.of(idx),
        annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
      });
  }
  return inserted;
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
    editable.of([EditorView.editable.of(false), EditorState.readOnly.of(true)]),
    darkMode.of(EditorView.darkTheme.of(false)),
    ...extra,
  ];
}

export function setEditable(view: EditorView, on: boolean): void {
  view.dispatch({
    effects: editable.reconfigure(on ? [] : [EditorView.editable.of(false), EditorState.readOnly.of(true)]),
  });
}

export function setDark(view: EditorView, dark: boolean): void {
  view.dispatch({ effects: darkMode.reconfigure(EditorView.darkTheme.of(dark)) });
}
