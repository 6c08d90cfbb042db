// Front-end mode "chain": Apache (docs/front-ends/apache-chain.conf, run for real) terminates TLS
// without judging the client's certificate and forwards it as PEM; repoman-server validates it with
// the HTTPS listener's authenticator. What Apache really passes (EECs, with whatever chain the
// client sent) is tested through Apache; grid proxies, which stock Apache refuses in the handshake
// whatever its settings, are tested with the same headers sent from a trusted address, encoded
// exactly as Apache encodes them. The denials come first-class: untrusted senders, headers a
// client sends, forged, partial and malformed chains.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { addUsers, startTestServer, trustedCaBundle, type TestServer } from "../support/server.js";
import { client } from "../support/http.js";
import { startApache, type Apache } from "../support/apache.js";

let pki: string;
let t: TestServer;
let apache: Apache;

before(async () => {
  pki = await fixturePki();
  t = await startTestServer(pki, { proxyListen: true, trustedProxies: ["127.0.0.1/32"], frontEndHeaders: "chain", voms: { map: ["/testvo/* vo-all"] } });
  await addUsers(t, ["alice", "bob", "carol"]);
  await t.call("POST", "/api/users", { cred: t.cred("admin"), json: { user_name: "jose", cert_dn: "/DC=org/DC=example/O=Grid/OU=a+OU=b/CN=José Müller/UID=jm42/emailAddress=jose@example.org" } });
  assert.equal((await t.call("POST", "/api/groups", { cred: t.cred("admin"), json: { name: "vo-all" } })).status, 201);
  apache = await startApache("apache-chain.conf", pki, t.server.proxyPort!);
});

after(async () => {
  await apache?.stop();
  await t?.close();
});

const viaApache = () => client(apache.port, trustedCaBundle(pki));
// The test as a trusted front end: plain HTTP to the front-end listener from 127.0.0.1.
const asFrontEnd = (headers: Record<string, string>) => client(t.server.proxyPort!, "")("GET", "/api/whoami", { plain: true, headers });
const url = (port: number, group: string) => `https://127.0.0.1:${port}/api/groups/${group}`;

// The certificates of a credential file, in file order (the order clients send them).
function certificatesOf(file: string): string[] {
  return readFileSync(join(pki, file), "utf8").match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
}
// What apache-chain.conf sends for a chain, as observed: line breaks become spaces.
const asApache = (pem: string) => pem.replace(/\n/g, " ");
function chainHeaders(certs: string[]): Record<string, string> {
  const [leaf, ...rest] = certs;
  const headers: Record<string, string> = leaf ? { "x-repoman-ssl-client-cert": asApache(leaf) } : {};
  rest.forEach((pem, i) => (headers[`x-repoman-ssl-client-cert-chain-${i}`] = asApache(pem)));
  return headers;
}
const proxyHeaders = (name: string) => chainHeaders(certificatesOf(`proxies/${name}.pem`));
const derOf = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ""), "base64");
const asPem = (der: Buffer) => `-----BEGIN CERTIFICATE----- ${der.toString("base64")} -----END CERTIFICATE-----`;

async function verdictCache(): Promise<{ hit: number; miss: number }> {
  const text = (await client(t.port, trustedCaBundle(pki))("GET", "/metrics")).text;
  const n = (r: string) => Number(new RegExp(`^repoman_auth_verdict_cache_total\\{result="${r}"\\} (\\d+)`, "m").exec(text)?.[1]);
  return { hit: n("hit"), miss: n("miss") };
}

test("through Apache, an EEC is validated by repoman-server and logs in; UTF-8 and multi-valued RDNs included", async () => {
  const r = await viaApache()("GET", "/api/whoami", { cred: t.cred("alice") });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "alice");
  assert.equal(r.json.groups[0], url(apache.port, "users"));
  assert.equal(r.json.voms, null);
  const jose = await viaApache()("GET", "/api/whoami", { cred: t.cred("jose") });
  assert.equal(jose.status, 200, jose.text);
  assert.equal(jose.json.user_name, "jose");
});

