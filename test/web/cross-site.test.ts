// Cross-site request forgery in real Chromium: alice's browser presents her certificate to the
// Repoman origin whoever asks, so a page of another origin — plain http on 127.0.0.1 (another
// site) and https on another port of localhost (the same site) — submits forms and fetches at
// the server. The server sees alice's certificate on those requests (its log says so), refuses
// every one, and nothing changes; from the server's own page the same browser may act.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { contextFor, launch, open, origin } from "./browser.js";

const ALICE_DN = "/C=CA/O=Grid/OU=test/CN=Alice Example";
let t: TestServer;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let crossSite: http.Server; // http://127.0.0.1:X
let sameSite: https.Server; // https://localhost:Y
const attackers: { name: string; url: string }[] = [];

// The attacker's page: a form for each content type a form can send, aimed at the server.
const attackPage = (target: string) => `<!doctype html><title>cute kittens</title>
<form id="urlencoded" method="post" action="${target}/api/images"><input name="name" value="evil-form.img"></form>
<form id="multipart" method="post" enctype="multipart/form-data" action="${target}/api/images"><input name="name" value="evil-multipart.img"></form>
<form id="text" method="post" enctype="text/plain" action="${target}/api/images"><input name="name" value="evil-text.img"></form>
<form id="delete" method="post" action="${target}/api/images/alice/base.img/share/user/bob"></form>`;

function listen(server: http.Server | https.Server, host: string): Promise<number> {
  return new Promise((r) => server.listen(0, host, () => r((server.address() as AddressInfo).port)));
}

before(async () => {
  const pki = await fixturePki();
  t = await startTestServer(pki);
  await addUsers(t, ["alice", "bob"]);
  const made = await t.call("POST", "/api/images", { cred: t.cred("alice"), json: { name: "base.img" } });
  assert.equal(made.status, 201, made.text);
  const serve = (_req: http.IncomingMessage, res: http.ServerResponse) => res.writeHead(200, { "content-type": "text/html" }).end(attackPage(origin(t)));
  crossSite = http.createServer(serve);
  sameSite = https.createServer({ cert: readFileSync(join(pki, "host/hostcert.pem")), key: readFileSync(join(pki, "host/hostkey.pem")) }, serve);
  attackers.push({ name: "another site", url: `http://127.0.0.1:${await listen(crossSite, "127.0.0.1")}/` });
  attackers.push({ name: "another port of the same site", url: `https://localhost:${await listen(sameSite, "127.0.0.1")}/` });
  browser = await launch();
  ctx = await contextFor(browser, t, "alice");
  page = await ctx.newPage();
});
after(async () => {
  await browser?.close();
  crossSite?.close();
  sameSite?.close();
  await t?.close();
});

async function aliceImages(): Promise<string[]> {
  const r = await t.call("GET", "/api/images?owner=alice&detail=true", { cred: t.cred("admin") });
  assert.equal(r.status, 200, r.text);
  return r.json.map((i: { name: string; shared_with: unknown }) => `${i.name} ${JSON.stringify(i.shared_with)}`);
}

