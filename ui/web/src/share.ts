// The Share dialog of a members-only document: an admin makes invites
// (role, label, expiry) and copies them, as the invite string or as an
// editor link; everyone sees the members, and an admin removes them. A
// modal <dialog>: focus goes in when it opens and back to the button that
// opened it when it closes; Escape closes it.

import type { API, MemberInfo } from "./api";
import { joinLink, shortDevice } from "./members";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

// While open, the member list is asked for again this often (a member
// joining elsewhere shows up without a reload).
const REFRESH_MS = 4000;

const RANK: Record<string, number> = { admin: 0, write: 1, read: 2, pull: 3 };

const HINT: Record<string, string> = {
  read: "Readers see the document and others' edits; their editor is read-only.",
  write: "Writers read and edit.",
  admin: "Admins also invite and remove members.",
};

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function when(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const s = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  return d.getTime() < Date.now() ? `expired ${s}` : s;
}

function cell(text: string, cls = ""): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

export class ShareDialog {
  private readonly dlg = $<HTMLDialogElement>("share-dialog");
  private doc = "";
  private admin = false;
  private timer: number | undefined;
  private drawn = ""; // the member list last drawn, as JSON

  constructor(
    private readonly api: () => API,
    private readonly opener: HTMLElement,
  ) {
    $("share-close").addEventListener("click", () => this.close());
    // A click on the backdrop lands on the dialog itself (its content
    // fills it).
    this.dlg.addEventListener("click", (e) => {
      if (e.target === this.dlg) this.close();
    });
    this.dlg.addEventListener("close", () => {
      clearInterval(this.timer);
      this.timer = undefined;
      this.doc = "";
      if (!this.opener.hidden) this.opener.focus();
    });
    $("invite-form").addEventListener("submit", (e) => {
      e.preventDefault();
      void this.createInvite();
    });
    const role = $<HTMLSelectElement>("invite-role");
    role.addEventListener("change", () => ($("invite-hint").textContent = HINT[role.value] ?? ""));
    $("copy-invite").addEventListener("click", () => this.copy("invite-text", "invite"));
    $("copy-link").addEventListener("click", () => this.copy("invite-link", "link"));
  }

  get isOpen(): boolean {
    return this.dlg.open;
  }

