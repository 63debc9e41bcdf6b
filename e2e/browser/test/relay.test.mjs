// With a relay, the status line says when every edit of the tab is
// durable there ("saved on relay"), and stops saying it when new edits are
// not yet.

import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe } from "node:test";

import { Daemon, Relay, cleanup, launch, tempDir, tracked, waitFor, weftBinary } from "../lib/harness.mjs";
import { openEditor, setCursor, typeText, waitSaved } from "../lib/page.mjs";

let root;
let relay;
let d;
let ctx;
let failed = false;

describe("saved on relay", { concurrency: false }, () => {
  before(async () => {
    failed = true;
    root = await tempDir();
    const bin = await weftBinary(root);
    relay = await new Relay(bin, path.join(root, "relay")).start();
    d = await new Daemon("a", bin, path.join(root, "a")).start({ relays: [relay.addr] });
    ctx = await launch(root);
    failed = false;
  });
  after(async () => {
    if (failed) console.error(`${d?.report()}\n${relay?.report()}`);
    await ctx?.close();
    await d?.stop();
    await relay?.stop();
    await cleanup(root);
  });

  const step = tracked(() => (failed = true), () => ctx);

  step("the status line follows the relay's acknowledgements", async () => {
    const doc = (await d.call("POST", "/api/docs", { title: "relayed" })).id;
    // A relay hosts a members-only document once a member grants it the
    // pull role.
    await d.call("POST", `/api/docs/${doc}/host`, { relay: relay.addr });
    const page = await openEditor(ctx, d, doc, { name: "Ada", color: "#e03131" });
    const relayText = () => page.textContent("#st-relay");
    await setCursor(page, 0);
    await typeText(page, "kept on the relay");
    await waitSaved(page);
    await waitFor("the page to say saved on relay", async () => (await relayText()) === "saved on relay", { timeout: 30_000 });
    // A new edit is not on the relay until the relay says so.
    await page.evaluate(() => {
      const el = document.getElementById("st-relay");
      globalThis.relaySeen = [el.textContent];
      new MutationObserver(() => globalThis.relaySeen.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true });
    });
    await typeText(page, "!");
    await waitFor("saved on relay again", async () => (await relayText()) === "saved on relay" && (await page.evaluate(() => globalThis.relaySeen.length)) > 1, {
      timeout: 30_000,
    });
    const seen = await page.evaluate(() => globalThis.relaySeen);
    assert.ok(seen.includes("not yet on relay"), `the status never said the new edit was not yet on the relay: ${seen}`);
  });
});
