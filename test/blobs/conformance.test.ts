// One suite for every BlobStore, as distribution/distribution has for its storage drivers: what a
// store must do so that uploads are all-or-nothing and downloads exact. Stores are listed in
// `stores` below; each one added must pass all of it.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { FsBlobStore } from "../../src/blobs/fs-store.js";
import { BlobSizeError, type BlobStore } from "../../src/blobs/blob-store.js";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

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
      for (const size of [0, 1, 65_536, 3 * 1024 * 1024 + 7]) {
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
      const cases: [Readable, object, RegExp | typeof BlobSizeError][] = [
        [source(data), { expectedSize: 300_000 }, BlobSizeError],
        [source(data), { expectedSize: 100_000 }, BlobSizeError],
        [source(data), { maxBytes: 150_000 }, BlobSizeError],
        [source(data, 100_000), {}, /client went away/],
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

    test("keys are ids, never paths: traversal is refused", async () => {
      const s = await make();
      await assert.rejects(s.put("../escape", source(randomBytes(1))));
      await assert.rejects(s.put("images/../../x", source(randomBytes(1))));
      await assert.rejects(s.get("/etc/passwd"));
    });
  });
}
