// Members-only documents in the page, without the DOM: the tab's agent
// (device.suffix, accepted by the real module, within 64 bytes), invites
// read out of what a person pastes or an editor link, what each role
// lets the editor do, and a reader's editor state refusing local changes
// while remote patches still apply.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import { pathToFileURL } from "node:url";

import { EditorState, Transaction } from "@codemirror/state";

import { cpIndex } from "../src/cpindex";
import { applyLocal, patchSpecs } from "../src/glue";
import {
  INVITE_PREFIX,
  inviteFromText,
  joinLink,
  readOnlyReason,
  readOnlyRole,
  refuseLocal,
  shortDevice,
  tabAgent,
} from "../src/members";
import { Replica, startWasm } from "../src/wasm";

before(async () => {
  await import(pathToFileURL(process.env.WEFT_WASM_EXEC!).href);
  const bytes = readFileSync(process.env.WEFT_WASM!);
  await startWasm(async (imports) => (await WebAssembly.instantiate(bytes, imports)).instance);
});

const DOC = "0123456789abcdef0123456789abcdef";
// A device ID as the daemon reports it: base64url (no padding) of a
// 32-byte Ed25519 public key, 43 characters.
const DEVICE = Buffer.from(Array.from({ length: 32 }, (_, i) => (i * 37 + 250) & 0xff)).toString("base64url");

test("a tab's agent is its daemon's device, a dot and a short random suffix", () => {
  assert.equal(DEVICE.length, 43);
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const a = tabAgent({ peer_id: "12D3KooWsomething", device: DEVICE });
    assert.ok(a.startsWith(`${DEVICE}.`), a);
    const suffix = a.slice(DEVICE.length + 1);
    assert.match(suffix, /^[A-Za-z0-9_-]{1,20}$/);
    assert.ok(new TextEncoder().encode(a).length <= 64, `${a} is longer than 64 bytes`);
    seen.add(suffix);
  }
  assert.ok(seen.size > 45, `the suffixes repeat: ${seen.size} different of 50`);
  assert.equal(tabAgent({ peer_id: "p", device: DEVICE }, "x-Y_9"), `${DEVICE}.x-Y_9`);
  for (const bad of ["", "a.b", "a/b", "x".repeat(21), "é"])
    assert.throws(() => tabAgent({ peer_id: "p", device: DEVICE }, bad), /bad agent suffix/, JSON.stringify(bad));
});

test("without a device (an older daemon) the agent is the peer ID's tail, a slash and the suffix", () => {
  const peer = "12D3KooW" + "A".repeat(80);
  const a = tabAgent({ peer_id: peer }, "0123456789");
  assert.equal(a, `${peer.slice(-(64 - 11))}/0123456789`);
  assert.equal(a.length, 64);
  assert.equal(tabAgent({ peer_id: "", device: "" }, "ab"), "tab/ab");
});

test("the module takes the tab's agent, and its edits carry it", () => {
  const agent = tabAgent({ peer_id: "p", device: DEVICE });
  const r = new Replica(agent, DOC);
  try {
    r.editLocal(0, 0, "hi");
    assert.equal(r.text(), "hi");
    assert.deepEqual(r.version(), { [agent]: 2 });
    assert.ok(r.flush().length > 0);
  } finally {
    r.free();
  }
});

test("an invite is found in what is pasted: the invite, a wrapped one, or an editor link", () => {
  const inv = `${INVITE_PREFIX}gqFhAQ_-x${"A".repeat(300)}`;
  assert.equal(inviteFromText(inv), inv);
  assert.equal(inviteFromText(`  ${inv}\n`), inv);
  assert.equal(inviteFromText(`${inv.slice(0, 100)}\n  ${inv.slice(100)}`), inv, "an invite wrapped by a mail program");
  const link = joinLink("http://127.0.0.1:7777", inv);
  assert.equal(link, `http://127.0.0.1:7777/#join=${encodeURIComponent(inv)}`);
  assert.ok(!link.slice(link.indexOf("#")).includes(":"), "the link's fragment keeps the invite's ':' escaped");
  assert.equal(inviteFromText(link), inv);
  assert.equal(inviteFromText(`http://localhost:1/#token=abc&join=${encodeURIComponent(inv)}&doc=x`), inv);
  // What the address bar shows after URLSearchParams rewrote the fragment.
  const p = new URLSearchParams();
  p.set("join", inv);
  assert.equal(inviteFromText(`http://127.0.0.1:7777/#${p}`), inv);
  assert.equal(new URLSearchParams(new URL(link).hash.slice(1)).get("join"), inv, "the page reads the link's invite back");
  for (const bad of ["", "   ", INVITE_PREFIX, "weft:invit/abc", DOC, "http://127.0.0.1:7777/#doc=" + DOC, "x/#join=%E0%A4%A", "#join="])
    assert.equal(inviteFromText(bad), null, JSON.stringify(bad));
});

test("readers and relays are read-only, with a reason; writers, admins and legacy documents are not", () => {
  assert.equal(readOnlyRole("read"), true);
  assert.equal(readOnlyRole("pull"), true);
  for (const r of ["admin", "write", "", undefined]) {
    assert.equal(readOnlyRole(r), false, String(r));
    assert.equal(readOnlyReason(r), "", String(r));
  }
  assert.equal(readOnlyReason("read"), "Read only: you were invited as a reader");
  assert.match(readOnlyReason("pull"), /^Read only: /);
});

test("a reader's editor refuses local changes and still takes the daemon's", () => {
  const writer = new Replica(tabAgent({ peer_id: "p", device: DEVICE }), DOC);
  const reader = new Replica(tabAgent({ peer_id: "q", device: DEVICE.replace(/^./, "Z") }), DOC);
  try {
    let state = EditorState.create({
      extensions: [EditorState.lineSeparator.of("\n"), cpIndex, EditorState.readOnly.of(true), refuseLocal],
    });
    // Typing, pasting, a command: local transactions change nothing.
    for (const userEvent of ["input.type", "input.paste", "delete.backward", undefined]) {
      const tr = state.update({ changes: { from: 0, insert: "typed" }, userEvent });
      assert.equal(tr.docChanged, false, `a local change (${userEvent}) went through`);
      state = tr.state;
    }
    // The page records only changed transactions: nothing to flush.
    assert.deepEqual(reader.flush(), []);
    // Moving the caret still works.
    state = state.update({ selection: { anchor: 0 } }).state;

    // A writer's edit arrives and shows.
    let ws = EditorState.create({ extensions: [EditorState.lineSeparator.of("\n"), cpIndex] });
    const tr = ws.update({ changes: { from: 0, insert: "from the writer 🧵" } });
    applyLocal(tr, writer);
    ws = tr.state;
    for (const m of writer.flush()) {
      const ev = reader.receive(m, true);
      assert.equal(ev.kind, "txns");
      if (ev.kind !== "txns") continue;
      for (const spec of patchSpecs(state, ev.patch!)) state = state.update(spec).state;
    }
    assert.equal(state.doc.toString(), "from the writer 🧵");
    assert.equal(state.doc.toString(), reader.text());
    // An explicitly remote transaction goes through; the same change
    // made locally does not.
    assert.equal(state.update({ changes: { from: 0, insert: ">" }, annotations: Transaction.remote.of(true) }).docChanged, true);
    assert.equal(state.update({ changes: { from: 0, insert: ">" } }).docChanged, false);
  } finally {
    writer.free();
    reader.free();
  }
});

test("device IDs are shortened for display", () => {
  assert.equal(shortDevice(DEVICE), `${DEVICE.slice(0, 8)}…`);
  assert.equal(shortDevice("short"), "short");
});
