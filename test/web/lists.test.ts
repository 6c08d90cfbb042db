// Image lists in real Chromium over TLS: anyone browses them and sees what each entry lists and
// where sites subscribe; alice publishes, edits and deletes hers from the form; a member of the
// list's group may change it and anyone else is offered nothing; "Add to a list" on a public
// image's page; and the server's refusals shown as it words them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { collectErrors, contextFor, launch, NARROW, open, origin, screenshot } from "./browser.js";

let t: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function pageFor(user: string | null, viewport?: typeof NARROW): Promise<{ page: Page; errors: string[] }> {
  const ctx = await contextFor(browser, t, user, viewport);
  contexts.push(ctx);
  const page = await ctx.newPage();
  return { page, errors: collectErrors(page) };
}
const message = (p: Page) => p.locator("main .messages .alert").innerText();
const apiList = async () => (await t.call("GET", "/api/lists/alice/site")).json;

before(async () => {
  t = await startTestServer(await fixturePki(), { listSigner: true });
  browser = await launch();
  await addUsers(t, ["alice", "bob", "erin"]);
  const alice = t.cred("alice");
  const ok = (r: { status: number; text: string }, status = 200) => assert.equal(r.status, status, r.text);
  ok(await t.call("POST", "/api/images", { cred: alice, json: { name: "sl6.img", description: "SL6 worker", hypervisor: "xen", unauthenticated_access: true } }), 201);
  ok(await t.call("PUT", "/api/images/raw/alice/xen/sl6.img", { cred: alice, body: Buffer.alloc(5000, 1) }));
  ok(await t.call("POST", "/api/images", { cred: alice, json: { name: "cvmfs.img", hypervisor: "kvm", unauthenticated_access: true } }), 201);
  ok(await t.call("PUT", "/api/images/raw/alice/kvm/cvmfs.img", { cred: alice, body: Buffer.alloc(3000, 2) }));
  ok(await t.call("POST", "/api/images", { cred: alice, json: { name: "secret.img", hypervisor: "kvm" } }), 201);
  ok(await t.call("PUT", "/api/images/raw/alice/kvm/secret.img", { cred: alice, body: Buffer.alloc(1000, 3) }));
  ok(await t.call("POST", "/api/groups", { cred: t.cred("admin"), json: { name: "lab", users: ["alice", "bob"] } }), 201);
});
after(async () => {
  for (const c of contexts) await c.close();
  await browser?.close();
  await t?.close();
});

test("alice publishes a list from the form; a private image is refused with the server's reason", async () => {
  const { page, errors } = await pageFor("alice");
  await open(page, t);
  await page.getByRole("link", { name: "Image lists" }).click();
  await page.waitForSelector("h1:text('Image lists')");
  assert.match(await page.locator("main").innerText(), /No image lists yet/);
  await page.getByRole("link", { name: "New list" }).click();
  await page.waitForSelector("h1:text('New image list')");
  await page.getByLabel("Name").fill("site");
  await page.getByLabel("Title").fill("Worker images");
  await page.getByLabel("Description").fill("For the batch cloud");
  await page.getByLabel("Images").fill("alice/sl6.img\nalice/secret.img");
  await page.getByRole("button", { name: "Publish list" }).click();
  await page.waitForSelector("main .messages .alert-error");
  assert.match(await message(page), /Not allowed.*only public images/s);
  assert.equal((await t.call("GET", "/api/lists")).json.length, 0);

  await page.getByLabel("Images").fill("alice/sl6.img");
  await page.getByRole("button", { name: "Publish list" }).click();
  await page.waitForSelector("h1:text('Worker images')");
  assert.equal(await page.evaluate(() => location.hash), "#/lists/alice/site");
  assert.match(await page.locator("main .alert-ok").innerText(), /Published alice\/site\./);
  const l = await apiList();
  assert.equal(l.description, "For the batch cloud");
  assert.deepEqual(l.images.map((e: { image: string; hypervisor: string; pinned: number | null }) => [e.image, e.hypervisor, e.pinned]), [["alice/sl6.img", "xen", null]]);
  assert.deepEqual(errors, []);
});

