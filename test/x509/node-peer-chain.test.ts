// Pins what Node's TLS stack hands the validator, so that a Node upgrade cannot silently change it
// (grid-certificates.md §2b, §4): getPeerX509Certificate() returns the client's chain in the order
// sent, and consumes it; a resumed session carries the leaf only, hence SSL_OP_NO_TICKET.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { constants, type X509Certificate } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { fixturePki } from "../support/pki.js";
import { readPeerChain } from "../../src/x509/authenticator.js";
import { TrustStore } from "../../src/x509/trust-store.js";
import { defaultValidationOptions, validateGridChain } from "../../src/x509/validate.js";
import { loadChain } from "./helpers.js";

const pki = await fixturePki();
const ca = readFileSync(join(pki, "ca-bundle.pem"));

interface Seen {
  chain: X509Certificate[];
  secondCall: string[];
  /** getPeerCertificate(true) afterwards: the leaf's fingerprint and its issuer link's. */
  laterLegacyChain: (string | undefined)[];
  resumed: boolean;
}

function fingerprints(first: X509Certificate | undefined): string[] {
  const out: string[] = [];
  for (let c = first; c && out.length < 20; c = c.issuerCertificate) out.push(c.fingerprint256);
  return out;
}

async function startServer(secureOptions: number) {
  let deliver: (seen: Seen) => void = () => {};
  const server = tls.createServer({
    key: readFileSync(join(pki, "host/hostkey.pem")),
    cert: readFileSync(join(pki, "host/hostcert.pem")),
    ca,
    requestCert: true,
    rejectUnauthorized: false,
    secureOptions,
  });
  server.on("secureConnection", (socket) => {
    const chain = readPeerChain(socket);
    const secondCall = fingerprints(socket.getPeerX509Certificate());
    const legacy = socket.getPeerCertificate(true);
    deliver({
      chain,
      secondCall,
      laterLegacyChain: [legacy.fingerprint256, legacy.issuerCertificate?.fingerprint256],
      resumed: socket.isSessionReused(),
    });
    socket.end();
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const port = (server.address() as AddressInfo).port;
  after(() => server.close());

  return async (options: tls.ConnectionOptions): Promise<Seen & { session: Buffer | undefined }> => {
    const seen = new Promise<Seen>((resolve) => (deliver = resolve));
    const client = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca, ...options });
    client.resume();
    await once(client, "secureConnect");
    const result = await seen;
    const session = client.getSession();
    await once(client, "close");
    return { ...result, session };
  };
}

const connect = await startServer(constants.SSL_OP_NO_TICKET);
const pemOf = (chain: X509Certificate[]) => chain.map((c) => c.toString()).join("");
const popPop = loadChain(join(pki, "proxies/alice-rfc-pop-pop.pem"));
const popPopKey = readFileSync(join(pki, "proxies/alice-rfc-pop-pop.pem"));

test("getPeerX509Certificate() walks exactly the client's certificates, in the order sent", async () => {
  const seen = await connect({ cert: pemOf(popPop), key: popPopKey });
  assert.deepEqual(
    seen.chain.map((c) => c.fingerprint256),
    popPop.map((c) => c.fingerprint256),
  );
  const shuffled = [popPop[0]!, popPop[3]!, popPop[1]!, popPop[2]!];
  const again = await connect({ cert: pemOf(shuffled), key: popPopKey });
  assert.deepEqual(
    again.chain.map((c) => c.fingerprint256),
    shuffled.map((c) => c.fingerprint256),
  );
  // nothing from the trust store is added, and the validator copes with the order
  const store = TrustStore.load(join(pki, "certificates"));
  const id = validateGridChain(again.chain, store, defaultValidationOptions);
  assert.equal(id.dn, "/C=CA/O=Grid/OU=test/CN=Alice Example");
  assert.equal(id.proxyDepth, 3);
});

test("getPeerX509Certificate() consumes the chain: a second call, or getPeerCertificate(true), sees the leaf only", async () => {
  const seen = await connect({ cert: pemOf(popPop), key: popPopKey });
  assert.equal(seen.chain.length, 4);
  assert.deepEqual(seen.secondCall, [popPop[0]!.fingerprint256]);
  assert.deepEqual(seen.laterLegacyChain, [popPop[0]!.fingerprint256, undefined]);
});

test("TLS 1.2 behaves the same, and a client without a certificate yields an empty chain", async () => {
  const tls12 = await connect({ cert: pemOf(popPop), key: popPopKey, maxVersion: "TLSv1.2" });
  assert.equal(tls12.chain.length, 4);
  assert.equal(tls12.secondCall.length, 1);
  assert.deepEqual((await connect({})).chain, []);
});

test("with SSL_OP_NO_TICKET there is no resumption; with tickets a resumed session has the leaf only", async () => {
  const cred = { cert: pemOf(popPop), key: popPopKey, maxVersion: "TLSv1.2" as const };
  const first = await connect(cred);
  assert.ok(first.session, "the client keeps a session to offer");
  const second = await connect({ ...cred, session: first.session });
  assert.equal(second.resumed, false);
  assert.equal(second.chain.length, 4);

  const withTickets = await startServer(0);
  const initial = await withTickets(cred);
  const resumed = await withTickets({ ...cred, session: initial.session });
  assert.equal(resumed.resumed, true);
  assert.deepEqual(
    resumed.chain.map((c) => c.fingerprint256),
    [popPop[0]!.fingerprint256],
  );
});
