// Driving the editor page: open it signed in, wait for it to be live, and
// act as a user would (cursor moves, typing, pasting, deleting) through
// real keyboard and clipboard events. The page's read-only test handle,
// globalThis.weftEditor, is used to read its state.

import { waitFor } from "./harness.mjs";

// openEditor opens daemon d's editor on doc, as the user `name`, and waits
// until it is live.
export async function openEditor(ctx, d, doc, user) {
  const page = await openPage(ctx, d, `doc=${doc}`, user);
  await waitLive(page);
  return page;
}

// openPage opens daemon d's editor with its token and the fragment rest
// (doc=ID, join=INVITE, or nothing), as the user `name`, without waiting.
export async function openPage(ctx, d, rest, { name, color }) {
  const page = await ctx.newPage();
  page.errors = [];
  page.on("pageerror", (e) => page.errors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    const t = m.text();
    // A refused socket while a daemon is down is expected; anything
    // else logged as an error is not.
    if (m.type() === "error" && !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|Failed to load resource/.test(t))
      page.errors.push(`console: ${t}`);
  });
  await page.addInitScript(
    ([n, c]) => {
      localStorage.setItem("weft.name", n);
      localStorage.setItem("weft.color", c);
      document.addEventListener("securitypolicyviolation", (e) =>
        console.error(`CSP violation: ${e.violatedDirective} ${e.sourceFile}:${e.lineNumber}`),
      );
    },
    [name, color],
  );
  await page.goto(`${d.api}/#token=${d.token}${rest ? `&${rest}` : ""}`);
  return page;
}

// hashDoc is the document the page's address names.
export function hashDoc(page) {
  return new URL(page.url()).hash.match(/doc=([0-9a-f]{32})/)?.[1];
}

export async function waitLive(page, timeout = 20_000) {
  await waitFor(
    "the page to be connected and loaded",
    () => page.evaluate(() => globalThis.weftEditor?.conn?.() === "live" && globalThis.weftEditor.loading() === false),
    { timeout },
  );
}

export function pageText(page) {
  return page.evaluate(() => globalThis.weftEditor.text());
}

// state is what a convergence check compares.
export function pageState(page) {
  return page.evaluate(() => ({
    text: globalThis.weftEditor.text(),
    replica: globalThis.weftEditor.replicaText(),
    unsaved: globalThis.weftEditor.unsaved(),
    conn: globalThis.weftEditor.conn(),
  }));
}

// setCursor puts the caret (or a selection to head) at UTF-16 offsets,
// moved off the middle of a surrogate pair, as a click would; returns
// where it went.
export function setCursor(page, anchor, head = anchor) {
  return page.evaluate(
    ([a, h]) => {
      const v = globalThis.weftEditor.view();
      const doc = v.state.doc;
      const fix = (p) => {
        p = Math.max(0, Math.min(p, doc.length));
        const s = doc.sliceString(Math.max(0, p - 1), p + 1);
        if (p > 0 && s.length === 2 && /[\uD800-\uDBFF]/.test(s[0]) && /[\uDC00-\uDFFF]/.test(s[1])) p--;
        return p;
      };
      v.focus();
      v.dispatch({ selection: { anchor: fix(a), head: fix(h) }, scrollIntoView: true, userEvent: "select" });
      return [fix(a), fix(h)];
    },
    [anchor, head],
  );
}

export function docLength(page) {
  return page.evaluate(() => globalThis.weftEditor.view().state.doc.length);
}

// paste pastes text through a clipboard paste event, the path a real
// Ctrl+V takes in the editor.
export function paste(page, text) {
  return page.evaluate((t) => {
    const v = globalThis.weftEditor.view();
    v.focus();
    const dt = new DataTransfer();
    dt.setData("text/plain", t);
    v.contentDOM.dispatchEvent(new ClipboardEvent("paste", { clipboardData: dt, bubbles: true, cancelable: true }));
  }, text);
}

// typeText types with real key events (characters outside the keyboard,
// like emoji, arrive as text input, as from an input method).
export async function typeText(page, text, delay = 0) {
  await page.keyboard.type(text, { delay });
}

export async function press(page, key, times = 1) {
  for (let i = 0; i < times; i++) await page.keyboard.press(key);
}

// remoteCarets reads the other users' carets drawn in the page: name,
// colour and the document offset the caret stands at.
export function remoteCarets(page) {
  return page.evaluate(() => {
    const v = globalThis.weftEditor.view();
    return [...v.contentDOM.querySelectorAll(".weft-caret")].map((el) => ({
      name: el.querySelector(".weft-caret-label")?.textContent,
      color: el.style.borderLeftColor,
      pos: v.posAtDOM(el),
    }));
  });
}

// waitSaved waits until the page's daemon acked all its edits.
export function waitSaved(page, timeout) {
  return waitFor("the page's edits to be saved", () => page.evaluate(() => globalThis.weftEditor.unsaved() === 0), {
    timeout,
  });
}
