// The history panel (issue 13): its timeline lists the daemon's sessions,
// the preview of each version is that version's text with what was
// inserted since the previous session highlighted, the slider scrubs
// through the versions (each drawn within a generous bound), restore makes
// the document equal to an old version (synced to the editor as new
// edits), and blame names who last changed each line.

import assert from "node:assert/strict";

import { slow, suite, waitFor } from "../lib/harness.mjs";
import { openEditor, pageText, setCursor, typeText, waitSaved } from "../lib/page.mjs";

const q = encodeURIComponent;

// panel reads what the panel shows.
function panel(page) {
  return page.evaluate(() => {
    const $ = (id) => document.getElementById(id);
    const preview = $("hist-preview");
    return {
      open: !$("history").hidden,
      items: [...$("hist-sessions").children].map((li) => ({ i: Number(li.dataset.i), current: li.hasAttribute("aria-current"), who: li.querySelector(".hist-who").title })),
      slider: { value: Number($("hist-slider").value), max: Number($("hist-slider").max) },
      text: preview.querySelector("table") ? null : preview.textContent,
      marks: [...preview.querySelectorAll("mark")].map((m) => ({ text: m.textContent, color: m.style.backgroundColor })),
      blame: [...preview.querySelectorAll("tr")].map((tr) => ({ who: tr.cells[0].title, text: tr.cells[1].textContent })),
      status: $("hist-status").hidden ? "" : $("hist-status").textContent,
    };
  });
}

