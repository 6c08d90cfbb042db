// The web interface's files: served to anyone at / and /web/, with content types, caching and a
// Content-Security-Policy that forbids inline scripts and other origins; nothing outside web/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { startTestServer, type TestServer } from "../support/server.js";
import { findWebDir } from "../../src/http/routes/web.js";

let t: TestServer;
before(async () => (t = await startTestServer(await fixturePki(), { httpListen: true })));
after(() => t.close());

test("/ is the page, to anyone, with a strict CSP and revalidation", async () => {
  const r = await t.call("GET", "/");
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers["content-type"], "text/html; charset=utf-8");
  assert.match(r.text, /<script type="module" src="\/web\/js\/app.js"><\/script>/);
  const csp = String(r.headers["content-security-policy"]);
  assert.match(csp, /default-src 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/);
  assert.equal(r.headers["x-content-type-options"], "nosniff");
  assert.equal(r.headers["cache-control"], "no-cache");
  const etag = String(r.headers.etag);
  assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
  const again = await t.call("GET", "/", { headers: { "if-none-match": etag } });
  assert.equal(again.status, 304);
  assert.equal(again.text, "");
  const head = await t.call("HEAD", "/");
  assert.equal(head.status, 200);
  assert.equal(head.text, "");
  assert.equal(Number(head.headers["content-length"]), Buffer.byteLength(r.text));
});

test("assets have their content types; a client certificate changes nothing", async () => {
  for (const [path, type] of [
    ["/web/js/app.js", "text/javascript; charset=utf-8"],
    ["/web/style.css", "text/css; charset=utf-8"],
    ["/web/icon.svg", "image/svg+xml"],
    ["/favicon.ico", "image/svg+xml"],
  ]) {
    const r = await t.call("GET", path!, { cred: t.cred("alice") }); // alice is not even registered
    assert.equal(r.status, 200, `${path}: ${r.text}`);
    assert.equal(r.headers["content-type"], type, path);
  }
});

test("nothing outside web/ is reachable, and unknown files are 404", async () => {
  for (const path of ["/web/../package.json", "/web/%2e%2e/package.json", "/web/..%2fpackage.json", "/web/%2e%2e%2f%2e%2e%2fpackage.json", "/web/js/../../package.json", "/web/nope.js", "/web/", "/web/js", "/index.html", "/package.json"]) {
    const r = await t.call("GET", path);
    // 401: unknown paths are closed to anonymous callers, like every route that does not open itself.
    assert.ok([400, 401, 404].includes(r.status), `${path}: ${r.status}`);
    assert.doesNotMatch(r.text, /"devDependencies"/, path);
  }
});

test("the plain-HTTP download listener does not serve the interface", async () => {
  const server = t.server;
  assert.ok(server.httpPort);
  const http = await import("node:http");
  const status = await new Promise<number>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port: server.httpPort, path: "/" }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on("error", reject);
  });
  assert.equal(status, 404);
});

test("the sources never render markup from strings and load nothing from elsewhere", () => {
  const dir = findWebDir();
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else files.push(p);
    }
  };
  walk(dir);
  assert.ok(files.some((f) => f.endsWith("app.js")));
  for (const f of files.filter((f) => /\.(js|html|css)$/.test(f))) {
    const src = readFileSync(f, "utf8");
    assert.doesNotMatch(src, /\.innerHTML|\.outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, f);
    // No scripts, styles or fonts from other origins (links in text are fine, loads are not).
    assert.doesNotMatch(src, /(src|href)=["']?(https?:)?\/\/|@import\s+url\(["']?https?:|url\(["']?https?:/, f);
    if (f.endsWith(".html")) assert.doesNotMatch(src, /<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=|style=/, `${f}: inline script, handler or style`);
  }
});
