// Act, in real Chromium with alice's certificate: create an image, upload a file with a progress
// bar, edit, share and unshare, make writable again, publish, rename and delete — and errors shown
// as the server says.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { collectErrors, contextFor, launch, open, screenshot } from "./browser.js";
import { HYPERVISORS, OS_ARCHES } from "../../src/catalog/names.js";

let t: TestServer;
let browser: Browser;
let ctx: BrowserContext;
let page: Page;
let errors: string[];

before(async () => {
  t = await startTestServer(await fixturePki());
  browser = await launch();
  await addUsers(t, ["alice", "bob"]);
  ctx = await contextFor(browser, t, "alice");
  page = await ctx.newPage();
  errors = collectErrors(page);
});
after(async () => {
  await browser?.close();
  await t?.close();
});

const message = (p: Page) => p.locator("main .messages .alert").innerText();

test("create an image from the form", async () => {
  await open(page, t);
  await page.getByRole("link", { name: "New image" }).first().click();
  await page.waitForSelector("h1:text('New image')");
  // The choices come from the server's image schema, not from a copy in the page.
  assert.deepEqual(await page.locator("input[name=hypervisor]").evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)), [...HYPERVISORS]);
  assert.deepEqual(await page.locator("select[name=os_arch] option").evaluateAll((els) => els.map((e) => (e as HTMLOptionElement).value)), ["", ...OS_ARCHES]);
  await page.getByLabel("Name").fill("sl7-worker.img");
  await page.getByLabel("Description").fill("Scientific Linux 7 worker");
  await page.getByLabel("OS type").fill("linux");
  await page.getByLabel("OS variant").fill("sl7");
  await page.getByLabel("Architecture").selectOption("x86_64");
  await page.getByLabel("kvm").check();
  await page.getByLabel("xen").uncheck();
  await screenshot(page, "alice-new-image-wide");
  await page.getByRole("button", { name: "Create image" }).click();
  await page.waitForSelector("h1:text('sl7-worker.img')");
  assert.equal(await page.evaluate(() => location.hash), "#/images/alice/sl7-worker.img");
  const r = await t.call("GET", "/api/images/alice/sl7-worker.img", { cred: t.cred("alice") });
  assert.equal(r.json.description, "Scientific Linux 7 worker");
  assert.equal(r.json.hypervisor, "kvm");
  assert.equal(r.json.os_arch, "x86_64");

  // A clash is reported with the server's message.
  await open(page, t, "#/new");
  await page.getByLabel("Name").fill("sl7-worker.img");
  await page.getByRole("button", { name: "Create image" }).click();
  await page.waitForSelector("main .messages .alert-error");
  assert.match(await message(page), /Conflict.*already exists/s);
});

test("upload a file with a progress bar; the server has exactly those bytes", async () => {
  await open(page, t, "#/images/alice/sl7-worker.img");
  const body = Buffer.alloc(6 * 1024 * 1024);
  for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
  // Slow the upload down so that the progress bar has something to show.
  const cdp = await ctx.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 3 * 1024 * 1024 });
  await page.getByLabel("File to upload for kvm").setInputFiles({ name: "sl7-worker.img", mimeType: "application/octet-stream", buffer: body });
  await page.getByRole("button", { name: "Upload the kvm file" }).click();
  await page.waitForFunction(() => {
    const p = document.querySelector("progress");
    return !!p && !p.hidden && p.value > 0 && p.value < 100;
  });
  const status = await page.locator(".upload-status").innerText();
  assert.match(status, /^[\d.]+ (B|KiB|MiB) of 6\.00 MiB \(\d+%\)$/);
  await screenshot(page, "alice-upload-progress-wide");
  await page.waitForSelector("main .messages .alert-ok", { timeout: 30_000 });
  await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  const sha = createHash("sha256").update(body).digest("hex");
  assert.match(await message(page), new RegExp(`Uploaded sl7-worker.img \\(6.00 MiB\\) for kvm; sha256 ${sha}\\. It is version 1;`));
  const r = await t.call("GET", "/api/images/alice/sl7-worker.img", { cred: t.cred("alice") });
  assert.equal(r.json.files.kvm.size, body.length);
  assert.equal(r.json.checksum.value, sha);
  assert.equal(r.json.version, 1);
  assert.match(await page.locator("table.files").innerText(), new RegExp(sha));
  // A file exists now: the next upload is offered as a new version, not a replacement.
  assert.equal(await page.getByRole("button", { name: "Upload a new version of the kvm file" }).innerText(), "Upload new version");
  assert.match(await page.locator("table.history").innerText(), new RegExp(`kvm\\s+1\\s+current[\\s\\S]*${sha}`));
  // Ready-to-copy commands for the file.
  const commands = await page.locator(".command pre").allInnerTexts();
  assert.ok(commands.includes("repoman get-image sl7-worker.img"), commands.join("\n"));
  assert.ok(commands.some((c) => c.startsWith("curl --cert ") && c.endsWith(`-O https://localhost:${t.port}/api/images/raw/alice/kvm/sl7-worker.img`)), commands.join("\n"));
  await screenshot(page, "alice-image-wide");
});

