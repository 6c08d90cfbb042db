// One suite for every BlobStore, as distribution/distribution has for its storage drivers: what a
// store must do so that uploads are all-or-nothing and downloads exact. Stores are listed in
// `stores` below; each one added must pass all of it. The S3 store runs when there is an S3
// server (test/run.mjs starts Ceph RGW when it is installed), and then also the S3-only tests.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { FsBlobStore } from "../../src/blobs/fs-store.js";
import { CredentialSource } from "../../src/blobs/credentials.js";
import { S3BlobStore } from "../../src/blobs/s3-store.js";
import { S3Client } from "../../src/blobs/s3-client.js";
import { BlobSizeError, type BlobStore } from "../../src/blobs/blob-store.js";
import { freshBucket, S3_NOTICE, testS3 } from "../support/s3.js";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const MIB = 1024 * 1024;
const s3 = testS3();
let bucket: S3Client | undefined;
// The smallest parts S3 allows, so that a few MiB already make a multipart upload.
const s3Store = async (prefix: string, parallelParts = 2) => new S3BlobStore((bucket ??= await freshBucket(s3!)), { prefix, partSize: 5 * MIB, parallelParts });
after(() => bucket?.close());

const stores: [string, () => Promise<BlobStore>][] = [
  [
    "fs",
    async () => {
      const d = mkdtempSync(join(tmpdir(), "repoman-blobs-"));
      dirs.push(d);
      return new FsBlobStore(d);
    },
  ],
];
let prefixes = 0;
if (s3) stores.push(["s3", () => s3Store(`conformance/${++prefixes}`)]);
else test("BlobStore: s3", { skip: S3_NOTICE }, () => {});

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
async function readAll(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
// A source that delivers `data` in uneven pieces, then optionally fails instead of ending.
function source(data: Buffer, failAfter?: number): Readable {
  let offset = 0;
  return new Readable({
    read() {
      if (failAfter !== undefined && offset >= failAfter) return this.destroy(new Error("client went away"));
      if (offset >= data.length) return this.push(null);
      const n = Math.min(data.length - offset, 1 + Math.floor(Math.random() * 200_000));
      this.push(data.subarray(offset, offset + n));
      offset += n;
    },
  });
}

for (const [name, make] of stores) {
  describe(`BlobStore: ${name}`, () => {
    test("put streams any size and reports the bytes and SHA-256 it stored; get returns them", async () => {
      const s = await make();
      for (const size of [0, 1, 65_536, 3 * MIB + 7, 11 * MIB + 3]) {
        const data = randomBytes(size);
        const r = await s.put(`images/a/xen/${size}`, source(data), { expectedSize: size });
        assert.deepEqual(r, { size, sha256: sha(data) });
        assert.ok((await readAll(await s.get(`images/a/xen/${size}`))).equals(data));
        assert.equal(await s.size(`images/a/xen/${size}`), size);
      }
    });

    test("get serves byte ranges exactly", async () => {
      const s = await make();
      const data = randomBytes(5 * 1024 * 1024);
      await s.put("images/b/kvm/1", source(data));
      for (const [start, end] of [
        [0, 0],
        [1_048_575, 1_048_576],
        [4_000_000, 5 * 1024 * 1024 - 1],
      ] as const) {
        assert.ok((await readAll(await s.get("images/b/kvm/1", { start, end }))).equals(data.subarray(start, end + 1)));
      }
    });

    test("a body shorter or longer than announced, over quota, or failing midway stores nothing", async () => {
      const s = await make();
      const data = randomBytes(200_000);
      const big = randomBytes(13 * MIB); // several parts in a multipart store
      const cases: [Readable, object, RegExp | typeof BlobSizeError][] = [
        [source(data), { expectedSize: 300_000 }, BlobSizeError],
        [source(data), { expectedSize: 100_000 }, BlobSizeError],
        [source(data), { maxBytes: 150_000 }, BlobSizeError],
        [source(data, 100_000), {}, /client went away/],
        [source(big), { expectedSize: 14 * MIB }, BlobSizeError],
        [source(big), { maxBytes: 12 * MIB }, BlobSizeError],
        [source(big, 11 * MIB), {}, /client went away/],
      ];
      for (const [i, [src, opts, err]] of cases.entries()) {
        await assert.rejects(s.put(`images/c/xen/${i}`, src, opts), err as never);
        assert.equal(await s.size(`images/c/xen/${i}`), null);
        await assert.rejects(s.get(`images/c/xen/${i}`));
      }
      assert.equal(await s.cleanupIncomplete(), 0, "failed puts leave nothing behind");
    });

    test("blobs are independent of one another and deleting is idempotent", async () => {
      const s = await make();
      const a = randomBytes(1000);
      const b = randomBytes(2000);
      await s.put("images/d/xen/1", source(a));
      await s.put("images/d/xen/2", source(b));
      await s.delete("images/d/xen/1");
      await s.delete("images/d/xen/1");
      assert.equal(await s.size("images/d/xen/1"), null);
      assert.ok((await readAll(await s.get("images/d/xen/2"))).equals(b));
      assert.equal(await s.size("images/never/xen/1"), null);
    });

    test("chunked uploads: chunks in order, a failed one rewritten, nothing visible until finished", async () => {
      const s = await make();
      const data = randomBytes(12 * MIB + 99);
      const cuts = [0, 5 * MIB, 10 * MIB, data.length];
      const key = "images/h/kvm/1";
      const handle = await s.startChunked(key);
      const etags: string[] = [];
      for (let i = 0; i < 3; i++) {
        const [from, to] = [cuts[i]!, cuts[i + 1]!];
        const at = { handle, index: i + 1, offset: from };
        if (i === 1) {
          // A chunk that fails midway, then is sent again: only the second try counts.
          await assert.rejects(s.putChunk(key, at, source(randomBytes(to - from), MIB), { expectedSize: to - from }), /client went away/);
          await assert.rejects(s.putChunk(key, at, source(data.subarray(from, to - 1)), { expectedSize: to - from }), BlobSizeError);
        }
        const r = await s.putChunk(key, at, source(data.subarray(from, to)), { expectedSize: to - from });
        assert.deepEqual([r.size, r.sha256], [to - from, sha(data.subarray(from, to))]);
        etags.push(r.etag);
        assert.equal(await s.size(key), null, "an unfinished chunked upload is no blob yet");
      }
      assert.equal(await s.cleanupIncomplete(new Set([key])), 0, "a chunked upload in progress survives a clean-up that spares it");
      await s.finishChunked(key, handle, etags);
      assert.ok((await readAll(await s.get(key))).equals(data));

      // An empty one, and one abandoned: delete() removes what it left.
      const empty = "images/h/kvm/2";
      await s.finishChunked(empty, await s.startChunked(empty), []);
      assert.equal(await s.size(empty), 0);
      const abandoned = "images/h/kvm/3";
      const h = await s.startChunked(abandoned);
      await s.putChunk(abandoned, { handle: h, index: 1, offset: 0 }, source(randomBytes(5 * MIB)), { expectedSize: 5 * MIB });
      await s.delete(abandoned);
      assert.equal(await s.cleanupIncomplete(), 0, "nothing of it is left");
      assert.equal(await s.size(abandoned), null);
    });

    test("keys are ids, never paths: traversal is refused", async () => {
      const s = await make();
      await assert.rejects(s.put("../escape", source(randomBytes(1))));
      await assert.rejects(s.put("images/../../x", source(randomBytes(1))));
      await assert.rejects(s.get("/etc/passwd"));
    });
  });
}

describe("S3 store: multipart uploads", { skip: s3 ? false : S3_NOTICE }, () => {
  test("a put that fails after parts were sent aborts its multipart upload", async () => {
    const store = await s3Store("multipart/abort", 3);
    await assert.rejects(store.put("images/e/xen/1", source(randomBytes(17 * MIB), 16 * MIB)), /client went away/);
    assert.deepEqual(await bucket!.listMultipartUploads("multipart/abort/"), []);
    assert.deepEqual(await bucket!.listKeys("multipart/abort/"), []);
  });

  test("delete() and cleanupIncomplete() abort what a crashed process left", async () => {
    const store = await s3Store("multipart/crash");
    // What a process killed mid-upload leaves: a multipart upload with a part and no object.
    for (const key of ["images/f/xen/1", "images/f/xen/2"]) {
      const id = await bucket!.createMultipartUpload(`multipart/crash/${key}`);
      await bucket!.uploadPart(`multipart/crash/${key}`, id, 1, randomBytes(5 * MIB));
    }
    await store.delete("images/f/xen/1");
    assert.deepEqual((await bucket!.listMultipartUploads("multipart/crash/")).map((u) => u.key), ["multipart/crash/images/f/xen/2"]);
    assert.equal(await store.cleanupIncomplete(), 1);
    assert.deepEqual(await bucket!.listMultipartUploads("multipart/crash/"), []);
  });

  test("presigned URLs serve the blob, with ranges, and only as signed", async () => {
    const store = await s3Store("presigned");
    const data = randomBytes(6 * MIB + 5);
    await store.put("images/g/kvm/1", source(data));
    const url = store.presignedUrl("images/g/kvm/1", { expiresSeconds: 60, filename: "disk image.img" });
    const full = await fetch(url);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get("content-disposition"), 'attachment; filename="disk image.img"');
    assert.ok(Buffer.from(await full.arrayBuffer()).equals(data));
    const part = await fetch(url, { headers: { range: "bytes=5242870-5242889" } });
    assert.equal(part.status, 206);
    assert.ok(Buffer.from(await part.arrayBuffer()).equals(data.subarray(5242870, 5242890)));
    const tampered = new URL(url);
    tampered.pathname = tampered.pathname.replace(/1$/, "2");
    assert.equal((await fetch(tampered)).status, 403);
  });

  test("credentials from a container endpoint are used, and fetched again as they near expiry", async () => {
    await s3Store("creds");
    // The container agent (an AWS service, played here) hands out the RGW user's keys with 9
    // minutes left: inside the 10-minute margin, so every request renews them first.
    let served = 0;
    const agent = http.createServer((req, res) => {
      served++;
      const auth = req.headers.authorization === "agent-token";
      res.writeHead(auth ? 200 : 403).end(JSON.stringify({ AccessKeyId: s3!.env.AWS_ACCESS_KEY_ID, SecretAccessKey: s3!.env.AWS_SECRET_ACCESS_KEY, Token: "", Expiration: new Date(Date.now() + 9 * 60_000).toISOString() }));
    });
    await new Promise<void>((r) => agent.listen(0, "127.0.0.1", r));
    const env = { HOME: "/nonexistent", AWS_EC2_METADATA_DISABLED: "true", AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(agent.address() as AddressInfo).port}/creds`, AWS_CONTAINER_AUTHORIZATION_TOKEN: "agent-token" };
    const client = new S3Client({ ...bucket!.where, credentials: CredentialSource.chain(env) });
    try {
      const store = new S3BlobStore(client, { prefix: "creds", partSize: 5 * MIB, parallelParts: 2 });
      const data = randomBytes(6 * MIB);
      await store.put("images/i/xen/1", source(data));
      assert.ok((await readAll(await store.get("images/i/xen/1"))).equals(data));
      assert.ok(served >= 4, `the endpoint was asked before each request (${served} times)`);
      const url = store.presignedUrl("images/i/xen/1", { expiresSeconds: 60, filename: "x" });
      assert.equal((await fetch(url)).status, 200, "presigned with the current credentials");
    } finally {
      client.close();
      agent.close();
    }
  });
});
