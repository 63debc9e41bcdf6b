// UTF-16 ↔ code point conversion at the boundary between CodeMirror
// (UTF-16 offsets) and the crdt (code points). The document is cut into
// blocks of at most BLOCK UTF-16 units, never inside a surrogate pair, and
// each block knows how many pairs it holds; a conversion finds its block by
// binary search and scans only that block (none at all when it holds no
// pair). An edit rebuilds only the blocks it touched.

import { ChangeSet, StateEffect, StateField, Text } from "@codemirror/state";

const BLOCK = 2048;

export class SplitError extends Error {
  constructor(pos: number) {
    super(`offset ${pos} splits a surrogate pair`);
  }
}

const isHigh = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number) => c >= 0xdc00 && c <= 0xdfff;

// pairs counts the surrogate pairs (code points above U+FFFF) in s. An
// unpaired surrogate counts as one code point, as the crdt sees it
// (U+FFFD); the page never lets one in.
export function pairs(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length - 1; i++) {
    if (isHigh(s.charCodeAt(i)) && isLow(s.charCodeAt(i + 1))) {
      n++;
      i++;
    }
  }
  return n;
}

// splitsPair reports whether UTF-16 offset pos falls inside a pair of doc.
export function splitsPair(doc: Text, pos: number): boolean {
  if (pos <= 0 || pos >= doc.length) return false;
  const s = doc.sliceString(pos - 1, pos + 1);
  return isHigh(s.charCodeAt(0)) && isLow(s.charCodeAt(1));
}

function chop(s: string, u: number[], a: number[]): void {
  for (let i = 0; i < s.length; ) {
    let end = Math.min(i + BLOCK, s.length);
    if (end < s.length && isHigh(s.charCodeAt(end - 1)) && isLow(s.charCodeAt(end))) end++;
    u.push(end - i);
    a.push(pairs(s.slice(i, end)));
    i = end;
  }
}

export class CpIndex {
  // u[k]: UTF-16 length of block k; a[k]: its pairs; su, sc: where it
  // starts, in UTF-16 units and in code points.
  private constructor(
    private readonly u: number[],
    private readonly a: number[],
    private readonly su: number[],
    private readonly sc: number[],
    readonly length: number,
    readonly cpLength: number,
  ) {}

  static build(doc: Text): CpIndex {
    const u: number[] = [];
    const a: number[] = [];
    chop(doc.toString(), u, a);
    return CpIndex.of(u, a);
  }

  private static of(u: number[], a: number[]): CpIndex {
    const su = new Array<number>(u.length);
    const sc = new Array<number>(u.length);
    let x = 0;
    let y = 0;
    for (let k = 0; k < u.length; k++) {
      su[k] = x;
      sc[k] = y;
      x += u[k];
      y += u[k] - a[k];
    }
    return new CpIndex(u, a, su, sc, x, y);
  }

  // block returns the last block starting at or before pos in starts.
  private static block(starts: number[], pos: number): number {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  // update follows changes that turned the indexed document into doc.
  update(changes: ChangeSet, doc: Text): CpIndex {
    if (changes.empty) return this;
    let lo = Infinity;
    let hi = -1;
    changes.iterChangedRanges((fromA, toA) => {
      lo = Math.min(lo, fromA);
      hi = Math.max(hi, toA);
    });
    const n = this.u.length;
    let i = 0;
    let j = -1;
    let from = 0;
    let oldEnd = 0;
    if (n > 0) {
      i = CpIndex.block(this.su, lo);
      j = Math.max(i, CpIndex.block(this.su, hi));
      from = this.su[i];
      oldEnd = this.su[j] + this.u[j];
    }
    const newEnd = oldEnd + (doc.length - this.length);
    const u = this.u.slice(0, i);
    const a = this.a.slice(0, i);
    chop(doc.sliceString(from, newEnd), u, a);
    for (let k = j + 1; k < n; k++) {
      u.push(this.u[k]);
      a.push(this.a[k]);
    }
    return CpIndex.of(u, a);
  }

  // toCp converts a UTF-16 offset of doc (the indexed document) to code
  // points; it throws SplitError for an offset inside a pair.
  toCp(doc: Text, pos: number): number {
    if (pos < 0 || pos > this.length) throw new RangeError(`offset ${pos} outside 0..${this.length}`);
    if (this.u.length === 0) return 0;
    const k = CpIndex.block(this.su, pos);
    const off = pos - this.su[k];
    if (this.a[k] === 0 || off === 0) return this.sc[k] + off;
    if (splitsPair(doc, pos)) throw new SplitError(pos);
    return this.sc[k] + off - pairs(doc.sliceString(this.su[k], pos));
  }

  // toU16 converts a code point offset to UTF-16 units of doc.
  toU16(doc: Text, cp: number): number {
    if (cp < 0 || cp > this.cpLength) throw new RangeError(`code point ${cp} outside 0..${this.cpLength}`);
    if (this.u.length === 0) return 0;
    const k = CpIndex.block(this.sc, cp);
    let want = cp - this.sc[k];
    if (this.a[k] === 0 || want === 0) return this.su[k] + want;
    const s = doc.sliceString(this.su[k], this.su[k] + this.u[k]);
    let i = 0;
    while (want > 0 && i < s.length) {
      i += isHigh(s.charCodeAt(i)) && i + 1 < s.length && isLow(s.charCodeAt(i + 1)) ? 2 : 1;
      want--;
    }
    return this.su[k] + i;
  }
}

// setIndex hands the field an index already computed for the
// transaction's new document (remote patches compute it on the way).
export const setIndex = StateEffect.define<CpIndex>();

// cpIndex keeps a CpIndex in step with the editor's document.
export const cpIndex = StateField.define<CpIndex>({
  create: (state) => CpIndex.build(state.doc),
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setIndex)) return e.value;
    return tr.docChanged ? value.update(tr.changes, tr.newDoc) : value;
  },
});
