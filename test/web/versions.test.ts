// Versions in real Chromium: the History section of an image's page, rolling back with the button
// and its dialog, pinned downloads, who is offered what (a viewer, a group power that cannot undo
// read-only), the delete dialog's account of what goes, and the pages for an image that is
// elsewhere or expired.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import type { Browser, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { collectErrors, contextFor, launch, NARROW, open, screenshot } from "./browser.js";

let t: TestServer;
let browser: Browser;

const v1 = randomBytes(3000);
const v2 = randomBytes(5000);
const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const IMAGE = "#/images/alice/hist.img";

const apiImage = async () => (await t.call("GET", "/api/images/alice/hist.img", { cred: t.cred("alice") })).json;
const message = (p: Page) => p.locator("main .messages .alert").innerText();
/** The History rows as [version, is current]. */
const historyRows = (p: Page) => p.locator("table.history tbody tr").evaluateAll((rows) => rows.map((r) => [(r as HTMLElement).dataset.version, r.classList.contains("current")]));

before(async () => {
  t = await startTestServer(await fixturePki());
  browser = await launch();
  await addUsers(t, ["alice", "bob"]);
  const alice = t.cred("alice");
  assert.equal((await t.call("POST", "/api/images", { cred: alice, json: { name: "hist.img", hypervisor: "kvm" } })).status, 201);
  const put = (query: string, body: Buffer) => t.call("PUT", `/api/images/raw/alice/kvm/hist.img${query}`, { cred: alice, body, headers: { "content-type": "application/octet-stream" } });
  assert.equal((await put("", v1)).status, 200);
  assert.equal((await put(`?comment=${encodeURIComponent("new kernel")}`, v2)).status, 200);
});
after(async () => {
  await browser?.close();
  await t?.close();
});

