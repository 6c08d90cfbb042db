// The floor under Repoman: node:https with Repoman's TLS settings and nothing else. It answers
// GET with a few bytes; a PUT body it either discards (`PUT /discard`) or passes through SHA-256
// (`PUT /sha256`). Whatever this costs, no Node.js 20 server can spend less.
import https from "node:https";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { constants } from "node:crypto";

const [hostCert, hostKey, caDir] = process.argv.slice(2) as [string, string, string];
const cas = readdirSync(caDir).filter((f) => /^[0-9a-f]{8}\.\d+$/.test(f)).map((f) => readFileSync(join(caDir, f)));
const server = https.createServer(
  { key: readFileSync(hostKey), cert: readFileSync(hostCert), ca: cas, secureOptions: constants.SSL_OP_NO_TICKET, minVersion: "TLSv1.2", requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    if (req.method !== "PUT") return res.end(`{"ok":true}`);
    const hash = req.url === "/sha256" ? createHash("sha256") : undefined;
    req.on("data", (chunk: Buffer) => hash?.update(chunk));
    req.on("end", () => res.end(hash?.digest("hex") ?? "discarded"));
  },
);
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
