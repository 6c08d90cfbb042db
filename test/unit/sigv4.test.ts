// SigV4 against the worked examples in AWS's S3 documentation ("Signature Calculations for the
// Authorization Header" and "Query String Authentication"); the S3 tests then prove it on Ceph RGW.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EMPTY_SHA256, presignUrl, sha256hex, signRequest, uriEncode } from "../../src/blobs/sigv4.js";
import { parseIni } from "../../src/blobs/aws-config.js";

const creds = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };
const at = new Date("2013-05-24T00:00:00Z");
const url = (path: string) => new URL(`https://examplebucket.s3.amazonaws.com${path}`);
const sig = (h: Record<string, string>) => /Signature=([0-9a-f]{64})$/.exec(h.authorization!)![1];

test("GET Object with a Range header", () => {
  const h = signRequest({ method: "GET", url: url("/test.txt"), headers: { range: "bytes=0-9" }, payloadSha256: EMPTY_SHA256 }, creds, "us-east-1", at);
  assert.equal(sig(h), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  assert.match(h.authorization!, /SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,/);
});

test("PUT Object: signed payload, a key that needs encoding, extra headers", () => {
  const body = "Welcome to Amazon S3.";
  const h = signRequest(
    { method: "PUT", url: url(`/${uriEncode("test$file.text", true)}`), headers: { date: "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY" }, payloadSha256: sha256hex(body) },
    creds,
    "us-east-1",
    at,
  );
  assert.equal(sig(h), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
});

test("query strings: a bare sub-resource and sorted parameters", () => {
  const lifecycle = signRequest({ method: "GET", url: url("/?lifecycle"), headers: {}, payloadSha256: EMPTY_SHA256 }, creds, "us-east-1", at);
  assert.equal(sig(lifecycle), "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  const list = signRequest({ method: "GET", url: url("/?max-keys=2&prefix=J"), headers: {}, payloadSha256: EMPTY_SHA256 }, creds, "us-east-1", at);
  assert.equal(sig(list), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
});

test("presigned GET URL", () => {
  const u = presignUrl(url("/test.txt"), creds, "us-east-1", 86400, at);
  assert.equal(u.searchParams.get("X-Amz-Signature"), "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  assert.equal(u.searchParams.get("X-Amz-Credential"), "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request");
});

test("uriEncode keeps only unreserved characters (and '/' in keys)", () => {
  assert.equal(uriEncode("a b+c/d~e_f.g-h!*'()"), "a%20b%2Bc%2Fd~e_f.g-h%21%2A%27%28%29");
  assert.equal(uriEncode("dir/big object.bin", true), "dir/big%20object.bin");
});

test("shared config files: sections, comments, profiles", () => {
  const ini = parseIni("# c\n[default]\naws_access_key_id = AK\n; c\n[profile ceph]\nregion=default\nendpoint_url = http://127.0.0.1:7480\n");
  assert.equal(ini.get("default")!.get("aws_access_key_id"), "AK");
  assert.equal(ini.get("profile ceph")!.get("endpoint_url"), "http://127.0.0.1:7480");
});