test("the history lists every version, the current one marked; rolling back makes version 1 current again as version 3", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, IMAGE);
  assert.deepEqual(await historyRows(page), [["2", true], ["1", false]]);
  const row2 = await page.locator("table.history tr[data-version='2']").innerText();
  for (const part of [/current/, new RegExp(sha(v2)), /4\.88 KiB/, /alice/, /new kernel/]) assert.match(row2, part);
  // What the server detected: random bytes are a raw disk of their length.
  assert.equal(await page.locator("table.history tr[data-version='2'] td[data-label=Format]").innerText(), "raw, 4.88 KiB disk");
  assert.equal(await page.locator("table.files td[data-label=Format]").innerText(), "raw, 4.88 KiB disk");
  assert.match(await page.locator("table.history tr[data-version='1']").innerText(), new RegExp(sha(v1)));
  assert.match(await page.locator("#history-h + .hint").innerText(), /^Versions kept per hypervisor: the server's default\./);
  assert.match(await page.locator("#files-h ~ .hint").innerText(), /Each upload becomes a new version and the current file; the older versions are kept \(see History\)/);
  // The current version cannot be rolled back to.
  assert.equal(await page.getByRole("button", { name: "Roll back kvm to version 2" }).count(), 0);

  // Cancelling the dialog changes nothing.
  await page.getByRole("button", { name: "Roll back kvm to version 1" }).click();
  const dialog = page.getByRole("dialog");
  assert.match(await dialog.innerText(), /become the current kvm file again, as a new version; nothing is copied\. Nothing is deleted either/);
  await screenshot(page, "alice-rollback-dialog-wide");
  await page.keyboard.press("Escape");
  assert.equal(await dialog.count(), 0);
  assert.equal((await apiImage()).files.kvm.version, 2);

  await page.getByRole("button", { name: "Roll back kvm to version 1" }).click();
  await dialog.getByLabel("Comment (optional)").fill("version 2 does not boot");
  await dialog.getByRole("button", { name: "Roll back", exact: true }).click();
  await page.waitForSelector("main .messages .alert-ok");
  assert.equal(await message(page), "Version 1 of kvm is current again (as version 3).");
  const img = await apiImage();
  assert.equal(img.files.kvm.version, 3);
  assert.equal(img.files.kvm.checksum.value, sha(v1));
  assert.ok((await t.call("GET", "/api/images/raw/alice/kvm/hist.img", { cred: t.cred("alice") })).body.equals(v1));

  assert.deepEqual(await historyRows(page), [["3", true], ["2", false], ["1", false]]);
  assert.match(await page.locator("table.history tr[data-version='3']").innerText(), /rollback to version 1 — version 2 does not boot/);
  assert.match(await page.locator("table.files tbody tr").innerText(), /^kvm\s+3\s/);
  // Version 1 holds the current bytes: rolling back to it would change nothing. Version 2 may.
  assert.equal(await page.getByRole("button", { name: "Roll back kvm to version 1" }).count(), 0);
  assert.match(await page.locator("table.history tr[data-version='1']").innerText(), /same bytes as the current version/);
  assert.equal(await page.getByRole("button", { name: "Roll back kvm to version 2" }).count(), 1);

  // Each version downloads by its digest: version 2's bytes, although version 3 is current.
  const href = await page.getByRole("link", { name: "Download kvm version 2" }).getAttribute("href");
  assert.equal(href, `/api/images/raw/alice/kvm/hist.img@sha256:${sha(v2)}`);
  const fetched = await page.evaluate(async (url) => {
    const r = await fetch(url);
    const digest = await crypto.subtle.digest("SHA-256", await r.arrayBuffer());
    return [r.status, Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("")];
  }, href!);
  assert.deepEqual(fetched, [200, sha(v2)]);
  await page.locator("#history-h").scrollIntoViewIfNeeded();
  await screenshot(page, "alice-image-history-wide");

  // Narrow screens: the table becomes stacked rows, and nothing overflows sideways.
  const narrow = await (await contextFor(browser, t, "alice", NARROW)).newPage();
  const narrowErrors = collectErrors(narrow);
  await open(narrow, t, IMAGE);
  assert.deepEqual(await historyRows(narrow), [["3", true], ["2", false], ["1", false]]);
  assert.equal(await narrow.locator("table.history td").first().evaluate((td) => getComputedStyle(td).display), "block");
  assert.ok(await narrow.evaluate(() => document.documentElement.scrollWidth <= innerWidth), "no horizontal scrolling");
  await screenshot(narrow, "alice-image-history-narrow");
  assert.deepEqual([...errors, ...narrowErrors], []);
  await narrow.context().close();
  await ctx.close();
});

