// json-joy: a JSON CRDT Model whose root is a string (the RGA "str" node),
// edited through model.api.str([]).ins/del -- the same path json-joy's own
// editing-trace benchmarks use. Each transaction ends with model.api.flush(),
// which yields the transaction's Patch (what a client sends to its peers).
import { Model, Patch } from 'json-joy/lib/json-crdt/index.js';

// Session IDs below 65536 are reserved by json-joy.
const SID_BASE = 100000;

// The patch that makes the root a string. Every replica starts from it.
const genesisModel = Model.create(undefined, SID_BASE - 1);
genesisModel.api.set('');
const genesis = genesisModel.api.flush().toBinary();

function wrap(model) {
  return { model, str: model.api.str([]) };
}

export default {
  name: 'json-joy',
  pkg: 'json-joy',
  heapMode: 'js',
  genesis,
  snapshotNote: 'Model.toBinary (structural binary): every chunk with its ID, tombstones as lengths, the clock table; no operation log',
  replica(agent) {
    const model = Model.create(undefined, SID_BASE + agent);
    model.applyPatch(Patch.fromBinary(genesis));
    return wrap(model);
  },
  local(r, ops, from, to, wantUpdate) {
    const str = r.str;
    for (let i = from; i < to; i++) {
      const [pos, del, ins] = ops[i];
      if (del > 0) str.del(pos, del);
      if (ins.length > 0) str.ins(pos, ins);
    }
    const patch = r.model.api.flush();
    return wantUpdate && patch.ops.length > 0 ? patch.toBinary() : null;
  },
  receive(r, updates) {
    r.model.applyBatch(updates.map((u) => Patch.fromBinary(u)));
  },
  merge(updates) {
    const model = Model.create(undefined, SID_BASE + 0x7fff);
    model.applyBatch(updates.map((u) => Patch.fromBinary(u)));
    return wrap(model);
  },
  text: (r) => r.model.view(),
  save: (r) => r.model.toBinary(),
  load: (bytes) => wrap(Model.fromBinary(bytes)),
  free() {},
};
