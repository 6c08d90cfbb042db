// --voms-map patterns and their precedence (every matching line applies), and the user names
// auto-registration derives from a DN.
import { test } from "node:test";
import assert from "node:assert/strict";
import { groupsForFqans, mappingMatches, parseVomsMapping, VomsMapError } from "../../src/policy/voms-map.js";
import { userNameFromDn } from "../../src/catalog/users.js";

const map = (...lines: string[]) => lines.map(parseVomsMapping);
const matches = (pattern: string, fqan: string) => mappingMatches(parseVomsMapping(`${pattern} g`), fqan);

test("a plain group matches that group without a role, and nothing else", () => {
  assert.ok(matches("/atlas", "/atlas"));
  assert.ok(matches("/atlas", "/atlas/Role=NULL/Capability=NULL"));
  assert.ok(!matches("/atlas", "/atlas/Role=production"));
  assert.ok(!matches("/atlas", "/atlas/higgs"));
  assert.ok(!matches("/atlas", "/atlasx"));
  assert.ok(!matches("/atlas/higgs", "/atlas"));
});

test("/* adds every subgroup (and the group itself); Role=* any role or none", () => {
  assert.ok(matches("/atlas/*", "/atlas"));
  assert.ok(matches("/atlas/*", "/atlas/higgs/top"));
  assert.ok(!matches("/atlas/*", "/atlasx/higgs"));
  assert.ok(!matches("/atlas/*", "/atlas/higgs/Role=production"));
  assert.ok(matches("/atlas/*/Role=*", "/atlas/higgs/Role=production"));
  assert.ok(matches("/atlas/Role=*", "/atlas"));
  assert.ok(!matches("/atlas/Role=*", "/atlas/higgs/Role=production"));
  assert.ok(matches("/atlas/Role=production", "/atlas/Role=production/Capability=NULL"));
  assert.ok(!matches("/atlas/Role=production", "/atlas/Role=pilot"));
  assert.ok(!matches("/atlas/Role=production", "/atlas/higgs/Role=production"));
});

test("precedence: every matching line gives its group, once, whatever the order or specificity", () => {
  const m = map("/testvo/* vo-all", "/testvo vo-members", "/testvo/analysis analysts", "/testvo/Role=production producers", "/othervo other", "/testvo vo-members");
  assert.deepEqual(groupsForFqans(m, ["/testvo", "/testvo/analysis"]), ["vo-all", "vo-members", "analysts"]);
  assert.deepEqual(groupsForFqans(m, ["/testvo/Role=production"]), ["producers"]);
  assert.deepEqual(groupsForFqans(m, ["/othervo/x"]), []);
  assert.deepEqual(groupsForFqans(m, []), []);
});

test("bad lines and the admins group are configuration errors", () => {
  for (const line of ["/atlas", "atlas g", "/atlas g h", "/ g", "/atlas/Role=a/b g", "/atlas/**/x g", "/atlas bad.group", "/atlas/Capability=x g", "/atlas admins"]) {
    assert.throws(() => parseVomsMapping(line), VomsMapError, line);
  }
});

test("auto-registered names come from the last CN, readable and URL-safe", () => {
  assert.equal(userNameFromDn("/C=CA/O=Grid/OU=test/CN=Erin Example"), "erin-example");
  assert.equal(userNameFromDn("/DC=org/DC=example/O=Grid/OU=a+OU=b/CN=Jos\\xC3\\xA9 M\\xC3\\xBCller/UID=jm42"), "jose-muller");
  assert.equal(userNameFromDn("CN=Robot: build.example.org,CN=Host,O=Grid"), "robot-build-example-org");
  assert.equal(userNameFromDn("/C=CA/O=Grid/OU=test"), "user");
  assert.equal(userNameFromDn("/O=Grid/CN=宮崎"), "user");
});