test("bob, with whom it is shared, sees the history without rollback; with a group power he may roll back and freeze, but not thaw", async () => {
  const admin = t.cred("admin");
  assert.equal((await t.call("POST", "/api/images/alice/hist.img/share/user/bob", { cred: t.cred("alice") })).status, 200);
  const ctx = await contextFor(browser, t, "bob");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, IMAGE);
  assert.deepEqual(await historyRows(page), [["3", true], ["2", false], ["1", false]]);
  assert.equal(await page.getByRole("button", { name: /^Roll back/ }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Make read-only" }).count(), 0);
  assert.equal(await page.locator("input[type=file]").count(), 0);
  assert.equal(await page.getByRole("link", { name: "Download kvm version 1" }).getAttribute("href"), `/api/images/raw/alice/kvm/hist.img@sha256:${sha(v1)}`);

  // image_modify_group through a group both belong to: rollback and freezing are offered.
  assert.equal((await t.call("POST", "/api/groups", { cred: admin, json: { name: "lab" } })).status, 201);
  for (const u of ["alice", "bob"]) assert.equal((await t.call("POST", `/api/groups/lab/users/${u}`, { cred: admin })).status, 200);
  assert.equal((await t.call("POST", "/api/groups/lab/permissions/image_modify_group", { cred: admin })).status, 200);
  // The page reads bob's permissions when it loads.
  await page.reload();
  await page.waitForFunction((h) => document.documentElement.dataset.rendered === h, IMAGE);
  assert.equal(await page.getByRole("button", { name: "Roll back kvm to version 2" }).count(), 1);
  // Bob could not make it writable again, so he is told before freezing it.
  await page.getByRole("button", { name: "Make read-only" }).click();
  assert.match(await page.getByRole("dialog").innerText(), /until its owner \(alice\) or an admin makes it writable again\. You cannot\./);
  await page.getByRole("dialog").getByRole("button", { name: "Make read-only" }).click();
  await page.waitForSelector("main .alert-ok >> text=The image is now read-only.");
  assert.equal((await apiImage()).read_only, true);
  assert.equal(await page.getByRole("button", { name: /^Roll back/ }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Make writable" }).count(), 0);
  assert.match(await page.locator("main .alert-info").first().innerText(), /only its owner \(alice\) or an admin can make it writable/);

  // Alice may: her page offers it, and afterwards rollback again.
  const alicePage = await (await contextFor(browser, t, "alice")).newPage();
  await open(alicePage, t, IMAGE);
  assert.equal(await alicePage.getByRole("button", { name: /^Roll back/ }).count(), 0);
  await alicePage.getByRole("button", { name: "Make writable" }).click();
  await alicePage.waitForSelector("main .alert-ok >> text=The image is writable again.");
  assert.equal((await apiImage()).read_only, false);
  assert.equal(await alicePage.getByRole("button", { name: "Roll back kvm to version 2" }).count(), 1);
  await alicePage.context().close();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("an image asked for under the wrong owner names where it is; an expired one says so", async () => {
  const ctx = await contextFor(browser, t, "bob");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/images/bob/hist.img");
  const alert = await page.locator("main [role=alert]").innerText();
  assert.match(alert, /does not exist, or you are not allowed to see it/);
  assert.match(alert, /The server says: image 'bob\/hist.img' does not exist, but you can see alice\/hist.img/);
  await page.getByRole("link", { name: "alice/hist.img" }).click();
  await page.waitForSelector("h1:text('hist.img')");
  assert.equal(await page.evaluate(() => location.hash), IMAGE);

  assert.equal((await t.call("POST", "/api/images/alice/hist.img", { cred: t.cred("alice"), json: { expires: "2021-06-01" } })).status, 200);
  await open(page, t, "#/");
  await open(page, t, IMAGE);
  assert.equal(await page.locator("h1").innerText(), "Image expired");
  const expired = page.locator("main [role=alert]");
  assert.match(await expired.innerText(), /This image expired on .*2021.*\. Only its owner and admins see it now; its owner can extend it\./);
  assert.equal(await expired.locator("time").getAttribute("datetime"), "2021-06-01T00:00:00.000Z");
  // Its owner still sees it, marked.
  const alicePage = await (await contextFor(browser, t, "alice")).newPage();
  await open(alicePage, t, IMAGE);
  assert.equal(await alicePage.locator(".badges .badge-warn").innerText(), "Expired");
  await alicePage.context().close();
  assert.equal((await t.call("POST", "/api/images/alice/hist.img", { cred: t.cred("alice"), json: { expires: "" } })).status, 200);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("the delete dialog says who loses the image and every version that goes with it", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, IMAGE);
  await page.getByRole("button", { name: "Delete" }).click();
  const said = await page.getByRole("dialog").innerText();
  assert.match(said, /It is private\./);
  assert.match(said, /It is shared with user bob, who will lose it\./);
  // Three versions, two distinct contents: 3000 + 5000 bytes.
  assert.match(said, /All 3 versions are deleted with it \(7\.81 KiB stored\)\./);
  await page.getByRole("dialog").getByRole("button", { name: "Delete image" }).click();
  await page.waitForSelector("main .alert-ok >> text=Deleted alice/hist.img");
  assert.equal((await t.call("GET", "/api/images/alice/hist.img", { cred: t.cred("alice") })).status, 404);
  assert.deepEqual(errors, []);
  await ctx.close();
});
