// Other users' cursors and selections, anchored to crdt items: each is
// drawn in its user's colour with their name, and dropped when not
// refreshed for EXPIRE_MS.

import { type Range, StateEffect } from "@codemirror/state";
import {
  Decoration,
  type DecorationSet,
  EditorView,
  ViewPlugin,
  type ViewUpdate,
  WidgetType,
} from "@codemirror/view";

import { cpIndex } from "./cpindex";
import type { ID, Replica } from "./wasm";

export const EXPIRE_MS = 10_000;

export interface Peer {
  agent: string;
  name: string;
  color: string; // #rrggbb, checked by the module
  anchor: ID;
  head: ID;
  seq: number;
  seen: number; // performance.now() of the last message
}

// The user colours' selection backgrounds live in one constructed style
// sheet (the page's Content-Security-Policy allows no inline styles),
// adopted by the editor's shadow root.
const sheet = new CSSStyleSheet();
const ruled = new Set<string>();

export function adoptColors(root: ShadowRoot): void {
  if (!root.adoptedStyleSheets.includes(sheet)) root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
}

function colorClass(color: string): string {
  const hex = color.slice(1).toLowerCase();
  if (!/^[0-9a-f]{6}$/.test(hex)) return "weft-c-none";
  const cls = `weft-c-${hex}`;
  if (!ruled.has(hex)) {
    ruled.add(hex);
    sheet.insertRule(`.${cls} { background-color: #${hex}38; }`);
  }
  return cls;
}

class CursorWidget extends WidgetType {
  constructor(
    readonly name: string,
    readonly color: string,
  ) {
    super();
  }
  eq(o: CursorWidget): boolean {
    return o.name === this.name && o.color === this.color;
  }
  toDOM(): HTMLElement {
    const caret = document.createElement("span");
    caret.className = "weft-caret";
    caret.style.borderLeftColor = this.color;
    const label = document.createElement("span");
    label.className = "weft-caret-label";
    label.style.backgroundColor = this.color;
    label.textContent = this.name || "anonymous";
    caret.appendChild(label);
    return caret;
  }
  ignoreEvent(): boolean {
    return true;
  }
}

// refresh tells the plugin that the peers changed.
export const refresh = StateEffect.define<null>();

export class Peers {
  readonly byAgent = new Map<string, Peer>();
  constructor(private readonly rep: () => Replica | undefined) {}

  // take records a presence message; false if it was stale.
  take(p: Omit<Peer, "seen">): boolean {
    const old = this.byAgent.get(p.agent);
    if (old && old.seq >= p.seq) return false;
    this.byAgent.set(p.agent, { ...p, seen: performance.now() });
    return true;
  }

  // expire drops peers not heard from for EXPIRE_MS; true if any went.
  expire(now = performance.now()): boolean {
    let gone = false;
    for (const [a, p] of this.byAgent)
      if (now - p.seen > EXPIRE_MS) {
        this.byAgent.delete(a);
        gone = true;
      }
    return gone;
  }

  clear(): void {
    this.byAgent.clear();
  }

  decorations(view: EditorView): DecorationSet {
    const rep = this.rep();
    if (!rep || this.byAgent.size === 0) return Decoration.none;
    const idx = view.state.field(cpIndex);
    const doc = view.state.doc;
    const out: Range<Decoration>[] = [];
    for (const p of this.byAgent.values()) {
      let a: number;
      let h: number;
      try {
        const ac = rep.posOf(p.anchor);
        const hc = rep.posOf(p.head);
        if (ac < 0 || hc < 0 || ac > idx.cpLength || hc > idx.cpLength) continue; // items not here yet
        a = idx.toU16(doc, ac);
        h = idx.toU16(doc, hc);
      } catch {
        continue;
      }
      if (a !== h) {
        const cls = `weft-remote-sel ${colorClass(p.color)}`;
        out.push(Decoration.mark({ class: cls }).range(Math.min(a, h), Math.max(a, h)));
      }
      out.push(
        Decoration.widget({ widget: new CursorWidget(p.name, p.color), side: 1 }).range(h),
      );
    }
    return Decoration.set(out, true);
  }
}

// remoteCursors draws peers' cursors, recomputing them from their anchors
// whenever the document or the peers change.
export function remoteCursors(peers: Peers) {
  return ViewPlugin.fromClass(
    class {
      decorations: DecorationSet;
      constructor(view: EditorView) {
        this.decorations = peers.decorations(view);
      }
      update(u: ViewUpdate) {
        if (u.docChanged || u.transactions.some((tr) => tr.effects.some((e) => e.is(refresh))))
          this.decorations = peers.decorations(u.view);
      }
    },
    { decorations: (v) => v.decorations },
  );
}
