// Members-only documents in the editor, two daemons and a page each: an
// admin makes an invite in the Share dialog and the other daemon's page
// joins by opening its link; a reader's editor is read-only (typing,
// pasting, deleting and undo change nothing, a banner says why) while the
// writer's edits still appear; an admin removes a member from the dialog's
// member list. The tab's agent is its daemon's device ID and a suffix.

import assert from "node:assert/strict";

import { invite, members, suite, waitFor } from "../lib/harness.mjs";
import { hashDoc, openEditor, openPage, paste, press, typeText, waitLive } from "../lib/page.mjs";

const users = [
  { name: "Ada", color: "#e03131" },
  { name: "Grace", color: "#1971c2" },
];

const text = (page) => page.evaluate(() => globalThis.weftEditor.text());
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const env = suite("members-only documents in the editor", { daemons: 2 }, (step) => {
  let pageA; // Ada, admin, on daemon a
  let pageB; // Grace, on daemon b
  let shared; // the document Ada shares with Grace as a writer

  step("an admin shares from the dialog, and another daemon's page joins by opening the link", async () => {
    const [a, b] = env.ds;
    assert.match(a.device, /^[A-Za-z0-9_-]{43}$/, "the daemon reports no device ID");
    shared = (await a.call("POST", "/api/docs", { title: "Shared by link" })).id;
    await a.call("POST", `/api/docs/${shared}/edits`, { edits: [{ pos: 0, del: 0, ins: "Written by the admin ✍️\n" }] });
    pageA = await openEditor(env.ctx, a, shared, users[0]);

    // The tab writes as its daemon's device.
    const agent = await pageA.evaluate(() => globalThis.weftEditor.agent());
    assert.match(agent, new RegExp(`^${escapeRe(a.device)}\\.[A-Za-z0-9_-]{1,20}$`));
    assert.equal(await pageA.evaluate(() => globalThis.weftEditor.role()), "admin");
    assert.ok(await pageA.locator("#readonly").isHidden(), "an admin's page says it is read-only");
    await waitFor("the Share button", () => pageA.locator("#share").isVisible());
    assert.equal(await pageA.textContent("#share"), "Share");

    // The dialog: focus goes in; the admin is listed as "you".
    await pageA.click("#share");
    await waitFor("the Share dialog to open", () => pageA.locator("#share-dialog").isVisible());
    assert.equal(await pageA.evaluate(() => document.activeElement?.id), "invite-role", "focus did not go into the dialog");
    const me = pageA.locator(`#member-rows tr[data-device="${a.device}"]`);
    await waitFor("the admin listed as a member", async () => (await me.count()) === 1);
    const mine = await me.textContent();
    assert.ok(mine.includes("you") && mine.includes("admin"), `the admin's row: ${mine}`);
    assert.equal(await me.locator("button.remove").count(), 0, "the admin can remove themself from the list");

    // An invite to write, for a week, labelled.
    await pageA.selectOption("#invite-role", "write");
    await pageA.fill("#invite-label", "Grace's laptop");
    await pageA.selectOption("#invite-expires", "604800");
    await pageA.click("#invite-create");
    const link = await waitFor("the invite's link", () => pageA.inputValue("#invite-link"));
    const inv = await pageA.inputValue("#invite-text");
    assert.match(inv, /^weft:invite\/[A-Za-z0-9_-]+$/);
    assert.equal(link, `${new URL(a.api).origin}/#join=${encodeURIComponent(inv)}`);
    const note = await pageA.textContent("#invite-note");
    assert.ok(note.includes("write") && note.includes("Grace's laptop") && note.includes("usable until"), `the note: ${note}`);
    assert.ok(await pageA.locator("#share-error").isHidden(), await pageA.textContent("#share-error"));
    // Copy: onto the clipboard, or selected for the user to copy.
    await pageA.click("#copy-link");
    const copied = await waitFor("the copy to be confirmed", () => pageA.textContent("#copy-status"));
    assert.match(copied, /^(Copied the link\.|The link is selected: copy it)/);
    if (copied.startsWith("The link")) {
      const sel = await pageA.evaluate(() => {
        const el = document.activeElement;
        return { id: el?.id, text: el?.value?.slice(el.selectionStart, el.selectionEnd) };
      });
      assert.deepEqual(sel, { id: "invite-link", text: link }, "the link is not selected for copying");
    }
    // Escape closes the dialog and gives the focus back.
    await pageA.keyboard.press("Escape");
    await waitFor("the dialog to close", () => pageA.locator("#share-dialog").isHidden());
    assert.equal(await pageA.evaluate(() => document.activeElement?.id), "share");

    // Grace's page, on her daemon, opens the link (its address names Ada's
    // editor; on Grace's machine the editor is her daemon's).
    pageB = await openPage(env.ctx, b, "", users[1]);
    await waitFor("Grace's documents panel", () => pageB.locator("#docs-panel").isVisible());
    await pageB.goto(`${b.api}/${new URL(link).hash}`);
    await waitFor("the joined document to open", () => hashDoc(pageB) === shared);
    assert.ok(!pageB.url().includes("join"), `the invite is still in the address: ${pageB.url()}`);
    await waitLive(pageB, 30_000);
    await waitFor("Ada's text in Grace's page", async () => (await text(pageB)) === "Written by the admin ✍️\n", { timeout: 30_000 });
    assert.equal(await pageB.evaluate(() => globalThis.weftEditor.role()), "write");
    assert.ok(await pageB.locator("#readonly").isHidden(), "a writer's page says it is read-only");
    assert.equal(await pageB.textContent("#share"), "Members");
    const agentB = await pageB.evaluate(() => globalThis.weftEditor.agent());
    assert.match(agentB, new RegExp(`^${escapeRe(b.device)}\\.[A-Za-z0-9_-]{1,20}$`));

    // Grace writes; Ada sees it.
    await pageB.locator(".cm-content").click();
    await press(pageB, "Control+End");
    await typeText(pageB, "and Grace replies");
    const both = "Written by the admin ✍️\nand Grace replies";
    await waitFor("Grace's words in Ada's page and daemon", async () => (await text(pageA)) === both && (await a.text(shared)) === both, {
      timeout: 30_000,
    });

    // A reload shows the document and does not join again.
    await pageB.reload();
    await waitLive(pageB);
    assert.equal(hashDoc(pageB), shared);
    assert.equal(await text(pageB), both);
    assert.ok(await pageB.locator("#notice").isHidden(), `after the reload: ${await pageB.textContent("#notice")}`);

    // Ada's daemon knows Grace's device, with the role it was invited to.
    const g = await waitFor(
      "Grace's device among Ada's members",
      async () => (await members(a, shared)).find((m) => m.device === b.device && !m.invite),
      { timeout: 30_000 },
    );
    assert.equal(g.role, "write");
    assert.equal(g.removed, false);
    assert.equal(g.self, false);
  });

  step("a reader's editor refuses input and says why; the writer's edits still appear", async () => {
    const [a, b] = env.ds;
    const doc = (await a.call("POST", "/api/docs", { title: "For reading" })).id;
    await a.call("POST", `/api/docs/${doc}/edits`, { edits: [{ pos: 0, del: 0, ins: "Read me." }] });
    const inv = await invite(a, doc, { role: "read", label: "Grace reads" });

    // Grace pastes the invite into the Join box.
    if (await pageB.locator("#docs-panel").isHidden()) await pageB.click("#docs-toggle");
    await pageB.fill("#join-invite", inv);
    await pageB.click("#join-form button");
    await waitFor("the joined document to open", () => hashDoc(pageB) === doc);
    await waitLive(pageB, 30_000);
    await waitFor("the text in the reader's page", async () => (await text(pageB)) === "Read me.", { timeout: 30_000 });

    assert.equal(await pageB.evaluate(() => globalThis.weftEditor.role()), "read");
    await waitFor("the read-only banner", () => pageB.locator("#readonly").isVisible());
    assert.equal(await pageB.textContent("#readonly"), "Read only: you were invited as a reader");
    assert.equal(await pageB.evaluate(() => globalThis.weftEditor.view().contentDOM.contentEditable), "false");
    assert.equal(await pageB.evaluate(() => globalThis.weftEditor.view().state.readOnly), true);

    // A reader sees the members but cannot invite or remove.
    assert.equal(await pageB.textContent("#share"), "Members");
    await pageB.click("#share");
    await waitFor("the members dialog", () => pageB.locator("#share-dialog").isVisible());
    assert.ok(await pageB.locator("#invite-form").isHidden(), "a reader is offered to invite");
    await waitFor("the reader listed", async () => (await pageB.locator(`#member-rows tr[data-device="${b.device}"]`).count()) === 1);
    assert.equal(await pageB.locator("#member-rows button.remove").count(), 0, "a reader is offered to remove");
    await pageB.keyboard.press("Escape");
    await waitFor("the dialog to close", () => pageB.locator("#share-dialog").isHidden());

    // Typing, pasting, deleting and undo change nothing.
    await pageB.locator(".cm-content").click();
    await typeText(pageB, "xyz");
    await press(pageB, "Enter");
    await paste(pageB, "pasted");
    await press(pageB, "Backspace", 3);
    await press(pageB, "Delete");
    await press(pageB, "Control+z");
    // The writer adds a line; once it shows in the reader's page, that
    // page holds the writer's text exactly: had a keystroke gone through,
    // it would be there first.
    await a.call("POST", `/api/docs/${doc}/edits`, { edits: [{ pos: 8, del: 0, ins: " And then more from the writer." }] });
    const want = "Read me. And then more from the writer.";
    await waitFor("the writer's edit in the reader's page", async () => (await text(pageB)).includes("more from the writer"), { timeout: 30_000 });
    assert.equal(await text(pageB), want);
    const st = await pageB.evaluate(() => ({ replica: globalThis.weftEditor.replicaText(), unsaved: globalThis.weftEditor.unsaved() }));
    assert.deepEqual(st, { replica: want, unsaved: 0 });
    assert.equal(await b.text(doc), want);
    assert.equal(await a.text(doc), want);
  });

  step("an admin removes a member from the dialog's list", async () => {
    const [a, b] = env.ds;
    await pageA.click("#share");
    await waitFor("the Share dialog to open", () => pageA.locator("#share-dialog").isVisible());
    const row = pageA.locator(`#member-rows tr[data-device="${b.device}"]`);
    await waitFor("Grace listed in Ada's dialog", async () => (await row.count()) === 1, { timeout: 30_000 });
    const cells = await row.locator("td").allTextContents();
    assert.equal(cells[1], "write", `Grace's row: ${cells}`);
    assert.ok(!cells[0].includes("(you"), `Grace's row says it is Ada's device: ${cells}`);
    const remove = row.locator("button.remove");
    assert.equal(await remove.textContent(), "Remove");

    // Declining the confirmation removes nobody.
    pageA.once("dialog", (d) => d.dismiss());
    await remove.click();
    assert.equal((await members(a, shared)).find((m) => m.device === b.device)?.removed, false, "Grace was removed without confirmation");
    assert.equal(await row.count(), 1);

    // Confirming removes Grace: her row goes, or stays marked removed
    // without a button, and Ada's daemon says so.
    let asked = "";
    pageA.once("dialog", (d) => {
      asked = d.message();
      void d.accept();
    });
    await remove.click();
    await waitFor("Grace's row to show the removal", async () =>
      (await row.count()) === 0 || ((await row.getAttribute("class")) === "removed" && (await row.locator("button").count()) === 0),
    );
    assert.match(asked, /^Remove .+ from this document\?/, "the confirmation asked something else");
    const gone = (await members(a, shared)).find((m) => m.device === b.device);
    assert.ok(!gone || gone.removed, `Ada's daemon still lists Grace as a member: ${JSON.stringify(gone)}`);
    assert.ok(await pageA.locator("#share-error").isHidden(), await pageA.textContent("#share-error"));
    await pageA.keyboard.press("Escape");
    await waitFor("the dialog to close", () => pageA.locator("#share-dialog").isHidden());
  });

  step("no page error and no Content-Security-Policy violation", async () => {
    for (const [i, p] of [pageA, pageB].entries()) assert.deepEqual(p.errors, [], `page ${users[i].name} logged errors`);
  });
});