test("through Apache, a client that sends its CA with its certificate logs in: the chain header carries it, and a presented root is never trusted", async () => {
  const r = await viaApache()("GET", "/api/whoami", { cred: { cert: join(pki, "chains/alice-with-ca.pem"), key: join(pki, "users/alice/userkey.pem") } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.user_name, "alice");
  const rogue = await viaApache()("GET", "/api/whoami", { cred: { cert: join(pki, "chains/mallory-with-rogue-ca.pem"), key: join(pki, "users/mallory/userkey.pem") } });
  assert.equal(rogue.status, 401, rogue.text);
  assert.match(rogue.json.error.message, /UNTRUSTED_ISSUER/);
});

test("through Apache, certificates Apache lets pass are refused by repoman-server's own checks: revoked, bad signature, unknown CA", async () => {
  for (const [name, code] of [
    ["carol", "REVOKED"],
    ["mallory", "BAD_SIGNATURE"],
    ["frank", "UNTRUSTED_ISSUER"],
  ] as const) {
    const r = await viaApache()("GET", "/api/whoami", { cred: t.cred(name) });
    assert.equal(r.status, 401, `${name}: ${r.text}`);
    assert.match(r.json.error.message, new RegExp(`the client certificate was refused \\(${code}:`), name);
    // Refused means anonymous, not an error: public endpoints still answer.
    assert.equal((await viaApache()("GET", "/api/openapi.json", { cred: t.cred(name) })).status, 200, name);
  }
});

test("what OpenSSL checks whatever the verify mode, Apache still refuses in the handshake: expired, wrong purpose", async () => {
  for (const [name, error] of [
    ["dave", "Error (10)"],
    ["kate", "Error (26)"],
  ] as const) {
    const seen = t.logs.length;
    await assert.rejects(viaApache()("GET", "/api/whoami", { cred: t.cred(name) }), name);
    assert.equal(t.logs.length, seen, name);
    assert.ok(apache.errorLog().includes(`Certificate Verification: ${error}`), `${name}: ${error}`);
  }
});

test("through Apache without a certificate: anonymous, with the reason", async () => {
  const r = await viaApache()("GET", "/api/whoami");
  assert.equal(r.status, 401, r.text);
  assert.match(r.json.error.message, /no client certificate was presented to the front end/);
});

test("chain headers a client sends through Apache are removed: the admin's (public) certificate does not make anyone admin", async () => {
  const admin = chainHeaders(certificatesOf("users/admin/usercert.pem"));
  const anonymous = await viaApache()("GET", "/api/whoami", { headers: admin });
  assert.equal(anonymous.status, 401, anonymous.text);
  // With a certificate of her own, Alice stays Alice, whatever she adds to the chain slots.
  const alice = await viaApache()("GET", "/api/whoami", {
    cred: t.cred("alice"),
    headers: { ...admin, "x-repoman-ssl-client-cert-chain-0": "junk", "x-repoman-ssl-client-cert-chain-9": admin["x-repoman-ssl-client-cert"]! },
  });
  assert.equal(alice.status, 200, alice.text);
  assert.equal(alice.json.user_name, "alice");
});

test("stock Apache refuses every kind of grid proxy in the handshake even with optional_no_ca: nothing reaches repoman-server", async () => {
  for (const [proxy, error] of [
    ["alice-rfc", "Error (40)"],
    ["alice-old", "Error (79)"],
    ["alice-draft", "Error (34)"],
    ["alice-voms-good", "Error (40)"],
  ] as const) {
    const seen = t.logs.length;
    await assert.rejects(viaApache()("GET", "/api/whoami", { cred: t.proxy(proxy) }), proxy);
    assert.equal(t.logs.length, seen, proxy);
    assert.ok(apache.errorLog().includes(`Certificate Verification: ${error}`), `${proxy}: ${error}`);
  }
});

test("a proxy chain from a front end that passes it: RFC, legacy and draft proxies log in as their EEC, limited stays read-only", async () => {
  for (const proxy of ["alice-rfc", "alice-old", "alice-draft", "alice-rfc-pop-pop"]) {
    const r = await asFrontEnd(proxyHeaders(proxy));
    assert.equal(r.status, 200, `${proxy}: ${r.text}`);
    assert.equal(r.json.user_name, "alice", proxy);
  }
  const limited = proxyHeaders("alice-rfc-limited");
  assert.equal((await asFrontEnd(limited)).json.user_name, "alice");
  const write = await client(t.server.proxyPort!, "")("POST", "/api/images", { plain: true, headers: limited, json: { name: "limited.img" } });
  assert.equal(write.status, 403, write.text);
});

test("a VOMS proxy through a front end gets its VO groups for the request, and a bad AC gives none", async () => {
  const r = await asFrontEnd(proxyHeaders("alice-voms-good"));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.voms.fqans, ["/testvo", "/testvo/analysis", "/testvo/Role=production"]);
  // Links follow the request's Host: here the front-end listener's.
  assert.deepEqual(r.json.voms.groups, [url(t.server.proxyPort!, "vo-all")]);
  // A chain is several KiB of headers: with the rest of a request (cookies, say) it passes Node's
  // default 16 KiB limit, which the front-end listener raises in this style.
  const large = await asFrontEnd({ ...proxyHeaders("alice-voms-pop"), cookie: `x=${"a".repeat(12 * 1024)}` });
  assert.equal(large.status, 200, large.text);
  assert.deepEqual(large.json.voms.groups, [url(t.server.proxyPort!, "vo-all")]);
  const tampered = await asFrontEnd(proxyHeaders("alice-voms-tampered"));
  assert.equal(tampered.status, 200, tampered.text);
  assert.deepEqual(tampered.json.voms.groups, []);
  assert.match(tampered.json.voms.refused[0], /^AC_BAD_SIGNATURE/);
});

