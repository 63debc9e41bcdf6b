// The history panel (issue 13): the document's editing sessions as a
// timeline, a preview of any version with the text inserted since the
// previous session highlighted in its author's colour, a slider to scrub
// through the versions, restore, and a blame view. Everything comes from
// the daemon's history routes (ui/PROTOCOL.md, "The history panel"),
// fetched only while the panel is open: the tab's own replica holds no
// more than it needs to edit.

import type { API } from "./api";

export interface HistorySession {
  agent: string;
  device: string;
  start: string;
  end: string;
  inserted: number;
  deleted: number;
  txns: number;
  version: string;
  future?: boolean;
}

export interface History {
  version: string;
  sessions: HistorySession[]; // newest first
}

export interface InsertedSpan {
  start: number; // code points
  len: number;
  agent: string;
}

export interface TextAt {
  version: string;
  text: string;
  inserted?: InsertedSpan[];
}

export interface BlameLine {
  line: number;
  text: string;
  agent: string;
  device: string;
  time: string;
  version: string;
  future?: boolean;
}

export interface Blame {
  version: string;
  lines: BlameLine[];
}

type Caller = Pick<API, "call">;

const docPath = (doc: string) => `/api/docs/${encodeURIComponent(doc)}`;

export const historyAPI = {
  history: (api: Caller, doc: string) => api.call<History>("GET", `${docPath(doc)}/history`),
  textAt: (api: Caller, doc: string, at: string, since?: string) =>
    api.call<TextAt>(
      "GET",
      `${docPath(doc)}/text?at=${encodeURIComponent(at)}${since ? `&since=${encodeURIComponent(since)}` : ""}`,
    ),
  blame: (api: Caller, doc: string, at: string) => api.call<Blame>("GET", `${docPath(doc)}/blame?at=${encodeURIComponent(at)}`),
  restore: (api: Caller, doc: string, to: string) => api.call<{ version: string }>("POST", `${docPath(doc)}/restore`, { to }),
};

// authorOf is the person behind an agent: its device (a tab's agent is
// device.suffix), which keeps one colour for everything one device wrote.
export function authorOf(agent: string): string {
  const i = agent.indexOf(".");
  return i < 0 ? agent : agent.slice(0, i);
}

// authorHue is a stable hue for an author (FNV-1a of its name).
export function authorHue(author: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < author.length; i++) {
    h ^= author.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % 360;
}

export function authorColor(agent: string, alpha = 0.28): string {
  return `hsl(${authorHue(authorOf(agent))} 75% 50% / ${alpha})`;
}

// A run of the preview: text, and the agent that inserted it since the
// previous version ("" where nothing was inserted).
export interface Run {
  text: string;
  agent: string;
}

// highlightRuns cuts text (UTF-16) into runs at the inserted spans (code
// points, any order, may be empty). Spans outside the text are clipped;
// overlapping ones are taken in order of start.
export function highlightRuns(text: string, spans: readonly InsertedSpan[] = []): Run[] {
  const sorted = [...spans].filter((s) => s.len > 0).sort((a, b) => a.start - b.start);
  const runs: Run[] = [];
  let cp = 0; // code points before u
  let u = 0; // UTF-16 offset
  // advance moves u forward to code point target.
  const advance = (target: number) => {
    while (cp < target && u < text.length) {
      const c = text.charCodeAt(u);
      u += c >= 0xd800 && c <= 0xdbff && u + 1 < text.length ? 2 : 1;
      cp++;
    }
  };
  let last = 0;
  for (const s of sorted) {
    const start = Math.max(s.start, cp);
    advance(start);
    const from = u;
    if (from > last) runs.push({ text: text.slice(last, from), agent: "" });
    advance(s.start + s.len);
    if (u > from) runs.push({ text: text.slice(from, u), agent: s.agent });
    last = Math.max(last, u);
  }
  if (last < text.length) runs.push({ text: text.slice(last), agent: "" });
  return runs;
}

// CHUNK_LINES is how many lines one block of the preview holds: blocks
// off screen skip layout (content-visibility), so a large document's
// version renders in about the time of one screenful.
const CHUNK_LINES = 40;

