// weft's editor page. The page is opened as http://127.0.0.1:PORT/#token=…
// (by `weft open`); it keeps the token in sessionStorage, takes it out of
// the address bar, and uses it for the JSON API (Authorization: Bearer)
// and the document socket (subprotocol bearer.<token>). The document
// shown is the fragment's doc=<id>; a fragment join=<invite> (an invite
// link) joins with the invite and then shows the document joined.

import { EditorState, Transaction } from "@codemirror/state";
import { EditorView } from "@codemirror/view";

import { API, APIError, type DocInfo, type NodeStatus } from "./api";
import { cpIndex } from "./cpindex";
import { applyRemote, baseExtensions, replaceAll, setDark, setMode } from "./editor";
import { applyLocal } from "./glue";
import { inviteFromText, readOnlyReason, readOnlyRole, tabAgent } from "./members";
import * as prefs from "./prefs";
import { adoptColors, Peers, refresh, remoteCursors } from "./presence";
import { type Conn, Session } from "./session";
import { HistoryPanel } from "./history";
import { Keeper } from "./pending";
import { ShareDialog } from "./share";
import { type Event, loadWasm, Replica } from "./wasm";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const PRESENCE_EVERY_MS = 3000;
const PRESENCE_THROTTLE_MS = 40;
const DOC_ID = /^[0-9a-f]{32}$/;
const ROLE_NAMES: Record<string, string> = { admin: "admin", write: "writer", read: "reader", pull: "relay", "": "local only" };

function hashParams(): URLSearchParams {
  return new URLSearchParams(location.hash.slice(1));
}

// takeToken moves a token from the fragment into sessionStorage and out of
// the address bar (and so out of history and screenshots).
function takeToken(): string | null {
  const p = hashParams();
  const t = p.get("token");
  if (t) {
    try {
      sessionStorage.setItem("weft.token", t);
    } catch {
      // no storage: the token lasts for this page only
    }
    p.delete("token");
    const rest = p.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    return t;
  }
  try {
    return sessionStorage.getItem("weft.token");
  } catch {
    return null;
  }
}

function docFromHash(): string | null {
  const d = hashParams().get("doc");
  return d && DOC_ID.test(d) ? d : null;
}