test("one validator, one verdict cache: a chain validated on the HTTPS listener is a cache hit when a front end forwards it", async () => {
  const direct = await t.call("GET", "/api/whoami", { cred: t.proxy("bob-voms") });
  assert.equal(direct.status, 200, direct.text);
  const before = await verdictCache();
  const r = await asFrontEnd(proxyHeaders("bob-voms"));
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.voms.groups, [url(t.server.proxyPort!, "vo-all")]);
  const afterward = await verdictCache();
  assert.equal(afterward.hit, before.hit + 1);
  assert.equal(afterward.miss, before.miss);
});

test("forged and incomplete chains from a trusted front end are refused with the validator's reason", async () => {
  for (const [proxy, code] of [
    ["forged-bob-as-alice", "BAD_SIGNATURE"],
    ["alice-expired", "EXPIRED"],
    ["alice-rfc-independent", "INDEPENDENT_PROXY"],
    ["eec-under-proxy", "NOT_A_PROXY"],
    ["alice-rfc-pl0-pop", "PROXY_PATH_LENGTH"],
  ] as const) {
    const r = await asFrontEnd(proxyHeaders(proxy));
    assert.equal(r.status, 401, `${proxy}: ${r.text}`);
    assert.match(r.json.error.message, new RegExp(`\\(${code}:`), proxy);
  }
  // The proxy alone, without the EEC that signed it.
  const [leaf] = certificatesOf("proxies/alice-rfc.pem");
  const alone = await asFrontEnd(chainHeaders([leaf!]));
  assert.equal(alone.status, 401, alone.text);
  assert.match(alone.json.error.message, /the client certificate was refused/);
});

