// Cross-site request forgery over real TLS: requests that carry alice's client certificate and say,
// as a browser would, that a page of another origin made them change nothing, whatever the
// method, path or content type; the same requests from the server's own pages, and from clients
// that are not browsers (no Origin, no Sec-Fetch-Site), keep working. No response grants CORS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { readFileSync } from "node:fs";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client, type Reply } from "../support/http.js";

let pki: string;
let t: TestServer;
let own: string; // the origin the test client addresses: https://127.0.0.1:PORT

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"] });
  own = `https://127.0.0.1:${t.port}`;
  await addUsers(t, ["alice", "bob"]);
  const r = await t.call("POST", "/api/images", { cred: t.cred("alice"), json: { name: "base.img", hypervisor: "xen" } });
  assert.equal(r.status, 201, r.text);
  const up = await t.call("PUT", "/api/images/raw/alice/xen/base.img", { cred: t.cred("alice"), body: Buffer.from("version one"), headers: { "content-type": "application/octet-stream" } });
  assert.equal(up.status, 200, up.text);
});
after(async () => {
  await t?.close();
});

// What a browser sends along with a request made by a page elsewhere.
const FOREIGN: Record<string, Record<string, string>> = {
  "cross-site page (Sec-Fetch-Site + Origin)": { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
  "another port on this host (same-site)": { "sec-fetch-site": "same-site", origin: "https://localhost:1" },
  "an old browser (Origin only)": { origin: "https://evil.example" },
  "the same host over plain http (Origin only)": { origin: "http://127.0.0.1:1" },
  "a sandboxed or privacy-sensitive page (Origin: null)": { origin: "null" },
  "Sec-Fetch-Site without Origin": { "sec-fetch-site": "cross-site" },
};

// The bodies a cross-site form or no-cors fetch can send without a preflight, and JSON.
const BODIES: Record<string, { type: string; body: string }> = {
  form: { type: "application/x-www-form-urlencoded", body: "name=evil.img&unauthenticated_access=true" },
  multipart: { type: "multipart/form-data; boundary=x", body: '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nevil.img\r\n--x--\r\n' },
  text: { type: "text/plain", body: "name=evil.img" },
  json: { type: "application/json", body: '{"name":"evil.img"}' },
};

async function stateOfTheWorld(): Promise<string> {
  const admin = t.cred("admin");
  const parts = await Promise.all([
    t.call("GET", "/api/images?detail=true", { cred: admin }),
    t.call("GET", "/api/users?detail=true", { cred: admin }),
    t.call("GET", "/api/groups", { cred: admin }),
    t.call("GET", "/api/images/raw/alice/xen/base.img", { cred: admin }),
    t.call("GET", "/api/images/alice/base.img/versions", { cred: admin }),
  ]);
  for (const p of parts) assert.equal(p.status, 200, p.text);
  return parts.map((p) => p.text).join("\n");
}

function assertRefused(r: Reply, what: string): void {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.error?.code, "forbidden", what);
  assert.match(r.json.error.message, /cross-origin|CORS/, what);
  for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith("access-control-"), `${what}: ${h}`);
}

