// The page around the editor, used as a person would: the token leaves
// the address bar; documents are created, renamed, listed, and joined
// with an invite pasted into the page (what is not an invite, or not a
// valid one, is said in the page); the theme, the name and the colour are remembered across
// reloads, and the name is what others see on the caret; without a token
// the page says how to get one.

import assert from "node:assert/strict";

import { invite, suite, waitFor } from "../lib/harness.mjs";
import { remoteCarets, setCursor, typeText, waitLive } from "../lib/page.mjs";

const env = suite("the page: documents, preferences, token", { daemons: 2 }, (step) => {
  let page;
  const hashDoc = () => new URL(page.url()).hash.match(/doc=([0-9a-f]{32})/)?.[1];

  step("the token moves from the address bar to the tab's session", async () => {
    const [, b] = env.ds;
    page = await env.ctx.newPage();
    await page.goto(`${b.api}/#token=${b.token}`);
    await waitFor("the documents panel", () => page.locator("#docs-panel").isVisible());
    assert.ok(!page.url().includes("token"), `the token is still in the address bar: ${page.url()}`);
    assert.equal(await page.evaluate(() => sessionStorage.getItem("weft.token")), b.token);
  });

  step("create and rename a document from the page", async () => {
    const [, b] = env.ds;
    await page.fill("#new-title", "Plan");
    await page.click("#new-form button");
    await waitFor("the new document to open", () => hashDoc());
    await waitLive(page);
    assert.equal(await page.inputValue("#title"), "Plan");
    await page.fill("#title", "Plan B");
    await page.press("#title", "Enter");
    const id = hashDoc();
    await waitFor("the daemon to have the new title", async () =>
      (await b.call("GET", "/api/docs")).some((d) => d.id === id && d.title === "Plan B"),
    );
  });

  step("join a document with a pasted invite and list both", async () => {
    const [a] = env.ds;
    const other = (await a.call("POST", "/api/docs", { title: "From A" })).id;
    await a.call("POST", `/api/docs/${other}/edits`, { edits: [{ pos: 0, del: 0, ins: "hello from A 👋" }] });
    const mine = hashDoc();
    await page.click("#docs-toggle");
    // Not an invite, then a malformed one: each is said in the page, and
    // nothing opens.
    const notice = () => page.textContent("#notice");
    await page.fill("#join-invite", "hello");
    await page.click("#join-form button");
    await waitFor("the page to say it is not an invite", async () => (await notice()).startsWith("That is not an invite"));
    await page.fill("#join-invite", "weft:invite/AAAA-not-a-real-invite");
    await page.click("#join-form button");
    await waitFor("the page to say the invite was refused", async () => (await notice()).startsWith("Could not join with this invite: "));
    assert.ok(await page.locator("#notice").isVisible());
    assert.equal(hashDoc(), mine, "a refused invite changed the document shown");
    assert.equal(await page.inputValue("#join-invite"), "weft:invite/AAAA-not-a-real-invite", "the refused invite left the field");
    // A real one, with spaces around it as pasted from a message.
    await page.fill("#join-invite", `  ${await invite(a, other, { role: "write", label: "Zoë" })}\n`);
    await page.click("#join-form button");
    await waitFor("the joined document to open", () => hashDoc() === other);
    assert.ok(!page.url().includes("join"), `the address still has the invite: ${page.url()}`);
    assert.equal(await page.inputValue("#join-invite"), "");
    assert.ok(await page.locator("#notice").isHidden(), "the earlier error is still shown");
    await waitLive(page, 30_000);
    await waitFor("A's text in B's page", () => page.evaluate(() => globalThis.weftEditor.text() === "hello from A 👋"));
    await page.click("#docs-toggle");
    await waitFor("both documents listed", async () => (await page.locator("#doc-list a").count()) === 2);
    const items = await page.locator("#doc-list a").allTextContents();
    assert.ok(items.some((t) => t.includes("Plan B")), `list: ${items}`);
    assert.ok(items.some((t) => t.includes(other)), `list: ${items}`);
    await page.click("#docs-toggle");
  });

  step("theme, name and colour are remembered across a reload", async () => {
    const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
    assert.equal(await page.textContent("#theme"), "Theme: system");
    await page.click("#theme");
    assert.equal(await theme(), "light");
    await page.click("#theme");
    assert.equal(await theme(), "dark");
    await page.fill("#user-name", "Zoë 🦊");
    await page.press("#user-name", "Enter");
    await page.locator("#user-color").evaluate((el) => {
      el.value = "#2f9e44";
      el.dispatchEvent(new Event("input", { bubbles: true }));
    });
    await page.reload();
    await waitLive(page);
    assert.equal(await theme(), "dark");
    assert.equal(await page.textContent("#theme"), "Theme: dark");
    assert.equal(await page.inputValue("#user-name"), "Zoë 🦊");
    assert.equal(await page.inputValue("#user-color"), "#2f9e44");
  });

  step("others see the name and colour on the caret", async () => {
    const [, b] = env.ds;
    const other = await env.ctx.newPage();
    try {
      await other.goto(`${b.api}/#token=${b.token}&doc=${hashDoc()}`);
      await waitLive(other);
      await setCursor(page, 3);
      await typeText(page, "!");
      await waitFor("the caret of Zoë in the other page", async () =>
        (await remoteCarets(other)).some((c) => c.name === "Zoë 🦊" && c.color === "rgb(47, 158, 68)" && c.pos === 4),
      );
    } finally {
      await other.close();
    }
  });

  step("without a token the page says how to get one", async () => {
    const [, b] = env.ds;
    // A new tab has a session storage of its own, so no token.
    const p = await env.ctx.newPage();
    try {
      await p.goto(`${b.api}/`);
      await waitFor("the notice", async () => ((await p.textContent("#notice")) ?? "").includes("weft open"));
      assert.equal(await p.textContent("#st-conn"), "no access token");
    } finally {
      await p.close();
    }
  });
});
