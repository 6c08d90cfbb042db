// ChainAuthenticator: verdicts, and the cache that keeps the handshake cheap without going stale.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { fixturePki } from "../support/pki.js";
import { ChainAuthenticator } from "../../src/x509/authenticator.js";
import { TrustStore } from "../../src/x509/trust-store.js";
import { defaultValidationOptions } from "../../src/x509/validate.js";
import { loadChain } from "./helpers.js";

const pki = await fixturePki();
const store = TrustStore.load(join(pki, "certificates"));
// fresh X509Certificate objects every time, as every connection brings its own
const chain = (name: string) => loadChain(join(pki, name));
const ALICE = "proxies/alice-rfc.pem";

function authenticator(clock: { now: number }, options: { store?: () => TrustStore; maxEntries?: number } = {}) {
  return new ChainAuthenticator(options.store ?? (() => store), defaultValidationOptions, { clock: () => clock.now, maxEntries: options.maxEntries });
}

test("verdicts carry the identity or the error code and message", () => {
  const auth = authenticator({ now: Date.now() });
  const ok = auth.authenticate(chain(ALICE));
  assert.ok(ok.ok);
  assert.equal(ok.identity.dn, "/C=CA/O=Grid/OU=test/CN=Alice Example");
  const refused = auth.authenticate(chain("proxies/carol-rfc.pem"));
  assert.ok(!refused.ok);
  assert.equal(refused.code, "REVOKED");
  assert.match(refused.message, /Carol Example.*revoked/);
  assert.deepEqual(auth.authenticate([]), { ok: false, code: "NO_CERTIFICATE", message: "the client sent no certificate" });
});

test("an accepted chain is remembered for 5 minutes by its DER, then validated again", () => {
  const clock = { now: Date.now() };
  const auth = authenticator(clock);
  const first = auth.authenticate(chain(ALICE));
  clock.now += 4 * 60_000;
  assert.equal(auth.authenticate(chain(ALICE)), first);
  clock.now += 2 * 60_000;
  const again = auth.authenticate(chain(ALICE));
  assert.notEqual(again, first);
  assert.deepEqual(again, first);
});

test("an accepted chain is not remembered past the identity's expiry", () => {
  const notAfter = new Date(chain(ALICE)[0]!.validTo).getTime();
  const clock = { now: notAfter - 10_000 };
  const auth = authenticator(clock);
  assert.ok(auth.authenticate(chain(ALICE)).ok);
  clock.now = notAfter + 120_000;
  const late = auth.authenticate(chain(ALICE));
  assert.ok(!late.ok);
  assert.equal(late.code, "EXPIRED");
});

test("a refusal is remembered for 30 seconds", () => {
  const clock = { now: Date.now() };
  const auth = authenticator(clock);
  const first = auth.authenticate(chain("proxies/kate-rfc.pem"));
  clock.now += 29_000;
  assert.equal(auth.authenticate(chain("proxies/kate-rfc.pem")), first);
  clock.now += 2_000;
  assert.notEqual(auth.authenticate(chain("proxies/kate-rfc.pem")), first);
});

test("a new trust store generation empties the cache", () => {
  let current = store;
  const auth = authenticator({ now: Date.now() }, { store: () => current });
  const first = auth.authenticate(chain(ALICE));
  assert.equal(auth.authenticate(chain(ALICE)), first);
  current = TrustStore.load(join(pki, "certificates"));
  assert.notEqual(auth.authenticate(chain(ALICE)), first);
});

test("the cache is bounded and drops the least recently used entry first", () => {
  const auth = authenticator({ now: Date.now() }, { maxEntries: 2 });
  const alice = auth.authenticate(chain(ALICE));
  const bob = auth.authenticate(chain("proxies/bob-rfc.pem"));
  assert.equal(auth.authenticate(chain(ALICE)), alice); // alice is now the most recent
  auth.authenticate(chain("proxies/admin-rfc.pem")); // evicts bob
  assert.equal(auth.authenticate(chain(ALICE)), alice);
  assert.notEqual(auth.authenticate(chain("proxies/bob-rfc.pem")), bob);
});

test("an unexpected error fails closed as INTERNAL_ERROR and is not cached", () => {
  let calls = 0;
  const broken = {
    generation: -1,
    isAnchor: () => false,
    casNamed: () => {
      calls++;
      throw new TypeError("boom");
    },
  } as unknown as TrustStore;
  const auth = authenticator({ now: Date.now() }, { store: () => broken });
  assert.deepEqual(auth.authenticate(chain(ALICE)), { ok: false, code: "INTERNAL_ERROR", message: "boom" });
  auth.authenticate(chain(ALICE));
  assert.equal(calls, 2);
});