// renderRuns fills el with the runs, inserted text in <mark>s coloured by
// author, in blocks of CHUNK_LINES lines.
export function renderRuns(el: HTMLElement, runs: readonly Run[]): void {
  const frag = document.createDocumentFragment();
  let block = document.createElement("div");
  block.className = "hist-block";
  let lines = 0;
  const add = (text: string, agent: string) => {
    if (!text) return;
    if (agent) {
      const m = document.createElement("mark");
      m.textContent = text;
      m.style.backgroundColor = authorColor(agent);
      m.title = `inserted by ${agent}`;
      block.append(m);
    } else block.append(text);
  };
  for (const r of runs) {
    let rest = r.text;
    for (;;) {
      // Cut the run where the block fills up.
      let i = -1;
      let from = 0;
      while (lines < CHUNK_LINES) {
        i = rest.indexOf("\n", from);
        if (i < 0) break;
        lines++;
        from = i + 1;
      }
      if (lines < CHUNK_LINES) {
        add(rest, r.agent);
        break;
      }
      add(rest.slice(0, from), r.agent);
      frag.append(block);
      block = document.createElement("div");
      block.className = "hist-block";
      lines = 0;
      rest = rest.slice(from);
      if (!rest) break;
    }
  }
  frag.append(block);
  el.replaceChildren(frag);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function showTime(iso: string, future?: boolean): string {
  const t = Date.parse(iso);
  if (!iso || Number.isNaN(t)) return "unknown time";
  return timeFmt.format(t) + (future ? " (in the future: the author's clock is wrong)" : "");
}

// HistoryPanel drives the panel's elements (index.html, #history).
export class HistoryPanel {
  private sessions: HistorySession[] = []; // oldest first
  private selected = -1;
  private cache = new Map<string, Promise<TextAt>>();
  private want = -1; // the version the slider asks for
  private busy = false;
  private blameOn = false;
  readonly timings: number[] = []; // ms from a slider move to the version drawn (tests, benchmarks)

  constructor(
    private readonly api: Caller,
    private readonly doc: () => string | undefined,
    private readonly me: () => string, // this device's ID
    private readonly say: (msg: string) => void,
    private readonly el = (id: string) => document.getElementById(id) as HTMLElement,
  ) {
    this.el("history-close").addEventListener("click", () => this.close());
    const slider = this.el("hist-slider") as HTMLInputElement;
    slider.addEventListener("input", () => this.scrub(Number(slider.value), performance.now()));
    this.el("hist-restore").addEventListener("click", () => void this.restore());
    this.el("hist-blame").addEventListener("click", () => void this.toggleBlame());
    this.el("hist-sessions").addEventListener("click", (e) => {
      const li = (e.target as HTMLElement).closest("li[data-i]");
      if (li) this.select(Number((li as HTMLElement).dataset.i), performance.now());
    });
  }

  get isOpen(): boolean {
    return !this.el("history").hidden;
  }

  async open(): Promise<void> {
    this.el("history").hidden = false;
    this.el("history-toggle").setAttribute("aria-expanded", "true");
    await this.refresh();
  }

  close(): void {
    this.el("history").hidden = true;
    this.el("history-toggle").setAttribute("aria-expanded", "false");
    this.cache.clear();
    this.sessions = [];
    this.selected = -1;
  }

  // refresh reloads the timeline and shows the newest version.
  async refresh(): Promise<void> {
    const doc = this.doc();
    if (!doc) return;
    this.status("loading the history…");
    let h: History;
    try {
      h = await historyAPI.history(this.api, doc);
    } catch (e) {
      this.status(`The history could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    if (this.doc() !== doc) return;
    this.cache.clear();
    this.sessions = [...h.sessions].reverse();
    this.renderSessions();
    const slider = this.el("hist-slider") as HTMLInputElement;
    slider.min = "0";
    slider.max = String(Math.max(0, this.sessions.length - 1));
    slider.disabled = this.sessions.length < 2;
    if (this.sessions.length === 0) {
      this.status("No edits yet.");
      this.el("hist-preview").replaceChildren();
      return;
    }
    this.status("");
    this.select(this.sessions.length - 1, performance.now());
  }

  private status(msg: string): void {
    const s = this.el("hist-status");
    s.textContent = msg;
    s.hidden = !msg;
  }

  private who(s: { agent: string; device: string }): string {
    const dev = s.device || authorOf(s.agent);
    return dev === this.me() ? "you" : dev.slice(0, 8);
  }

  private renderSessions(): void {
    const ul = this.el("hist-sessions");
    const items: HTMLElement[] = [];
    for (let i = this.sessions.length - 1; i >= 0; i--) {
      const s = this.sessions[i];
      const li = document.createElement("li");
      li.dataset.i = String(i);
      li.tabIndex = 0;
      const sw = document.createElement("span");
      sw.className = "hist-swatch";
      sw.style.backgroundColor = authorColor(s.agent, 0.9);
      const who = document.createElement("span");
      who.className = "hist-who";
      who.textContent = this.who(s);
      who.title = s.agent;
      const when = document.createElement("span");
      when.className = "hist-when";
      when.textContent = showTime(s.end, s.future);
      const what = document.createElement("span");
      what.className = "hist-what muted";
      what.textContent = `+${s.inserted} −${s.deleted}`;
      li.append(sw, who, when, what);
      items.push(li);
    }
    ul.replaceChildren(...items);
  }

  // select shows session i's version (slider and list follow).
  private select(i: number, t0: number): void {
    (this.el("hist-slider") as HTMLInputElement).value = String(i);
    this.scrub(i, t0);
  }

  // scrub shows version i; while one is being fetched, the latest asked
  // for is shown next (a fast slider skips the ones in between).
  private scrub(i: number, t0: number): void {
    if (i < 0 || i >= this.sessions.length) return;
    this.want = i;
    this.wantT0 = t0;
    if (!this.busy) void this.drain();
  }
  private wantT0 = 0;

  private async drain(): Promise<void> {
    this.busy = true;
    try {
      while (this.want >= 0 && this.want !== this.selected) {
        const i = this.want;
        const t0 = this.wantT0;
        await this.show(i);
        await new Promise<void>((r) => requestAnimationFrame(() => r()));
        if (this.selected === i) this.timings.push(performance.now() - t0);
      }
    } finally {
      this.busy = false;
    }
  }

  private fetchText(i: number): Promise<TextAt> {
    const doc = this.doc() ?? "";
    const s = this.sessions[i];
    // "0" is the empty document (crdt.Frontier's printed form): the
    // oldest session's version highlights everything it inserted.
    const since = i > 0 ? this.sessions[i - 1].version : "0";
    const key = `${s.version} ${since ?? ""}`;
    let p = this.cache.get(key);
    if (!p) {
      p = historyAPI.textAt(this.api, doc, s.version, since);
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }

  private async show(i: number): Promise<void> {
    const s = this.sessions[i];
    let t: TextAt;
    try {
      t = await this.fetchText(i);
    } catch (e) {
      this.status(`This version could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
      this.selected = i;
      return;
    }
    this.selected = i;
    const latest = i === this.sessions.length - 1;
    this.el("hist-at").textContent = `${showTime(s.end, s.future)} — ${this.who(s)}${latest ? " (latest)" : ""}`;
    (this.el("hist-restore") as HTMLButtonElement).disabled = latest;
    for (const li of this.el("hist-sessions").children) li.toggleAttribute("aria-current", (li as HTMLElement).dataset.i === String(i));
    if (this.blameOn) await this.showBlame();
    else renderRuns(this.el("hist-preview"), highlightRuns(t.text, t.inserted));
    // Prefetch the neighbours, for the slider.
    for (const j of [i - 1, i + 1]) if (j >= 0 && j < this.sessions.length) void this.fetchText(j).catch(() => {});
  }

  private async toggleBlame(): Promise<void> {
    this.blameOn = !this.blameOn;
    this.el("hist-blame").setAttribute("aria-pressed", String(this.blameOn));
    if (this.selected < 0) return;
    const i = this.selected;
    this.selected = -1;
    await this.show(i);
  }

  private async showBlame(): Promise<void> {
    const doc = this.doc();
    const s = this.sessions[this.selected];
    if (!doc || !s) return;
    let b: Blame;
    try {
      b = await historyAPI.blame(this.api, doc, s.version);
    } catch (e) {
      this.status(`Blame could not be loaded: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    const table = document.createElement("table");
    table.className = "hist-blame";
    const body = document.createElement("tbody");
    let prev = "";
    for (const l of b.lines) {
      const tr = document.createElement("tr");
      const who = document.createElement("td");
      who.className = "hist-blame-who";
      who.style.borderLeftColor = authorColor(l.agent, 0.9);
      const key = `${l.agent} ${l.version}`;
      if (key !== prev) who.textContent = `${this.who(l)} · ${showTime(l.time, l.future)}`;
      who.title = `${l.agent}, version ${l.version}`;
      prev = key;
      const text = document.createElement("td");
      text.className = "hist-blame-text";
      text.textContent = l.text;
      tr.append(who, text);
      body.append(tr);
    }
    table.append(body);
    this.el("hist-preview").replaceChildren(table);
  }

  private async restore(): Promise<void> {
    const doc = this.doc();
    const s = this.sessions[this.selected];
    if (!doc || !s) return;
    if (!confirm(`Restore the document to how it was at ${showTime(s.end, s.future)}? This makes new edits by you, which sync like any edit and can be undone the same way.`))
      return;
    const button = this.el("hist-restore") as HTMLButtonElement;
    button.disabled = true;
    try {
      await historyAPI.restore(this.api, doc, s.version);
      this.say(`Restored the version of ${showTime(s.end, s.future)}.`);
      await this.refresh();
    } catch (e) {
      this.say(`Restore failed: ${e instanceof Error ? e.message : String(e)}`);
      button.disabled = false;
    }
  }
}
