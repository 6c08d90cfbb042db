// The attribute-type table against the installed OpenSSL, and the names people type.
import { test } from "node:test";
import assert from "node:assert/strict";
import { attributeOid, attributeShortName, NAME_ATTRIBUTE_TYPES } from "../../src/x509/oids.js";
import { run } from "./helpers.js";

const ARCS = /^(2\.5\.4|1\.2\.840\.113549\.1\.9|0\.9\.2342\.19200300\.100\.1|1\.3\.6\.1\.4\.1\.311\.60\.2\.1)\.\d+$/;

test("the table holds exactly OpenSSL's objects under the attribute-type arcs, with its names", () => {
  // lines look like "CN = commonName, 2.5.4.3" or "emailAddress = 1.2.840.113549.1.9.1"
  const fromOpenssl = run("openssl", ["list", "-objects"])
    .split("\n")
    .flatMap((line) => {
      const m = /^(\S+) = (?:(.*), )?([0-9.]+)$/.exec(line);
      return m && ARCS.test(m[3]!) ? [[m[3]!, m[1]!, m[2] ?? m[1]!]] : [];
    });
  const sort = (rows: readonly (readonly string[])[]) => rows.map((r) => r.join(" | ")).sort();
  assert.ok(fromOpenssl.length > 100);
  assert.deepEqual(sort(NAME_ATTRIBUTE_TYPES), sort(fromOpenssl));
});

test("short names as X509_NAME_oneline prints them, dotted OIDs for the rest", () => {
  assert.equal(attributeShortName("2.5.4.3"), "CN");
  assert.equal(attributeShortName("1.2.840.113549.1.9.1"), "emailAddress");
  assert.equal(attributeShortName("0.9.2342.19200300.100.1.25"), "DC");
  assert.equal(attributeShortName("0.9.2342.19200300.100.1.1"), "UID");
  assert.equal(attributeShortName("1.2.3.4.5"), "1.2.3.4.5");
});

test("typed attribute names: case-insensitive, long names, aliases, dotted OIDs", () => {
  const cases: [string, string | undefined][] = [
    ["CN", "2.5.4.3"],
    ["cn", "2.5.4.3"],
    ["commonName", "2.5.4.3"],
    ["E", "1.2.840.113549.1.9.1"],
    ["Email", "1.2.840.113549.1.9.1"],
    ["EMAILADDRESS", "1.2.840.113549.1.9.1"],
    ["UID", "0.9.2342.19200300.100.1.1"],
    ["uid", "0.9.2342.19200300.100.1.1"],
    ["userId", "0.9.2342.19200300.100.1.1"],
    ["uniqueIdentifier", "0.9.2342.19200300.100.1.44"],
    ["S", "2.5.4.8"],
    ["street", "2.5.4.9"],
    ["STREET", "2.5.4.9"],
    ["OID.2.5.4.3", "2.5.4.3"],
    ["1.2.3.4.5", "1.2.3.4.5"],
    ["1.02.3", undefined],
    ["3.1", undefined],
    ["nonsense", undefined],
    ["", undefined],
  ];
  for (const [name, oid] of cases) assert.equal(attributeOid(name), oid, name);
});
