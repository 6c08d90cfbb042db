// Uploads from the browser that survive what browsers live through: the network dropping for a
// while mid-upload, and a reload of the page (the same file chosen again continues where the
// server has bytes). Real Chromium, with alice's certificate; network conditions set through CDP.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, BrowserContext, CDPSession, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { collectErrors, contextFor, launch, open } from "./browser.js";

let t: TestServer;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let cdp: CDPSession;
let errors: string[];
const MIB = 1024 * 1024;
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const held = () => {
  const dir = join(t.dataDir, "images", "incoming");
  return existsSync(dir) ? Math.max(0, ...readdirSync(dir).map((n) => statSync(join(dir, n)).size)) : 0;
};
const network = (offline: boolean, uploadThroughput = -1) => cdp.send("Network.emulateNetworkConditions", { offline, latency: 0, downloadThroughput: -1, uploadThroughput });

before(async () => {
  t = await startTestServer(await fixturePki());
  browser = await launch();
  await addUsers(t, ["alice"]);
  assert.equal((await t.call("POST", "/api/images", { cred: t.cred("alice"), json: { name: "big.img", hypervisor: "kvm" } })).status, 201);
  ctx = await contextFor(browser, t, "alice");
  page = await ctx.newPage();
  errors = collectErrors(page);
  cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
});
after(async () => {
  await browser?.close();
  await t?.close();
});

// The file as a user picks it from disk (same name, size and modification time after a reload).
async function chooseAndUpload(body: Buffer) {
  const file = join(t.dataDir, "big.raw");
  if (!existsSync(file) || !readFileSync(file).equals(body)) writeFileSync(file, body);
  await page.getByLabel("File to upload for kvm").setInputFiles(file);
  await page.getByRole("button", { name: /the kvm file$/ }).click();
}

test("the network drops mid-upload: the upload waits, sends the lost chunk again, and completes", async () => {
  const body = randomBytes(70 * MIB);
  await open(page, t, "#/images/alice/big.img");
  await network(false, 24 * MIB);
  await chooseAndUpload(body);
  await page.waitForFunction(() => Number(document.querySelector("progress")?.value) >= 50, undefined, { timeout: 30_000 });
  await network(true);
  await new Promise((r) => setTimeout(r, 1500));
  await network(false);
  await page.waitForSelector("main .messages .alert-ok", { timeout: 60_000 });
  assert.match(await page.locator("main .messages .alert").innerText(), new RegExp(`Uploaded big.raw .* sha256 ${sha(body)}`));
  const img = (await t.call("GET", "/api/images/alice/big.img", { cred: t.cred("alice") })).json;
  assert.equal(img.files.kvm.checksum.value, sha(body));
  assert.deepEqual(errors.filter((e) => !/net::ERR_INTERNET_DISCONNECTED|Failed to load resource/.test(e)), []);
});

test("a reload mid-upload: choosing the same file again continues where the server has bytes", async () => {
  const body = randomBytes(100 * MIB);
  await open(page, t, "#/images/alice/big.img");
  await network(false, 24 * MIB);
  await chooseAndUpload(body);
  for (let i = 0; i < 600 && held() < 32 * MIB; i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(held() >= 32 * MIB, `the server holds ${held()} bytes`);
  await page.reload();
  await open(page, t, "#/images/alice/big.img");
  await network(false, 48 * MIB);
  await chooseAndUpload(body);
  await page.waitForSelector(".upload-status:has-text('resumed at')", { timeout: 30_000 });
  assert.match(await page.locator(".upload-status").innerText(), /resumed at (32|64)\.0 MiB/);
  await network(false);
  await page.waitForSelector("main .messages .alert-ok", { timeout: 60_000 });
  const img = (await t.call("GET", "/api/images/alice/big.img", { cred: t.cred("alice") })).json;
  assert.equal(img.files.kvm.checksum.value, sha(body));
  assert.equal(img.files.kvm.version, 2);
  assert.equal(held(), 0, "nothing is left half-written");
});
