// The DER reader's edges: what it accepts and, above all, what it refuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Der, DerError } from "../../src/x509/der.js";

const der = (hex: string) => Der.parse(Buffer.from(hex.replace(/\s+/g, ""), "hex"));

test("lengths: short and long form; indefinite, overlong and truncated ones are refused", () => {
  assert.equal(der("0403 616263").content.length, 3);
  const long = Buffer.concat([Buffer.from("04820100", "hex"), Buffer.alloc(256)]);
  assert.equal(Der.parse(long).content.length, 256);
  for (const bad of ["3080 0000", "0404 616263", "04", "0403 61626364", "0485 0000000001 00", "1f01 00"]) {
    assert.throws(() => der(bad), DerError, bad);
  }
});

test("children stay inside their parent", () => {
  const seq = der("3006 020101 020102");
  assert.deepEqual(seq.children().map((c) => c.smallInteger()), [1, 2]);
  assert.throws(() => der("3005 020101 020202").children(), DerError);
  assert.throws(() => der("0201 01").children(), DerError);
});

test("OIDs, integers, booleans, bit strings", () => {
  assert.equal(der("0609 2a864886f70d010901").oid(), "1.2.840.113549.1.9.1");
  assert.equal(der("0603 883703").oid(), "2.999.3");
  assert.equal(der("0603 550403").oid(), "2.5.4.3");
  assert.throws(() => der("0602 2a86").oid(), DerError); // last arc unfinished
  assert.throws(() => der("0602 8001").oid(), DerError); // non-minimal arc
  assert.equal(der("0202 00ff").smallInteger(), 255);
  assert.throws(() => der("0201 ff").smallInteger(), DerError); // negative
  assert.equal(der("0209 00ffeeddccbbaa9988").integerHex(), "00ffeeddccbbaa9988");
  assert.equal(der("0101 ff").boolean(), true);
  assert.throws(() => der("0102 ffff").boolean(), DerError);
  assert.deepEqual(der("0302 0780").bitString(), { unusedBits: 7, bits: Buffer.from([0x80]) });
  assert.throws(() => der("0302 0880").bitString(), DerError);
  assert.throws(() => der("0401 00").oid(), /expected tag 0x6/);
});

test("UTCTime pivots at 1950; GeneralizedTime; other forms are refused", () => {
  const time = (tag: string, text: string) => Der.parse(Buffer.concat([Buffer.from([parseInt(tag, 16), text.length]), Buffer.from(text)])).time();
  assert.equal(time("17", "491231235959Z").toISOString(), "2049-12-31T23:59:59.000Z");
  assert.equal(time("17", "500101000000Z").toISOString(), "1950-01-01T00:00:00.000Z");
  assert.equal(time("18", "20991231235959Z").toISOString(), "2099-12-31T23:59:59.000Z");
  for (const [tag, text] of [["17", "4912312359Z"], ["17", "491231235959+0100"], ["18", "20991231235959.5Z"], ["04", "20991231235959Z"]] as const) {
    assert.throws(() => time(tag, text), DerError, text);
  }
});
