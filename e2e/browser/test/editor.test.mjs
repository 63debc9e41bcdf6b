// Two users, each with their own daemon and editor page, write together:
// concurrent random edits, pastes, deletes and emoji converge in both
// pages and both daemons; runs typed at the same spot stay contiguous;
// undo takes back one's own edits only; remote cursors appear and move;
// reloading a page and restarting a daemon mid-typing lose nothing.

import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import path from "node:path";

import { Rng, repoRoot, seed, shareDoc, suite, waitFor } from "../lib/harness.mjs";
import {
  docLength,
  openEditor,
  pageState,
  paste,
  press,
  remoteCarets,
  setCursor,
  typeText,
  waitLive,
  waitSaved,
} from "../lib/page.mjs";

const SEED = seed();
const users = [
  { name: "Ada", color: "#e03131" },
  { name: "Grace", color: "#1971c2" },
];

let doc;
let pages = [];

// converge waits until both pages and both daemons hold the same text,
// every page's edits are saved, and each page's view matches its replica.
async function converge(what = "pages and daemons to converge", timeout = 30_000) {
  return waitFor(
    what,
    async () => {
      const ps = await Promise.all(pages.map(pageState));
      const dt = await Promise.all(env.ds.map((d) => d.text(doc)));
      const t = ps[0].text;
      const same =
        ps.every((s) => s.text === t && s.replica === t && s.unsaved === 0 && s.conn === "live") &&
        dt.every((x) => x === t);
      return same ? { text: t } : { pending: true, pages: ps.map((s) => s.text.length), daemons: dt.map((x) => x.length) } && false;
    },
    { timeout },
  ).then((r) => r.text);
}

function count(hay, needle) {
  let n = 0;
  for (let i = hay.indexOf(needle); i >= 0; i = hay.indexOf(needle, i + 1)) n++;
  return n;
}

const WORDS = ["weft", "warp", "loom", "shuttle", "héddle", "spindle", "naïve", "ça", "Straße", "ľúbiť"];
const EMOJI = ["🎉", "🌍", "👩‍👩‍👧", "🧵", "😀", "🇫🇷", "❤️"];

function randomText(r) {
  const parts = [];
  for (let i = 0, n = 1 + r.int(4); i < n; i++) {
    const k = r.int(10);
    if (k < 6) parts.push(r.pick(WORDS));
    else if (k < 8) parts.push(r.pick(EMOJI));
    else parts.push(String(r.int(1000)));
  }
  return parts.join(" ") + (r.int(4) === 0 ? " " : "");
}

// randomEdits is one user's share of the concurrent editing: typing,
// pasting, deleting, emoji, undo, at random places.
async function randomEdits(page, r, steps) {
  for (let i = 0; i < steps; i++) {
    const len = await docLength(page);
    const k = r.int(100);
    if (k < 35) {
      await setCursor(page, r.int(len + 1));
      await typeText(page, randomText(r), r.int(3) === 0 ? 4 : 0);
    } else if (k < 50) {
      const a = r.int(len + 1);
      await setCursor(page, a, Math.min(len, a + r.int(3) * r.int(8)));
      const lines = [];
      for (let j = 0, n = 1 + r.int(3); j < n; j++) lines.push(randomText(r));
      await paste(page, lines.join("\n"));
    } else if (k < 68) {
      await setCursor(page, r.int(len + 1));
      await press(page, "Backspace", 1 + r.int(5));
    } else if (k < 78) {
      const a = r.int(len + 1);
      await setCursor(page, a, Math.min(len, a + 1 + r.int(20)));
      await press(page, "Delete");
    } else if (k < 88) {
      await setCursor(page, r.int(len + 1));
      await typeText(page, r.pick(EMOJI));
    } else if (k < 94) {
      await setCursor(page, r.int(len + 1));
      await press(page, "Enter");
    } else {
      await press(page, "Control+z");
    }
  }
}

// openPages shares a document between the two daemons and opens a page
// on it for each user (with Chromium).
async function openPages({ ds, ctx }) {
  doc = await shareDoc(ds, "Two users");
  if (!ctx) return;
  pages = [];
  for (let i = 0; i < 2; i++) pages.push(await openEditor(ctx, ds[i], doc, users[i]));
}

