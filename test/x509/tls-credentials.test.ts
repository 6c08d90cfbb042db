// Every fixture credential over a real TLS connection: the chain Node reads from the socket gets
// the verdict expected.tsv promises, whether Node's client or curl sends it, and expected.tsv's
// `sendable` column says truly which credentials curl cannot even load.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { constants } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import tls from "node:tls";
import { expectedCredentials, fixturePki, type Credential } from "../support/pki.js";
import { ChainAuthenticator, readPeerChain } from "../../src/x509/authenticator.js";
import { TrustStore } from "../../src/x509/trust-store.js";
import { defaultValidationOptions } from "../../src/x509/validate.js";

const pki = await fixturePki();
const caBundle = join(pki, "ca-bundle.pem");
const store = TrustStore.load(join(pki, "certificates"));
const credentials = expectedCredentials(pki);
let authenticator = new ChainAuthenticator(() => store, defaultValidationOptions);

// The verdict goes back as an HTTP response, so that curl has something to read.
const server = tls.createServer({
  key: readFileSync(join(pki, "host/hostkey.pem")),
  cert: readFileSync(join(pki, "host/hostcert.pem")),
  ca: store.caPem(),
  requestCert: true,
  rejectUnauthorized: false,
  secureOptions: constants.SSL_OP_NO_TICKET,
});
server.on("secureConnection", (socket) => {
  const result = authenticator.authenticate(readPeerChain(socket));
  const body = JSON.stringify(
    result.ok
      ? { outcome: "accept", value: result.identity.dn, limited: result.identity.limited, proxyKind: result.identity.proxyKind }
      : { outcome: "reject", value: result.code },
  );
  socket.end(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const port = (server.address() as AddressInfo).port;
after(() => server.close());

interface Verdict {
  outcome: string;
  value: string;
  limited?: boolean;
  proxyKind?: string;
}

function expected(c: Credential): Verdict {
  return c.outcome === "accept"
    ? { outcome: "accept", value: c.identityOrCode, limited: c.limited, proxyKind: c.proxyKind }
    : { outcome: "reject", value: c.identityOrCode };
}

async function viaNode(c: Credential): Promise<Verdict> {
  const client = tls.connect({ port, host: "127.0.0.1", servername: "localhost", ca: readFileSync(caBundle), cert: readFileSync(c.cert), key: readFileSync(c.key) });
  let response = "";
  client.on("data", (d: Buffer) => (response += d.toString()));
  await once(client, "end");
  return JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4)) as Verdict;
}

function viaCurl(c: Credential): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--cacert", caBundle, "--cert", c.cert, "--key", c.key, `https://localhost:${port}/`], (error, stdout, stderr) => {
      resolve({ exitCode: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

test("Node's TLS client: every credential, sendable by curl or not, gets the expected verdict", async () => {
  authenticator = new ChainAuthenticator(() => store, defaultValidationOptions);
  for (const c of credentials) assert.deepEqual(await viaNode(c), expected(c), c.name);
});

test("curl: sendable credentials get the expected verdict; the others do not even load", async () => {
  authenticator = new ChainAuthenticator(() => store, defaultValidationOptions);
  for (const c of credentials) {
    const result = await viaCurl(c);
    if (c.sendable) {
      assert.equal(result.exitCode, 0, `${c.name}: ${result.stderr}`);
      assert.deepEqual(JSON.parse(result.stdout), expected(c), c.name);
    } else {
      assert.equal(result.exitCode, 58, `${c.name} should not load: ${result.stderr}`);
      assert.match(result.stderr, /could not load PEM client certificate/);
    }
  }
});