  // open shows the dialog for document doc, where this device has role.
  open(doc: string, role: string, title: string): void {
    this.doc = doc;
    this.admin = role === "admin";
    const name = title || "Untitled";
    $("share-heading").textContent = this.admin ? `Share “${name}”` : `Members of “${name}”`;
    $("invite-form").hidden = !this.admin;
    $<HTMLSelectElement>("invite-role").value = "write";
    $<HTMLInputElement>("invite-label").value = "";
    $<HTMLSelectElement>("invite-expires").value = "0";
    $("invite-hint").textContent = HINT.write;
    this.showInvite("", "");
    this.error("");
    this.drawn = "";
    $("member-rows").replaceChildren();
    $("members-status").textContent = "Loading the members…";
    if (!this.dlg.open) this.dlg.showModal();
    (this.admin ? $("invite-role") : $("share-close")).focus();
    void this.refresh();
    clearInterval(this.timer);
    this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  close(): void {
    if (this.dlg.open) this.dlg.close();
  }

  private error(msg: string): void {
    const el = $("share-error");
    el.textContent = msg;
    el.hidden = !msg;
  }

  private showInvite(invite: string, note: string): void {
    $<HTMLInputElement>("invite-text").value = invite;
    $<HTMLInputElement>("invite-link").value = invite ? joinLink(location.origin, invite) : "";
    $("invite-note").textContent = note;
    $("copy-status").textContent = "";
    $("invite-out").hidden = !invite;
  }

  private async createInvite(): Promise<void> {
    const doc = this.doc;
    const role = $<HTMLSelectElement>("invite-role").value;
    const label = $<HTMLInputElement>("invite-label").value.trim();
    const expires = Number($<HTMLSelectElement>("invite-expires").value);
    const button = $<HTMLButtonElement>("invite-create");
    button.disabled = true;
    this.error("");
    try {
      const inv = await this.api().invite(doc, { role, label: label || undefined, expires: expires || undefined });
      if (this.doc !== doc) return;
      const until = inv.expires ? `, usable until ${when(inv.expires)}` : "";
      this.showInvite(
        inv.invite,
        `An invite to ${inv.role}${inv.label ? ` for ${inv.label}` : ""}${until}. ` +
          "Send it privately: whoever holds it can join, once.",
      );
      $("copy-link").focus();
      void this.refresh();
    } catch (e) {
      if (this.doc === doc) this.error(`Could not create the invite: ${message(e)}`);
    } finally {
      button.disabled = false;
    }
  }

  // copy puts a field's text on the clipboard; where the browser will not,
  // it selects the text for the user to copy.
  private copy(id: string, what: string): void {
    const input = $<HTMLInputElement>(id);
    const status = $("copy-status");
    const select = () => {
      input.focus();
      input.select();
      status.textContent = `The ${what} is selected: copy it with Ctrl+C (⌘C).`;
    };
    if (!navigator.clipboard?.writeText) return select();
    navigator.clipboard.writeText(input.value).then(() => (status.textContent = `Copied the ${what}.`), select);
  }

  private async refresh(): Promise<void> {
    const doc = this.doc;
    if (!doc) return;
    let ms: MemberInfo[];
    try {
      ms = await this.api().members(doc);
    } catch (e) {
      if (this.doc === doc) $("members-status").textContent = `Could not list the members: ${message(e)}`;
      return;
    }
    if (this.doc !== doc) return;
    const json = JSON.stringify(ms);
    if (json === this.drawn) return; // redrawing would move the focus
    this.drawn = json;
    this.draw(ms);
  }

  private draw(ms: MemberInfo[]): void {
    const byDevice = new Map(ms.map((m) => [m.device, m]));
    const order = (m: MemberInfo) => (m.removed ? 3 : m.invite ? 2 : m.self ? 0 : 1);
    ms = [...ms].sort((a, b) => order(a) - order(b) || (RANK[a.role] ?? 9) - (RANK[b.role] ?? 9) || a.label.localeCompare(b.label));
    const rows = ms.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.device = m.device;
      if (m.removed) tr.className = "removed";
      const who = cell(m.label || (m.self ? "this device" : m.invite ? "invite" : "unnamed device"));
      const notes = [m.self && "you", m.invite && "invite not used yet", m.removed && "removed"].filter(Boolean);
      if (notes.length) {
        const s = document.createElement("span");
        s.className = "member-note";
        s.textContent = ` (${notes.join(", ")})`;
        who.append(s);
      }
      const dev = cell("");
      const code = document.createElement("code");
      code.textContent = shortDevice(m.device);
      code.title = m.device;
      dev.append(code);
      const by = m.invited_by ? byDevice.get(m.invited_by) : undefined;
      const act = cell("");
      if (this.admin && !m.self && !m.removed) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "remove";
        b.textContent = m.invite ? "Revoke" : "Remove";
        b.setAttribute("aria-label", `${b.textContent} ${m.label || shortDevice(m.device)}`);
        b.addEventListener("click", () => void this.remove(m, b));
        act.append(b);
      }
      tr.append(
        who,
        cell(m.role),
        dev,
        cell(!m.invited_by ? "—" : by?.self ? "you" : by?.label || shortDevice(m.invited_by)),
        cell(m.expires ? when(m.expires) : "never"),
        act,
      );
      return tr;
    });
    $("member-rows").replaceChildren(...rows);
    const n = ms.filter((m) => !m.removed && !m.invite).length;
    $("members-status").textContent = `${n} ${n === 1 ? "member" : "members"}`;
  }

  private async remove(m: MemberInfo, button: HTMLButtonElement): Promise<void> {
    const doc = this.doc;
    const who = m.label || shortDevice(m.device);
    const ask = m.invite
      ? `Revoke the invite ${who}? Nobody can join with it afterwards.`
      : `Remove ${who} from this document? Their device cannot read what is written from now on, and nothing it writes afterwards is accepted.`;
    if (!confirm(ask)) return;
    button.disabled = true;
    this.error("");
    try {
      await this.api().removeMember(doc, m.device);
      if (this.doc !== doc) return;
      $("copy-status").textContent = "";
      await this.refresh();
      if (!button.isConnected) $("share-close").focus(); // its row was redrawn
      $("members-status").textContent += ` — ${m.invite ? "revoked" : "removed"} ${who}`;
    } catch (e) {
      if (this.doc !== doc) return;
      this.error(`Could not remove ${who}: ${message(e)}`);
      button.disabled = false;
    }
  }
}
