// Yjs: a Y.Doc with one Y.Text; each transaction is a Y.Doc transaction.
import * as Y from 'yjs';

const REMOTE = Symbol('remote');

function replica(agent) {
  const doc = new Y.Doc();
  doc.clientID = agent + 1;
  return { doc, text: doc.getText('text') };
}

function applyOps(text, ops, from, to) {
  for (let i = from; i < to; i++) {
    const [pos, del, ins] = ops[i];
    if (del > 0) text.delete(pos, del);
    if (ins.length > 0) text.insert(pos, ins);
  }
}

export default {
  name: 'yjs',
  pkg: 'yjs',
  heapMode: 'js',
  genesis: null,
  snapshotNote: 'Y.encodeStateAsUpdate (v1): every item with its ID and origins; deleted text dropped (gc on), delete set kept',
  replica,
  local(r, ops, from, to, wantUpdate) {
    if (!wantUpdate) {
      r.doc.transact(() => applyOps(r.text, ops, from, to));
      return null;
    }
    // Yjs encodes a transaction's update only while an 'update' listener is
    // attached, so attach one for local transactions only.
    let update = null;
    const onUpdate = (u) => { update = u; };
    r.doc.on('update', onUpdate);
    r.doc.transact(() => applyOps(r.text, ops, from, to));
    r.doc.off('update', onUpdate);
    return update;
  },
  receive(r, updates) {
    r.doc.transact(() => {
      for (const u of updates) Y.applyUpdate(r.doc, u, REMOTE);
    }, REMOTE);
  },
  merge(updates) {
    const r = replica(0x7fffffff);
    this.receive(r, updates);
    return r;
  },
  text: (r) => r.text.toString(),
  save: (r) => Y.encodeStateAsUpdate(r.doc),
  load(bytes) {
    const doc = new Y.Doc();
    Y.applyUpdate(doc, bytes);
    return { doc, text: doc.getText('text') };
  },
  free(r) { r.doc.destroy(); },
};
