// Where S3 credentials come from, and that temporary ones are renewed before they expire: each
// source is exercised for real, its AWS service played by an HTTP server on 127.0.0.1 (the
// container credentials endpoint, IMDSv2, STS), and the shared files written to a temp directory.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { CredentialSource, fromContainer, fromInstanceMetadata, fromWebIdentity, resolveChain, REFRESH_AHEAD_MS } from "../../src/blobs/credentials.js";

const dir = mkdtempSync(join(tmpdir(), "repoman-creds-"));
const servers: http.Server[] = [];
after(() => {
  servers.forEach((s) => (s.closeAllConnections(), s.close()));
  rmSync(dir, { recursive: true, force: true });
});

interface Req {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function service(answer: (r: Req, res: http.ServerResponse) => void): Promise<{ url: string; seen: Req[] }> {
  const seen: Req[] = [];
  const server = http.createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const r = { method: req.method!, url: req.url!, headers: req.headers, body };
    seen.push(r);
    answer(r, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
// An environment with nothing from this machine's own AWS setup.
const bare = (env: Record<string, string>): NodeJS.ProcessEnv => ({ HOME: dir, AWS_EC2_METADATA_DISABLED: "true", ...env });

test("environment first, then the profile's keys, re-read after the file changes", async () => {
  const credentials = join(dir, "credentials");
  writeFileSync(credentials, "[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n[ceph]\naws_access_key_id = C1\naws_secret_access_key = CS\naws_session_token = T\n");
  const files = { AWS_SHARED_CREDENTIALS_FILE: credentials, AWS_CONFIG_FILE: join(dir, "none") };
  assert.equal((await resolveChain(bare({ ...files, AWS_ACCESS_KEY_ID: "E", AWS_SECRET_ACCESS_KEY: "ES" }))).accessKeyId, "E");
  const ceph = await resolveChain(bare({ ...files, AWS_PROFILE: "ceph" }));
  assert.deepEqual([ceph.accessKeyId, ceph.sessionToken, ceph.source], ["C1", "T", "profile ceph"]);
  // Profile keys have no expiry; they are treated as due for a re-read after a few minutes.
  const source = CredentialSource.chain(bare(files), undefined);
  assert.equal((await source.get()).accessKeyId, "A1");
  writeFileSync(credentials, "[default]\naws_access_key_id = A2\naws_secret_access_key = S2\n");
  assert.equal((await source.get()).accessKeyId, "A1", "cached while fresh");
  source.invalidate();
  assert.equal((await source.get()).accessKeyId, "A2", "the rotated file once they are due");
  await assert.rejects(resolveChain(bare({ AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"), AWS_CONFIG_FILE: join(dir, "none") })), /no S3 credentials: set AWS_ACCESS_KEY_ID/);
});

test("web identity: STS AssumeRoleWithWebIdentity with the token file as it is now", async () => {
  const token = join(dir, "token");
  const sts = await service((r, res) => {
    const form = new URLSearchParams(r.body);
    res.writeHead(200, { "content-type": "text/xml" }).end(
      `<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials><SessionToken>ST-${form.get("WebIdentityToken")}</SessionToken><SecretAccessKey>SK</SecretAccessKey><Expiration>${inMinutes(60)}</Expiration><AccessKeyId>ASIA1</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>`,
    );
  });
  const env = bare({ AWS_WEB_IDENTITY_TOKEN_FILE: token, AWS_ROLE_ARN: "arn:aws:iam::1:role/repoman", AWS_ROLE_SESSION_NAME: "s1", AWS_ENDPOINT_URL_STS: sts.url });
  writeFileSync(token, "jwt-1\n");
  const c = await fromWebIdentity(env);
  assert.deepEqual([c?.accessKeyId, c?.sessionToken], ["ASIA1", "ST-jwt-1"]);
  assert.ok(c!.expiration!.getTime() > Date.now() + 59 * 60_000);
  const form = new URLSearchParams(sts.seen[0]!.body);
  assert.deepEqual(Object.fromEntries(form), { Action: "AssumeRoleWithWebIdentity", Version: "2011-06-15", RoleArn: "arn:aws:iam::1:role/repoman", RoleSessionName: "s1", WebIdentityToken: "jwt-1" });
  writeFileSync(token, "jwt-2\n");
  assert.equal((await fromWebIdentity(env))?.sessionToken, "ST-jwt-2", "a rotated token is read again");
  // The same through a profile with role_arn and web_identity_token_file.
  const config = join(dir, "config");
  writeFileSync(config, `[profile irsa]\nrole_arn = arn:aws:iam::1:role/other\nweb_identity_token_file = ${token}\n`);
  const viaProfile = await resolveChain(bare({ AWS_PROFILE: "irsa", AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"), AWS_ENDPOINT_URL_STS: sts.url }));
  assert.equal(viaProfile.source, "web identity (arn:aws:iam::1:role/other)");
});

test("container credentials: the endpoint with its authorization token, refreshed before expiry", async () => {
  let n = 0;
  let lifetimeMinutes = 60;
  const agent = await service((r, res) => {
    if (r.headers.authorization !== "tok-123") return res.writeHead(401).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ AccessKeyId: `AK${++n}`, SecretAccessKey: "SK", Token: `T${n}`, Expiration: inMinutes(lifetimeMinutes) }));
  });
  const tokenFile = join(dir, "container-token");
  writeFileSync(tokenFile, "tok-123\n");
  const env = bare({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${agent.url}/v2/credentials/x`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile });
  const source = CredentialSource.chain(env);
  const [a, b] = await Promise.all([source.get(), source.get()]);
  assert.equal(a.accessKeyId, "AK1");
  assert.equal(b.accessKeyId, "AK1", "concurrent callers share one fetch");
  assert.equal((await source.get()).accessKeyId, "AK1", "an hour left: cached");
  assert.equal(agent.seen.length, 1);
  assert.equal(agent.seen[0]!.url, "/v2/credentials/x");
  // Credentials with less than the refresh margin left are renewed before use.
  lifetimeMinutes = REFRESH_AHEAD_MS / 60_000 - 1;
  source.invalidate();
  assert.equal((await source.get()).accessKeyId, "AK2");
  assert.equal((await source.get()).accessKeyId, "AK3", "inside the margin: fetched again");
  assert.equal(source.current().accessKeyId, "AK3");
  // A renewal that fails while the old ones are still valid keeps them.
  writeFileSync(tokenFile, "wrong\n");
  assert.equal((await source.get()).accessKeyId, "AK3");
  await assert.rejects(fromContainer(env), /answered 401/);
  // FULL_URI must not send the token to an arbitrary host over plain HTTP.
  await assert.rejects(fromContainer(bare({ AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://198.51.100.7/creds" })), /neither a loopback nor a container-agent address/);
});

test("the instance role through IMDSv2: a session token first, then the role's credentials", async () => {
  const imds = await service((r, res) => {
    if (r.method === "PUT" && r.url === "/latest/api/token") {
      assert.equal(r.headers["x-aws-ec2-metadata-token-ttl-seconds"], "21600");
      return res.writeHead(200).end("imds-token");
    }
    if (r.headers["x-aws-ec2-metadata-token"] !== "imds-token") return res.writeHead(401).end();
    if (r.url === "/latest/meta-data/iam/security-credentials/") return res.writeHead(200).end("repoman-role\n");
    if (r.url === "/latest/meta-data/iam/security-credentials/repoman-role") {
      return res.writeHead(200).end(JSON.stringify({ Code: "Success", Type: "AWS-HMAC", AccessKeyId: "ASIAI", SecretAccessKey: "SK", Token: "IT", Expiration: inMinutes(360) }));
    }
    res.writeHead(404).end();
  });
  const env = { HOME: dir, AWS_SHARED_CREDENTIALS_FILE: join(dir, "none"), AWS_CONFIG_FILE: join(dir, "none"), AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url };
  const c = await resolveChain(env);
  assert.deepEqual([c.accessKeyId, c.sessionToken, c.source], ["ASIAI", "IT", "instance role repoman-role"]);
  assert.deepEqual(imds.seen.map((r) => `${r.method} ${r.url}`), ["PUT /latest/api/token", "GET /latest/meta-data/iam/security-credentials/", "GET /latest/meta-data/iam/security-credentials/repoman-role"]);
  assert.equal(await fromInstanceMetadata({ AWS_EC2_METADATA_DISABLED: "true" }), undefined);
  // No IMDS (not on EC2): the chain says what to set, and what it tried.
  const dead = await service((_r, res) => res.writeHead(404).end());
  await assert.rejects(resolveChain({ ...env, AWS_EC2_METADATA_SERVICE_ENDPOINT: dead.url }), /no S3 credentials: .*instance metadata: IMDS token answered 404/);
});
