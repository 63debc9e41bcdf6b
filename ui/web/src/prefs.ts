// What the page remembers in localStorage: the user's name and colour, and
// the theme. (The token lives in sessionStorage: see main.ts.)

export type Theme = "system" | "light" | "dark";

const PALETTE = ["#e03131", "#2f9e44", "#1971c2", "#f08c00", "#9c36b5", "#0c8599", "#c2255c", "#5c940d"];

function get(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function set(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage disabled: the preference lasts for this page only
  }
}

// MAX_NAME_BYTES is the presence name limit (wire.MaxName).
const MAX_NAME_BYTES = 64;

// clipName cuts a name to MAX_NAME_BYTES of UTF-8 without splitting a
// character, and drops unpaired surrogates.
export function clipName(name: string): string {
  const enc = new TextEncoder();
  let out = "";
  let bytes = 0;
  for (const ch of name.toWellFormed().trim()) {
    const n = enc.encode(ch).length;
    if (bytes + n > MAX_NAME_BYTES) break;
    out += ch;
    bytes += n;
  }
  return out;
}

export function userName(): string {
  return clipName(get("weft.name") ?? "");
}

export function setUserName(name: string): string {
  const n = clipName(name);
  set("weft.name", n);
  return n;
}

const COLOR = /^#[0-9a-f]{6}$/;

export function userColor(): string {
  const c = get("weft.color")?.toLowerCase();
  if (c && COLOR.test(c)) return c;
  const pick = PALETTE[Math.floor(Math.random() * PALETTE.length)];
  set("weft.color", pick);
  return pick;
}

export function setUserColor(c: string): string {
  const v = c.toLowerCase();
  if (!COLOR.test(v)) return userColor();
  set("weft.color", v);
  return v;
}

export function theme(): Theme {
  const t = get("weft.theme");
  return t === "light" || t === "dark" ? t : "system";
}

export function setTheme(t: Theme): void {
  set("weft.theme", t);
}

const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

export function resolvedDark(t: Theme): boolean {
  return t === "dark" || (t === "system" && systemDark.matches);
}

export function onSystemTheme(f: () => void): void {
  systemDark.addEventListener("change", f);
}
