// Deleting a document from the editor's list: the button asks first (a
// dismissed question deletes nothing); accepted, the document leaves the
// daemon and the list, and an open one is closed.

import assert from "node:assert/strict";
import { suite, waitFor } from "../lib/harness.mjs";

const env = suite("deleting a document from the page", {}, (step) => {
  step("the delete button asks, then deletes and closes the document", async () => {
    const [a] = env.ds;
    const id = (await a.call("POST", "/api/docs", { title: "Doomed" })).id;
    const page = await env.ctx.newPage();
    await page.goto(`${a.api}/#token=${a.token}&doc=${id}`);
    await waitFor("the document to open", async () => (await page.inputValue("#title")) === "Doomed");
    await page.click("#docs-toggle");
    const button = page.locator("#doc-list li", { hasText: id }).locator(".doc-delete");
    await waitFor("the document in the list", () => button.isVisible());

    page.once("dialog", (d) => d.dismiss());
    await button.click();
    const ids = async () => (await a.call("GET", "/api/docs")).map((d) => d.id);
    assert.ok((await ids()).includes(id), "a dismissed question deleted the document");

    page.once("dialog", (d) => {
      assert.match(d.message(), /Doomed/);
      void d.accept();
    });
    await button.click();
    await waitFor("the daemon to delete it", async () => !(await ids()).includes(id));
    await waitFor("the list to drop it", async () => (await page.locator("#doc-list li", { hasText: id }).count()) === 0);
    await waitFor("the open document to close", () => !page.url().includes(id));
  });
});
