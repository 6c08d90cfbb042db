// What an operator watches: one log line for every request, downloads given up halfway and
// aborted uploads included (as info, not errors); X-Request-Id; /healthz and /readyz on every
// listener without a certificate, /readyz failing when the blob store does and while draining.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import https from "node:https";
import { connect as tlsConnect } from "node:tls";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { canonicalDn } from "../../src/x509/dn.js";
import { startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import type { Credential } from "../support/http.js";

let t: TestServer;
let pki: string;
let alice: Credential;
const MIB = 1024 * 1024;
const SIZE = 32 * MIB;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { httpListen: true });
  alice = t.cred("alice");
  assert.equal((await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } })).status, 201);
  assert.equal((await t.call("POST", "/api/images", { cred: alice, json: { name: "big.img" } })).status, 201);
  assert.equal((await t.call("PUT", "/api/images/raw/alice/xen/big.img", { cred: alice, body: randomBytes(SIZE) })).status, 200);
});
after(() => t.close());

const requestLines = () => t.logs.filter((l) => "request_id" in l && "status" in l);

function request(method: string, path: string, headers: Record<string, string> = {}) {
  return https.request({ host: "127.0.0.1", port: t.port, method, path, headers, servername: "localhost", agent: false, ca: readFileSync(trustedCaBundle(pki)), cert: readFileSync(alice.cert), key: readFileSync(alice.key) });
}