test("state-changing requests from other origins are refused, whatever the body, and change nothing", async () => {
  const before = await stateOfTheWorld();
  const alice = t.cred("alice");
  const tus = { "tus-resumable": "1.0.0" };
  const requests: [string, string, Record<string, string>][] = [
    ["POST", "/api/images", {}],
    ["POST", "/api/images/alice/base.img", {}],
    ["DELETE", "/api/images/alice/base.img", {}],
    ["POST", "/api/images/alice/base.img/share/user/bob", {}],
    ["POST", "/api/images/alice/base.img/rollback", {}],
    ["PUT", "/api/images/raw/alice/xen/base.img", {}],
    ["POST", "/api/users/alice", {}],
    ["POST", "/api/groups", {}],
    ["POST", "/api/uploads", { ...tus, "upload-length": "4", "upload-metadata": `image ${btoa("base.img")},hypervisor ${btoa("xen")}` }],
  ];
  // Every request from every kind of foreign page with a form body, and with every kind of body
  // from a cross-site page.
  let n = 0;
  for (const [method, path, extra] of requests) {
    const variants = [
      ...Object.entries(FOREIGN).map(([who, headers]) => ({ who, headers, kind: "form", ...BODIES.form! })),
      ...Object.entries(BODIES).map(([kind, b]) => ({ who: "cross-site page", headers: FOREIGN["cross-site page (Sec-Fetch-Site + Origin)"]!, kind, ...b })),
    ];
    for (const { who, headers, kind, type, body } of variants) {
      const r = await t.call(method, path, { cred: alice, body, headers: { ...extra, ...headers, "content-type": type } });
      assertRefused(r, `${method} ${path} from ${who} as ${kind}`);
      n++;
    }
  }
  assert.equal(n, requests.length * (Object.keys(FOREIGN).length + Object.keys(BODIES).length));
  assert.equal(await stateOfTheWorld(), before);
});

test("a resumable upload started at home cannot be continued or cancelled from another origin", async () => {
  const alice = t.cred("alice");
  const tus = { "tus-resumable": "1.0.0" };
  const created = await t.call("POST", "/api/uploads", { cred: alice, headers: { ...tus, "upload-length": "4", "upload-metadata": `image ${btoa("base.img")},hypervisor ${btoa("xen")}` } });
  assert.equal(created.status, 201, created.text);
  const path = new URL(created.headers.location!).pathname;
  const foreign = { "sec-fetch-site": "cross-site", origin: "https://evil.example" };
  assertRefused(await t.call("PATCH", path, { cred: alice, body: "evil", headers: { ...tus, ...foreign, "content-type": "application/offset+octet-stream", "upload-offset": "0" } }), "PATCH");
  assertRefused(await t.call("DELETE", path, { cred: alice, headers: { ...tus, ...foreign } }), "DELETE");
  const head = await t.call("HEAD", path, { cred: alice, headers: tus });
  assert.equal(head.headers["upload-offset"], "0");
  // From the server's own page it goes on.
  const home = { "sec-fetch-site": "same-origin", origin: own };
  const patched = await t.call("PATCH", path, { cred: alice, body: "good", headers: { ...tus, ...home, "content-type": "application/offset+octet-stream", "upload-offset": "0" } });
  assert.equal(patched.status, 200, patched.text);
  const got = await t.call("GET", "/api/images/raw/alice/xen/base.img", { cred: alice });
  assert.equal(got.text, "good");
});

test("the refusal comes before the body: an upload waiting for 100-continue never hears it", async () => {
  const r = await new Promise<{ status: number; continued: boolean; text: string }>((resolve, reject) => {
    let continued = false;
    const req = https.request(
      {
        host: "127.0.0.1",
        port: t.port,
        method: "PUT",
        path: "/api/images/raw/alice/xen/base.img",
        servername: "localhost",
        ca: readFileSync(trustedCaBundle(pki)),
        cert: readFileSync(t.cred("alice").cert),
        key: readFileSync(t.cred("alice").key),
        agent: false,
        headers: { expect: "100-continue", "content-length": String(1 << 30), "content-type": "text/plain", origin: "https://evil.example", "sec-fetch-site": "cross-site" },
      },
      (res) => {
        let text = "";
        res.on("data", (c) => (text += c));
        res.on("end", () => (req.destroy(), resolve({ status: res.statusCode!, continued, text })));
      },
    );
    req.on("continue", () => (continued = true));
    req.on("error", reject);
    req.flushHeaders();
  });
  assert.equal(r.status, 403, r.text);
  assert.equal(r.continued, false);
});

