// Unsent edits survive a reload or a closed tab (ui/PROTOCOL.md, "Unsent
// edits"): the page keeps every edit its daemon has not acked in
// IndexedDB, the next page of the document sends them again under their
// own agent and seqs, and the daemon ends up with the text exactly once —
// whether the daemon never got the edits (the socket cut before they left,
// or the daemon stopped), or got them and the ack was lost.

import assert from "node:assert/strict";

import { suite, waitFor } from "../lib/harness.mjs";
import { openEditor, openPage, pageText, setCursor, typeText, waitLive, waitSaved } from "../lib/page.mjs";

const user = { name: "Ada", color: "#e03131" };

// cutter lets a test cut the page's document socket one way: with
// globalThis.cutSend set, txns messages (the tab's edits) are dropped
// before they leave; with globalThis.cutAcks set, ack messages from the
// daemon are dropped before the page sees them.
function cutter() {
  const kind = (d) => {
    if ((d[0] & 0xe0) !== 0x80) return -1;
    const i = (d[0] & 0x1f) === 24 ? 2 : 1;
    return d[i] === 0x01 ? d[i + 1] : -1;
  };
  const W = WebSocket;
  globalThis.WebSocket = class extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => {
        if (globalThis.cutAcks && kind(new Uint8Array(e.data)) === 5) e.stopImmediatePropagation();
      });
    }
    send(b) {
      if (globalThis.cutSend && b instanceof Uint8Array && kind(b) === 2) return;
      return super.send(b);
    }
  };
}

// kept counts the records IndexedDB holds for doc.
function kept(page, doc) {
  return page.evaluate(
    (doc) =>
      new Promise((resolve, reject) => {
        const req = indexedDB.open("weft");
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const db = req.result;
          if (!db.objectStoreNames.contains("pending")) return resolve(0);
          const c = db.transaction("pending").objectStore("pending").count(IDBKeyRange.bound([doc], [doc, []]));
          c.onsuccess = () => resolve(c.result);
          c.onerror = () => reject(c.error);
        };
      }),
    doc,
  );
}

const count = (s, sub) => s.split(sub).length - 1;

async function open(doc) {
  const page = await openPage(env.ctx, env.d, `doc=${doc}`, user);
  await page.addInitScript(cutter);
  await page.reload();
  await waitLive(page);
  return page;
}

const env = suite("unsent edits survive a reload", {}, (step) => {
  step("edits cut off before they reach the daemon arrive after a reload, once", async () => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "cut" })).id;
    const page = await open(doc);
    await setCursor(page, 0);
    await typeText(page, "base ");
    await waitSaved(page);
    await page.evaluate(() => (globalThis.cutSend = true));
    await typeText(page, "[never sent 🐙]");
    await waitFor("the edits to be kept", async () => (await kept(page, doc)) > 0);
    assert.equal(await env.d.text(doc), "base ", "the daemon got edits the page never sent");
    const agent = await page.evaluate(() => globalThis.weftEditor.agent());
    await page.reload();
    await waitLive(page);
    assert.notEqual(await page.evaluate(() => globalThis.weftEditor.agent()), agent, "a reload is a new agent");
    await waitSaved(page, 30_000);
    await waitFor("the daemon to have the kept edits", async () => (await env.d.text(doc)).includes("[never sent 🐙]"));
    const text = await env.d.text(doc);
    assert.equal(text, "base [never sent 🐙]");
    assert.equal(await pageText(page), text);
    await waitFor("the kept records to be forgotten once acked", async () => (await kept(page, doc)) === 0);
    await page.close();
  });

  step("edits the daemon took but never acked are not doubled by the resend", async () => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "unacked" })).id;
    const page = await open(doc);
    await setCursor(page, 0);
    await page.evaluate(() => (globalThis.cutAcks = true));
    await typeText(page, "typed once");
    await waitFor("the daemon to take the edits", async () => (await env.d.text(doc)) === "typed once");
    await waitFor("the edits to be kept", async () => (await kept(page, doc)) > 0);
    assert.ok((await page.evaluate(() => globalThis.weftEditor.unsaved())) > 0, "the page counts the unacked edits as saved");
    await page.reload();
    await waitLive(page);
    await waitSaved(page, 30_000);
    await waitFor("the kept records to be forgotten", async () => (await kept(page, doc)) === 0);
    const text = await env.d.text(doc);
    assert.equal(count(text, "typed once"), 1, `the text is not on the daemon exactly once: ${JSON.stringify(text)}`);
    assert.equal(text, "typed once");
    await page.close();
  });

  step("edits typed while the daemon is down arrive when the page comes back with it", async () => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "down" })).id;
    const page = await open(doc);
    await setCursor(page, 0);
    await typeText(page, "before ");
    await waitSaved(page);
    await env.d.stop("SIGKILL");
    await waitFor("the page to say it is offline", async () => (await page.locator("#st-conn").textContent()).includes("offline"));
    await typeText(page, "offline");
    await waitFor("the status line to count the waiting edits", async () => (await page.locator("#st-saved").textContent()) === "7 edits waiting for the daemon");
    await waitFor("the edits to be kept", async () => (await kept(page, doc)) > 0);
    await page.close(); // the tab is closed with the edits unsent
    await env.d.start();
    const back = await openEditor(env.ctx, env.d, doc, user);
    await waitSaved(back, 30_000);
    await waitFor("the daemon to have the offline edits", async () => (await env.d.text(doc)) === "before offline");
    assert.equal(await pageText(back), "before offline");
    await waitFor("the kept records to be forgotten", async () => (await kept(back, doc)) === 0);
    assert.deepEqual(back.errors, []);
    await back.close();
  });
});