async function until(cond: () => boolean, ms = 10_000) {
  for (const end = Date.now() + ms; !cond(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error("timed out");
}

test("every request has one line with its id, who, from where, status, bytes and time; X-Request-Id says which", async () => {
  const r = await t.call("GET", "/api/whoami", { cred: alice });
  const id = r.headers["x-request-id"] as string;
  assert.match(id, /^[0-9a-f]{16}$/);
  await until(() => requestLines().some((l) => l.request_id === id));
  const line = requestLines().find((l) => l.request_id === id)!;
  assert.equal(line.user, "alice");
  assert.equal(line.identity, "/C=CA/O=Grid/OU=test/CN=Alice Example");
  assert.equal(line.remote, "127.0.0.1");
  assert.equal(line.status, 200);
  assert.equal(line.aborted, false);
  assert.equal(line.level, "info");
  assert.ok((line.bytes_out as number) > r.text.length, "the answer's bytes, with its headers and TLS");
  // A client cannot choose its id.
  const chosen = await t.call("GET", "/api/whoami", { cred: alice, headers: { "x-request-id": "mine" } });
  assert.notEqual(chosen.headers["x-request-id"], "mine");
});

test("each of 8 concurrent downloads given up halfway has its line: aborted, with the bytes that went out", async () => {
  const before = requestLines().length;
  const ids = await Promise.all(
    Array.from({ length: 8 }, () =>
      new Promise<string>((resolve, reject) => {
        const req = request("GET", "/api/images/raw/alice/xen/big.img");
        req.on("response", (res) => {
          let got = 0;
          res.on("data", (c: Buffer) => {
            got += c.length;
            if (got > MIB) req.destroy();
          });
          res.on("error", () => {});
          req.on("close", () => resolve(res.headers["x-request-id"] as string));
        });
        req.on("error", (e) => (e.message.includes("socket hang up") ? undefined : reject(e)));
        req.end();
      }),
    ),
  );
  await until(() => ids.every((id) => requestLines().some((l) => l.request_id === id)));
  const lines = requestLines().slice(before).filter((l) => ids.includes(l.request_id as string));
  assert.equal(lines.length, 8);
  for (const l of lines) {
    assert.equal(l.status, 200);
    assert.equal(l.aborted, true);
    assert.ok((l.bytes_out as number) > MIB && (l.bytes_out as number) < SIZE, `bytes_out ${l.bytes_out}`);
  }
  assert.ok(!t.logs.some((l) => l.level === "error"), JSON.stringify(t.logs.filter((l) => l.level === "error")));
});

test("a request Node cannot parse gets the API's error format and a log line", async () => {
  const answer = await new Promise<string>((resolve, reject) => {
    const socket = tlsConnect({ host: "127.0.0.1", port: t.port, servername: "localhost", ca: readFileSync(trustedCaBundle(pki)) });
    let text = "";
    socket.on("secureConnect", () => socket.write("GET /healthz HTTP/1.1\r\nHost: localhost\r\nBad Header Line\r\n\r\n"));
    socket.on("data", (d) => (text += d.toString("latin1")));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
  const body = JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4));
  assert.equal(body.error.code, "bad_request");
  assert.match(body.error.message, /^malformed HTTP request: HPE_/);
  await until(() => t.logs.some((l) => l.msg === "malformed request" && l.status === 400 && l.remote === "127.0.0.1"));
});

test("an upload the client gives up is logged as info with its line, not as an error", async () => {
  const req = request("PUT", "/api/images/raw/alice/xen/big.img", { "content-length": String(SIZE), "content-type": "application/octet-stream" });
  req.on("error", () => {});
  // Written out (the server reads as it stores), then a moment for the last of it to arrive.
  await new Promise((r) => req.write(randomBytes(4 * MIB), r));
  await new Promise((r) => setTimeout(r, 300));
  req.destroy();
  await until(() => requestLines().some((l) => l.method === "PUT" && l.aborted === true));
  const line = requestLines().find((l) => l.method === "PUT" && l.aborted === true)!;
  assert.ok((line.bytes_in as number) > 2 * MIB, `bytes_in ${line.bytes_in}`);
  // The error handler hears of it after the response closed, so its line may come second.
  await until(() => t.logs.some((l) => l.msg === "client went away" && l.request_id === line.request_id && l.level === "info"));
  assert.ok(!t.logs.some((l) => l.level === "error"), JSON.stringify(t.logs.filter((l) => l.level === "error")));
});

test("/healthz and /readyz answer without a certificate, on the plain-HTTP listener too; /readyz checks the blob store", async () => {
  assert.deepEqual((await t.call("GET", "/healthz")).json, { status: "ok" });
  assert.deepEqual((await t.call("GET", "/readyz")).json, { status: "ready", database: "ok", storage: "ok" });
  const plain = (await import("../support/http.js")).client(t.server.httpPort!, trustedCaBundle(pki));
  assert.equal((await plain("GET", "/healthz", { plain: true })).status, 200);
  assert.equal((await plain("GET", "/readyz", { plain: true })).status, 200);
  // The blob store's directory replaced by a file: not ready, and says why.
  const incoming = join(t.dataDir, "images", "incoming");
  renameSync(incoming, `${incoming}.away`);
  writeFileSync(incoming, "not a directory");
  try {
    const r = await t.call("GET", "/readyz");
    assert.equal(r.status, 503);
    assert.equal(r.json.status, "unavailable");
    assert.equal(r.json.database, "ok");
    assert.match(r.json.storage, /EEXIST|ENOTDIR/);
  } finally {
    rmSync(incoming);
    renameSync(`${incoming}.away`, incoming);
    mkdirSync(incoming, { recursive: true });
  }
  assert.equal((await t.call("GET", "/readyz")).status, 200);
});

test("/metrics: requests by route and status, aborted transfers, bytes, durations, the process", async () => {
  const r = await t.call("GET", "/metrics");
  assert.equal(r.status, 200, r.text);
  assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
  const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}()[\]."+*/\\]/g, "\\$&")} (\\S+)$`, "m").exec(r.text)?.[1]);
  assert.ok(value('repoman_http_requests_total{method="GET",route="/api/images/raw/:user/:hypervisor/:image",status="200"}') >= 8);
  assert.ok(value('repoman_http_requests_aborted_total{kind="download"}') >= 8);
  assert.ok(value('repoman_http_requests_aborted_total{kind="upload"}') >= 1);
  assert.ok(value('repoman_http_sent_bytes_total{kind="download"}') > 8 * MIB);
  assert.ok(value('repoman_http_received_bytes_total{kind="upload"}') > SIZE);
  assert.equal(value('repoman_http_requests_in_flight{kind="download"}'), 0);
  assert.ok(value('repoman_http_request_duration_seconds_count{kind="api"}') >= 3);
  assert.ok(value('repoman_http_request_duration_seconds_bucket{kind="api",le="+Inf"}') === value('repoman_http_request_duration_seconds_count{kind="api"}'));
  assert.ok(value("process_resident_memory_bytes") > 10 * MIB);
  assert.ok(value("process_open_fds") > 0);
  assert.equal(value("repoman_trust_store_generation") > 0, true);
  // Every CA of the fixture has a CRL: their age and expiry, by issuer name (two CAs each).
  const ages = [...r.text.matchAll(/^repoman_crl_age_seconds\{issuer="([^"]+)"\} (\d+)$/gm)];
  assert.deepEqual(ages.map(([, issuer]) => issuer).sort(), ["/C=CA/O=Grid/CN=Test Grid CA", "/C=CA/O=Grid/CN=Test Grid Issuing CA"]);
  for (const [, issuer, age] of ages) {
    assert.ok(Number(age) >= 0 && Number(age) < 30 * 86400, `${issuer}: ${age}`);
    assert.ok(value(`repoman_crl_next_update_timestamp_seconds{issuer="${issuer}"}`) > Date.now() / 1000);
  }
  // Every request above came over TLS with a certificate: validated once per chain, then cached.
  assert.ok(value('repoman_auth_verdict_cache_total{result="miss"}') >= 1);
  assert.ok(value('repoman_auth_verdict_cache_total{result="hit"}') >= 1);
  assert.ok(value("repoman_auth_verdict_cache_entries") >= 1);
  // The uploads of this file committed, and their commits were timed.
  assert.ok(value("repoman_upload_commit_duration_seconds_count") >= 1);
  // A PostgreSQL server's pool, by state; SQLite has none.
  if (process.env.REPOMAN_TEST_POSTGRES_URL) assert.ok(value('repoman_db_pool_connections{state="idle"}') + value('repoman_db_pool_connections{state="busy"}') >= 1);
  else assert.doesNotMatch(r.text, /repoman_db_pool/);
  // Labels name route patterns, never raw paths: their number stays bounded.
  assert.doesNotMatch(r.text, /route="\/api\/images\/raw\/alice/);
});

test("/metrics only to the addresses of --metrics-allow, the certificates of --metrics-dn and admins", async () => {
  // bob is no user of this server: a scraper's certificate needs no account.
  const other = await startTestServer(pki, { metricsAllow: ["192.0.2.0/24"], metricsDns: [canonicalDn("/C=CA/O=Grid/OU=test/CN=Bob Example")] });
  try {
    const scraper = await other.call("GET", "/metrics", { cred: other.cred("bob") });
    assert.equal(scraper.status, 200, scraper.text);
    assert.equal((await other.call("GET", "/api/whoami", { cred: other.cred("bob") })).status, 403, "and nothing else");
    assert.equal((await other.call("POST", "/api/users", { cred: other.cred("admin"), json: { user_name: "alice", cert_dn: "/C=CA/O=Grid/OU=test/CN=Alice Example" } })).status, 201);
    assert.equal((await other.call("GET", "/metrics")).status, 403);
    assert.equal((await other.call("GET", "/metrics", { cred: alice })).status, 403);
    const admin = await other.call("GET", "/metrics", { cred: other.cred("admin") });
    assert.equal(admin.status, 200);
    assert.match(admin.text, /^# TYPE repoman_http_requests_total counter$/m);
  } finally {
    await other.close();
  }
});

test("while the server drains before stopping, /readyz answers 503 and requests are still served", async () => {
  const closing = t.server.close(5000, 1500);
  const r = await t.call("GET", "/readyz");
  assert.equal(r.status, 503);
  assert.equal(r.json.status, "draining");
  assert.equal((await t.call("GET", "/healthz")).status, 200);
  assert.equal((await t.call("GET", "/api/whoami", { cred: alice })).status, 200);
  await closing;
});
