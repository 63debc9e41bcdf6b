// Loro: a LoroDoc with one LoroText (its insert/delete take UTF-16 indexes);
// each transaction ends with doc.commit().
import { LoroDoc } from 'loro-crdt';

function wrap(doc) {
  const r = { doc, text: doc.getText('text'), update: null, unsubscribe: null };
  return r;
}

export default {
  name: 'loro',
  pkg: 'loro-crdt',
  heapMode: 'wasm',
  genesis: null,
  snapshotNote: "export({mode: 'snapshot'}): the full operation log (deleted text included) plus the current state",
  replica(agent) {
    const doc = new LoroDoc();
    doc.setPeerId(agent + 1);
    return wrap(doc);
  },
  local(r, ops, from, to, wantUpdate) {
    // subscribeLocalUpdates delivers a commit's encoded update synchronously,
    // without a version-vector diff per transaction.
    if (wantUpdate && r.unsubscribe === null) {
      r.unsubscribe = r.doc.subscribeLocalUpdates((u) => { r.update = u; });
    }
    const text = r.text;
    for (let i = from; i < to; i++) {
      const [pos, del, ins] = ops[i];
      if (del > 0) text.delete(pos, del);
      if (ins.length > 0) text.insert(pos, ins);
    }
    r.doc.commit();
    const u = r.update;
    r.update = null;
    return wantUpdate ? u : null;
  },
  receive(r, updates) {
    r.doc.importBatch(updates);
  },
  merge(updates) {
    const r = this.replica(0x7fffffff);
    r.doc.importBatch(updates);
    return r;
  },
  text: (r) => r.text.toString(),
  save: (r) => r.doc.export({ mode: 'snapshot' }),
  load: (bytes) => wrap(LoroDoc.fromSnapshot(bytes)),
  free(r) {
    if (r.unsubscribe) r.unsubscribe();
    r.text.free();
    r.doc.free();
  },
};
