// The daemon's JSON API (ui/doc.go), with the page's token.

export interface DocInfo {
  id: string;
  title: string;
  created: string;
  last_opened: string;
  chars: number;
  // This device's role (admin, write, read, pull), "" for a legacy
  // document; absent from a daemon older than members-only documents.
  role?: string;
}

export interface DocStatus {
  id: string;
  title: string;
  role?: string;
  members?: number;
}

export interface NodeStatus {
  peer_id: string;
  // The device ID (absent from older daemons): a tab's agent is
  // device.suffix.
  device?: string;
  peers: number;
  version: string;
}

export interface InviteRequest {
  role: string;
  label?: string;
  expires?: number; // seconds from now; 0: never
}

export interface InviteInfo {
  invite: string; // "weft:invite/…"
  doc: string;
  role: string;
  label?: string;
  expires?: string;
}

export interface MemberInfo {
  device: string;
  label: string;
  role: string;
  invited_by: string; // "" for the document's key
  invite: boolean; // an invite key not redeemed yet
  expires?: string;
  self: boolean;
  removed: boolean;
}

export class APIError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class API {
  constructor(private readonly token: string) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp: Response;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch {
      throw new APIError(0, "offline", "the daemon is not reachable");
    }
    const text = await resp.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!resp.ok) {
      const e = (data ?? {}) as { error?: string; code?: string };
      throw new APIError(resp.status, e.code ?? "http", e.error ?? `HTTP ${resp.status}`);
    }
    return data as T;
  }

  status(): Promise<NodeStatus> {
    return this.call("GET", "/api/status");
  }
  list(): Promise<DocInfo[]> {
    return this.call("GET", "/api/docs");
  }
  create(title: string): Promise<DocInfo> {
    return this.call("POST", "/api/docs", { title });
  }
  joinInvite(invite: string): Promise<DocInfo> {
    return this.call("POST", "/api/join", { invite });
  }
  invite(id: string, req: InviteRequest): Promise<InviteInfo> {
    return this.call("POST", `/api/docs/${encodeURIComponent(id)}/invites`, req);
  }
  members(id: string): Promise<MemberInfo[]> {
    return this.call("GET", `/api/docs/${encodeURIComponent(id)}/members`);
  }
  removeMember(id: string, device: string): Promise<void> {
    return this.call("DELETE", `/api/docs/${encodeURIComponent(id)}/members/${encodeURIComponent(device)}`);
  }
  upgrade(id: string): Promise<DocInfo> {
    return this.call("POST", `/api/docs/${encodeURIComponent(id)}/upgrade`);
  }
  rename(id: string, title: string): Promise<DocInfo> {
    return this.call("PATCH", `/api/docs/${encodeURIComponent(id)}`, { title });
  }
  /** Deletes a document from this device (DELETE /api/docs/{id}; the ID again confirms it). */
  deleteDoc(id: string): Promise<{ id: string; asked: string; relays: { peer: string; result: string }[] }> {
    const e = encodeURIComponent(id);
    return this.call("DELETE", `/api/docs/${e}?confirm=${e}`);
  }
  docStatus(id: string): Promise<DocStatus> {
    return this.call("GET", `/api/docs/${encodeURIComponent(id)}/status`);
  }
}