const env = suite("history panel", {}, (step) => {
  step("the panel draws what the history routes say (canned answers)", async () => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "canned" })).id;
    const page = await openEditor(env.ctx, env.d, doc, { name: "Ada", color: "#e03131" });
    const t = (m) => new Date(Date.UTC(2026, 11, 7, 9, m)).toISOString();
    const sessions = [
      { agent: "devB.t2", device: "devB", start: t(30), end: t(31), inserted: 1, deleted: 4, txns: 2, version: "v3" },
      { agent: "devB.t1", device: "devB", start: t(20), end: t(21), inserted: 8, deleted: 0, txns: 1, version: "v2" },
      { agent: "devA", device: "devA", start: t(10), end: t(11), inserted: 5, deleted: 0, txns: 1, version: "v1" },
    ];
    const texts = {
      "v1 0": { version: "v1", text: "Hello", inserted: [{ start: 0, len: 5, agent: "devA" }] },
      "v2 v1": { version: "v2", text: "Hello 🌍 world", inserted: [{ start: 5, len: 8, agent: "devB.t1" }] },
      "v3 v2": {
        version: "v3",
        text: "Hi 🌍 world!\nsecond line",
        inserted: [
          { start: 1, len: 1, agent: "devA" },
          { start: 10, len: 1, agent: "devB.t2" },
        ],
      },
    };
    const asked = [];
    const restored = [];
    await page.route(/\/api\/docs\/[0-9a-f]+\/(history|text|blame|restore)/, async (route) => {
      const u = new URL(route.request().url());
      asked.push(u.pathname.split("/").pop() + u.search);
      const json = (body) => route.fulfill({ status: 200, contentType: "application/json", body: JSON.stringify(body) });
      if (u.pathname.endsWith("/history")) return json({ version: sessions[0].version, sessions });
      if (u.pathname.endsWith("/text")) {
        const r = texts[`${u.searchParams.get("at")} ${u.searchParams.get("since")}`];
        return r ? json(r) : route.fulfill({ status: 400, contentType: "application/json", body: '{"error":"unknown version","code":"bad_request"}' });
      }
      if (u.pathname.endsWith("/blame"))
        return json({
          version: "v3",
          lines: [
            { line: 1, text: "Hi 🌍 world!", agent: "devB.t2", device: "devB", time: t(31), version: "v3" },
            { line: 2, text: "second line", agent: "devA", device: "devA", time: t(10), version: "v1" },
          ],
        });
      restored.push(JSON.parse(route.request().postData()));
      return json({ version: "v4" });
    });
    await page.click("#history-toggle");
    await waitFor("the newest canned version", async () => (await panel(page)).text === "Hi 🌍 world!\nsecond line");
    let p = await panel(page);
    assert.deepEqual(p.items.map((it) => [it.i, it.who]), [[2, "devB.t2"], [1, "devB.t1"], [0, "devA"]], "timeline");
    assert.deepEqual(p.marks.map((m) => m.text), ["i", "!"]);
    assert.notEqual(p.marks[0].color, p.marks[1].color, "two authors, one colour");
    await page.focus("#hist-slider");
    await page.keyboard.press("ArrowLeft");
    await waitFor("the middle version", async () => (p = await panel(page)).text === "Hello 🌍 world");
    assert.deepEqual(p.marks.map((m) => m.text), [" 🌍 world"]);
    const devB = p.marks[0].color;
    await page.keyboard.press("ArrowLeft");
    await waitFor("the oldest version", async () => (p = await panel(page)).text === "Hello");
    assert.deepEqual(p.marks.map((m) => m.text), ["Hello"], "the oldest session highlights all it inserted");
    await page.keyboard.press("End");
    await waitFor("the newest version again", async () => (p = await panel(page)).text?.startsWith("Hi"));
    assert.equal(p.marks[1].color, devB, "one device's tabs share its colour");
    // Blame.
    await page.click("#hist-blame");
    await waitFor("the blame view", async () => (p = await panel(page)).blame.length === 2);
    assert.deepEqual(p.blame.map((l) => l.text), ["Hi 🌍 world!", "second line"]);
    assert.ok(p.blame[0].who.startsWith("devB.t2,") && p.blame[1].who.startsWith("devA,"), JSON.stringify(p.blame));
    await page.click("#hist-blame");
    // Restore the middle version, after the confirmation (declining restores nothing).
    await page.focus("#hist-slider");
    await page.keyboard.press("ArrowLeft");
    await waitFor("the middle version", async () => (await panel(page)).text === "Hello 🌍 world");
    page.once("dialog", (dlg) => void dlg.dismiss());
    await page.click("#hist-restore");
    page.once("dialog", (dlg) => void dlg.accept());
    await page.click("#hist-restore");
    await waitFor("the restore request", async () => restored.length === 1);
    assert.deepEqual(restored, [{ to: "v2" }]);
    await waitFor("the timeline to be fetched again", async () => asked.filter((a) => a.startsWith("history")).length === 2);
    const timings = await page.evaluate(() => globalThis.weftEditor.historyTimings());
    assert.ok(timings.length >= 4, `timings ${timings}`);
    assert.deepEqual(page.errors, []);
    await page.close();
  });

  step("timeline, preview with highlights, slider, restore and blame", async (tc) => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "history" })).id;
    const probe = await fetch(`${env.d.api}/api/docs/${doc}/history`, { headers: { Authorization: `Bearer ${env.d.token}` } });
    if (probe.status === 404 || probe.status === 405) {
      console.error(`SKIPPED: this daemon has no history routes (GET /history: HTTP ${probe.status}); they come with branch hist13`);
      return tc.skip("no history routes in this daemon");
    }
    // Session 1: the daemon's own agent (the API). Session 2: a tab's.
    await env.d.call("POST", `/api/docs/${doc}/edits`, { edits: [{ pos: 0, del: 0, ins: "line one\n" }] });
    const page = await openEditor(env.ctx, env.d, doc, { name: "Ada", color: "#e03131" });
    const tabAgent = await page.evaluate(() => globalThis.weftEditor.agent());
    await setCursor(page, 9);
    await typeText(page, "line two 🐙\n");
    await waitSaved(page);
    const h = await env.d.call("GET", `/api/docs/${doc}/history`);
    assert.ok(h.sessions.length >= 2, `want at least two sessions, got ${JSON.stringify(h.sessions)}`);
    const oldest = h.sessions[h.sessions.length - 1];
    const newest = h.sessions[0];
    assert.equal(newest.agent, tabAgent, "the newest session is the tab's");

    await page.click("#history-toggle");
    await waitFor("the panel to show the newest version", async () => {
      const p = await panel(page);
      return p.open && p.items.length === h.sessions.length && p.text === "line one\nline two 🐙\n";
    });
    let p = await panel(page);
    assert.equal(p.slider.max, h.sessions.length - 1);
    assert.equal(p.slider.value, h.sessions.length - 1);
    assert.equal(p.items[0].who, tabAgent, "the timeline is newest first");
    assert.ok(p.items[0].current, "the newest session is selected");
    // What the tab's session inserted is highlighted, in one colour.
    assert.equal(p.marks.map((m) => m.text).join(""), "line two 🐙\n", `highlights: ${JSON.stringify(p.marks)}`);
    assert.equal(new Set(p.marks.map((m) => m.color)).size, 1);

    // Every version the slider reaches shows that version's text.
    await page.focus("#hist-slider");
    for (let i = h.sessions.length - 2; i >= 0; i--) {
      await page.keyboard.press("ArrowLeft");
      const s = h.sessions[h.sessions.length - 1 - i];
      const want = (await env.d.call("GET", `/api/docs/${doc}/text?at=${q(s.version)}`)).text;
      await waitFor(`the slider's version ${i}`, async () => {
        p = await panel(page);
        return p.slider.value === i && p.text === want && p.items.find((it) => it.i === i)?.current;
      });
    }
    // A draw's timing is recorded on the frame after the version shows,
    // so the last one may lag the check above by a frame.
    let timings = [];
    await waitFor(`a timing for each of the ${h.sessions.length} versions drawn`, async () => {
      timings = await page.evaluate(() => globalThis.weftEditor.historyTimings());
      return timings.length >= h.sessions.length;
    });
    const bound = 1000 * slow;
    for (const t of timings) assert.ok(t < bound, `a version took ${t.toFixed(1)} ms to draw (bound ${bound} ms): ${timings.map((x) => x.toFixed(1))}`);
    console.log(`history slider: ${timings.map((x) => x.toFixed(1)).join(", ")} ms per version`);

    // Blame of the newest version names each line's author.
    await page.focus("#hist-slider");
    await page.keyboard.press("End");
    await page.click("#hist-blame");
    await waitFor("the blame view", async () => (await panel(page)).blame.length === 2);
    p = await panel(page);
    assert.deepEqual(
      p.blame.map((l) => l.text),
      ["line one", "line two 🐙"],
    );
    assert.ok(p.blame[0].who.startsWith(`${oldest.agent},`), `line one blamed on ${p.blame[0].who}`);
    assert.ok(p.blame[1].who.startsWith(`${tabAgent},`), `line two blamed on ${p.blame[1].who}`);
    await page.click("#hist-blame");

    // Restore the oldest version: the daemon and the editor get it.
    await page.focus("#hist-slider");
    await page.keyboard.press("Home");
    const oldText = (await env.d.call("GET", `/api/docs/${doc}/text?at=${q(oldest.version)}`)).text;
    await waitFor("the oldest version shown", async () => (await panel(page)).text === oldText);
    page.once("dialog", (dlg) => void dlg.accept());
    await page.click("#hist-restore");
    await waitFor("the daemon to have the restored text", async () => (await env.d.text(doc)) === oldText);
    await waitFor("the editor to show the restored text", async () => (await pageText(page)) === oldText);
    // The panel reloads the timeline and shows the newest version: the
    // restored text (the restore is the daemon's own edits, which may join
    // its earlier session).
    await waitFor("the panel to show the restored version as the newest", async () => {
      const p = await panel(page);
      return p.text === oldText && p.slider.value === p.slider.max && p.items[0]?.current;
    });
    const after = await env.d.call("GET", `/api/docs/${doc}/history`);
    assert.notEqual(after.version, h.version, "the restore made no new version");
    assert.deepEqual(page.errors, []);
    await page.close();
  });
});
