// The S3 client's retries against an HTTP server on 127.0.0.1 that plays a failing S3 gateway:
// 500s, 503 SlowDown, connections reset before or during an answer, answers that never come. What
// is retried (idempotent requests, after transient failures), what is not, that it stops within
// its budget, that a download broken midway resumes exactly, and that it is all counted.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createHash, randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { S3Client, S3Error } from "../../src/blobs/s3-client.js";
import { CredentialSource } from "../../src/blobs/credentials.js";
import { backoff, DEFAULT_RETRY, type RetryPolicy } from "../../src/blobs/retry.js";
import { Metrics } from "../../src/http/metrics.js";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
type Answer = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

const errorXml = (code: string) => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`;
const fail = (status: number, code: string): Answer => (_q, res) => res.writeHead(status, { "content-type": "application/xml" }).end(errorXml(code));
const reset: Answer = (req) => req.socket.resetAndDestroy();
const never: Answer = () => {};

const servers: http.Server[] = [];
after(() => servers.forEach((s) => (s.closeAllConnections(), s.close())));

// A gateway that answers the n-th request with answers[n] (the last one for every later request).
async function gateway(answers: Answer[], retry: Partial<RetryPolicy> = {}, extra: { timeoutMs?: number; credentials?: CredentialSource } = {}) {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const s = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
    seen.push(s);
    answers[Math.min(seen.length, answers.length) - 1]!(req, res, s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = new S3Client({
    endpoint: new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    region: "us-east-1",
    bucket: "b",
    pathStyle: true,
    credentials: extra.credentials ?? { accessKeyId: "AK", secretAccessKey: "SK" },
    retry: { baseDelayMs: 5, maxDelayMs: 20, ...retry },
    timeoutMs: extra.timeoutMs,
  });
  return { client, seen };
}

const etag: Answer = (_q, res, s) => res.writeHead(200, { etag: `"${createHash("md5").update(s.body).digest("hex")}"` }).end();

test("a part is sent again, byte for byte, after SlowDown, a 500 and a reset, and its ETag returned", async () => {
  const { client, seen } = await gateway([fail(503, "SlowDown"), fail(500, "InternalError"), reset, etag]);
  const body = randomBytes(100_000);
  const got = await client.uploadPart("k", "up1", 3, body);
  assert.equal(got, `"${createHash("md5").update(body).digest("hex")}"`);
  assert.equal(seen.length, 4);
  for (const s of seen.slice(0, 2).concat(seen.slice(3))) assert.ok(s.body.equals(body), "every attempt carries the whole part");
  assert.ok(seen.every((s) => s.url === "/b/k?partNumber=3&uploadId=up1"));
  assert.deepEqual([client.stats.count("retries", "slow_down"), client.stats.count("retries", "server_error"), client.stats.count("retries", "reset")], [1, 1, 1]);
  client.close();
});

test("permanent errors fail at once; non-idempotent requests are not sent twice after a 500", async () => {
  const denied = await gateway([fail(403, "AccessDenied")]);
  await assert.rejects(denied.client.putObject("k", Buffer.from("x")), (e: unknown) => e instanceof S3Error && e.code === "AccessDenied");
  assert.equal(denied.seen.length, 1);
  assert.equal(denied.client.stats.count("errors", "client_error"), 1);
  assert.equal(denied.client.stats.count("retries"), 0);

  const bucket = await gateway([fail(500, "InternalError"), (_q, res) => res.end()]);
  await assert.rejects(bucket.client.createBucket(), /InternalError/);
  assert.equal(bucket.seen.length, 1, "CreateBucket is not idempotent: one attempt");
  // …but SlowDown says the request was not taken, so even it is sent again.
  const slow = await gateway([fail(503, "SlowDown"), (_q, res) => res.end()]);
  await slow.client.createBucket();
  assert.equal(slow.seen.length, 2);
  [denied, bucket, slow].forEach((g) => g.client.close());
});

test("retries stop after max attempts, and after max elapsed time", async () => {
  const capped = await gateway([fail(503, "ServiceUnavailable")], { maxAttempts: 4 });
  await assert.rejects(capped.client.headObject("k"), /503|ServiceUnavailable/);
  assert.equal(capped.seen.length, 4);
  assert.equal(capped.client.stats.count("errors"), 4);
  assert.equal(capped.client.stats.count("retries"), 3);

  const timed = await gateway([fail(500, "InternalError")], { maxAttempts: 1000, maxElapsedMs: 300, baseDelayMs: 50, maxDelayMs: 50 });
  const started = Date.now();
  await assert.rejects(timed.client.deleteObject("k"), /InternalError/);
  assert.ok(Date.now() - started < 1000, `gave up within its time budget (${Date.now() - started} ms)`);
  assert.ok(timed.seen.length > 1 && timed.seen.length < 100, `${timed.seen.length} attempts`);
  [capped, timed].forEach((g) => g.client.close());
});

test("backoff is exponential with full jitter, capped", () => {
  const p = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
  assert.deepEqual([1, 2, 3, 4, 5, 9].map((n) => backoff(p, n, () => 0.999999)), [99, 199, 399, 799, 999, 999]);
  assert.equal(backoff(p, 3, () => 0), 0);
  const draws = Array.from({ length: 2000 }, () => backoff(p, 3));
  assert.ok(Math.min(...draws) < 40 && Math.max(...draws) > 360, "spread over the whole [0, 400) window");
});

test("an answer that never comes times out and is asked again", async () => {
  const { client, seen } = await gateway([never, (_q, res) => res.writeHead(200, { "content-length": "42" }).end()], {}, { timeoutMs: 300 });
  assert.equal(await client.headObject("k"), 42);
  assert.equal(seen.length, 2);
  assert.equal(client.stats.count("retries", "timeout"), 1);
  client.close();
});

test("an error inside a 200 answer to CompleteMultipartUpload is retried; a lost answer is recognised", async () => {
  const inBody: Answer = (_q, res) => res.writeHead(200, { "content-type": "application/xml" }).end(errorXml("InternalError"));
  const ok: Answer = (_q, res) => res.writeHead(200).end("<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>");
  const { client, seen } = await gateway([inBody, ok]);
  await client.completeMultipartUpload("k", "up1", ['"a"', '"b"']);
  assert.equal(seen.length, 2);
  assert.ok(seen[1]!.body.toString().includes("<PartNumber>2</PartNumber><ETag>&#34;b&#34;</ETag>"));

  // The first attempt completed but its answer was lost: the retry finds no upload, and the object.
  const lost = await gateway([reset, fail(404, "NoSuchUpload"), (_q, res) => res.writeHead(200, { "content-length": "7" }).end()]);
  await lost.client.completeMultipartUpload("k", "up1", ['"a"']);
  assert.deepEqual(lost.seen.map((s) => s.method), ["POST", "POST", "HEAD"]);
  [client, lost.client].forEach((c) => c.close());
});

test("a retried CreateMultipartUpload aborts the upload its lost answer created", async () => {
  const created = (id: string): Answer => (_q, res) => res.writeHead(200).end(`<InitiateMultipartUploadResult><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`);
  const lostAnswer: Answer = (req) => setTimeout(() => req.socket.resetAndDestroy(), 10);
  const list: Answer = (_q, res) =>
    res.writeHead(200).end(`<ListMultipartUploadsResult><Upload><Key>k</Key><UploadId>first</UploadId><Initiated>2026-01-01T00:00:00Z</Initiated></Upload><Upload><Key>k</Key><UploadId>second</UploadId><Initiated>2026-01-01T00:00:01Z</Initiated></Upload><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>`);
  const { client, seen } = await gateway([lostAnswer, created("second"), list, (_q, res) => res.writeHead(204).end()]);
  assert.equal(await client.createMultipartUpload("k"), "second");
  assert.deepEqual(seen.map((s) => `${s.method} ${s.url}`), ["POST /b/k?uploads", "POST /b/k?uploads", "GET /b/?uploads&prefix=k", "DELETE /b/k?uploadId=first"]);
  client.close();
});

test("a download that breaks midway resumes from where it stopped, pinned to the same object", async () => {
  const data = randomBytes(300_000);
  const serve: Answer = (req, res) => {
    const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range ?? "");
    const start = m ? Number(m[1]) : 0;
    const end = m?.[2] ? Number(m[2]) : data.length - 1;
    res.writeHead(m ? 206 : 200, { "content-length": String(end - start + 1), etag: '"e1"' });
    // Half of what was asked, then the connection is reset.
    res.write(data.subarray(start, start + Math.floor((end - start + 1) / 2)), () => setTimeout(() => req.socket.resetAndDestroy(), 20));
  };
  const whole: Answer = (req, res) => {
    const m = /bytes=(\d+)-(\d*)/.exec(req.headers.range!)!;
    const end = m[2] ? Number(m[2]) : data.length - 1;
    res.writeHead(206, { "content-length": String(end - Number(m[1]) + 1), etag: '"e1"' }).end(data.subarray(Number(m[1]), end + 1));
  };
  const { client, seen } = await gateway([serve, serve, whole]);
  const chunks: Buffer[] = [];
  for await (const c of await client.getObject("k", { start: 1000, end: 200_999 })) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data.subarray(1000, 201_000)));
  assert.deepEqual(seen.map((s) => s.headers.range), ["bytes=1000-200999", "bytes=101000-200999", "bytes=151000-200999"]);
  assert.deepEqual(seen.map((s) => s.headers["if-match"]), [undefined, '"e1"', '"e1"']);
  assert.equal(client.stats.count("retries"), 2);

  // The object changed under a resumed download: it fails, rather than mixing two objects.
  const changed = await gateway([serve, fail(412, "PreconditionFailed")]);
  await assert.rejects(async () => {
    for await (const _ of await changed.client.getObject("k"));
  }, /PreconditionFailed/);
  [client, changed.client].forEach((c) => c.close());
});

test("credentials the server calls expired are fetched anew once, and the request sent again", async () => {
  let fetched = 0;
  const credentials = new CredentialSource(async () => ({ accessKeyId: `AK${++fetched}`, secretAccessKey: "SK", source: "test" }));
  const { client, seen } = await gateway([fail(400, "ExpiredToken"), (_q, res) => res.writeHead(200).end()], {}, { credentials });
  await client.putObject("k", Buffer.from("x"));
  assert.deepEqual(seen.map((s) => /Credential=(\w+)\//.exec(s.headers.authorization!)![1]), ["AK1", "AK2"]);
  // Refused again with fresh ones: that is an answer, not a glitch.
  const stale = await gateway([fail(403, "InvalidAccessKeyId")], {}, { credentials });
  await assert.rejects(stale.client.putObject("k", Buffer.from("x")), /InvalidAccessKeyId/);
  assert.equal(stale.seen.length, 2);
  [client, stale.client].forEach((c) => c.close());
});

test("/metrics reports S3 errors and retries by operation and reason", async () => {
  const { client } = await gateway([fail(503, "SlowDown"), reset, (_q, res) => res.writeHead(204).end()]);
  await client.deleteObject("k");
  const text = new Metrics().render({ trustStoreGeneration: 1, trustStoreLoaded: 0, crls: [], verdictCache: { hits: 0, misses: 0, entries: 0 }, dbPool: undefined, storeCounters: client.stats.families() });
  assert.match(text, /^# TYPE repoman_s3_retries_total counter$/m);
  assert.match(text, /^repoman_s3_retries_total\{operation="DeleteObject",reason="slow_down"\} 1$/m);
  assert.match(text, /^repoman_s3_retries_total\{operation="DeleteObject",reason="reset"\} 1$/m);
  assert.match(text, /^repoman_s3_errors_total\{operation="DeleteObject",reason="slow_down"\} 1$/m);
  client.close();
});
