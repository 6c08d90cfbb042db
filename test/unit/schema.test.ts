// Request schemas refuse every field they do not define, also those whose names every object
// inherits (a fuzzer's find: "toString" and "__proto__" passed as known fields, and were ignored).
import { test } from "node:test";
import assert from "node:assert/strict";
import { object, optional, string } from "../../src/http/schema.js";

test("fields an object inherits are unknown fields, however they arrive", () => {
  const schema = object({ description: optional(string()) });
  assert.deepEqual(schema.parse({ description: "x" }), { description: "x" });
  for (const name of ["toString", "__proto__", "constructor", "hasOwnProperty", "valueOf"]) {
    // As a form body arrives: URLSearchParams into an object of own properties.
    const body = Object.fromEntries(new URLSearchParams(`${name}=x`));
    assert.throws(() => schema.parse(body), new RegExp(`unknown field '${name}'`));
  }
  assert.throws(() => schema.parse(JSON.parse('{"__proto__": {"description": "x"}}')), /unknown field '__proto__'/);
});
