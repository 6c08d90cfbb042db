// Find and inspect in real Chromium over TLS: what an anonymous visitor sees, what a user with a
// client certificate sees, search, filters, sorting and pagination, and denials.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { collectErrors, contextFor, launch, NARROW, open, screenshot } from "./browser.js";

let t: TestServer;
let browser: Browser;

before(async () => {
  t = await startTestServer(await fixturePki());
  browser = await launch();
  await addUsers(t, ["alice", "bob"]);
  const alice = t.cred("alice");
  const bob = t.cred("bob");
  const mk = async (cred: typeof alice, json: Record<string, unknown>) => {
    const r = await t.call("POST", "/api/images", { cred, json });
    assert.equal(r.status, 201, r.text);
  };
  await mk(alice, { name: "centos7-public.img", description: "CentOS 7 worker node", os_type: "linux", os_variant: "centos7", os_arch: "x86_64", hypervisor: "kvm,xen", unauthenticated_access: true });
  await mk(alice, { name: "alice-private.img", description: "Alice's secret build", os_type: "linux", os_arch: "x86_64", hypervisor: "kvm" });
  await mk(bob, { name: "bob-private.img", description: "Bob's <b>own</b> image", os_type: "linux", os_arch: "aarch64", hypervisor: "kvm" });
  await mk(bob, { name: "bob-shared.img", description: "Shared with alice", os_type: "linux", os_variant: "alma9", os_arch: "aarch64", hypervisor: "kvm" });
  assert.equal((await t.call("POST", "/api/images/bob/bob-shared.img/share/user/alice", { cred: bob })).status, 200);
  const put = await t.call("PUT", "/api/images/raw/alice/kvm/centos7-public.img", { cred: alice, body: Buffer.alloc(3000, 7) });
  assert.equal(put.status, 200, put.text);
});
after(async () => {
  await browser?.close();
  await t?.close();
});

const names = (page: import("playwright-core").Page) => page.locator("table.images tbody .cell-name a").allTextContents();