// takeJoin takes an invite link's invite out of the fragment (and so out
// of the address bar and history: it is a secret until used).
function takeJoin(): string | null {
  const p = hashParams();
  const j = p.get("join");
  if (j === null) return null;
  p.delete("join");
  const rest = p.toString();
  history.replaceState(null, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
  return j;
}

// setStatus sets one part of the status line, touching the DOM only when
// something changed (it runs on every keystroke).
function setStatus(id: string, text: string, state?: "ok" | "warn" | "bad", title = ""): void {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
  if (el.dataset.state !== state) {
    if (state) el.dataset.state = state;
    else delete el.dataset.state;
  }
  if (el.title !== title) el.title = title;
}

let noticeTimer: number | undefined;
function notice(msg: string, sticky = false): void {
  const el = $("notice");
  el.textContent = msg;
  el.hidden = !msg;
  clearTimeout(noticeTimer);
  if (msg && !sticky) noticeTimer = window.setTimeout(() => (el.hidden = true), 8000);
}

// Open is one open document: its replica, editor, socket and peers.
class Open {
  readonly rep: Replica;
  readonly keeper: Keeper; // unsent edits kept across reloads (pending.ts)
  private closed = false;
  readonly view: EditorView;
  readonly session: Session;
  readonly peers: Peers;
  private presenceTimer: number | undefined;
  private lastPresence = 0;
  private timers: number[] = [];
  peerCount = -1;
  relay: { has: boolean; saved: boolean } = { has: false, saved: false };
  onRemote: ((inserted: string) => void) | undefined; // for tests and benchmarks

  constructor(
    readonly app: App,
    readonly id: string,
    agent: string,
    private readOnly: boolean, // a reader's: the editor refuses input
  ) {
    this.rep = new Replica(agent, id);
    this.keeper = new Keeper(id, this.rep);
    this.peers = new Peers(() => this.rep);
    // The editor lives in a shadow root: there CodeMirror's styles go into
    // a constructed style sheet, which the page's Content-Security-Policy
    // allows (a <style> element it does not).
    const host = document.createElement("div");
    host.className = "editor-host";
    $("editor").replaceChildren(host);
    const root = host.attachShadow({ mode: "open" });
    adoptColors(root);
    this.view = new EditorView({
      parent: root,
      root,
      state: EditorState.create({ extensions: baseExtensions([remoteCursors(this.peers)]) }),
      dispatchTransactions: (trs, view) => this.dispatch(trs, view),
    });
    setDark(this.view, prefs.resolvedDark(prefs.theme()));
    this.session = new Session(this.rep, () => app.token, {
      onEvent: (ev, loading) => this.onEvent(ev, loading),
      onConn: (c, detail) => this.onConn(c, detail),
      onLive: (first) => {
        if (first) this.view.focus();
        this.sendPresence();
        this.showSaved();
      },
      beforeResync: () => {
        this.keeper.adopt();
        this.keeper.forget(); // what the daemon's hello says it has
      },
    });
    this.timers.push(window.setInterval(() => this.sendPresence(), PRESENCE_EVERY_MS));
    this.timers.push(
      window.setInterval(() => {
        if (this.peers.expire()) this.view.dispatch({ effects: refresh.of(null) });
      }, 1000),
    );
    // Edits an earlier tab of this document left unsent are claimed
    // before the socket opens and adopted at the first done.
    void this.keeper.prepare().then(() => {
      if (!this.closed) this.session.start();
    });
  }

  // setReadOnly follows a change of this device's role.
  setReadOnly(on: boolean): void {
    if (on === this.readOnly) return;
    this.readOnly = on;
    if (!this.session.loading) setMode(this.view, on ? "read" : "edit");
  }

  close(): void {
    this.closed = true;
    this.keeper.close();
    this.session.close();
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.presenceTimer);
    this.view.destroy();
    this.rep.free();
  }

  // dispatch records local changes in the replica before the view shows
  // them, so that the replica and the view never disagree when a remote
  // patch arrives.
  private dispatch(trs: readonly Transaction[], view: EditorView): void {
    let local = false;
    let broken: unknown;
    for (const tr of trs) {
      if (!tr.docChanged || tr.annotation(Transaction.remote)) continue;
      local = true;
      try {
        applyLocal(tr, this.rep);
      } catch (e) {
        broken ??= e;
      }
    }
    // Send before drawing: the other users wait on the network, not on
    // this page's DOM.
    if (local) {
      this.session.edited();
      this.keeper.keep();
    }
    view.update(trs);
    if (broken !== undefined) {
      // Cannot happen unless there is a bug; show the replica's text.
      console.error("weft: a local edit could not be recorded; showing the replica's text", broken);
      replaceAll(view, this.rep.text());
    }
    if (local) {
      // Saved on the relay again only when its next status says so.
      if (this.relay.saved) {
        this.relay.saved = false;
        this.showPeers();
      }
      this.showSaved();
    }
    if (local || trs.some((tr) => tr.selection)) this.presenceSoon();
  }

  // materializeSoon reads the history of a document opened from a snapshot
  // (the hello's open read only its text and version) once the browser is
  // idle after the editor showed it: tens of milliseconds that would
  // otherwise fall on the first keystroke or remote edit. A history that
  // does not read is reported; edits would be refused with the same error.
  private materializeSoon(): void {
    const run = () => {
      try {
        this.rep.materialize();
        performance.mark("weft-doc-history");
      } catch (e) {
        console.warn("weft: the document's history does not read:", e);
        notice(`This document's history does not read: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    if (typeof requestIdleCallback === "function") requestIdleCallback(run, { timeout: 1000 });
    else setTimeout(run, 0);
  }

  private onEvent(ev: Event, loading: boolean): void {
    switch (ev.kind) {
      case "txns":
        if (ev.error) console.warn("weft: refused part of a message from the daemon:", ev.error);
        if (ev.patch && !loading) {
          applyRemote(this.view, ev.patch);
          this.onRemote?.(ev.patch.text);
        }
        break;
      case "hello":
        if (loading) performance.mark("weft-doc-hello"); // the snapshot is loaded (benchmarks)
        break;
      case "done":
        if (loading) {
          performance.mark("weft-doc-done"); // benchmarks: the done is handled from here
          replaceAll(this.view, this.rep.text());
          setMode(this.view, this.readOnly ? "read" : "edit");
          performance.mark("weft-doc-ready");
          this.materializeSoon();
        }
        break;
      case "ack":
        this.keeper.forget();
        this.showSaved();
        break;
      case "status":
        this.peerCount = ev.peers;
        this.relay = { has: ev.hasRelay, saved: ev.relay };
        this.showPeers();
        break;
      case "presence":
        if (this.peers.take(ev)) this.view.dispatch({ effects: refresh.of(null) });
        break;
      case "fail":
        console.warn("weft: the daemon refused:", ev.reason);
        notice(`The daemon refused: ${ev.reason}`);
        break;
    }
  }

  private onConn(c: Conn, detail?: string): void {
    switch (c) {
      case "live":
        setStatus("st-conn", "connected to the daemon", "ok");
        break;
      case "connecting":
      case "syncing":
        setStatus("st-conn", this.session?.loading === false ? "reconnecting…" : "connecting…", "warn");
        break;
      case "offline":
        setStatus("st-conn", "offline — reconnecting", "bad", detail);
        this.app.checkToken();
        this.peers.clear();
        this.view.dispatch({ effects: refresh.of(null) });
        break;
    }
    this.showSaved();
    this.showPeers();
  }

  showSaved(): void {
    if (this.session?.loading !== false) {
      setStatus("st-saved", "loading…");
      return;
    }
    const n = this.rep.unsaved();
    const waiting = `${n} ${n === 1 ? "edit" : "edits"} waiting`;
    if (n === 0) setStatus("st-saved", "all edits saved locally", "ok");
    else if (this.session.conn === "live") setStatus("st-saved", `saving… (${waiting})`, "warn");
    else
      setStatus(
        "st-saved",
        `${waiting} for the daemon`,
        "warn",
        this.keeper.safe() ? "kept in this browser until the daemon has them" : "kept in this tab",
      );
  }

  private showPeers(): void {
    const live = this.session?.conn === "live";
    const n = this.peerCount;
    setStatus("st-peers", live && n >= 0 ? `${n} ${n === 1 ? "peer" : "peers"} online` : "");
    setStatus(
      "st-relay",
      live && this.relay.has ? (this.relay.saved ? "saved on relay" : "not yet on relay") : "",
      this.relay.saved ? "ok" : undefined,
    );
  }

  private presenceSoon(): void {
    if (this.presenceTimer !== undefined) return;
    const wait = Math.max(0, this.lastPresence + PRESENCE_THROTTLE_MS - performance.now());
    this.presenceTimer = window.setTimeout(() => {
      this.presenceTimer = undefined;
      this.sendPresence();
    }, wait);
  }

  sendPresence(): void {
    if (this.session.conn !== "live") return;
    const st = this.view.state;
    const sel = st.selection.main;
    const idx = st.field(cpIndex);
    try {
      const msg = this.rep.presence(
        this.app.name,
        this.app.color,
        idx.toCp(st.doc, sel.anchor),
        idx.toCp(st.doc, sel.head),
      );
      this.session.send(msg);
      this.lastPresence = performance.now();
    } catch (e) {
      console.warn("weft: presence:", e);
    }
  }
}

class App {
  api: API;
  node: NodeStatus = { peer_id: "", peers: 0, version: "" };
  name = prefs.userName();
  color = prefs.userColor();
  open: Open | undefined;
  role: string | undefined; // this device's role in the open document (undefined: not known)
  private afterShow = ""; // a notice for the next document shown
  share: ShareDialog;
  history: HistoryPanel;

  constructor(public token: string) {
    this.api = new API(token);
    this.share = new ShareDialog(() => this.api, $("share"));
    this.history = new HistoryPanel(
      { call: <T>(method: string, path: string, body?: unknown) => this.api.call<T>(method, path, body) },
      () => this.open?.id,
      () => this.node.device ?? "",
      (msg) => notice(msg),
    );
  }

  // setToken takes a token given later in the fragment (the daemon
  // restarted with a new one, and the user pasted `weft open --print`'s
  // URL into this tab): the open document reconnects with it, keeping
  // whatever was typed meanwhile.
  setToken(t: string): void {
    if (t === this.token) return;
    this.token = t;
    this.api = new API(t);
    notice("");
    this.open?.session.reconnectNow();
  }

  async start(join: string | null): Promise<void> {
    this.wireHeader();
    let status;
    try {
      [status] = await Promise.all([this.api.status(), loadWasm()]);
    } catch (e) {
      if (e instanceof APIError && e.status === 401) {
        notice("This page's access token is not valid (the daemon restarted?). Run `weft open` again.", true);
      } else {
        notice(`Cannot start: ${e instanceof Error ? e.message : String(e)}`, true);
      }
      setStatus("st-conn", "offline", "bad");
      return;
    }
    this.node = status;
    performance.mark("weft-wasm-ready");
    window.addEventListener("hashchange", () => {
      if (hashParams().has("token")) {
        const t = takeToken();
        if (t) this.setToken(t);
      }
      const j = takeJoin();
      if (j !== null) void this.join(j, true);
      else void this.show(docFromHash());
    });
    if (join !== null) await this.join(join, true);
    else await this.show(docFromHash());
  }

  // join joins with an invite (pasted, or from an invite link) and shows
  // the document joined; what went wrong is said in the page.
  private async join(text: string, fromLink: boolean): Promise<void> {
    const input = $<HTMLInputElement>("join-invite");
    const invite = inviteFromText(text);
    if (!invite) {
      if (fromLink && !this.open) await this.show(docFromHash());
      this.joinFailed(
        "That is not an invite: an invite starts with weft:invite/ (or is an editor link with #join=). Ask a member of the document for one.",
        fromLink ? "" : text,
      );
      return;
    }
    let d: DocInfo;
    try {
      d = await this.api.joinInvite(invite);
    } catch (e) {
      // From a link, show what the rest of the address names meanwhile.
      if (fromLink && !this.open) await this.show(docFromHash());
      this.joinFailed(`Could not join with this invite: ${e instanceof Error ? e.message : String(e)}`, invite);
      return;
    }
    input.value = "";
    notice("");
    this.showPanel(false);
    // The joined document replaces the link's address: a reload shows it
    // rather than joining again.
    history.replaceState(null, "", `${location.pathname}${location.search}#doc=${d.id}`);
    await this.show(d.id);
  }

  private joinFailed(msg: string, keep: string): void {
    notice(msg, true);
    const input = $<HTMLInputElement>("join-invite");
    if (keep) input.value = keep;
    this.showPanel(true);
    input.focus();
  }

  private wireHeader(): void {
    const name = $<HTMLInputElement>("user-name");
    const color = $<HTMLInputElement>("user-color");
    name.value = this.name;
    color.value = this.color;
    name.addEventListener("change", () => {
      this.name = prefs.setUserName(name.value);
      name.value = this.name;
      this.open?.sendPresence();
    });
    color.addEventListener("input", () => {
      this.color = prefs.setUserColor(color.value);
      this.open?.sendPresence();
    });

    const themeBtn = $("theme");
    const applyTheme = () => {
      const t = prefs.theme();
      const dark = prefs.resolvedDark(t);
      document.documentElement.dataset.theme = dark ? "dark" : "light";
      themeBtn.textContent = `Theme: ${t}`;
      if (this.open) setDark(this.open.view, dark);
    };
    themeBtn.addEventListener("click", () => {
      const order: prefs.Theme[] = ["system", "light", "dark"];
      prefs.setTheme(order[(order.indexOf(prefs.theme()) + 1) % order.length]);
      applyTheme();
    });
    prefs.onSystemTheme(applyTheme);
    applyTheme();

    const toggle = $("docs-toggle");
    toggle.addEventListener("click", () => this.showPanel($("docs-panel").hidden));

    $<HTMLFormElement>("new-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const input = $<HTMLInputElement>("new-title");
      void this.act(async () => {
        const d = await this.api.create(input.value.trim());
        input.value = "";
        this.go(d.id);
      });
    });
    $<HTMLFormElement>("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $<HTMLInputElement>("join-invite").value;
      const id = text.trim().toLowerCase();
      if (DOC_ID.test(id)) {
        // A document ID: open it if this daemon has it (show says what
        // to do if not).
        $<HTMLInputElement>("join-invite").value = "";
        this.go(id);
        return;
      }
      void this.join(text, false);
    });

    const title = $<HTMLInputElement>("title");
    const rename = () => {
      const o = this.open;
      if (!o || title.value === title.defaultValue) return;
      const id = o.id;
      void this.act(async () => {
        const d = await this.api.rename(id, title.value.trim());
        if (this.open?.id === id) title.value = title.defaultValue = d.title;
      });
    };
    title.addEventListener("change", rename);
    title.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        rename();
        this.open?.view.focus();
      } else if (e.key === "Escape") {
        title.value = title.defaultValue;
        this.open?.view.focus();
      }
    });
    $("copy-id").addEventListener("click", () => {
      const id = this.open?.id;
      if (id)
        navigator.clipboard.writeText(id).then(
          () => notice(`Copied ${id}. Others join a document with an invite: Share makes one.`),
          () => notice(`Document ID: ${id}`, true),
        );
    });
    $("history-toggle").addEventListener("click", () => {
      if (this.history.isOpen) this.history.close();
      else void this.history.open();
    });
    $("share").addEventListener("click", () => {
      const o = this.open;
      if (o && this.role) this.share.open(o.id, this.role, $<HTMLInputElement>("title").value);
    });
    $("upgrade").addEventListener("click", () => {
      const o = this.open;
      if (!o) return;
      const button = $<HTMLButtonElement>("upgrade");
      button.disabled = true;
      void this.act(async () => {
        const d = await this.api.upgrade(o.id);
        this.afterShow = `This is a members-only copy of “${d.title || "Untitled"}”: Share invites others to it. The local-only original stays in Documents.`;
        this.go(d.id);
      }).finally(() => (button.disabled = false));
    });

    window.addEventListener("online", () => this.open?.session.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) this.open?.session.reconnectNow();
    });
    window.addEventListener("beforeunload", (e) => {
      if (this.open && !this.open.keeper.safe()) e.preventDefault();
    });
    // The title may be renamed elsewhere; refresh it now and then.
    window.setInterval(() => void this.refreshTitle(), 10_000);
  }

  private checking = false;

  // checkToken asks the daemon, when the socket keeps failing, whether the
  // token is still good; a daemon restarted makes a new one.
  checkToken(): void {
    if (this.checking) return;
    this.checking = true;
    this.api
      .status()
      .then(
        () => {},
        (e) => {
          if (e instanceof APIError && e.status === 401)
            notice(
              "The daemon restarted with a new access token. Run `weft open --print` and paste its URL into this tab: what you typed is kept.",
              true,
            );
        },
      )
      .finally(() => (this.checking = false));
  }

  private go(id: string): void {
    this.showPanel(false);
    location.hash = `doc=${id}`;
  }

  private async act(f: () => Promise<void>): Promise<void> {
    try {
      await f();
    } catch (e) {
      notice(e instanceof Error ? e.message : String(e));
    }
  }

  private showPanel(on: boolean): void {
    $("docs-panel").hidden = !on;
    $("docs-toggle").setAttribute("aria-expanded", String(on));
    if (on) void this.act(() => this.renderList());
  }

  private async renderList(): Promise<void> {
    const docs = await this.api.list();
    docs.sort((a, b) => (b.last_opened || b.created).localeCompare(a.last_opened || a.created));
    const ul = $("doc-list");
    ul.replaceChildren();
    if (docs.length === 0) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = "No documents yet: create one, or join one with an invite.";
      ul.append(li);
    }
    for (const d of docs) ul.append(this.docItem(d));
  }

  private docItem(d: DocInfo): HTMLElement {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `#doc=${d.id}`;
    if (this.open?.id === d.id) a.setAttribute("aria-current", "page");
    const t = document.createElement("span");
    t.className = "doc-title";
    t.textContent = d.title || "Untitled";
    const m = document.createElement("span");
    m.className = "doc-meta";
    const role = d.role === undefined ? "" : `  ${ROLE_NAMES[d.role] ?? d.role}`;
    m.textContent = (d.chars >= 0 ? `${d.id}  ${d.chars} chars` : d.id) + role;
    a.append(t, m);
    a.addEventListener("click", () => this.showPanel(false));
    li.append(a, this.deleteButton(d));
    return li;
  }

  /** A document's delete button: asks, deletes it from this device, and closes it if open. */
  private deleteButton(d: DocInfo): HTMLElement {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "doc-delete";
    b.textContent = "Delete";
    b.title = "Delete this document from this device";
    b.addEventListener("click", () => {
      const what = `"${d.title || "Untitled"}" (${d.id})`;
      if (!window.confirm(`Delete ${what} from this device? Its text, history and keys here are removed; other members keep their copies.`)) return;
      void this.act(async () => {
        await this.api.deleteDoc(d.id);
        if (this.open?.id === d.id) location.hash = "";
        await this.renderList();
      });
    });
    return b;
  }

  private async refreshTitle(): Promise<void> {
    const o = this.open;
    const title = $<HTMLInputElement>("title");
    if (!o || document.activeElement === title) return;
    try {
      const st = await this.api.docStatus(o.id);
      if (this.open !== o) return;
      this.showRole(st.role);
      if (document.activeElement !== title) {
        title.value = title.defaultValue = st.title;
        document.title = `${st.title || "Untitled"} — weft`;
      }
    } catch {
      // offline: the status line says so
    }
  }

  // showRole shows what this device's role in the open document allows:
  // Share (or Members) for a members-only document, a note with Upgrade
  // for a legacy one, and a reader's read-only editor with the reason.
  private showRole(role: string | undefined): void {
    this.role = role;
    const share = $("share");
    share.hidden = !role || role === "pull";
    share.textContent = role === "admin" ? "Share" : "Members";
    if (share.hidden) this.share.close();
    $("legacy").hidden = role !== "";
    const banner = $("readonly");
    const why = readOnlyReason(role);
    if (banner.textContent !== why) banner.textContent = why;
    banner.hidden = !why;
    this.open?.setReadOnly(readOnlyRole(role));
  }

  async show(id: string | null): Promise<void> {
    if (this.open?.id === id) return;
    this.share.close();
    this.open?.close();
    this.open = undefined;
    this.showRole(undefined);
    const title = $<HTMLInputElement>("title");
    title.value = title.defaultValue = "";
    title.disabled = true;
    $<HTMLButtonElement>("copy-id").disabled = true;
    this.history.close();
    $<HTMLButtonElement>("history-toggle").disabled = true;
    setStatus("st-doc", "");
    if (!id) {
      $("editor").replaceChildren();
      setStatus("st-conn", "");
      setStatus("st-saved", "");
      setStatus("st-peers", "");
      setStatus("st-relay", "");
      this.showPanel(true);
      document.title = "weft";
      return;
    }
    let role: string | undefined;
    try {
      const st = await this.api.docStatus(id);
      title.value = title.defaultValue = st.title;
      document.title = `${st.title || "Untitled"} — weft`;
      role = st.role;
    } catch (e) {
      if (docFromHash() !== id) return;
      if (e instanceof APIError && e.code === "unknown_doc") {
        notice(`This daemon does not have document ${id}: join it with an invite from one of its members (Documents → Join).`, true);
        this.showPanel(true);
        return;
      }
      notice(e instanceof Error ? e.message : String(e));
    }
    if (docFromHash() !== id || this.open) return; // moved on meanwhile
    notice(this.afterShow);
    this.afterShow = "";
    title.disabled = false;
    $<HTMLButtonElement>("copy-id").disabled = false;
    $<HTMLButtonElement>("history-toggle").disabled = false;
    setStatus("st-doc", id);
    this.open = new Open(this, id, tabAgent(this.node), readOnlyRole(role));
    this.showRole(role);
  }
}

