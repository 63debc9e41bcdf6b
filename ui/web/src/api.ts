// The daemon's JSON API (ui/doc.go), with the page's token.

export interface DocInfo {
  id: string;
  title: string;
  created: string;
  last_opened: string;
  chars: number;
}

export interface NodeStatus {
  peer_id: string;
  peers: number;
  version: string;
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

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
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
  join(id: string): Promise<DocInfo> {
    return this.call("POST", `/api/docs/${encodeURIComponent(id)}/join`);
  }
  rename(id: string, title: string): Promise<DocInfo> {
    return this.call("PATCH", `/api/docs/${encodeURIComponent(id)}`, { title });
  }
  docStatus(id: string): Promise<{ id: string; title: string }> {
    return this.call("GET", `/api/docs/${encodeURIComponent(id)}/status`);
  }
}
