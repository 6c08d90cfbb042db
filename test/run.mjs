#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, one file at a
// time: the end-to-end suites start real servers and the machine has two cores. Then runs the
// suites that exercise the metadata store again against a throwaway PostgreSQL server, and the
// blob-store and two-server suites against a throwaway Ceph RGW (S3), when they are installed
// (Debian: postgresql; ceph-mon ceph-osd radosgw); otherwise it says so and how to run them.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";

function findTests(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(findTests(p));
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

function run(files, env = {}) {
  const r = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-timeout=600000", ...files], { stdio: "inherit", env: { ...process.env, ...env } });
  return r.status ?? 1;
}

const filter = process.argv.slice(2);
const files = findTests("dist/test").filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error("no test files found under dist/test (did tsc run?)");
  process.exit(1);
}
let status = run(files);

// Real servers the second passes need, stopped however the run ends.
const stops = [];
const stopAll = async () => {
  for (const stop of stops.reverse()) await stop();
};

try {
  const pgEnv = {};
  const METADATA_SUITES = /test\/(api|db|catalog)\/(users-groups|images|versions|resumable|operations|migrations|upload-safety|credentials|list-sort|users-detail|liveness|audit|image-lists|voms|formats)/;
  const again = files.filter((f) => METADATA_SUITES.test(f));
  const S3_SUITES = /test\/(blobs\/conformance|scale\/)/;
  const onS3 = files.filter((f) => S3_SUITES.test(f));

  if (process.env.REPOMAN_TEST_POSTGRES_URL) pgEnv.REPOMAN_TEST_POSTGRES_URL = process.env.REPOMAN_TEST_POSTGRES_URL;
  else if (again.length > 0 || onS3.length > 0) {
    const { postgresBinaries, startPostgres } = await import("../dist/test/support/postgres.js");
    if (!postgresBinaries()) {
      console.log("# PostgreSQL is not installed: the metadata suites ran on SQLite only. To run them on PostgreSQL too: apt-get install postgresql, then npm test.");
    } else {
      const pg = await startPostgres();
      stops.push(() => pg.stop());
      pgEnv.REPOMAN_TEST_POSTGRES_URL = pg.url;
      if (again.length > 0) {
        console.log("# The metadata suites again, on PostgreSQL");
        status = run(again, pgEnv) || status;
      }
    }
  }

  if (onS3.length > 0) {
    const { cephInstalled, startCeph } = await import("../dist/test/support/s3.js");
    let s3Env;
    if (process.env.REPOMAN_TEST_S3_ENDPOINT) s3Env = {};
    else if (cephInstalled()) {
      console.log("# Starting a throwaway Ceph cluster with RGW for the S3 suites");
      const ceph = startCeph();
      stops.push(async () => ceph.stop());
      s3Env = ceph.env;
    } else {
      console.log("# Ceph RGW is not installed: the S3 blob store and the two-server tests were skipped. To run them: apt-get install ceph-mon ceph-osd radosgw, then npm test (or point REPOMAN_TEST_S3_ENDPOINT and AWS_* at an S3 server).");
    }
    if (s3Env) {
      console.log("# The blob-store conformance suite on S3, and two servers on PostgreSQL + S3");
      status = run(onS3, { ...pgEnv, ...s3Env }) || status;
    }
  }
} finally {
  await stopAll();
}
process.exit(status);
