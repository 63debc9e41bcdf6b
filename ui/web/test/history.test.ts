// The history panel's highlighting: inserted spans in code points cut the
// text (UTF-16) into runs, checked against a plain per-code-point
// reference on random texts and spans, astral characters included.
import assert from "node:assert/strict";
import { test } from "node:test";

import { authorHue, authorOf, highlightRuns, type InsertedSpan } from "../src/history";

function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
}

// reference: the agent of each code point (the first span covering it).
function reference(text: string, spans: InsertedSpan[]): string[] {
  const cps = [...text];
  const who = cps.map(() => "");
  for (const s of [...spans].sort((a, b) => a.start - b.start))
    for (let i = s.start; i < s.start + s.len && i < cps.length; i++) if (!who[i]) who[i] = s.agent;
  return who;
}

test("highlightRuns matches the per-code-point reference", () => {
  const pieces = ["a", "bc", "é", "\n", "漢字", "😀", "🇫🇷", "xyz"];
  for (let seed = 1; seed <= 300; seed++) {
    const r = rng(seed);
    let text = "";
    for (let i = r(30); i > 0; i--) text += pieces[r(pieces.length)];
    const n = [...text].length;
    const spans: InsertedSpan[] = [];
    let at = 0;
    for (let i = r(5); i > 0 && at <= n; i--) {
      const start = at + r(4);
      const len = r(6);
      spans.push({ start, len, agent: `dev${r(3)}.t` });
      at = start + len;
    }
    const runs = highlightRuns(text, spans);
    assert.equal(runs.map((x) => x.text).join(""), text, `seed ${seed}: runs do not join to the text`);
    const got: string[] = [];
    for (const run of runs) for (const _ of run.text) got.push(run.agent);
    assert.deepEqual(got, reference(text, spans), `seed ${seed}: ${JSON.stringify({ text, spans })}`);
  }
});

test("no spans: one plain run; an author is its device", () => {
  assert.deepEqual(highlightRuns("héllo 🌍"), [{ text: "héllo 🌍", agent: "" }]);
  assert.deepEqual(highlightRuns(""), []);
  assert.equal(authorOf("abcdef.1234"), "abcdef");
  assert.equal(authorOf("daemon"), "daemon");
  assert.equal(authorHue("x"), authorHue("x"));
  assert.ok(authorHue("x") >= 0 && authorHue("x") < 360);
});
