// The image page's ready-to-copy curl commands, copied from real Chromium and run for real with
// bash and curl against the test server, as a user would paste them: with ~/.globus holding the
// user's certificate and $X509_CERT_DIR naming the CAs, and not without the CAs.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, type TestServer } from "../support/server.js";
import { contextFor, launch, open } from "./browser.js";

let t: TestServer;
let pki: string;
let browser: Browser;
let home: string;
const first = Buffer.from("the first version of cmd.img\n".repeat(1000));
const second = Buffer.from("the second version, uploaded with the page's curl command\n".repeat(700));

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki);
  browser = await launch();
  await addUsers(t, ["alice"]);
  const created = await t.call("POST", "/api/images", { cred: t.cred("alice"), form: { name: "cmd.img", hypervisor: "kvm" } });
  assert.equal(created.status, 201, created.text);
  const put = await t.call("PUT", "/api/images/raw/alice/kvm/cmd.img", { cred: t.cred("alice"), body: first, headers: { "content-type": "application/octet-stream" } });
  assert.equal(put.status, 200, put.text);
  // alice's home as the commands expect it: her certificate and key in ~/.globus.
  home = mkdtempSync(join(tmpdir(), "repoman-curl-home-"));
  mkdirSync(join(home, ".globus"));
  copyFileSync(t.cred("alice").cert, join(home, ".globus", "usercert.pem"));
  copyFileSync(t.cred("alice").key, join(home, ".globus", "userkey.pem"));
});
after(async () => {
  await browser?.close();
  await t?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

// Runs a copied command line with bash in a fresh directory, as alice, with these variables (not
// spawnSync: the server answering it runs in this process).
async function paste(command: string, env: NodeJS.ProcessEnv, files: Record<string, Buffer> = {}) {
  const cwd = mkdtempSync(join(tmpdir(), "repoman-curl-"));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(cwd, name), body);
  const child = spawn("bash", ["-c", command], { cwd, env: { PATH: process.env.PATH, HOME: home, ...env }, stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
  let stderr = "";
  child.stderr.on("data", (c) => (stderr += c));
  const status = await new Promise<number | null>((resolve) => child.on("close", resolve));
  return { status, stderr, cwd };
}

test("the page's curl commands name the CAs, and download and upload as shown", async () => {
  const ctx = await contextFor(browser, t, "alice");
  const page = await ctx.newPage();
  await open(page, t, "#/images/alice/cmd.img");
  const commands = await page.locator(".command pre").allInnerTexts();
  const hint = await page.locator("#cmd-h ~ .hint").innerText();
  await ctx.close();
  const url = `https://localhost:${t.port}/api/images/raw/alice/kvm/cmd.img`;
  const caOption = '--capath "${X509_CERT_DIR:-/etc/grid-security/certificates}"';
  const download = commands.find((c) => c.startsWith("curl ") && c.includes(" -O "));
  const upload = commands.find((c) => c.startsWith("curl ") && c.includes(" -T "));
  assert.equal(download, `curl --cert ~/.globus/usercert.pem --key ~/.globus/userkey.pem ${caOption} -O ${url}`, commands.join("\n"));
  assert.equal(upload, `curl --cert ~/.globus/usercert.pem --key ~/.globus/userkey.pem ${caOption} -T cmd.img ${url}`, commands.join("\n"));
  assert.match(hint, /\$X509_CERT_DIR, else \/etc\/grid-security\/certificates; for a development server, first export X509_CERT_DIR=repoman-data\/dev-pki\/certificates/);

  // As shown, with the CAs in $X509_CERT_DIR: the file arrives whole.
  const got = await paste(download!, { X509_CERT_DIR: join(pki, "certificates") });
  assert.equal(got.status, 0, got.stderr);
  assert.ok(readFileSync(join(got.cwd, "cmd.img")).equals(first));

  // Without the CA option the same download fails: the server's CA is not a system CA.
  const bare = await paste(download!.replace(` ${caOption}`, ""), {});
  assert.notEqual(bare.status, 0);
  assert.match(bare.stderr, /certificate/i);

  // The upload command sends ./cmd.img as the image's next version.
  const sent = await paste(upload!, { X509_CERT_DIR: join(pki, "certificates") }, { "cmd.img": second });
  assert.equal(sent.status, 0, sent.stderr);
  const image = await t.call("GET", "/api/images/alice/cmd.img?timestamps=iso", { cred: t.cred("alice") });
  assert.equal(image.json.files.kvm.checksum.value, createHash("sha256").update(second).digest("hex"));
  assert.equal(image.json.files.kvm.version, 2);
});
