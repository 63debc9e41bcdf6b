// The page's boundary with the replica, in Node with the real wasm
// module: two editor states, each with its replica, edit at random
// (several changes per transaction, text outside the BMP, line breaks) and
// exchange what they flush, delayed and reordered per direction as a
// socket would not but a reconnect might; every state ends equal to its
// replica's text and to the other's. Also: edits splitting a surrogate
// pair are refused, and undo takes back only local edits.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import { pathToFileURL } from "node:url";

import { history, undo } from "@codemirror/commands";
import { EditorState, type Transaction } from "@codemirror/state";

import { cpIndex } from "../src/cpindex";
import { applyLocal, noSplitPairs, patchSpecs } from "../src/glue";
import { Replica, startWasm } from "../src/wasm";

before(async () => {
  await import(pathToFileURL(process.env.WEFT_WASM_EXEC!).href);
  const bytes = readFileSync(process.env.WEFT_WASM!);
  await startWasm(async (imports) => (await WebAssembly.instantiate(bytes, imports)).instance);
});

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

const DOC = "0123456789abcdef0123456789abcdef";
const PIECES = ["a", "word ", "é", "\n", "漢", "😀", "👩‍👩‍👧", "🇫🇷", "\r\n", "tab\t"];

class User {
  state: EditorState;
  rep: Replica;
  constructor(agent: string) {
    this.state = EditorState.create({ extensions: [EditorState.lineSeparator.of("\n"), cpIndex, noSplitPairs, history()] });
    this.rep = new Replica(agent, DOC);
  }
  // local applies a transaction as the page's dispatch does.
  local(tr: Transaction): void {
    if (tr.docChanged) applyLocal(tr, this.rep);
    this.state = tr.state;
  }
  take(msgs: Uint8Array[]): void {
    for (const m of msgs) {
      const ev = this.rep.receive(m, true);
      assert.equal(ev.kind, "txns");
      if (ev.kind !== "txns") continue;
      assert.equal(ev.error, undefined);
      for (const spec of patchSpecs(this.state, ev.patch!)) this.state = this.state.update(spec).state;
    }
  }
  check(what: string): void {
    assert.equal(this.state.doc.toString(), this.rep.text(), `${what}: the view and the replica differ`);
  }
}

// boundaries lists the UTF-16 offsets that are code point boundaries.
function boundaries(s: string): number[] {
  return [...s.matchAll(/[\s\S]/gu)].map((m) => m.index!).concat([s.length]);
}

test("random edits through the glue converge, view and replica alike", () => {
  const seed = Number(process.env.WEFT_SEED ?? Date.now() % 1e9);
  const r = rng(seed);
  const users = [new User("a/tab"), new User("b/tab")];
  const inflight: Uint8Array[][] = [[], []]; // to user i
  for (let step = 0; step < 600; step++) {
    const i = r(2);
    const u = users[i];
    if (r(3) > 0) {
      const s = u.state.doc.toString();
      const cuts = boundaries(s);
      const specs = [];
      let lo = 0;
      for (let k = 0, n = 1 + r(3); k < n; k++) {
        const ok = cuts.filter((c) => c >= lo);
        if (ok.length === 0) break;
        const from = ok[r(ok.length)];
        const tos = ok.filter((c) => c >= from && c <= from + 12);
        const to = r(3) === 0 ? tos[r(tos.length)] : from;
        specs.push({ from, to, insert: r(5) === 0 ? "" : PIECES[r(PIECES.length)] });
        lo = to + 1;
      }
      u.local(u.state.update({ changes: specs }));
      inflight[1 - i].push(...u.rep.flush());
    } else if (inflight[i].length > 0) {
      // Deliver some of what is waiting, in order.
      u.take(inflight[i].splice(0, 1 + r(inflight[i].length)));
    }
    u.check(`seed ${seed} step ${step}`);
  }
  users[0].take(inflight[0].splice(0));
  users[1].take(inflight[1].splice(0));
  for (const u of users) u.check(`seed ${seed} end`);
  assert.equal(users[0].state.doc.toString(), users[1].state.doc.toString(), `seed ${seed}: the users differ`);
});

test("an edit that splits a surrogate pair is refused and changes nothing", () => {
  const u = new User("c/tab");
  u.local(u.state.update({ changes: { from: 0, insert: "a😀b" } }));
  for (const spec of [{ from: 2, insert: "x" }, { from: 1, to: 2 }, { from: 2, to: 4 }, { from: 0, insert: "\ud800" }]) {
    const tr = u.state.update({ changes: spec });
    assert.equal(tr.docChanged, false, `${JSON.stringify(spec)} went through`);
    u.local(tr);
  }
  u.check("after refusals");
  assert.equal(u.rep.text(), "a😀b");
});

test("undo takes back local edits only", () => {
  const [a, b] = [new User("a/undo"), new User("b/undo")];
  a.local(a.state.update({ changes: { from: 0, insert: "mine " }, userEvent: "input.type" }));
  b.take(a.rep.flush());
  b.local(b.state.update({ changes: { from: 5, insert: "theirs" }, userEvent: "input.type" }));
  a.take(b.rep.flush());
  assert.equal(a.state.doc.toString(), "mine theirs");
  assert.ok(undo({ state: a.state, dispatch: (tr) => a.local(tr) }));
  assert.equal(a.state.doc.toString(), "theirs");
  a.check("after undo");
  b.take(a.rep.flush());
  assert.equal(b.state.doc.toString(), "theirs");
  assert.equal(undo({ state: a.state, dispatch: (tr) => a.local(tr) }), false, "undo reached the other user's edit");
});
