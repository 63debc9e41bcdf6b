// With a relay, the status line says when every edit of the tab is
// durable there ("saved on relay"), and stops saying it when new edits are
// not yet.

import assert from "node:assert/strict";

import { suite, waitFor } from "../lib/harness.mjs";
import { openEditor, setCursor, typeText, waitSaved } from "../lib/page.mjs";

const env = suite("saved on relay", { relay: true }, (step) => {
  step("the status line follows the relay's acknowledgements", async () => {
    const doc = (await env.d.call("POST", "/api/docs", { title: "relayed" })).id;
    // A relay hosts a members-only document once a member grants it the
    // pull role.
    await env.d.call("POST", `/api/docs/${doc}/host`, { relay: env.relay.addr });
    const page = await openEditor(env.ctx, env.d, doc, { name: "Ada", color: "#e03131" });
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
