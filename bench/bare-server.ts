// The floor under Repoman: node:https with Repoman's TLS settings and nothing else. It answers
// GET with a few bytes; a PUT body it discards (`PUT /discard`), passes through SHA-256
// (`PUT /sha256`), or also writes to a file, fsynced and then deleted (`PUT /file`): what any
// Node.js 20 server that keeps a checksummed upload must spend, with nothing of Repoman's own.
import https from "node:https";
import { createHash } from "node:crypto";
import { createWriteStream, readdirSync, readFileSync, rmSync } from "node:fs";
import { pipeline } from "node:stream/promises";
import { join } from "node:path";
import { constants } from "node:crypto";

const [hostCert, hostKey, caDir, scratch] = process.argv.slice(2) as [string, string, string, string];
const cas = readdirSync(caDir).filter((f) => /^[0-9a-f]{8}\.\d+$/.test(f)).map((f) => readFileSync(join(caDir, f)));
const server = https.createServer(
  { key: readFileSync(hostKey), cert: readFileSync(hostCert), ca: cas, secureOptions: constants.SSL_OP_NO_TICKET, minVersion: "TLSv1.2", requestCert: true, rejectUnauthorized: false },
  (req, res) => {
    if (req.method !== "PUT") return res.end(`{"ok":true}`);
    const hash = req.url === "/discard" ? undefined : createHash("sha256");
    req.on("data", (chunk: Buffer) => hash?.update(chunk));
    if (req.url !== "/file") return req.on("end", () => res.end(hash?.digest("hex") ?? "discarded"));
    const file = join(scratch, "upload");
    pipeline(req, createWriteStream(file, { highWaterMark: 1024 * 1024, flush: true })).then(
      () => (rmSync(file), res.end(hash!.digest("hex"))),
      (e: Error) => ((res.statusCode = 500), res.end(e.message)),
    );
  },
);
server.listen(0, "127.0.0.1", () => process.stdout.write(`${(server.address() as { port: number }).port}\n`));