test("malformed or partial chain headers make the whole request anonymous, never a partial chain validated", async () => {
  const [leaf, eec] = certificatesOf("proxies/alice-rfc-pop.pem").map(asApache);
  const [, , eec2] = certificatesOf("proxies/alice-rfc-pop.pem").map(asApache);
  const cases: [string, Record<string, string>, RegExp][] = [
    ["chain without a leaf", { "x-repoman-ssl-client-cert-chain-0": eec! }, /chain certificates without the client's certificate/],
    ["a gap in the slots", { "x-repoman-ssl-client-cert": leaf!, "x-repoman-ssl-client-cert-chain-0": eec!, "x-repoman-ssl-client-cert-chain-2": eec2! }, /after an empty slot/],
    ["Apache's text for an unset variable", { "x-repoman-ssl-client-cert": "(null)" }, /unreadable certificate in x-repoman-ssl-client-cert$/],
    ["an unreadable chain entry", { "x-repoman-ssl-client-cert": leaf!, "x-repoman-ssl-client-cert-chain-0": "(null)" }, /unreadable certificate in x-repoman-ssl-client-cert-chain-0/],
    ["two certificates in one header", { "x-repoman-ssl-client-cert": `${leaf} ${eec}` }, /unreadable certificate/],
    ["text after the certificate", { "x-repoman-ssl-client-cert": `${leaf} trailing` }, /unreadable certificate/],
    ["not base64", { "x-repoman-ssl-client-cert": leaf!.replace(/(-----BEGIN CERTIFICATE----- .{10})./, "$1!") }, /unreadable certificate/],
    ["a certificate cut short", { "x-repoman-ssl-client-cert": leaf!.replace(/ \S+ -----END/, " -----END") }, /unreadable certificate/],
    ["an empty certificate", { "x-repoman-ssl-client-cert": "-----BEGIN CERTIFICATE----- -----END CERTIFICATE-----" }, /unreadable certificate/],
    ["base64 that is no certificate", { "x-repoman-ssl-client-cert": leaf!, "x-repoman-ssl-client-cert-chain-0": asPem(Buffer.from("not a certificate")) }, /unreadable certificate in x-repoman-ssl-client-cert-chain-0$/],
    ["bytes after the certificate", { "x-repoman-ssl-client-cert": leaf!, "x-repoman-ssl-client-cert-chain-0": asPem(Buffer.concat([derOf(eec!), Buffer.from([0, 0])])) }, /unreadable certificate in x-repoman-ssl-client-cert-chain-0$/],
  ];
  for (const [what, headers, reason] of cases) {
    const r = await asFrontEnd(headers);
    assert.equal(r.status, 401, `${what}: ${r.text}`);
    assert.match(r.json.error.message, reason, what);
  }
  // Two values for one header (a client's and the front end's, by a misconfiguration) arrive
  // joined: refused, not either of them believed.
  const joined = await new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: t.server.proxyPort, path: "/api/whoami", headers: { "x-repoman-ssl-client-cert": [leaf!, leaf!] } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
  assert.equal(joined, 401);
  // The same headers, well formed, do log in: the refusals above are the headers', not the chain's.
  const ok = await asFrontEnd({ "x-repoman-ssl-client-cert": leaf!, "x-repoman-ssl-client-cert-chain-0": eec!, "x-repoman-ssl-client-cert-chain-1": eec2! });
  assert.equal(ok.status, 200, ok.text);
  // Front ends that turn line breaks into tabs (nginx's $ssl_client_cert did) are read too.
  const tabs = await asFrontEnd({ "x-repoman-ssl-client-cert": certificatesOf("users/alice/usercert.pem")[0]!.replace(/\n/g, "\t") });
  assert.equal(tabs.status, 200, tabs.text);
});

test("chain headers from an address that is not a trusted front end are ignored", async () => {
  const other = await startTestServer(pki, { proxyListen: true, trustedProxies: ["192.0.2.10/32"], frontEndHeaders: "chain" });
  try {
    await addUsers(other, ["alice"]);
    const r = await client(other.server.proxyPort!, "")("GET", "/api/whoami", { plain: true, headers: chainHeaders(certificatesOf("users/alice/usercert.pem")) });
    assert.equal(r.status, 401, r.text);
    assert.match(r.json.error.message, /trusted front ends/);
  } finally {
    await other.close();
  }
});

test("on the HTTPS listener chain headers are ignored: identity is the TLS client's only", async () => {
  const admin = chainHeaders(certificatesOf("users/admin/usercert.pem"));
  const anonymous = await t.call("GET", "/api/whoami", { headers: admin });
  assert.equal(anonymous.status, 401, anonymous.text);
  const alice = await t.call("GET", "/api/whoami", { cred: t.cred("alice"), headers: admin });
  assert.equal(alice.json.user_name, "alice");
});

test("in chain style the DN headers of the other styles give nothing", async () => {
  const r = await asFrontEnd({ "x-repoman-ssl-client-verify": "SUCCESS", "x-repoman-ssl-client-s-dn": "/C=CA/O=Grid/OU=test/CN=Repo Admin", ssl_client_verify: "SUCCESS", ssl_client_s_dn: "CN=Repo Admin,OU=test,O=Grid,C=CA" });
  assert.equal(r.status, 401, r.text);
  assert.match(r.json.error.message, /no client certificate was presented to the front end/);
});