test("edit metadata", async () => {
  await page.getByRole("link", { name: "Edit metadata" }).click();
  await page.waitForSelector("h1:text('Edit sl7-worker.img')");
  await page.getByLabel("Description").fill("SL7 worker, <script>alert(1)</script> updated");
  assert.equal(await page.getByLabel("Versions to keep").inputValue(), "");
  await page.getByLabel("Versions to keep").fill("3");
  await page.getByLabel("Read-only").check();
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.waitForSelector("h1:text('sl7-worker.img')");
  assert.match(await page.locator(".details").innerText(), /SL7 worker, <script>alert\(1\)<\/script> updated/);
  assert.equal(await page.locator("main script").count(), 0);
  // Read-only: the upload controls are gone.
  assert.equal(await page.locator("input[type=file]").count(), 0);
  const r = await t.call("GET", "/api/images/alice/sl7-worker.img", { cred: t.cred("alice") });
  assert.equal(r.json.read_only, true);
  assert.equal(r.json.keep_versions, 3);
  assert.match(await page.locator("#history-h + .hint").innerText(), /^Versions kept per hypervisor: 3\./);
  // The form offers nothing for a read-only image: the server would refuse every change.
  await open(page, t, "#/images/alice/sl7-worker.img/edit");
  assert.match(await page.locator("main .alert").innerText(), /read-only: its metadata cannot be changed until it is made writable/);
  assert.equal(await page.locator("form.image-form").count(), 0);
});

test("share and unshare with a user; bob sees it only while shared; unknown users are reported", async () => {
  await open(page, t, "#/images/alice/sl7-worker.img");
  await page.getByLabel("Share with a user").fill("nobody");
  await page.getByRole("button", { name: "Share" }).first().click();
  await page.waitForSelector("main .messages .alert-error");
  assert.match(await message(page), /does not exist: 'nobody'/);

  await page.getByLabel("Share with a user").fill("bob");
  await page.getByRole("button", { name: "Share" }).first().click();
  await page.waitForSelector("main .messages .alert-ok");
  assert.match(await message(page), /Shared with user bob/);
  assert.match(await page.locator(".shares").innerText(), /bob/);
  await screenshot(page, "alice-image-shared-wide");

  const bobCtx = await contextFor(browser, t, "bob");
  const bobPage = await bobCtx.newPage();
  await open(bobPage, t, "#/?show=shared");
  assert.deepEqual(await bobPage.locator("table.images tbody .cell-name a").allTextContents(), ["sl7-worker.img"]);

  await page.getByRole("button", { name: "Stop sharing with user bob" }).click();
  await page.waitForSelector("main .messages .alert-ok >> text=No longer shared");
  await open(bobPage, t, "#/images/alice/sl7-worker.img");
  assert.match(await bobPage.locator("main [role=alert]").innerText(), /not allowed to see it/);
  await bobCtx.close();
});

test("a read-only image offers only Make writable; then make public (with confirmation), rename, and delete (with confirmation)", async () => {
  await open(page, t, "#/images/alice/sl7-worker.img");
  // Read-only: nothing that the server would refuse is offered, and the page says why.
  for (const action of ["Edit metadata", "Rename", "Make public", "Make read-only", "Delete"]) {
    assert.equal(await page.getByRole("button", { name: action, exact: true }).or(page.getByRole("link", { name: action, exact: true })).count(), 0, action);
  }
  assert.equal(await page.locator("input[type=file]").count(), 0);
  assert.match(await page.locator("main .alert-info").first().innerText(), /read-only: no uploads, rollbacks, metadata changes, renaming or deletion until you make it writable/);
  assert.match(await page.locator(".details").innerText(), /yes — no uploads, changes or deletion until it is made writable/);
  await screenshot(page, "alice-image-read-only-wide");
  await page.getByRole("button", { name: "Make writable" }).click();
  await page.waitForSelector("main .alert-ok >> text=The image is writable again.");
  assert.equal((await t.call("GET", "/api/images/alice/sl7-worker.img", { cred: t.cred("alice") })).json.read_only, false);
  assert.equal(await page.locator("input[type=file]").count(), 1);
  assert.equal(await page.getByRole("button", { name: "Make writable" }).count(), 0);

  await page.getByRole("button", { name: "Make public" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Make public" }).click();
  await page.waitForSelector(".badges >> text=Public");
  assert.equal((await t.call("GET", "/api/images/alice/sl7-worker.img")).status, 200);

  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByRole("dialog").getByLabel("New name").fill("sl7-worker-v2.img");
  await page.getByRole("dialog").getByRole("button", { name: "Rename" }).click();
  await page.waitForSelector("h1:text('sl7-worker-v2.img')");
  assert.equal(await page.evaluate(() => location.hash), "#/images/alice/sl7-worker-v2.img");

  // Cancel first: nothing happens. The dialog says what goes with the image.
  await page.getByRole("button", { name: "Delete" }).click();
  const said = await page.getByRole("dialog").innerText();
  assert.match(said, /It is public: anyone may download it now/);
  assert.match(said, /It is not shared with anyone\./);
  assert.match(said, /Its only version is deleted with it \(6\.00 MiB stored\)\./);
  await screenshot(page, "alice-delete-confirm-wide");
  await page.keyboard.press("Escape");
  assert.equal(await page.getByRole("dialog").count(), 0);
  assert.equal((await t.call("GET", "/api/images/alice/sl7-worker-v2.img", { cred: t.cred("alice") })).status, 200);
  await page.getByRole("button", { name: "Delete" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete image" }).click();
  await page.waitForSelector("main .alert-ok >> text=Deleted alice/sl7-worker-v2.img");
  assert.equal((await t.call("GET", "/api/images/alice/sl7-worker-v2.img", { cred: t.cred("alice") })).status, 404);
  assert.deepEqual(errors, []);
});
