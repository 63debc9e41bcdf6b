// The peers under comparison. Each module's default export implements the
// same interface (positions and lengths are UTF-16 code units, which is what
// all four libraries' JS text APIs take):
//
//   name, pkg            display name and npm package (for the version)
//   heapMode             'js': the document lives on the V8 heap;
//                        'wasm': it lives in WebAssembly linear memory
//   genesis              bytes every replica starts from (e.g. the change that
//                        creates the text object), or null if the text needs no
//                        creating; prepended to the updates of a merge
//   replica(agent)       a new replica for agent number `agent` (0, 1, …),
//                        holding the genesis state
//   local(r, ops, from, to, wantUpdate)
//                        applies ops[from..to) (each [pos, del, ins]: delete
//                        `del` then insert `ins` at `pos`) as one local
//                        transaction; returns its encoded update if wantUpdate
//                        (null if the transaction changed nothing)
//   receive(r, updates)  integrates other replicas' encoded updates (given in
//                        causal order)
//   merge(updates)       a fresh replica with all the given updates applied
//   text(r)              the replica's text
//   save(r)              the peer's standard full-state save, with history
//   load(bytes)          a fresh replica from save()'s bytes
//   free(r)              releases a replica (frees wasm memory where there is any)
//   snapshotNote         what save() contains

export const PEERS = ['json-joy', 'loro', 'yjs', 'automerge'];

const modules = {
  'json-joy': './jsonjoy.mjs',
  loro: './loro.mjs',
  yjs: './yjs.mjs',
  automerge: './automerge.mjs',
};

export async function loadPeer(name) {
  const path = modules[name];
  if (!path) throw new Error(`unknown peer ${JSON.stringify(name)} (known: ${PEERS.join(', ')})`);
  return (await import(path)).default;
}
