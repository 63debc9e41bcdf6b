// The UTF-16 ↔ code point index against a plain count, through random
// edits of text with and without characters outside the BMP.
import assert from "node:assert/strict";
import { test } from "node:test";

import { ChangeSet, Text } from "@codemirror/state";

import { CpIndex, SplitError, splitsPair } from "../src/cpindex";

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

const PIECES = ["a", "bc", "é", "\n", "漢字", "😀", "👩‍👩‍👧", "🇫🇷", "x".repeat(700), "🎉".repeat(300)];

function naiveCp(s: string, u: number): number {
  return [...s.slice(0, u)].length;
}

test("CpIndex agrees with counting code points, through random edits", () => {
  const seed = Number(process.env.WEFT_SEED ?? Date.now() % 1e9);
  const r = rng(seed);
  let doc = Text.of([""]);
  let idx = CpIndex.build(doc);
  for (let step = 0; step < 400; step++) {
    const s = doc.toString();
    // A random edit at code point boundaries (several at once sometimes).
    const cuts = [...s.matchAll(/[\s\S]/gu)].map((m) => m.index!).concat([s.length]);
    const specs = [];
    let lo = 0;
    for (let k = 0, n = 1 + r(3); k < n; k++) {
      const from = cuts.filter((c) => c >= lo)[r(cuts.filter((c) => c >= lo).length)];
      if (from === undefined) break;
      const tos = cuts.filter((c) => c >= from && c <= from + 50);
      const to = r(3) === 0 ? tos[r(tos.length)] : from;
      const insert = r(4) === 0 ? "" : PIECES[r(PIECES.length)];
      specs.push({ from, to, insert });
      lo = to + 1;
    }
    const cs = ChangeSet.of(specs, doc.length, "\n");
    doc = cs.apply(doc);
    idx = idx.update(cs, doc);
    const t = doc.toString();
    assert.equal(idx.length, t.length, `seed ${seed} step ${step}: length`);
    assert.equal(idx.cpLength, [...t].length, `seed ${seed} step ${step}: code points`);
    for (let q = 0; q < 20; q++) {
      const u = r(t.length + 1);
      if (splitsPair(doc, u)) {
        assert.throws(() => idx.toCp(doc, u), SplitError, `seed ${seed}: ${u} splits a pair`);
        continue;
      }
      const cp = naiveCp(t, u);
      assert.equal(idx.toCp(doc, u), cp, `seed ${seed} step ${step}: toCp(${u})`);
      assert.equal(idx.toU16(doc, cp), u, `seed ${seed} step ${step}: toU16(${cp})`);
    }
  }
  // The same as building afresh.
  const fresh = CpIndex.build(doc);
  assert.equal(fresh.cpLength, idx.cpLength);
});

test("splitsPair", () => {
  const d = Text.of(["a😀b"]);
  assert.deepEqual([0, 1, 2, 3, 4].map((p) => splitsPair(d, p)), [false, false, true, false, false]);
});
