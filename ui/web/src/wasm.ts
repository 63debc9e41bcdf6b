// The tab's replica: weft's crdt compiled to WebAssembly (ui/web/wasm),
// loaded once per page. Its functions return an Error instead of throwing;
// Replica turns those into exceptions and gives them types.

export type ID = [agent: string, seq: number];

// A patch as the module hands it over: (pos, del, insertLength) per
// change, pos and del in code points and insertLength in UTF-16 units,
// and the inserts joined in text.
export interface FlatPatch {
  nums: Float64Array;
  text: string;
}

export type Event =
  | { kind: "hello" | "done" | "ignored" }
  | { kind: "txns"; patch?: FlatPatch; error?: string }
  | { kind: "fail"; reason: string }
  | { kind: "ack"; saved: boolean }
  | { kind: "status"; saved: boolean; peers: number; hasRelay: boolean; relay: boolean }
  | {
      kind: "presence";
      agent: string;
      name: string;
      color: string;
      anchor: ID;
      head: ID;
      seq: number;
    };

interface Raw {
  newDoc(agent: string, doc?: string): number | Error;
  free(h: number): void;
  text(h: number): string | Error;
  len(h: number): number | Error;
  editLocal(h: number, pos: number, del: number, text: string): undefined | Error;
  flush(h: number): Uint8Array[] | Error;
  resync(h: number): Uint8Array[] | Error;
  receive(h: number, msg: Uint8Array, wantPatch: boolean): Event | Error;
  hello(h: number, doc?: string): Uint8Array | Error;
  version(h: number): Record<string, number> | Error;
  idAt(h: number, pos: number): ID | Error;
  posOf(h: number, id: ID): number | Error;
  presence(h: number, name: string, color: string, anchor: number, head: number): Uint8Array | Error;
  saved(h: number): boolean | Error;
  unsaved(h: number): number | Error;
  unstored(h: number): { upto: number; msgs: Uint8Array[] } | Error;
  adopt(h: number, msg: Uint8Array): { agent: string; patch: FlatPatch; error?: string } | Error;
  acked(h: number): Record<string, number> | Error;
  materialize(h: number): undefined | Error;
}

interface GoRuntime {
  importObject: WebAssembly.Imports;
  run(instance: WebAssembly.Instance): Promise<void>;
}

declare global {
  // Set by wasm_exec.js (Go's loader) and by the module itself.
  var Go: { new (): GoRuntime };
  var weft: Raw | undefined;
  var weftReady: (() => void) | undefined;
}

function ok<T>(v: T | Error): T {
  if (v instanceof Error) throw v;
  return v;
}

let loading: Promise<void> | undefined;

// loadWasm fetches and starts the module once; later calls share it.
export function loadWasm(url = "weft.wasm"): Promise<void> {
  loading ??= startWasm(async (imports) => {
    const resp = await fetch(url, { credentials: "same-origin" });
    if (!resp.ok) throw new Error(`loading ${url}: HTTP ${resp.status}`);
    if (resp.headers.get("Content-Type")?.startsWith("application/wasm"))
      return (await WebAssembly.instantiateStreaming(resp, imports)).instance;
    return (await WebAssembly.instantiate(await resp.arrayBuffer(), imports)).instance;
  });
  return loading;
}

// startWasm runs the module that instantiate makes (with Go's imports)
// and waits until it has set up the weft global.
export async function startWasm(instantiate: (imports: WebAssembly.Imports) => Promise<WebAssembly.Instance>): Promise<void> {
  if (typeof globalThis.Go !== "function") throw new Error("wasm_exec.js did not load");
  const go = new globalThis.Go();
  const ready = new Promise<void>((resolve) => {
    globalThis.weftReady = resolve;
  });
  void go.run(await instantiate(go.importObject));
  await ready;
  if (!globalThis.weft) throw new Error("the weft module did not start");
}

function raw(): Raw {
  const w = globalThis.weft;
  if (!w) throw new Error("the weft module is not loaded");
  return w;
}

// Replica is one document's replica in this tab, with its own agent.
export class Replica {
  readonly h: number;
  constructor(
    readonly agent: string,
    readonly doc: string,
  ) {
    this.h = ok(raw().newDoc(agent, doc));
  }
  free(): void {
    raw().free(this.h);
  }
  text(): string {
    return ok(raw().text(this.h));
  }
  len(): number {
    return ok(raw().len(this.h));
  }
  // editLocal applies an edit in code points; flush hands it out.
  editLocal(pos: number, del: number, text: string): void {
    ok(raw().editLocal(this.h, pos, del, text));
  }
  flush(): Uint8Array[] {
    return ok(raw().flush(this.h));
  }
  resync(): Uint8Array[] {
    return ok(raw().resync(this.h));
  }
  receive(msg: Uint8Array, wantPatch: boolean): Event {
    return ok(raw().receive(this.h, msg, wantPatch));
  }
  hello(): Uint8Array {
    return ok(raw().hello(this.h, this.doc));
  }
  // materialize reads the history of a document opened from a snapshot
  // (the open reads only its text and version); a no-op otherwise.
  materialize(): void {
    ok(raw().materialize(this.h));
  }
  version(): Record<string, number> {
    return ok(raw().version(this.h));
  }
  idAt(pos: number): ID {
    return ok(raw().idAt(this.h, pos));
  }
  posOf(id: ID): number {
    return ok(raw().posOf(this.h, id));
  }
  presence(name: string, color: string, anchor: number, head: number): Uint8Array {
    return ok(raw().presence(this.h, name, color, anchor, head));
  }
  saved(): boolean {
    return ok(raw().saved(this.h));
  }
  unsaved(): number {
    return ok(raw().unsaved(this.h));
  }
  // Unsent edits kept across reloads (pending.ts).
  unstored(): { upto: number; msgs: Uint8Array[] } {
    return ok(raw().unstored(this.h));
  }
  adopt(msg: Uint8Array): { agent: string; patch: FlatPatch; error?: string } {
    return ok(raw().adopt(this.h, msg));
  }
  acked(): Record<string, number> {
    return ok(raw().acked(this.h));
  }
}
