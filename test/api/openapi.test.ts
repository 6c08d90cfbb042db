// The OpenAPI document describes every route, with the schemas that validate its input.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { fixturePki } from "../support/pki.js";
import { startTestServer, type TestServer } from "../support/server.js";

let t: TestServer;
before(async () => (t = await startTestServer(await fixturePki())));
after(() => t.close());

test("/api/openapi.json is served to anyone and covers the API", async () => {
  const r = await t.call("GET", "/api/openapi.json");
  assert.equal(r.status, 200);
  const doc = r.json;
  assert.equal(doc.openapi, "3.1.0");
  for (const [path, method] of <[string, string][]>[
    ["/api/whoami", "get"],
    ["/api/users", "post"],
    ["/api/users/{user}", "post"],
    ["/api/groups/{group}/permissions/{permission}", "delete"],
    ["/api/images", "get"],
    ["/api/images", "post"],
    ["/api/images/{user}/{image}", "post"],
    ["/api/images/{user}/{image}/share/{kind}/{target}", "post"],
    ["/api/images/raw/{user}/{hypervisor}/{image}", "put"],
    ["/api/images/raw/{user}/{hypervisor}/{image}", "head"],
  ]) {
    assert.ok(doc.paths[path]?.[method], `${method} ${path}`);
  }
  const create = doc.paths["/api/images"].post.requestBody.content["application/json"].schema;
  assert.deepEqual(create.required, ["name"]);
  assert.equal(create.additionalProperties, false);
  assert.ok(create.properties.os_arch.enum.includes("x86_64"));
  const list = doc.paths["/api/images"].get.parameters.map((p: { name: string }) => p.name);
  assert.ok(list.includes("limit") && list.includes("marker") && list.includes("q"));
  assert.equal(doc.paths["/api/images/raw/{user}/{hypervisor}/{image}"].put.requestBody.content["application/octet-stream"].schema.format, "binary");
});
