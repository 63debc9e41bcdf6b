// Automerge: a document {text: string}; each transaction is one
// Automerge.change whose callback calls Automerge.splice (indexes in UTF-16
// code units, the JS default). This is the documented way to edit text.
import * as A from '@automerge/automerge';

function actor(agent) {
  return (agent + 1).toString(16).padStart(16, '0');
}

// The change that creates the text object. Every replica starts from it, so
// all agents edit the same object rather than racing to create their own.
const genesisDoc = A.from({ text: '' }, { actor: 'ff'.repeat(8) });
const genesis = A.getLastLocalChange(genesisDoc);
A.free(genesisDoc);

export default {
  name: 'automerge',
  pkg: '@automerge/automerge',
  heapMode: 'wasm',
  genesis,
  snapshotNote: 'Automerge.save: the compressed columnar encoding of every change (full history, deleted text included)',
  replica(agent) {
    const [doc] = A.applyChanges(A.init({ actor: actor(agent) }), [genesis]);
    return { doc };
  },
  local(r, ops, from, to, wantUpdate) {
    let effective = false;
    for (let i = from; i < to && !effective; i++) effective = ops[i][1] > 0 || ops[i][2].length > 0;
    if (!effective) return null;
    r.doc = A.change(r.doc, (d) => {
      for (let i = from; i < to; i++) {
        const [pos, del, ins] = ops[i];
        A.splice(d, ['text'], pos, del, ins);
      }
    });
    return wantUpdate ? A.getLastLocalChange(r.doc) : null;
  },
  receive(r, updates) {
    [r.doc] = A.applyChanges(r.doc, updates);
  },
  merge(updates) {
    const [doc] = A.applyChanges(A.init({ actor: actor(0x7ffffffe) }), updates);
    return { doc };
  },
  text: (r) => r.doc.text,
  save: (r) => A.save(r.doc),
  load: (bytes) => ({ doc: A.load(bytes) }),
  free(r) { A.free(r.doc); },
};
