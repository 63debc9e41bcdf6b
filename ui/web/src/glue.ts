// The boundary between CodeMirror and the replica, kept free of the DOM
// (tested in Node with the real module): local changes go into the crdt
// change by change, remote patches come out as CodeMirror transactions
// outside the undo history, and offsets are converted between UTF-16 and
// code points here.

import { ChangeSet, EditorState, Transaction, type TransactionSpec } from "@codemirror/state";

import { cpIndex, setIndex, splitsPair } from "./cpindex";
import type { FlatPatch, Replica } from "./wasm";

// noSplitPairs drops local transactions that would cut a surrogate pair
// or insert an unpaired surrogate: the crdt counts code points and could
// not represent the result.
export const noSplitPairs = EditorState.transactionFilter.of((tr) => {
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

// patchSpecs turns a patch (code points, changes applied in order) into
// transactions for a state showing the replica's text before it: remote
// changes outside the undo history, each spec relative to the document the
// previous one leaves, at most CHUNK changes composed in one.
const CHUNK = 256;

export function patchSpecs(state: EditorState, p: FlatPatch): TransactionSpec[] {
  const n = p.nums.length / 3;
  const specs: TransactionSpec[] = [];
  let doc = state.doc;
  let idx = state.field(cpIndex);
  let off = 0;
  for (let start = 0; start < n; start += CHUNK) {
    let all: ChangeSet | null = null;
    for (let i = start; i < Math.min(n, start + CHUNK); i++) {
      const pos = p.nums[3 * i];
      const del = p.nums[3 * i + 1];
      const len = p.nums[3 * i + 2];
      const ins = p.text.slice(off, off + len);
      off += len;
      const from = idx.toU16(doc, pos);
      const to = del > 0 ? idx.toU16(doc, pos + del) : from;
      const cs = ChangeSet.of({ from, to, insert: ins }, doc.length, "\n");
      doc = cs.apply(doc);
      idx = idx.update(cs, doc);
      all = all ? all.compose(cs) : cs;
    }
    if (all)
      specs.push({
        changes: all,
        effects: setIndex.of(idx),
        annotations: [Transaction.remote.of(true), Transaction.addToHistory.of(false)],
      });
  }
  return specs;
}

