// The audit log in real Chromium: changes made through the API by alice, bob and the admin appear in
// the admin's view with who, when, from where and what changed; the filters narrow them (and the
// address keeps them), "More events" follows `next` to the end, an image's page links to its
// history, and a non-admin is offered none of it and refused by the server when they go there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Browser, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, ADMIN_DN, startTestServer, type TestServer } from "../support/server.js";
import type { Reply } from "../support/http.js";
import { collectErrors, contextFor, launch, NARROW, open, screenshot } from "./browser.js";

let t: TestServer;
let browser: Browser;
// A moment between the two batches of changes, on a whole second (the form's times have seconds).
let middle: string;
const file = randomBytes(3000);

type Event = { id: string; time: string; user: string | null; dn: string | null; remote: string | null; request_id: string | null; action: string; target: string; before: Record<string, unknown> | null; after: Record<string, unknown> | null };
const events = async (query = ""): Promise<Event[]> => {
  const r = await t.call("GET", `/api/audit?limit=1000${query}`, { cred: t.cred("admin") });
  assert.equal(r.status, 200, r.text);
  return r.json.events;
};
const ok = (r: Reply, status = 200) => (assert.equal(r.status, status, r.text), r);
/** The event a request made, found by the request id the server answered with. */
const eventOf = async (r: Reply) => (await events()).find((e) => e.request_id === r.headers["x-request-id"])!;

/** The table's rows as the admin reads them, cell by cell. */
const tableRows = (p: Page) =>
  p.locator("table.audit tbody tr").evaluateAll((rows) =>
    rows.map((r) => {
      const cell = (label: string) => r.querySelector(`td[data-label="${label}"]`) as HTMLElement;
      return {
        id: (r as HTMLElement).dataset.id,
        time: cell("Time").querySelector("time")?.getAttribute("datetime"),
        user: cell("User").firstElementChild?.textContent,
        address: cell("Address").firstChild?.textContent,
        action: cell("Action").textContent,
        target: cell("Target").textContent,
      };
    }),
  );
const row = (p: Page, id: string) => p.locator(`table.audit tr[data-id="${id}"]`);
/** Wait until the page has drawn this address (after a click or a form submission). */
const rendered = (p: Page, hash: string) => p.waitForFunction((h) => document.documentElement.dataset.rendered === h, hash);
const auditHash = (q: Record<string, string>) => `#/audit?${new URLSearchParams(q)}`;

let modified: Event, upload: Event, renamedBob: Event;

before(async () => {
  t = await startTestServer(await fixturePki());
  browser = await launch();
  await addUsers(t, ["alice", "bob"]);
  const [admin, alice, bob] = [t.cred("admin"), t.cred("alice"), t.cred("bob")];
  ok(await t.call("POST", "/api/images", { cred: alice, json: { name: "audit.img", description: "first", hypervisor: "kvm" } }), 201);
  modified = await eventOf(ok(await t.call("POST", "/api/images/alice/audit.img", { cred: alice, json: { description: "second" } })));
  ok(await t.call("POST", "/api/images/alice/audit.img/share/user/bob", { cred: alice, json: {} }));
  ok(await t.call("POST", "/api/images", { cred: bob, json: { name: "bob.img", hypervisor: "kvm" } }), 201);
  renamedBob = await eventOf(ok(await t.call("POST", "/api/users/bob", { cred: admin, json: { full_name: "Robert Example" } })));

  const ms = Math.ceil((Date.now() + 1) / 1000) * 1000;
  await sleep(ms - Date.now() + 20);
  middle = new Date(ms).toISOString().replace(".000Z", "Z");

  ok(await t.call("POST", "/api/groups", { cred: admin, json: { name: "lab", users: ["alice"] } }), 201);
  upload = await eventOf(ok(await t.call("PUT", "/api/images/raw/alice/kvm/audit.img", { cred: alice, body: file, headers: { "content-type": "application/octet-stream" } })));
  ok(await t.call("POST", "/api/images", { cred: bob, json: { name: "late.img", hypervisor: "kvm" } }), 201);
});
after(async () => {
  await browser?.close();
  await t?.close();
});