// The page's test and diagnostics handle (read-only views of its state).
declare global {
  var weftEditor: unknown;
}

function main(): void {
  const token = takeToken();
  if (!token) {
    // An invite link opened in a tab without the token: keep the invite
    // here until the token comes (pasting `weft open --print`'s address
    // into this tab).
    const join = takeJoin();
    notice(
      join === null
        ? "Open the editor with `weft open` (it gives the page its access token)."
        : "To join with this invite link, run `weft open --print` and paste the address it prints into this tab.",
      true,
    );
    setStatus("st-conn", "no access token", "bad");
    if (join !== null) {
      const later = () => {
        const t = takeToken();
        if (!t) return;
        window.removeEventListener("hashchange", later);
        notice("");
        start(t, join);
      };
      window.addEventListener("hashchange", later);
    }
    return;
  }
  start(token, takeJoin());
}

function start(token: string, join: string | null): void {
  const app = new App(token);
  globalThis.weftEditor = {
    text: () => app.open?.view.state.doc.toString(),
    role: () => app.role,
    replicaText: () => app.open?.rep.text(),
    agent: () => app.open?.rep.agent,
    doc: () => app.open?.id,
    conn: () => app.open?.session.conn,
    loading: () => app.open?.session.loading,
    unsaved: () => app.open?.rep.unsaved(),
    peers: () => app.open?.peerCount,
    remoteCursors: () =>
      [...(app.open?.peers.byAgent.values() ?? [])].map((p) => ({ agent: p.agent, name: p.name, color: p.color })),
    view: () => app.open?.view,
    historyTimings: () => [...app.history.timings], // ms per version drawn by the history slider
    onRemote: (f: ((s: string) => void) | undefined) => {
      if (app.open) app.open.onRemote = f;
    },
  };
  void app.start(join);
}

main();