test("anyone sees the lists, a list's entries with what each lists or why not, and the URL sites subscribe to", async () => {
  // An entry whose image turned private lists nothing, and the page says why.
  assert.equal((await t.call("POST", "/api/lists/alice/site", { cred: t.cred("alice"), json: { images: ["alice/sl6.img", "alice/cvmfs.img@1"] } })).status, 200);
  assert.equal((await t.call("POST", "/api/images/alice/cvmfs.img", { cred: t.cred("alice"), json: { unauthenticated_access: false } })).status, 200);
  const { page, errors } = await pageFor(null);
  await open(page, t, "#/lists");
  const row = page.locator("table.lists tbody tr");
  assert.equal(await row.count(), 1);
  assert.match(await row.innerText(), /alice\/site\s+Worker images\s+\d+/);
  await page.getByRole("link", { name: "alice/site" }).click();
  await page.waitForSelector("h1:text('Worker images')");
  const l = await apiList();
  const main = await page.locator("main").innerText();
  // The page's own origin (localhost), which the server names in its URLs.
  const url = `${origin(t)}/api/lists/alice/site/image.list`;
  assert.ok(main.includes(url), "the subscription URL is shown");
  assert.match(main, /vmcatcher_subscribe -s URL/);
  assert.match(main, /docs\/grid-sites\.md/);
  const entries = page.locator("table.entries tbody tr");
  assert.match(await entries.nth(0).innerText(), new RegExp(`alice/sl6\\.img\\s+xen\\s+the current version\\s+version 1, 4\\.88 KiB sha512:${l.images[0].sha512.slice(0, 16)}`));
  assert.match(await entries.nth(1).innerText(), /alice\/cvmfs\.img\s+kvm\s+version 1 \(pinned\)\s+Omitted the image is no longer public, or has expired/);
  assert.equal((await t.call("POST", "/api/images/alice/cvmfs.img", { cred: t.cred("alice"), json: { unauthenticated_access: true } })).status, 200);
  assert.equal(await page.getByRole("button", { name: "Copy: The signed list: what sites subscribe to" }).count(), 1);
  assert.equal(await page.locator("main pre code").first().innerText(), url);
  // The unsigned document is linked on this origin, and served to anonymous visitors.
  const json = await page.getByRole("link", { name: "image.json" }).getAttribute("href");
  assert.equal(json, "/api/lists/alice/site/image.json");
  assert.equal((await page.request.get(`${origin(t)}${json}`)).status(), 200);
  for (const action of ["Edit list", "Delete list"]) assert.equal(await page.getByRole("button", { name: action }).or(page.getByRole("link", { name: action })).count(), 0, action);
  await screenshot(page, "anonymous-image-list-wide");
  assert.deepEqual(errors, []);

  const narrow = await pageFor(null, NARROW);
  await open(narrow.page, t, "#/lists/alice/site");
  await screenshot(narrow.page, "anonymous-image-list-narrow");
});

