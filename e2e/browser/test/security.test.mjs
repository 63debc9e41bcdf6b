// The daemon's HTTP surface refuses what the editor must never accept:
// a foreign Host (DNS rebinding), a foreign Origin (cross-site requests and
// WebSocket hijacking) and a missing or wrong token — on the JSON API, the
// page and the document socket. Each refusal is checked beside the same
// request done right, so a test cannot pass by everything failing. Last, a
// page on another origin in Chromium, knowing the token, still cannot open
// the socket or read the API.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";

import { launch, suite, waitFor } from "../lib/harness.mjs";

let doc;

// request sends one raw HTTP request (fetch cannot set Host).
function request(port, { method = "GET", path = "/", headers = {} }) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, setHost: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

// upgrade attempts a WebSocket handshake; 101 means the socket opened.
function upgrade(port, { path, host, origin, protocols }) {
  return new Promise((resolve, reject) => {
    const headers = {
      Host: host,
      Connection: "Upgrade",
      Upgrade: "websocket",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": randomBytes(16).toString("base64"),
    };
    if (origin) headers.Origin = origin;
    if (protocols) headers["Sec-WebSocket-Protocol"] = protocols.join(", ");
    const req = http.request({ host: "127.0.0.1", port, path, headers, setHost: false });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode, protocol: res.headers["sec-websocket-protocol"] });
    });
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.on("error", reject);
    req.end();
  });
}

// setup makes the document the socket tests open.
async function setup({ d }) {
  doc = (await d.call("POST", "/api/docs", { title: "guarded" })).id;
}

const env = suite("the daemon refuses foreign hosts, foreign origins and missing tokens", { browser: false, setup }, (check) => {
  check("JSON API over HTTP", async () => {
    const port = env.d.port;
    const own = `127.0.0.1:${port}`;
    const auth = { Authorization: `Bearer ${env.d.token}` };
    const cases = [
      ["right", { Host: own, ...auth }, 200],
      ["localhost by name", { Host: `localhost:${port}`, ...auth }, 200],
      ["no token", { Host: own }, 401],
      ["wrong token", { Host: own, Authorization: `Bearer ${"0".repeat(64)}` }, 401],
      ["token in another scheme", { Host: own, Authorization: `Basic ${env.d.token}` }, 401],
      ["foreign Host (DNS rebinding)", { Host: `attacker.example:${port}`, ...auth }, 403],
      ["foreign Host without port", { Host: "attacker.example", ...auth }, 403],
      ["foreign Origin", { Host: own, Origin: "http://attacker.example", ...auth }, 403],
    ];
    for (const [name, headers, want] of cases) {
      const r = await request(port, { path: "/api/docs", headers });
      assert.equal(r.status, want, `${name}: GET /api/docs answered ${r.status} ${r.body}`);
      if (want !== 200) assert.match(r.body, /"code"/, `${name}: the refusal is not a JSON error`);
    }
  });

  check("the page itself", async () => {
    const port = env.d.port;
    const ok = await request(port, { path: "/", headers: { Host: `127.0.0.1:${port}` } });
    assert.equal(ok.status, 200, "the page is not served");
    const csp = ok.headers["content-security-policy"] ?? "";
    assert.match(csp, /script-src 'self'/, `no script-src in the page's CSP: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline/, "the page's CSP allows inline code");
    assert.match(ok.body, /<script src="app\.js"/);
    assert.doesNotMatch(ok.body, /<script>|style=/, "the page has an inline script or style");
    const rebound = await request(port, { path: "/", headers: { Host: `attacker.example:${port}` } });
    assert.equal(rebound.status, 403, "the page is served to a foreign Host");
    const asset = await request(port, { path: "/app.js", headers: { Host: `attacker.example:${port}` } });
    assert.equal(asset.status, 403, "the script is served to a foreign Host");
  });

  check("document socket", async () => {
    const port = env.d.port;
    const own = `127.0.0.1:${port}`;
    const path = `/ws/${doc}`;
    const good = { path, host: own, origin: `http://${own}`, protocols: ["weft.v4", `bearer.${env.d.token}`] };
    const opened = await upgrade(port, good);
    assert.equal(opened.status, 101, "the socket does not open when everything is right");
    assert.equal(opened.protocol, "weft.v4");
    const cases = [
      ["no token", { ...good, protocols: ["weft.v4"] }],
      ["wrong token", { ...good, protocols: ["weft.v4", `bearer.${"0".repeat(64)}`] }],
      ["no Origin", { ...good, origin: undefined }],
      ["foreign Origin", { ...good, origin: "http://attacker.example" }],
      ["Origin of another local port", { ...good, origin: "http://127.0.0.1:1" }],
      ["https Origin", { ...good, origin: `https://${own}` }],
      ["foreign Host (DNS rebinding)", { ...good, host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` }],
    ];
    for (const [name, c] of cases) {
      const r = await upgrade(port, c);
      assert.notEqual(r.status, 101, `${name}: the socket opened`);
      assert.ok(r.status === 401 || r.status === 403, `${name}: answered ${r.status}, want 401 or 403`);
    }
  });

  check("a page on another origin cannot use the token it stole", async (t) => {
    const ctx = await launch(env.root);
    if (!ctx) return t.skip("Chromium not available");
    // A hostile page on another local port that somehow knows the token.
    const evil = http.createServer((_, res) => {
      res.writeHead(200, { "Content-Type": "text/html" });
      res.end("<!doctype html><title>elsewhere</title>");
    });
    await new Promise((r) => evil.listen(0, "127.0.0.1", r));
    try {
      const page = await ctx.newPage();
      await page.goto(`http://127.0.0.1:${evil.address().port}/`);
      const got = await page.evaluate(
        async ([api, token, doc]) => {
          const ws = await new Promise((resolve) => {
            const s = new WebSocket(`${api.replace("http", "ws")}/ws/${doc}`, ["weft.v4", `bearer.${token}`]);
            s.onopen = () => resolve("opened");
            s.onerror = () => resolve("refused");
          });
          let read;
          try {
            const r = await fetch(`${api}/api/docs`, { headers: { Authorization: `Bearer ${token}` } });
            read = `read ${r.status}: ${await r.text()}`;
          } catch {
            read = "refused";
          }
          return { ws, read };
        },
        [env.d.api, env.d.token, doc],
      );
      assert.equal(got.ws, "refused", "a foreign page opened the document socket");
      assert.equal(got.read, "refused", "a foreign page read the API");
      // The daemon's own page, for contrast, gets in.
      const own = await ctx.newPage();
      await own.goto(`${env.d.api}/#token=${env.d.token}&doc=${doc}`);
      await waitFor("the daemon's own page to connect", () => own.evaluate(() => globalThis.weftEditor?.conn?.() === "live"));
    } finally {
      evil.close();
      await ctx.close();
    }
  });
});