test("the server's own pages and non-browser clients keep working", async () => {
  const alice = t.cred("alice");
  const cases: [string, Record<string, string>][] = [
    ["curl and the repoman client (neither header)", {}],
    ["a page of this server (Sec-Fetch-Site: same-origin)", { "sec-fetch-site": "same-origin", origin: own }],
    ["an old browser on a page of this server (Origin only)", { origin: own }],
    ["the origin written differently (default port, case)", { origin: `HTTPS://127.0.0.1:${t.port}` }],
    ["a bookmark (Sec-Fetch-Site: none)", { "sec-fetch-site": "none" }],
  ];
  for (const [i, [who, headers]] of cases.entries()) {
    const name = `ok-${i}.img`;
    const form = await t.call("POST", "/api/images", { cred: alice, form: { name, hypervisor: "kvm" }, headers });
    assert.equal(form.status, 201, `${who}: ${form.text}`);
    const json = await t.call("POST", `/api/images/alice/${name}`, { cred: alice, json: { description: who }, headers });
    assert.equal(json.status, 200, `${who}: ${json.text}`);
    const put = await t.call("PUT", `/api/images/raw/alice/kvm/${name}`, { cred: alice, body: "bytes", headers: { ...headers, "content-type": "application/octet-stream" } });
    assert.equal(put.status, 200, `${who}: ${put.text}`);
    const del = await t.call("DELETE", `/api/images/alice/${name}`, { cred: alice, headers });
    assert.equal(del.status, 200, `${who}: ${del.text}`);
  }
});

test("reading is not affected: a GET from another origin is answered, but never shared with that page (no CORS)", async () => {
  const r = await t.call("GET", "/api/images/alice/base.img", { cred: t.cred("alice"), headers: { origin: "https://evil.example", "sec-fetch-site": "cross-site", "sec-fetch-mode": "cors" } });
  assert.equal(r.status, 200);
  for (const h of Object.keys(r.headers)) assert.ok(!h.startsWith("access-control-"), h);
});

test("CORS preflights from other origins get no permission; tus discovery still answers", async () => {
  for (const path of ["/api/images", "/api/images/alice/base.img", "/api/uploads", "/api/images/raw/alice/xen/base.img"]) {
    for (const method of ["POST", "DELETE", "PUT", "PATCH"]) {
      const r = await t.call("OPTIONS", path, { cred: t.cred("alice"), headers: { origin: "https://evil.example", "access-control-request-method": method, "access-control-request-headers": "content-type, tus-resumable" } });
      assertRefused(r, `preflight ${method} ${path}`);
    }
  }
  const tus = await t.call("OPTIONS", "/api/uploads");
  assert.equal(tus.status, 204, tus.text);
  assert.equal(tus.headers["tus-version"], "1.0.0");
  for (const h of Object.keys(tus.headers)) assert.ok(!h.startsWith("access-control-"), h);
});

test("behind a trusted front end, the public origin (X-Forwarded-Host, X-Forwarded-Proto) is the server's own", async () => {
  const call = client(t.server.proxyPort!, "");
  const identity = { "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Alice Example" };
  const viaFrontEnd = { ...identity, "x-forwarded-host": "repo.example.org", "x-forwarded-proto": "https" };
  const home = await call("POST", "/api/images", { plain: true, form: { name: "fe.img" }, headers: { ...viaFrontEnd, origin: "https://repo.example.org" } });
  assert.equal(home.status, 201, home.text);
  // The back end's own address is not the origin the browser saw.
  const backEnd = await call("POST", "/api/images/alice/fe.img", { plain: true, form: { description: "x" }, headers: { ...viaFrontEnd, origin: `http://127.0.0.1:${t.server.proxyPort}` } });
  assertRefused(backEnd, "origin of the back end");
  const evil = await call("DELETE", "/api/images/alice/fe.img", { plain: true, headers: { ...viaFrontEnd, origin: "https://evil.example" } });
  assertRefused(evil, "other origin via the front end");
  // A front end that keeps the Host header (as docs/front-ends do) and sends no X-Forwarded-Host.
  const hostKept = await call("DELETE", "/api/images/alice/fe.img", { plain: true, headers: { ...identity, host: "repo.example.org", "x-forwarded-proto": "https", origin: "https://repo.example.org" } });
  assert.equal(hostKept.status, 200, hostKept.text);
});