const env = suite(`two users on two daemons (seed ${SEED}; rerun with WEFT_E2E_SEED=${SEED})`, { daemons: 2, seed: SEED, setup: openPages }, (step) => {
  step("concurrent random edits, pastes, deletes and emoji converge", async () => {
    await setCursor(pages[0], 0);
    await typeText(pages[0], "Two people write here at once.\nEach keeps their own words together.\n");
    await converge();
    await Promise.all(pages.map((p, i) => randomEdits(p, new Rng(SEED + i), 45)));
    const text = await converge();
    assert.ok(text.length > 0, "the text is empty after the random edits");
  });

  step("runs typed at the same position stay contiguous", async () => {
    const r = new Rng(SEED ^ 0x5eed);
    const runs = [];
    for (let round = 0; round < 3; round++) {
      // Each round starts from the same text on both pages, at a spot
      // outside the runs typed so far (typing inside one splits it, as it
      // should).
      // (Positions here are the editor's, in UTF-16 units.)
      const text = await converge();
      let pos = r.int(text.length + 1);
      for (const run of runs) {
        const at = text.indexOf(run);
        if (at >= 0 && pos > at && pos < at + run.length) pos = at;
      }
      const [a] = await setCursor(pages[0], pos);
      await setCursor(pages[1], a);
      const mine = [`<A${round}:${"abcdefgh".slice(0, 4 + r.int(4))}🎈>`, `<B${round}:${"ZYXWVUTS".slice(0, 4 + r.int(4))}🐙>`];
      runs.push(...mine);
      // Both type at the same spot at the same time, keystroke by keystroke.
      await Promise.all(pages.map((p, i) => typeText(p, mine[i], 6 + r.int(6))));
    }
    const text = await converge();
    for (const run of runs) assert.equal(count(text, run), 1, `run ${JSON.stringify(run)} is not contiguous (once) in ${JSON.stringify(text)}`);
  });

  step("undo takes back one's own edits only", async () => {
    const [a, b] = pages;
    await converge();
    await setCursor(a, await docLength(a));
    await typeText(a, " UNDO-ME");
    await setCursor(b, 0);
    await typeText(b, "KEEP ");
    const text = await converge();
    assert.equal(count(text, "UNDO-ME"), 1);
    // Ctrl+Z in A takes its run back (typing in one burst is one undo
    // step); B's run, typed later, must survive it.
    await press(a, "Control+z");
    const now = (await pageState(a)).text;
    assert.ok(now.startsWith("KEEP "), `undo in A took back B's edit: ${JSON.stringify(now.slice(0, 40))}`);
    const undone = await converge();
    assert.equal(undone, text.replace(" UNDO-ME", ""), "undo did not take back exactly A's run");
    await press(a, "Control+y");
    assert.equal(await converge(), text, "redo did not bring back A's run");
  });

  step("remote cursors appear, show name and colour, and move", async () => {
    const [a, b] = pages;
    const text = await converge();
    const len = await docLength(a);
    // Select a word of four letters, so the selection has text to paint.
    const word = /[a-z]{4}/g;
    word.lastIndex = Math.floor(len / 3);
    const at = word.exec(text)?.index ?? text.search(/[a-z]{4}/);
    assert.ok(at >= 0, "no word to select");
    const [p0, p1] = await setCursor(a, at, at + 4);
    const seen = await waitFor("B to draw A's caret at A's selection head", async () => {
      const cs = (await remoteCarets(b)).filter((c) => c.name === users[0].name);
      return cs.length === 1 && cs[0].pos === p1 ? cs[0] : false;
    });
    assert.equal(seen.color, "rgb(224, 49, 49)", "A's caret is not in A's colour");
    assert.ok(p0 < p1);
    await waitFor("B to paint A's selection", () =>
      b.evaluate(() => globalThis.weftEditor.view().contentDOM.querySelectorAll(".weft-remote-sel").length > 0),
    );

    // A moves: B's drawing follows.
    const [q] = await setCursor(a, Math.floor((2 * len) / 3));
    await waitFor("A's caret to move in B", async () =>
      (await remoteCarets(b)).some((c) => c.name === users[0].name && c.pos === q),
    );
    // B types before A's caret: the caret stays on the same text.
    await setCursor(b, 0);
    await typeText(b, "shift ");
    await converge();
    await waitFor("A's caret to stay on its text in B", async () =>
      (await remoteCarets(b)).some((c) => c.name === users[0].name && c.pos === q + 6),
    );
    // And A sees B's caret too.
    await waitFor("A to draw B's caret", async () =>
      (await remoteCarets(a)).some((c) => c.name === users[1].name && c.pos === 6),
    );
  });

  step("screenshot of two users editing side by side", async () => {
    const [a, b] = pages;
    // A short shared note, for the picture: A clears the page first.
    await setCursor(a, 0, await docLength(a));
    await press(a, "Backspace");
    await converge();
    await typeText(a, "Meeting notes\n\n- Ada: ship the editor ✅\n- ");
    await converge();
    await setCursor(b, await docLength(b));
    await typeText(b, "Grace: relay backups 🧵\n- Grace: ");
    const text = await converge();
    const at = text.indexOf("ship");
    await setCursor(a, at, at + "ship the editor".length);
    await waitFor("both carets drawn", async () => (await remoteCarets(a)).length === 1 && (await remoteCarets(b)).length === 1);
    await waitFor("A's selection drawn in B", () =>
      b.evaluate(() => globalThis.weftEditor.view().contentDOM.querySelectorAll(".weft-remote-sel").length > 0),
    );
    const shots = await Promise.all([a, b].map((p) => p.screenshot()));
    const board = await env.ctx.newPage();
    await board.setViewportSize({ width: 2 * 760 + 24, height: 560 + 16 });
    await board.setContent(
      `<body style="margin:0;padding:8px;background:#888;display:flex;gap:8px">` +
        shots.map((s) => `<img width="760" height="560" src="data:image/png;base64,${s.toString("base64")}">`).join("") +
        `</body>`,
    );
    const out = path.join(repoRoot, "e2e", "browser", "out", "two-users.png");
    await mkdir(path.dirname(out), { recursive: true });
    await board.screenshot({ path: out });
    if (process.env.WEFT_E2E_README_SHOT) {
      await board.screenshot({ path: path.join(repoRoot, "docs", "screenshot.png") });
      console.log("wrote docs/screenshot.png");
    }
    await board.close();
    console.log(`screenshot of two users editing: ${out}`);
  });

  step("reloading a page keeps everything, and its old cursor expires", async () => {
    const [a, b] = pages;
    const before = await converge();
    await a.reload();
    await waitLive(a);
    const after = await converge();
    assert.equal(after, before, "reloading changed the text");
    await setCursor(a, 0);
    await typeText(a, "back ");
    const text = await converge();
    assert.ok(text.startsWith("back "));
    // The reloaded page is a new agent; B drops the old one's caret once
    // it is not refreshed for 10 s.
    await waitFor(
      "B to show exactly one caret of A",
      async () => (await remoteCarets(b)).filter((c) => c.name === users[0].name).length === 1,
      { timeout: 20_000, every: 200 },
    );
  });

  step("restarting a daemon while its user types loses nothing", async () => {
    const [a] = pages;
    const [da] = env.ds;
    await converge();
    await setCursor(a, await docLength(a));
    const run = Array.from({ length: 120 }, (_, i) => String.fromCharCode(0x61 + (i % 26)) + (i % 10 === 9 ? " " : "")).join("");
    let typed = false;
    const typing = typeText(a, `[${run}]`, 12).then(() => (typed = true));
    // Crash the daemon a moment into the run, and bring it back on the
    // same address while the typing goes on.
    await waitFor("the run to begin", async () => (await pageState(a)).text.includes("[abc"));
    await da.stop("SIGKILL");
    await waitFor("A's page to say it is offline", async () =>
      (await pageState(a)).conn !== "live" && (await a.locator("#st-conn").textContent()).includes("offline"),
    );
    assert.ok(!typed, "the run was over before the page went offline: nothing was typed offline");
    const oldToken = da.token;
    // Its libp2p port is new: it dials B, which cannot find it.
    await da.start({ bootstrap: [env.ds[1].addr] });
    if (da.token !== oldToken) {
      // The daemon made a new token: hand it to the page as a user would,
      // pasting `weft open --print`'s URL into the same tab.
      console.log("note: the daemon's token changed across the restart; giving the page the new one");
      await a.evaluate(([t, d]) => (location.hash = `token=${t}&doc=${d}`), [da.token, doc]);
    }
    await typing;
    await waitLive(a, 30_000);
    await waitSaved(a, 30_000);
    const text = await converge("pages and daemons to converge after the restart", 60_000);
    assert.equal(count(text, `[${run}]`), 1, `the run typed across the restart is not in the text exactly once: ${JSON.stringify(text.slice(-200))}`);
  });

  step("no page error and no Content-Security-Policy violation", async () => {
    for (const [i, p] of pages.entries()) assert.deepEqual(p.errors, [], `page ${users[i].name} logged errors`);
  });
});
