// HTTPS to one Repoman server with the user's credential: every request (API calls, uploads and
// downloads alike) goes to the same host and port, verified against the trusted CAs. Errors become
// ClientErrors whose text says what went wrong and what to try.
import https from "node:https";
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from "node:http";
import type { Credential } from "./credentials.js";
import { ApiError, ClientError } from "./errors.js";
import type { Trust } from "./trust.js";

export interface Endpoint {
  host: string;
  port: number;
}

// "host", "host:port", "[v6]:port" or "https://host[:port]"; a port here beats `fallbackPort`.
export function parseEndpoint(text: string, fallbackPort: number): Endpoint {
  const t = text.trim().replace(/^https:\/\//, "").replace(/\/+$/, "");
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+))(?::(\d+))?$/.exec(t);
  if (!m) throw new ClientError(`not a host name: "${text}"`, "Give a host name, optionally with :port.");
  const port = m[3] ? Number(m[3]) : fallbackPort;
  if (!(port >= 1 && port <= 65535)) throw new ClientError(`not a port number: ${m[3]}`);
  return { host: (m[1] ?? m[2])!, port };
}

export interface Reply {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

const TLS_VERIFY_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const STATUS_MESSAGES: Record<number, string> = {
  401: "The server did not accept your credential",
  403: "You lack the rights to access that object",
  404: "Requested resource could not be found",
  408: "Request has timed out.  Please retry or seek assistance.",
  409: "Conflict in request",
  410: "The image has expired",
  413: "Too large: over the server's size limit or your quota",
  416: "Requested range not satisfiable",
  500: "The server has encountered an error and was unable to process your request.  If problem persists, seek assistance.",
  501: "The requested functionality has yet to be implemented by the server",
};

export function errorFromReply(r: Reply): ApiError {
  const text = r.body.toString("utf8");
  let code: string | undefined;
  let serverMessage = text.trim();
  if (/json/.test(String(r.headers["content-type"]))) {
    try {
      const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      code = e?.code;
      serverMessage = e?.message ?? serverMessage;
    } catch {
      // not the JSON error shape: show the text as it came
    }
  }
  if (r.status === 400) return new ApiError(r.status, code, serverMessage || "Bad request");
  const headline = STATUS_MESSAGES[r.status] ?? `The server answered ${r.status}`;
  return new ApiError(r.status, code, headline, serverMessage || undefined);
}

export class Connection {
  private readonly agent: https.Agent;

  constructor(
    readonly endpoint: Endpoint,
    readonly trust: Trust,
    readonly credential: Credential | undefined,
    private readonly userAgent: string,
  ) {
    this.agent = new https.Agent({
      keepAlive: true,
      ca: trust.ca,
      rejectUnauthorized: !trust.insecure,
      cert: credential?.cert,
      key: credential?.key,
    });
  }

  connectionError(e: unknown): ClientError {
    if (e instanceof ClientError) return e;
    const err = e as NodeJS.ErrnoException;
    const where = `${this.endpoint.host}:${this.endpoint.port}`;
    if (err.code && TLS_VERIFY_CODES.has(err.code)) {
      return new ClientError(
        `Cannot verify the server's certificate (${where}): ${err.message}`,
        `Trusted CAs come from ${this.trust.source}. Set [Security] ca_file / ca_dir (used first when set), or $X509_CERT_DIR, to the CAs that issued the server's certificate (or, not recommended, use --insecure).`,
      );
    }
    if (["ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ETIMEDOUT"].includes(err.code ?? "")) {
      return new ClientError("Unable to connect to server.  Check Host and port", `${where}: ${err.message}`);
    }
    if (err.code === "ECONNRESET" || err.code === "EPIPE") return new ClientError("The connection to the server was lost", `${where}: ${err.message}`);
    return new ClientError("Unknown error has occurred.", `${where}: ${err.message}`);
  }

  // Starts a request; the caller writes the body (if any) and reads the response.
  open(method: string, path: string, headers: OutgoingHttpHeaders = {}): ClientRequest {
    return https.request({
      host: this.endpoint.host,
      port: this.endpoint.port,
      method,
      path,
      agent: this.agent,
      headers: { "user-agent": this.userAgent, accept: "application/json", ...headers },
    });
  }

  // A whole request and response, bodies in memory: for API calls, not for image files.
  request(method: string, path: string, opts: { form?: Record<string, string | undefined>; headers?: OutgoingHttpHeaders; body?: Buffer } = {}): Promise<Reply> {
    const headers: OutgoingHttpHeaders = { ...opts.headers };
    let body = opts.body;
    if (opts.form) {
      const fields = Object.entries(opts.form).filter((kv): kv is [string, string] => kv[1] !== undefined);
      body = Buffer.from(new URLSearchParams(fields).toString());
      headers["content-type"] = "application/x-www-form-urlencoded";
      headers["content-length"] = body.length;
    }
    return new Promise((resolve, reject) => {
      const req = this.open(method, path, headers);
      req.on("error", (e) => reject(this.connectionError(e)));
      req.on("response", (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) => reject(this.connectionError(e)));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.end(body);
    });
  }

  // An API call whose answer is JSON; any status but 2xx is an ApiError.
  async json<T>(method: string, path: string, form?: Record<string, string | undefined>): Promise<T> {
    const r = await this.request(method, path, form ? { form } : {});
    if (r.status < 200 || r.status > 299) throw errorFromReply(r);
    if (!/json/.test(String(r.headers["content-type"]))) throw new ClientError(`The server answered ${method} ${path} with ${r.headers["content-type"] ?? "no content type"}, not JSON`, r.body.toString("utf8").slice(0, 200));
    return JSON.parse(r.body.toString("utf8")) as T;
  }

  close(): void {
    this.agent.destroy();
  }
}
