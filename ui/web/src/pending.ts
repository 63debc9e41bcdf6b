// Unsent edits that survive a reload or a closed tab (ui/PROTOCOL.md,
// "Unsent edits"): every own transaction the daemon has not acked is kept
// in IndexedDB, per document and agent, until an ack covers it. The next
// tab of the document adopts what a tab that is gone left: it applies the
// kept transactions to its replica before its first resync, which sends
// the daemon any it lacks under their own agent and seqs (the daemon
// ignores duplicates, so nothing is doubled), and forgets them once acked.
//
// A tab holds a Web Lock named after its agent while it lives; a kept
// record is adopted only by the tab that gets its agent's lock, so a tab
// still open elsewhere keeps its own, and two new tabs never both adopt it.

import type { Replica } from "./wasm";

const DB = "weft";
const STORE = "pending";

// A kept record: one or more txns messages of agent, reaching seq upto.
interface Kept {
  doc: string;
  agent: string;
  upto: number;
  msgs: Uint8Array[];
  time: number;
}

let opening: Promise<IDBDatabase> | undefined;

function db(): Promise<IDBDatabase> {
  opening ??= new Promise<IDBDatabase>((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: ["doc", "agent", "upto"] });
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB: open failed"));
    req.onblocked = () => reject(new Error("IndexedDB: open blocked"));
  });
  return opening;
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error ?? new Error("IndexedDB: transaction failed"));
  });
}

// lock takes the Web Lock name if no one holds it, and keeps it until the
// returned function is called; null if it is held.
function lock(name: string): Promise<(() => void) | null> {
  if (!navigator.locks) return Promise.resolve(() => {});
  return new Promise((resolve) => {
    void navigator.locks.request(name, { ifAvailable: true }, (l) => {
      if (!l) {
        resolve(null);
        return undefined;
      }
      return new Promise<void>((release) => resolve(release));
    });
  });
}

const lockName = (agent: string) => `weft-agent:${agent}`;

// Keeper keeps one open document's unacked edits.
export class Keeper {
  private ok = false; // IndexedDB works here
  private writing = 0; // puts in flight
  private adopted = new Map<string, { upto: number; release: () => void }>();
  private releaseOwn: (() => void) | undefined;
  private claimed: Kept[] = [];

  constructor(
    readonly doc: string,
    readonly rep: Replica,
  ) {}

  // prepare takes this tab's own lock and claims the records tabs that are
  // gone left for the document. Never fails: without IndexedDB the tab
  // works as before (unsent edits live only in the tab).
  async prepare(): Promise<void> {
    try {
      this.releaseOwn = (await lock(lockName(this.rep.agent))) ?? undefined;
      const d = await db();
      const tx = d.transaction(STORE, "readonly");
      const req = tx.objectStore(STORE).getAll(IDBKeyRange.bound([this.doc], [this.doc, []]));
      await done(tx);
      const byAgent = new Map<string, Kept[]>();
      for (const k of req.result as Kept[]) {
        if (k.agent === this.rep.agent) continue;
        byAgent.set(k.agent, [...(byAgent.get(k.agent) ?? []), k]);
      }
      for (const [agent, recs] of byAgent) {
        const release = await lock(lockName(agent));
        if (!release) continue; // its tab is still open, or another tab adopted it
        recs.sort((a, b) => a.upto - b.upto);
        this.claimed.push(...recs);
        this.adopted.set(agent, { upto: recs[recs.length - 1].upto, release });
      }
      this.ok = true;
    } catch (e) {
      console.warn("weft: unsent edits will not survive a reload here:", e);
    }
  }

  // adopt applies the claimed records to the replica (before the first
  // resync: Session calls it at the first done).
  adopt(): void {
    for (const k of this.claimed) {
      for (const m of k.msgs) {
        try {
          const r = this.rep.adopt(m);
          if (r.error) console.warn("weft: part of an unsent edit kept from an earlier tab was refused:", r.error);
        } catch (e) {
          console.warn("weft: an unsent edit kept from an earlier tab was refused:", e);
        }
      }
    }
    this.claimed = [];
  }

  // keep stores the replica's own transactions not kept yet (after local
  // edits).
  keep(): void {
    if (!this.ok) return;
    const { upto, msgs } = this.rep.unstored();
    if (msgs.length === 0) return;
    const rec: Kept = { doc: this.doc, agent: this.rep.agent, upto, msgs, time: Date.now() };
    this.writing++;
    void db()
      .then((d) => {
        const tx = d.transaction(STORE, "readwrite");
        tx.objectStore(STORE).put(rec);
        return done(tx);
      })
      .catch((e) => console.warn("weft: keeping an unsent edit:", e))
      .finally(() => this.writing--);
  }

  // forget drops the records the daemon's acks cover (after an ack), and
  // lets go of an adopted agent once all of it is acked.
  forget(): void {
    if (!this.ok) return;
    const acked = this.rep.acked();
    const ranges: IDBKeyRange[] = [];
    for (const [agent, n] of Object.entries(acked)) {
      if (n > 0) ranges.push(IDBKeyRange.bound([this.doc, agent, 0], [this.doc, agent, n]));
      const a = this.adopted.get(agent);
      if (a && n >= a.upto) {
        this.adopted.delete(agent);
        ranges.push(IDBKeyRange.bound([this.doc, agent, 0], [this.doc, agent, Infinity]));
        a.release();
      }
    }
    if (ranges.length === 0) return;
    void db()
      .then((d) => {
        const tx = d.transaction(STORE, "readwrite");
        for (const r of ranges) tx.objectStore(STORE).delete(r);
        return done(tx);
      })
      .catch((e) => console.warn("weft: forgetting acked edits:", e));
  }

  // safe reports whether closing the tab now loses nothing the daemon
  // lacks: every unacked edit is kept (or there are none).
  safe(): boolean {
    return this.rep.unsaved() === 0 || (this.ok && this.writing === 0);
  }

  close(): void {
    this.releaseOwn?.();
    for (const a of this.adopted.values()) a.release();
    this.adopted.clear();
  }
}
