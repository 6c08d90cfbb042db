// Admin pages in real Chromium: the admin suspends a user (who is then refused), edits a DN,
// creates a user and a group, manages members and permissions; a non-admin is offered none of it.
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
});
after(async () => {
  await browser?.close();
  await t?.close();
});

test("an admin suspends a user, who is then refused, and reactivates them", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/users");
  assert.match(await page.locator("#who").innerText(), /admin/);
  assert.deepEqual(await page.locator("table.users tbody tr").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.user)), ["admin", "alice", "bob"]);
  // Admins are not offered suspending or deleting themselves.
  assert.equal(await page.getByRole("button", { name: "Suspend admin" }).count(), 0);
  await screenshot(page, "admin-users-wide");

  await page.getByRole("button", { name: "Suspend bob" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Suspend" }).click();
  await page.waitForSelector("main .alert-ok >> text=bob is suspended");
  assert.match(await page.locator("tr[data-user=bob]").innerText(), /Suspended/);
  assert.equal((await t.call("GET", "/api/whoami", { cred: t.cred("bob") })).status, 403);

  const bobCtx = await contextFor(browser, t, "bob");
  const bobPage = await bobCtx.newPage();
  await open(bobPage, t);
  assert.match(await bobPage.locator("#banner [role=alert]").innerText(), /account 'bob' is suspended/);
  await screenshot(bobPage, "bob-suspended-wide");
  await bobCtx.close();

  await page.getByRole("button", { name: "Reactivate bob" }).click();
  await page.waitForSelector("main .alert-ok >> text=bob is active again");
  assert.equal((await t.call("GET", "/api/whoami", { cred: t.cred("bob") })).status, 200);

  // Edit a DN.
  await page.getByRole("button", { name: "Edit the DN of alice" }).click();
  await page.getByRole("dialog").getByLabel("Certificate DN").fill("CN=Alice Example,OU=test,O=Grid,C=CA");
  await page.getByRole("dialog").getByRole("button", { name: "Save" }).click();
  await page.waitForSelector("main .alert-ok >> text=Changed the DN of alice");
  assert.equal((await t.call("GET", "/api/users/alice", { cred: t.cred("admin") })).json.client_dn, "/C=CA/O=Grid/OU=test/CN=Alice Example");

  // Create a user.
  await page.locator("summary", { hasText: "Create a user" }).click();
  await page.getByLabel("User name").fill("erin");
  await page.getByLabel("Certificate DN", { exact: true }).fill("/C=CA/O=Grid/OU=test/CN=Erin Example");
  await page.getByLabel("Email").fill("erin@example.org");
  await page.getByRole("button", { name: "Create user" }).click();
  await page.waitForSelector("main .alert-ok >> text=Created user erin");
  const erin = await t.call("GET", "/api/whoami", { cred: t.cred("erin") });
  assert.equal(erin.json?.user_name, "erin", erin.text);

  const narrow = await contextFor(browser, t, "admin", NARROW);
  const small = await narrow.newPage();
  await open(small, t, "#/users");
  assert.ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "the users page overflows horizontally");
  await screenshot(small, "admin-users-narrow");
  await narrow.close();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("an admin creates a group, manages its members and permissions, renames and deletes it", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/groups");
  await page.locator("summary", { hasText: "Create a group" }).click();
  await page.getByLabel("Group name").fill("atlas");
  await page.getByLabel("Members", { exact: true }).fill("alice");
  await page.getByRole("checkbox", { name: /^\s*image_modify_group\b/ }).check();
  await page.getByRole("button", { name: "Create group" }).click();
  await page.waitForSelector("h1:text('atlas')");
  assert.match(await page.locator("main").innerText(), /Created group atlas/);

  await page.getByLabel("Add a member").fill("bob");
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.waitForSelector("main .alert-ok >> text=Added bob to atlas");
  // Names and meanings come from GET /api/permissions, not from a copy in the page.
  assert.match(await page.locator(".perm-grid").innerText(), /image_delete_group\s*delete images owned by members of the group granting it/);
  await page.getByRole("checkbox", { name: /^\s*image_delete_group\b/ }).check();
  await page.waitForSelector("main .alert-ok >> text=Granted image_delete_group to atlas");
  let g = (await t.call("GET", "/api/groups/atlas", { cred: t.cred("admin") })).json;
  assert.deepEqual(g.users.map((u: string) => u.split("/").pop()), ["alice", "bob"]);
  assert.deepEqual(g.permissions, ["image_delete_group", "image_modify_group"]);
  await screenshot(page, "admin-group-wide");

  await page.getByRole("button", { name: "Remove bob from atlas" }).click();
  await page.waitForSelector("main .alert-ok >> text=Removed bob from atlas");
  await page.getByRole("checkbox", { name: /^\s*image_modify_group\b/ }).uncheck();
  await page.waitForSelector("main .alert-ok >> text=Revoked image_modify_group from atlas");
  g = (await t.call("GET", "/api/groups/atlas", { cred: t.cred("admin") })).json;
  assert.deepEqual(g.permissions, ["image_delete_group"]);

  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByRole("dialog").getByLabel("New name").fill("atlas-prod");
  await page.getByRole("dialog").getByRole("button", { name: "Rename" }).click();
  await page.waitForSelector("h1:text('atlas-prod')");
  await page.getByRole("button", { name: "Delete group" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Delete group" }).click();
  await page.waitForSelector("h1:text('Groups')");
  assert.equal((await t.call("GET", "/api/groups/atlas-prod", { cred: t.cred("admin") })).status, 404);
  await screenshot(page, "admin-groups-wide");
  // Built-in groups cannot be renamed or deleted: not offered.
  await open(page, t, "#/groups/users");
  assert.equal(await page.getByRole("button", { name: "Delete group" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Rename" }).count(), 0);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a non-admin is offered no admin actions", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  await open(page, t, "#/users");
  assert.equal(await page.locator("summary", { hasText: "Create a user" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: /Suspend|Edit the DN|Delete/ }).count(), 0);
  await open(page, t, "#/groups/users");
  assert.equal(await page.getByRole("button", { name: /Remove|Add|Rename|Delete/ }).count(), 0);
  assert.ok(await page.locator(".perm-grid input").evaluateAll((boxes) => boxes.every((b) => (b as HTMLInputElement).disabled)));
  // Her own account: she may change her name and email, not her DN or suspension.
  await open(page, t, "#/me");
  assert.match(await page.locator("h1").innerText(), /My account \(alice\)/);
  assert.equal(await page.getByLabel("Certificate DN", { exact: true }).count(), 0);
  await page.getByLabel("Full name").fill("Alice Q. Example");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForSelector("main .alert-ok >> text=Saved.");
  assert.equal((await t.call("GET", "/api/whoami", { cred: t.cred("alice") })).json.full_name, "Alice Q. Example");
  await screenshot(page, "alice-account-wide");
  await ctx.close();
});