test("an anonymous visitor sees only public images, and their pages", async () => {
  const ctx = await contextFor(browser, t, null);
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t);
  assert.deepEqual(await names(page), ["centos7-public.img"]);
  assert.match(await page.locator("#who").innerText(), /Not signed in/);
  assert.match(await page.locator("main").innerText(), /browsing anonymously/);
  // No actions for anonymous visitors.
  assert.equal(await page.getByRole("link", { name: "New image" }).count(), 0);
  await screenshot(page, "anonymous-list-wide");

  await page.getByRole("link", { name: "centos7-public.img" }).click();
  await page.waitForSelector("h1:text('centos7-public.img')");
  const main = await page.locator("main").innerText();
  assert.match(main, /CentOS 7 worker node/);
  assert.match(main, /2\.93 KiB/);
  assert.match(main, /Public URL, no certificate needed/);
  for (const action of ["Edit metadata", "Rename", "Delete", "Make private"]) assert.equal(await page.getByRole("button", { name: action }).or(page.getByRole("link", { name: action })).count(), 0, action);
  assert.equal(await page.locator("input[type=file]").count(), 0);
  // The download link works without a certificate for a public image.
  const download = page.getByRole("link", { name: "Download the kvm file" });
  assert.equal(await download.getAttribute("href"), "/api/images/raw/alice/kvm/centos7-public.img");
  await screenshot(page, "anonymous-image-wide");

  await open(page, t, "#/images/alice/alice-private.img");
  assert.match(await page.locator("main [role=alert]").innerText(), /does not exist, or you are not allowed to see it/);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a user with a certificate lists own, shared and public images, and is denied others' private ones", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t);
  assert.match(await page.locator("#who").innerText(), /alice/);
  assert.deepEqual(await names(page), ["alice-private.img", "centos7-public.img", "bob-shared.img"]);
  // Markup in data is shown as text.
  assert.equal(await page.locator("main b").count(), 0);
  await screenshot(page, "alice-list-wide");

  await open(page, t, "#/images/bob/bob-private.img");
  assert.match(await page.locator("main [role=alert]").innerText(), /Not found or not allowed/);
  await screenshot(page, "alice-denied-wide");

  // Shared with her but not hers: she sees it, without actions.
  await open(page, t, "#/images/bob/bob-shared.img");
  assert.match(await page.locator("main").innerText(), /Shared with alice/);
  assert.equal(await page.getByRole("button", { name: "Delete" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Edit metadata" }).count(), 0);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("search, filters, sorting and pagination drive the list", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t);

  await page.getByLabel("Search").fill("secret");
  await page.getByRole("button", { name: "Search" }).click();
  await page.waitForFunction(() => location.hash.includes("q=secret"));
  await page.waitForSelector("table.images");
  assert.deepEqual(await names(page), ["alice-private.img"]);

  await open(page, t);
  await page.getByLabel("Architecture").selectOption("aarch64");
  await page.waitForFunction(() => location.hash.includes("os_arch=aarch64"));
  await page.waitForSelector("table.images");
  assert.deepEqual(await names(page), ["bob-shared.img"]);

  await open(page, t, "#/?show=mine");
  assert.deepEqual(await names(page), ["alice-private.img", "centos7-public.img"]);
  await open(page, t, "#/?show=shared");
  assert.deepEqual(await names(page), ["bob-shared.img"]);
  await open(page, t, "#/?show=public");
  assert.deepEqual(await names(page), ["centos7-public.img"]);

  // Sorting by a column header: the one file-bearing image first when largest first.
  await open(page, t);
  await page.getByRole("button", { name: "Size" }).click();
  await page.waitForFunction(() => location.hash.includes("sort=-size"));
  await page.waitForSelector("th[aria-sort=descending]");
  assert.equal((await names(page))[0], "centos7-public.img");
  await page.getByRole("button", { name: "Name" }).click();
  await page.waitForSelector("th[aria-sort=ascending] >> text=Name");
  assert.deepEqual(await names(page), ["alice-private.img", "bob-shared.img", "centos7-public.img"]);

  // Keyset pagination, two per page, forwards and back.
  for (let i = 0; i < 3; i++) assert.equal((await t.call("POST", "/api/images", { cred: t.cred("alice"), json: { name: `page-${i}.img` } })).status, 201);
  await open(page, t, "#/?sort=name&limit=2");
  const seen: string[] = [];
  seen.push(...(await names(page)));
  assert.match(await page.locator(".results-count").innerText(), /Images 1–2/);
  for (;;) {
    const next = page.getByRole("button", { name: "Next page" });
    if ((await next.count()) === 0) break;
    const before = await page.locator(".results-count").innerText();
    await next.click();
    await page.waitForFunction((b) => {
      const now = document.querySelector(".results-count")?.textContent;
      return !!now && now !== b;
    }, before);
    seen.push(...(await names(page)));
  }
  assert.deepEqual(seen, ["alice-private.img", "bob-shared.img", "centos7-public.img", "page-0.img", "page-1.img", "page-2.img"]);
  // A full last page links to an empty one, as keyset pagination must; back from there twice.
  assert.match(await page.locator(".results-count").innerText(), /No more images/);
  await page.getByRole("button", { name: "Previous page" }).click();
  await page.waitForFunction(() => document.querySelector(".results-count")?.textContent?.startsWith("Images 5–6"));
  await page.getByRole("button", { name: "Previous page" }).click();
  await page.waitForFunction(() => document.querySelector(".results-count")?.textContent?.startsWith("Images 3–4"));
  assert.deepEqual(await names(page), ["centos7-public.img", "page-0.img"]);
  await screenshot(page, "alice-list-paged-wide");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("the list and an image page read well on a narrow screen", async () => {
  const ctx = await contextFor(browser, t, "alice", NARROW);
  const page = await ctx.newPage();
  await open(page, t);
  // No horizontal scrolling on a phone-sized screen.
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "the list overflows horizontally");
  await screenshot(page, "alice-list-narrow");
  await open(page, t, "#/images/alice/centos7-public.img");
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "the image page overflows horizontally");
  await screenshot(page, "alice-image-narrow");
  // Keyboard: after navigation focus is on the page's heading; from the top, the skip link comes
  // first and lands on the content.
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), "H1");
  await page.locator(".brand").focus();
  await page.keyboard.press("Shift+Tab");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Skip to content");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement?.id), "main");
  await ctx.close();
});
