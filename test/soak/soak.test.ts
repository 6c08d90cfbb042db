// The soak run of bench/soak.ts in `npm test`: 2 minutes of mixed load against the server command,
// whose memory, descriptors and data files must stay flat (REPOMAN_SOAK_SECONDS for longer runs;
// `npm run soak` is the 10-minute nightly one).
import { test } from "node:test";
import assert from "node:assert/strict";
import { soak } from "../../bench/soak.js";

test("mixed load for a while leaves memory, descriptors and data files flat", async (ctx) => {
  const r = await soak({ seconds: Number(process.env.REPOMAN_SOAK_SECONDS ?? 120), log: (l) => ctx.diagnostic(l.replace(/^# /, "")) });
  // Every kind of operation took place, and the server answered each as it should.
  for (const kind of ["ranged download", "whole download", "abandoned download", "upload", "abandoned upload", "listing", "resumable upload", "refused"]) assert.ok((r.ops[kind] ?? 0) > 0, kind);
  assert.deepEqual(r.unexpected, []);
  assert.deepEqual(r.problems, []);
});