// The server's log lines for requests to `path` since `from`: who it saw and what it answered.
async function logged(from: number, method: string, path: string, count = 1): Promise<{ identity: unknown; status: unknown }[]> {
  const until = Date.now() + 10_000;
  for (;;) {
    const lines = t.logs.slice(from).filter((l) => l.method === method && l.path === path);
    if (lines.length >= count || Date.now() > until) return lines.map((l) => ({ identity: l.identity, status: l.status }));
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("forms on another origin's page post with alice's certificate and are refused", async () => {
  const before = await aliceImages();
  for (const attacker of attackers) {
    for (const form of ["urlencoded", "multipart", "text", "delete"]) {
      await page.goto(attacker.url);
      const from = t.logs.length;
      const [response] = await Promise.all([page.waitForEvent("response", (r) => r.url().startsWith(origin(t))), page.evaluate((id) => (document.getElementById(id) as HTMLFormElement).submit(), form)]);
      assert.equal(response.status(), 403, `${form} from ${attacker.name}`);
      const body = JSON.parse(await response.text());
      assert.equal(body.error.code, "forbidden");
      assert.match(body.error.message, /cross-origin request refused/);
      assert.equal(response.request().headers()["origin"] ?? response.request().headers()["Origin"], new URL(attacker.url).origin);
      const path = new URL(response.url()).pathname;
      // The attack is real: the browser did present alice's certificate to the server.
      assert.deepEqual(await logged(from, "POST", path), [{ identity: ALICE_DN, status: 403 }], `${form} from ${attacker.name}`);
    }
  }
  assert.deepEqual(await aliceImages(), before);
});

test("fetch from another origin's page: simple requests are refused, the rest never pass the preflight", async () => {
  const before = await aliceImages();
  for (const attacker of attackers) {
    await page.goto(attacker.url);
    const from = t.logs.length;
    const outcomes = await page.evaluate(async (target) => {
      const attempt = async (what: string, url: string, init: RequestInit) => {
        try {
          const r = await fetch(url, { credentials: "include", ...init });
          return `${what}: ${r.type} ${r.status}`;
        } catch (e) {
          return `${what}: ${(e as Error).name}`;
        }
      };
      return [
        // A no-cors request is sent, but its answer is opaque to the page.
        await attempt("no-cors form", `${target}/api/images`, { method: "POST", mode: "no-cors", body: new URLSearchParams({ name: "evil-fetch.img" }) }),
        await attempt("no-cors text", `${target}/api/images/alice/base.img`, { method: "POST", mode: "no-cors", body: "description=owned", headers: { "content-type": "text/plain" } }),
        // These need the server's permission first, which it never gives.
        await attempt("cors json", `${target}/api/images`, { method: "POST", body: JSON.stringify({ name: "evil-json.img" }), headers: { "content-type": "application/json" } }),
        await attempt("cors delete", `${target}/api/images/alice/base.img`, { method: "DELETE" }),
        await attempt("cors tus", `${target}/api/uploads`, { method: "POST", headers: { "tus-resumable": "1.0.0", "upload-length": "1" } }),
      ];
    }, origin(t));
    assert.deepEqual(outcomes, ["no-cors form: opaque 0", "no-cors text: opaque 0", "cors json: TypeError", "cors delete: TypeError", "cors tus: TypeError"], attacker.name);
    assert.deepEqual(await logged(from, "POST", "/api/images"), [{ identity: ALICE_DN, status: 403 }], attacker.name);
    assert.deepEqual(await logged(from, "POST", "/api/images/alice/base.img"), [{ identity: ALICE_DN, status: 403 }], attacker.name);
    // The preflights were refused, and the requests they asked about never came.
    const preflights = (await logged(from, "OPTIONS", "/api/images/alice/base.img")).concat(await logged(from, "OPTIONS", "/api/uploads"));
    assert.deepEqual(preflights.map((p) => p.status), [403, 403], attacker.name);
    assert.deepEqual(await logged(from, "DELETE", "/api/images/alice/base.img", 0), []);
    assert.equal(t.logs.slice(from).filter((l) => l.method === "POST").length, 2, attacker.name);
  }
  assert.deepEqual(await aliceImages(), before);
});

test("the server's own page, in the same browser, may still act", async () => {
  await open(page, t);
  const status = await page.evaluate(async () => {
    const form = await fetch("/api/images", { method: "POST", body: new URLSearchParams({ name: "from-home.img" }) });
    const json = await fetch("/api/images/alice/from-home.img", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ description: "mine" }) });
    const del = await fetch("/api/images/alice/from-home.img", { method: "DELETE" });
    return [form.status, json.status, del.status];
  });
  assert.deepEqual(status, [201, 200, 200]);
});