test("alice edits her list and gives it to a group; a member may change it, others are offered nothing", async () => {
  const { page, errors } = await pageFor("alice");
  await open(page, t, "#/lists/alice/site");
  await page.getByRole("link", { name: "Edit list" }).click();
  await page.waitForSelector("h1:text('Edit alice/site')");
  assert.equal(await page.getByLabel("Images").inputValue(), "alice/sl6.img:xen\nalice/cvmfs.img:kvm@1");
  await page.getByLabel("Title").fill("Lab worker images");
  await page.getByLabel("Group").selectOption("lab");
  await page.getByRole("button", { name: "Save changes" }).click();
  await page.waitForSelector("h1:text('Lab worker images')");
  assert.match(await page.locator("main .alert-ok").innerText(), /Saved; the list is at version \d+\./);
  const l = await apiList();
  assert.equal(l.group, "lab");
  assert.equal(l.images.length, 2, "entries kept");
  assert.deepEqual(errors, []);

  const bob = await pageFor("bob");
  await open(bob.page, t, "#/lists/alice/site");
  assert.equal(await bob.page.getByRole("link", { name: "Edit list" }).count(), 1, "a member of the list's group");

  const erin = await pageFor("erin");
  await open(erin.page, t, "#/lists/alice/site");
  assert.match(await erin.page.locator("#who").innerText(), /Signed in as\s*erin/);
  assert.equal(await erin.page.getByRole("link", { name: "Edit list" }).count(), 0);
  assert.equal(await erin.page.getByRole("button", { name: "Delete list" }).count(), 0);
  await open(erin.page, t, "#/lists/alice/site/edit");
  assert.match(await erin.page.locator("main .alert-error").innerText(), /Not allowed.*only the list's owner, members of its group and admins may change it/s);
  assert.deepEqual(erin.errors, []);
});

test("Add to a list on a public image's page, pinned or following; not offered for a private image", async () => {
  const { page, errors } = await pageFor("bob");
  await open(page, t, "#/images/alice/secret.img");
  await page.waitForSelector("h1:text('Image not available')");
  const alice = await pageFor("alice");
  await open(alice.page, t, "#/images/alice/secret.img");
  assert.equal(await alice.page.getByRole("button", { name: "Add to a list" }).count(), 0, "private images cannot be listed");

  // bob changes alice's list through the group, from an image he does not own.
  await open(page, t, "#/images/alice/cvmfs.img");
  await page.getByRole("button", { name: "Add to a list" }).click();
  await page.waitForSelector("dialog h2:text('Add cvmfs.img to an image list')");
  assert.deepEqual(await page.locator("dialog select[name=list] option").allTextContents(), ["alice/site — Lab worker images", "A new list…"]);
  await page.getByLabel("Pin to the current version").check();
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.waitForSelector("main .messages .alert-ok");
  assert.match(await message(page), /Added alice\/cvmfs\.img:kvm@1 to alice\/site \(now version \d+\)\./);
  // The file was in the list already, pinned: it is listed once, as chosen now.
  assert.deepEqual((await apiList()).images.map((e: { image: string; pinned: number | null }) => [e.image, e.pinned]), [["alice/sl6.img", null], ["alice/cvmfs.img", 1]]);

  // "A new list…" opens the form with the entry filled in.
  await open(alice.page, t, "#/images/alice/sl6.img");
  await alice.page.getByRole("button", { name: "Add to a list" }).click();
  await alice.page.locator("dialog select[name=list]").selectOption({ label: "A new list…" });
  await alice.page.getByRole("button", { name: "Add", exact: true }).click();
  await alice.page.waitForSelector("h1:text('New image list')");
  assert.equal(await alice.page.getByLabel("Images").inputValue(), "alice/sl6.img:xen");
  assert.deepEqual([...errors, ...alice.errors], []);
});

test("alice deletes her list after a confirmation; sites lose it", async () => {
  const { page, errors } = await pageFor("alice");
  await open(page, t, "#/lists/alice/site");
  await page.getByRole("button", { name: "Delete list" }).click();
  const dialog = page.locator("dialog");
  assert.match(await dialog.innerText(), /Sites subscribed to https:\/\/\S+\/api\/lists\/alice\/site\/image\.list get no more updates\. It cannot be undone\.\s+Its 2 images are not touched\./);
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal((await t.call("GET", "/api/lists/alice/site")).status, 200);
  await page.getByRole("button", { name: "Delete list" }).click();
  await page.locator("dialog").getByRole("button", { name: "Delete list" }).click();
  await page.waitForSelector("h1:text('Image lists')");
  assert.match(await page.locator("main .alert-ok").innerText(), /Deleted image list alice\/site\./);
  assert.equal((await t.call("GET", "/api/lists/alice/site")).status, 404);
  assert.equal((await t.call("GET", "/api/images/alice/sl6.img")).status, 200, "the images stay");
  assert.deepEqual(errors, []);
});
