// Members-only documents, the parts free of the DOM (tested in Node): the
// tab's agent, what a role allows the editor, reading an invite out of
// whatever was pasted, the editor link that carries one, and the filter
// that keeps a reader's editor from making changes.

import { EditorState, Transaction } from "@codemirror/state";

export const INVITE_PREFIX = "weft:invite/";

// The longest suffix a tab adds to its device's ID (api.NodeStatus).
export const MAX_SUFFIX = 20;

// randomSuffix is 10 random hex digits: one tab's part of its agent.
export function randomSuffix(): string {
  const b = new Uint8Array(5);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// tabAgent is the agent a tab writes under: its daemon's device ID, a dot
// and a random suffix, so the daemon signs the tab's transactions as its
// own device's. A daemon older than members-only documents has no device:
// then its peer ID (its last characters, if long), a slash and the
// suffix, at most 64 bytes, as before.
export function tabAgent(st: { peer_id: string; device?: string }, suffix = randomSuffix()): string {
  if (!/^[A-Za-z0-9_-]{1,20}$/.test(suffix)) throw new Error(`bad agent suffix ${JSON.stringify(suffix)}`);
  if (st.device) return `${st.device}.${suffix}`;
  const keep = 64 - suffix.length - 1;
  return `${st.peer_id.replace(/[^\x21-\x7e]/g, "").slice(-keep) || "tab"}/${suffix}`;
}

// readOnlyRole tells whether a role lets this device read but not write.
export function readOnlyRole(role: string | undefined): boolean {
  return role === "read" || role === "pull";
}

// readOnlyReason is what the editor says to a member who cannot write.
export function readOnlyReason(role: string | undefined): string {
  switch (role) {
    case "read":
      return "Read only: you were invited as a reader";
    case "pull":
      return "Read only: this device holds the document as a relay (pull role)";
    default:
      return "";
  }
}

// inviteFromText finds the invite in what a person pasted: the invite
// itself, or an editor link carrying it in #join= (whitespace a mail
// program wrapped into it is dropped). null when there is none.
export function inviteFromText(text: string): string | null {
  let s = text.trim();
  const m = /[#&]join=([^&#\s]*)/.exec(s);
  if (m) {
    try {
      s = decodeURIComponent(m[1]);
    } catch {
      return null;
    }
  }
  s = s.replace(/\s+/g, "");
  return s.startsWith(INVITE_PREFIX) && s.length > INVITE_PREFIX.length ? s : null;
}

// joinLink is the editor link that joins with invite when opened on a
// daemon's editor (at origin).
export function joinLink(origin: string, invite: string): string {
  return `${origin}/#join=${encodeURIComponent(invite)}`;
}

// refuseLocal drops every change not from the daemon: a reader's editor
// sends no transactions even if something dispatches one (the read-only
// facets stop typing, pasting and commands; this stops the rest).
export const refuseLocal = EditorState.transactionFilter.of((tr) =>
  tr.docChanged && !tr.annotation(Transaction.remote) ? [] : tr,
);

// shortDevice abbreviates a device ID for display.
export function shortDevice(d: string): string {
  return d.length > 10 ? `${d.slice(0, 8)}…` : d;
}
