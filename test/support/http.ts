// A small HTTPS client for the end-to-end tests: one new TLS connection per request (so each
// request exercises a full handshake and the server's chain validation), optional client credential.
import https from "node:https";
import http from "node:http";
import { readFileSync } from "node:fs";

export interface Credential {
  cert: string; // PEM file: certificate (and chain)
  key: string; // PEM file with the private key (may be the same file, as for proxies)
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  json: any;
  body: Buffer;
}

export interface CallOptions {
  cred?: Credential | undefined;
  json?: unknown;
  form?: Record<string, string>;
  body?: string | Buffer;
  headers?: Record<string, string>;
  plain?: boolean; // plain HTTP instead of HTTPS
}

const files = new Map<string, Buffer>();
const read = (p: string) => files.get(p) ?? files.set(p, readFileSync(p)).get(p)!;

export function client(port: number, caFile: string) {
  return function call(method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    let body: string | Buffer | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] = "application/json";
    } else if (opts.form) {
      body = new URLSearchParams(opts.form).toString();
      headers["content-type"] = "application/x-www-form-urlencoded";
    }
    if (body !== undefined) headers["content-length"] = String(Buffer.byteLength(body));
    const common = { host: "127.0.0.1", port, method, path, headers, agent: false as const };
    return new Promise((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = Buffer.concat(chunks);
          const text = body.toString("utf8");
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json, body });
        });
        res.on("error", reject);
      };
      const req = opts.plain
        ? http.request(common, onResponse)
        : https.request(
            {
              ...common,
              servername: "localhost",
              ca: read(caFile),
              ...(opts.cred ? { cert: read(opts.cred.cert), key: read(opts.cred.key) } : {}),
            },
            onResponse,
          );
      req.on("error", reject);
      req.end(body);
    });
  };
}