test("the admin sees every change with its time, user, address, action, target and values", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t);
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Audit log" }).click();
  await rendered(page, "#/audit");
  assert.equal(await page.getByRole("link", { name: "Audit log" }).getAttribute("aria-current"), "page");
  assert.deepEqual(await page.locator("table.audit thead th").allInnerTexts(), ["Time", "User", "Address", "Action", "Target", "Change"]);

  // Everything, newest first, exactly as the API lists it.
  const all = await events();
  const rows = await tableRows(page);
  assert.deepEqual(
    rows,
    all.map((e) => ({ id: e.id, time: e.time, user: e.user ?? "server", address: e.remote, action: e.action, target: e.target })),
  );
  assert.equal(await page.locator("#audit-count").innerText(), `Events 1–${all.length} (all that match)`);
  assert.equal(await page.getByRole("button", { name: "More events" }).count(), 0);

  // A modification: the value before, then after; with the certificate and the request's log id.
  const m = row(page, modified.id);
  assert.match(await m.locator("td[data-label=User]").innerText(), /alice\s+\/C=CA\/O=Grid\/OU=test\/CN=Alice Example/);
  assert.match(await m.locator("td[data-label=Address]").innerText(), new RegExp(`127\\.0\\.0\\.1\\s+request ${modified.request_id}`));
  assert.equal(await m.locator(".changes li").count(), 1);
  assert.equal(await m.locator(".changes li .change-key").innerText(), "description");
  assert.equal(await m.locator(".changes del").innerText(), "first");
  assert.equal(await m.locator(".changes ins").innerText(), "second");
  const b = row(page, renamedBob.id);
  assert.match(await b.locator("td[data-label=User]").innerText(), new RegExp(`^admin\\s+${ADMIN_DN}`));
  assert.deepEqual([await b.locator(".changes del").innerText(), await b.locator(".changes ins").innerText()], ["Bob Example", "Robert Example"]);

  // An upload: sizes as sizes, the digest abbreviated with the whole of it kept in the <abbr>.
  const u = row(page, upload.id);
  const sha = createHash("sha256").update(file).digest("hex");
  assert.equal(upload.after?.sha256, sha);
  assert.equal(await u.locator(`.changes abbr[title="${sha}"]`).innerText(), `${sha.slice(0, 12)}…`);
  assert.match(await u.locator(".changes").innerText(), /size: 2\.93 KiB/);
  assert.equal(await u.locator(".changes li", { hasText: "size" }).locator("[title]").getAttribute("title"), "3000 bytes");

  // The bootstrap admin was made by the server itself, not by a user.
  const bootstrap = all.find((e) => e.action === "user.create" && e.target === "user admin")!;
  assert.equal(bootstrap.user, null);
  assert.equal(await row(page, bootstrap.id).locator("td[data-label=User]").innerText(), "server");
  await screenshot(page, "admin-audit-wide");

  const narrow = await contextFor(browser, t, "admin", NARROW);
  const small = await narrow.newPage();
  await open(small, t, "#/audit");
  assert.ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), "the audit page overflows horizontally");
  await screenshot(small, "admin-audit-narrow");
  await narrow.close();
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("the filters narrow the events, and the address keeps them", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/audit");
  const filter = async (fields: Record<string, string>, expected: Record<string, string>) => {
    await page.getByRole("link", { name: "Clear all filters" }).click();
    await rendered(page, "#/audit");
    for (const [label, v] of Object.entries(fields)) await page.getByLabel(label, { exact: true }).fill(v);
    await page.getByRole("button", { name: "Filter" }).click();
    await rendered(page, auditHash(expected));
    return tableRows(page);
  };
  const ids = (list: { id?: string }[]) => list.map((e) => e.id);

  const byBob = await filter({ User: "bob" }, { user: "bob" });
  assert.deepEqual(ids(byBob), ids(await events("&user=bob")));
  assert.deepEqual([...new Set(byBob.map((r) => r.user))], ["bob"]);
  assert.equal(byBob.length, 2);
  // The form shows the filter the page was opened with.
  assert.equal(await page.getByLabel("User", { exact: true }).inputValue(), "bob");

  const imageChanges = await filter({ Action: "image." }, { action: "image." });
  assert.deepEqual(ids(imageChanges), ids(await events("&action=image.")));
  assert.ok(imageChanges.every((r) => r.action!.startsWith("image.")), JSON.stringify(imageChanges));

  const oneImage = await filter({ Target: "alice/audit.img" }, { target: "alice/audit.img" });
  assert.deepEqual(oneImage.map((r) => r.action), ["image.upload", "image.share", "image.modify", "image.create"]);

  const aliceImages = await filter({ User: "alice", Action: "image.create" }, { user: "alice", action: "image.create" });
  assert.deepEqual(aliceImages.map((r) => [r.user, r.action, r.target]), [["alice", "image.create", "alice/audit.img"]]);

  // Times are typed in the visitor's own time and sent to the server in UTC.
  const local = await page.evaluate((iso) => {
    const d = new Date(iso);
    const p = (n: number) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }, middle);
  const later = await filter({ Since: local }, { since: middle });
  assert.deepEqual(later.map((r) => r.action), ["image.create", "image.upload", "group.create"]);
  assert.equal(await page.getByLabel("Since", { exact: true }).inputValue(), local);
  const earlier = await filter({ Until: local }, { until: middle });
  assert.deepEqual(ids(earlier), ids(await events(`&until=${middle}`)));
  assert.ok(earlier.every((r) => r.time! < middle) && earlier.length > 0);

  // A value in the table narrows the current filters by it.
  await open(page, t, auditHash({ user: "alice" }));
  await row(page, modified.id).getByRole("link", { name: "image.modify" }).click();
  await rendered(page, auditHash({ user: "alice", action: "image.modify" }));
  assert.deepEqual(ids(await tableRows(page)), [modified.id]);

  // What the server refuses is said under the form, which stays to correct it.
  await filter({ Action: "Image" }, { action: "Image" });
  assert.match(await page.locator(".results [role=alert]").innerText(), /action: .*image\.modify/);
  assert.equal(await page.getByLabel("Action", { exact: true }).inputValue(), "Image");
  assert.equal(await page.locator("table.audit").count(), 0);
  await screenshot(page, "admin-audit-filtered-wide");
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("'More events' follows next until the last page, without gaps or repeats", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/audit?limit=3");
  assert.equal(await page.getByLabel("Per page").inputValue(), "3");
  const all = (await events()).map((e) => e.id);
  assert.ok(all.length > 9, `enough events for several pages: ${all.length}`);
  assert.deepEqual((await tableRows(page)).map((r) => r.id), all.slice(0, 3));
  const more = page.getByRole("button", { name: "More events" });
  for (let shown = 3; shown < all.length; shown += 3) {
    await more.click();
    await page.waitForFunction((n) => document.querySelectorAll("table.audit tbody tr").length === n, Math.min(shown + 3, all.length));
    // Focus moves to the first new event, where reading goes on.
    assert.equal(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.id), all[shown]);
  }
  assert.deepEqual((await tableRows(page)).map((r) => r.id), all);
  // A last page that happens to be full still has a `next`, which answers nothing more.
  if (all.length % 3 === 0) {
    await more.click();
    await page.waitForFunction(() => !document.querySelector(".pager"));
  }
  assert.equal(await more.count(), 0);
  assert.equal(await page.locator("#audit-count").innerText(), `Events 1–${all.length} (all that match)`);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("an image's page leads admins to its audit history, and a user's page to theirs", async () => {
  const ctx = await contextFor(browser, t, "admin");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/images/alice/audit.img");
  await page.getByRole("link", { name: "Audit history" }).click();
  const hash = auditHash({ target: "alice/audit.img" });
  await rendered(page, hash);
  assert.equal(await page.getByLabel("Target", { exact: true }).inputValue(), "alice/audit.img");
  const rows = await tableRows(page);
  assert.deepEqual(rows.map((r) => r.id), (await events("&target=alice%2Faudit.img")).map((e) => e.id));
  assert.deepEqual(rows.map((r) => r.action), ["image.upload", "image.share", "image.modify", "image.create"]);

  await open(page, t, "#/users/bob");
  await page.getByRole("link", { name: "Changes made by bob" }).click();
  await rendered(page, auditHash({ user: "bob" }));
  assert.deepEqual((await tableRows(page)).map((r) => [r.user, r.action]), [["bob", "image.create"], ["bob", "image.create"]]);
  await open(page, t, "#/users/bob");
  await page.getByRole("link", { name: "Changes to this account" }).click();
  await rendered(page, auditHash({ target: "user bob" }));
  assert.deepEqual((await tableRows(page)).map((r) => [r.user, r.action]), [["admin", "user.modify"], ["admin", "user.create"]]);
  await open(page, t, "#/groups/lab");
  await page.getByRole("link", { name: "Audit history" }).click();
  await rendered(page, auditHash({ target: "group lab" }));
  assert.deepEqual((await tableRows(page)).map((r) => r.action), ["group.create"]);
  assert.deepEqual(errors, []);
  await ctx.close();
});

test("a non-admin is offered no audit log, and the server refuses it when they go there", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  const errors = collectErrors(page);
  await open(page, t, "#/images/alice/audit.img");
  assert.equal(await page.getByRole("link", { name: "Audit log" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Audit history" }).count(), 0);
  await open(page, t, "#/me");
  assert.equal(await page.getByRole("link", { name: /Changes (made by|to this account)/ }).count(), 0);

  const refused = page.waitForResponse((r) => new URL(r.url()).pathname === "/api/audit");
  await open(page, t, "#/audit");
  assert.equal((await refused).status(), 403);
  assert.match(await page.locator("main [role=alert]").innerText(), /^Not allowed\. .*only admins may read the audit log/);
  assert.equal(await page.locator("table.audit").count(), 0);
  assert.equal(await page.locator("form[role=search]").count(), 0);
  await screenshot(page, "alice-audit-refused-wide");
  await ctx.close();

  const anon = await contextFor(browser, t, null);
  const anonPage = await anon.newPage();
  await open(anonPage, t, "#/audit");
  assert.equal(await anonPage.getByRole("link", { name: "Audit log" }).count(), 0);
  assert.match(await anonPage.locator("main [role=alert]").innerText(), /^Sign-in required\./);
  await anon.close();
  assert.deepEqual(errors, []);
});
