#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, one file at a
// time: the end-to-end suites start real servers and the machine has two cores. Then runs the
// suites that exercise the metadata store again against a throwaway PostgreSQL server, when
// PostgreSQL is installed (Debian: postgresql); otherwise it says so and how to run them.
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

const METADATA_SUITES = /test\/(api|db)\/(users-groups|images|upload-safety|credentials|list-sort|users-detail)/;
const again = files.filter((f) => METADATA_SUITES.test(f));
if (again.length > 0 && !process.env.REPOMAN_TEST_POSTGRES_URL) {
  const { postgresBinaries, startPostgres } = await import("../dist/test/support/postgres.js");
  if (!postgresBinaries()) {
    console.log("# PostgreSQL is not installed: the metadata suites ran on SQLite only. To run them on PostgreSQL too: apt-get install postgresql, then npm test.");
  } else {
    console.log("# The metadata suites again, on PostgreSQL");
    const pg = await startPostgres();
    try {
      status = run(again, { REPOMAN_TEST_POSTGRES_URL: pg.url }) || status;
    } finally {
      await pg.stop();
    }
  }
}
process.exit(status);
