// The tab's socket to its daemon (ui/PROTOCOL.md): hello, catch-up, live
// transactions both ways, acks, status and presence; on a drop it keeps
// the replica, shows offline, and reconnects with backoff, resyncing with
// a fresh hello (what the daemon lacks is sent again; duplicates are
// harmless).

import type { Event, Replica } from "./wasm";

export type Conn = "connecting" | "syncing" | "live" | "offline";

export interface Handlers {
  // onEvent gets every message from the daemon, decoded; loading is true
  // until the first catch-up is done (its patches are not built).
  onEvent(ev: Event, loading: boolean): void;
  onConn(c: Conn, detail?: string): void;
  // onLive is called when a (re)connection has caught up.
  onLive(first: boolean): void;
  // beforeResync is called at the first done, before the resync: the
  // moment to adopt edits kept from an earlier tab (pending.ts).
  beforeResync?(): void;
}

const MIN_BACKOFF = 250;
const MAX_BACKOFF = 10_000;

export class Session {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: number | undefined;
  private flushQueued = false;
  private closed = false;
  conn: Conn = "connecting";
  loading = true; // until the first done

  constructor(
    readonly rep: Replica,
    private readonly token: () => string,
    private readonly h: Handlers,
  ) {}

  start(): void {
    this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ws?.close(1000, "closing");
    this.ws = undefined;
  }

  private setConn(c: Conn, detail?: string): void {
    this.conn = c;
    this.h.onConn(c, detail);
  }

  private connect(): void {
    if (this.closed) return;
    this.setConn("connecting");
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws: WebSocket;
    // "weft.v4" is the socket protocol's version (ui/web.go, wsProtocol):
    // a daemon of another version refuses this page at the upgrade.
    try {
      ws = new WebSocket(`${proto}//${location.host}/ws/${this.rep.doc}`, ["weft.v4", `bearer.${this.token()}`]);
    } catch (e) {
      this.retry(String(e));
      return;
    }
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.setConn("syncing");
      ws.send(this.rep.hello());
    };
    ws.onmessage = (e: MessageEvent) => {
      if (this.ws !== ws) return;
      if (!(e.data instanceof ArrayBuffer)) {
        console.warn("weft: ignoring a text frame from the daemon");
        return;
      }
      this.onMessage(new Uint8Array(e.data));
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.retry(e.reason || (e.code === 1000 ? "" : `closed (${e.code})`));
    };
  }

  private retry(detail: string): void {
    if (this.closed) return;
    this.setConn("offline", detail);
    const base = Math.min(MAX_BACKOFF, MIN_BACKOFF * 2 ** this.attempt);
    this.attempt++;
    const delay = base / 2 + Math.random() * (base / 2);
    clearTimeout(this.timer);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }

  // reconnectNow skips the backoff (the page became visible, the network
  // came back).
  reconnectNow(): void {
    if (this.conn === "offline" && !this.closed) {
      clearTimeout(this.timer);
      this.attempt = 0;
      this.connect();
    }
  }

  private onMessage(b: Uint8Array): void {
    let ev: Event;
    try {
      ev = this.rep.receive(b, !this.loading);
    } catch (e) {
      console.warn("weft: refused a message from the daemon:", e);
      return;
    }
    const loading = this.loading;
    if (ev.kind === "done") {
      if (this.loading) this.h.beforeResync?.();
      this.loading = false;
      this.attempt = 0;
      // Everything the daemon lacked at its hello, then whatever was
      // typed meanwhile.
      this.sendAll(this.rep.resync());
      this.setConn("live");
      this.h.onEvent(ev, loading);
      this.h.onLive(loading);
      return;
    }
    this.h.onEvent(ev, loading);
  }

  private sendAll(msgs: Uint8Array[]): void {
    for (const m of msgs) this.ws?.send(m);
  }

  // edited is called after every local edit, before the view shows it:
  // the first edit of a task goes out at once, later ones of the same task
  // together when it ends (a burst of programmatic edits is one message).
  edited(): void {
    if (this.conn !== "live") return;
    if (this.flushQueued) return;
    this.sendAll(this.rep.flush());
    this.flushQueued = true;
    queueMicrotask(() => {
      this.flushQueued = false;
      if (this.conn === "live") this.sendAll(this.rep.flush());
    });
  }

  send(b: Uint8Array): boolean {
    if (this.conn !== "live" || !this.ws) return false;
    this.ws.send(b);
    return true;
  }
}
