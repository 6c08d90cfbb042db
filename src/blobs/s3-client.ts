// The few S3 operations the blob store needs, over node:http with keep-alive, signed with SigV4.
// Written against what real servers do (Ceph RGW 16 in the tests), not what an SDK assumes:
// no aws-chunked bodies, and errors hidden in 200 responses are still errors. Every body is a
// Buffer, so any request can be sent again byte for byte: idempotent ones are retried after a
// transient failure (retry.ts), and a download that breaks midway resumes where it stopped.
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { CredentialSource } from "./credentials.js";
import { classify, DEFAULT_RETRY, nextDelay, retryable, sleep, TimeoutError, type RetryPolicy } from "./retry.js";
import { S3Error } from "./s3-error.js";
import { S3Stats } from "./s3-stats.js";
import { EMPTY_SHA256, encodeKey, presignUrl, sha256hex, signRequest, uriEncode, type Credentials } from "./sigv4.js";

export { S3Error };

export interface S3Location {
  endpoint: URL; // e.g. http://127.0.0.1:7480 or https://s3.eu-west-1.amazonaws.com
  region: string;
  bucket: string;
  pathStyle: boolean;
  credentials: Credentials | CredentialSource;
  timeoutMs?: number; // an attempt fails when no byte moves for this long
  retry?: Partial<RetryPolicy>;
  // Kept-alive connections idle this long are closed: below the idle timeouts of S3 servers and
  // proxies (often 5 s), so that a request rarely goes out on a connection the server is closing.
  idleTimeoutMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 120_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 4_000;

export interface MultipartUpload {
  key: string;
  uploadId: string;
  initiated: Date;
}

type Query = Record<string, string | undefined>;

// The contents of the named elements, in document order; enough for S3's shallow responses.
function xmlElements(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  for (let m; (m = re.exec(xml)); ) out.push(m[1]!);
  return out;
}
const xmlValues = (xml: string, tag: string) => xmlElements(xml, tag).map(unescapeXml);
const xmlValue = (xml: string, tag: string) => xmlValues(xml, tag)[0];
function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp|#\d+|#x[0-9a-f]+);/gi, (_, e: string) =>
    e[0] === "#" ? String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)) : { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[e.toLowerCase()]!,
  );
}
const escapeXml = (s: string) => s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

// Responses whose body stopped moving for longer than the timeout.
const timedOut = new WeakSet<IncomingMessage>();

interface SendOptions {
  query?: Query;
  headers?: Record<string, string>;
  body?: Buffer;
  ok?: number[]; // statuses that are answers, not errors
}

export class S3Client {
  readonly stats = new S3Stats();
  readonly credentials: CredentialSource;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;

  constructor(readonly where: S3Location) {
    const secure = where.endpoint.protocol === "https:";
    this.transport = secure ? https : http;
    const ca = secure && process.env.AWS_CA_BUNDLE ? readFileSync(process.env.AWS_CA_BUNDLE) : undefined;
    const timeout = where.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.agent = secure ? new https.Agent({ keepAlive: true, timeout, ca }) : new http.Agent({ keepAlive: true, timeout });
    this.credentials = where.credentials instanceof CredentialSource ? where.credentials : CredentialSource.fixed(where.credentials);
    this.retry = { ...DEFAULT_RETRY, ...where.retry };
    this.timeoutMs = where.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  // The URL of a bucket or an object, path-encoded as it goes on the wire.
  url(key?: string, query: Query = {}): URL {
    const { endpoint, bucket, pathStyle } = this.where;
    const base = new URL(endpoint);
    if (!pathStyle) base.hostname = `${bucket}.${base.hostname}`;
    const prefix = base.pathname.replace(/\/$/, "");
    base.pathname = `${prefix}${pathStyle ? `/${uriEncode(bucket)}` : ""}/${key === undefined ? "" : encodeKey(key)}`;
    base.search = Object.entries(query)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => (v === "" ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v!)}`))
      .join("&");
    return base;
  }

  // One signed attempt. The body is a Buffer (signed by its hash) or nothing; the response comes
  // back unread, so a GET can be streamed. Failures are S3Errors with the server's code.
  async send(method: string, key: string | undefined, opts: SendOptions = {}): Promise<IncomingMessage> {
    const url = this.url(key, opts.query);
    const body = opts.body;
    // Signed anew on every attempt: the date moves on, and the credentials may have been renewed.
    const headers = signRequest(
      { method, url, headers: { ...opts.headers, ...(body ? { "content-length": String(body.length) } : {}) }, payloadSha256: body ? sha256hex(body) : EMPTY_SHA256 },
      await this.credentials.get(),
      this.where.region,
    );
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      let response: IncomingMessage | undefined;
      const req = this.transport.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (r) => resolve((response = r)));
      req.on("timeout", () => {
        if (response) timedOut.add(response);
        req.destroy(new TimeoutError(`S3 ${method} ${url.pathname}: nothing moved for ${this.timeoutMs / 1000} s`));
      });
      req.on("error", reject);
      req.end(body);
    });
    if ((opts.ok ?? [200, 204, 206]).includes(res.statusCode!)) return res;
    const text = method === "HEAD" ? "" : await readText(res).catch(() => "");
    res.resume();
    throw new S3Error(res.statusCode!, xmlValue(text, "Code") ?? "", xmlValue(text, "Message") ?? `${method} ${url.pathname} answered ${res.statusCode}`);
  }

  // Runs `attempt` until it succeeds, fails for good, or the retry budget is spent. Only requests
  // that may be sent twice are `idempotent`; the others are retried only when the server cannot
  // have acted on them (refused connection, SlowDown, stale credentials).
  async call<T>(operation: string, idempotent: boolean, attempt: () => Promise<T>): Promise<T> {
    const startedAt = Date.now();
    let renewed = false;
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (e) {
        const reason = classify(e);
        this.stats.error(operation, reason);
        if (reason === "credentials") {
          if (renewed) throw e;
          renewed = true;
          this.credentials.invalidate();
        }
        const delay = retryable(reason, idempotent) ? nextDelay(this.retry, n, startedAt) : undefined;
        if (delay === undefined) throw e;
        this.stats.retry(operation, reason);
        await sleep(delay);
      }
    }
  }

  private async text(operation: string, idempotent: boolean, method: string, key: string | undefined, opts: SendOptions = {}, onAttempt?: () => void): Promise<string> {
    return this.call(operation, idempotent, async () => {
      onAttempt?.();
      const text = await readText(await this.send(method, key, opts));
      // CompleteMultipartUpload may fail after answering 200: the error is then in the body.
      if (/^(<\?xml[^>]*\?>)?\s*<Error>/.test(text)) throw new S3Error(500, xmlValue(text, "Code") ?? "", xmlValue(text, "Message") ?? text);
      return text;
    });
  }

  // A request whose answer is its status and headers.
  private async status(operation: string, method: string, key: string | undefined, opts: SendOptions = {}): Promise<IncomingMessage> {
    return this.call(operation, true, async () => {
      const res = await this.send(method, key, opts);
      await readText(res);
      return res;
    });
  }

  async headBucket(): Promise<boolean> {
    return (await this.status("HeadBucket", "HEAD", undefined, { ok: [200, 404] })).statusCode === 200;
  }

  async createBucket(): Promise<void> {
    await this.text("CreateBucket", false, "PUT", undefined);
  }

  // A whole object in one request: sending the same bytes again stores the same object.
  async putObject(key: string, body: Buffer): Promise<void> {
    await this.status("PutObject", "PUT", key, { body });
  }

  // The object's bytes, or one range of them. A response that breaks off is resumed with a ranged
  // request for the rest, pinned to the same object by its ETag, within the same retry budget.
  async getObject(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const open = (from: number, etag?: string) =>
      this.call("GetObject", true, () =>
        this.send("GET", key, { headers: { ...(range || from > 0 ? { range: `bytes=${(range?.start ?? 0) + from}-${range?.end ?? ""}` } : {}), ...(etag ? { "if-match": etag } : {}) } }),
      );
    const first = await open(0);
    const expected = Number(first.headers["content-length"]);
    const etag = first.headers.etag;
    const client = this;
    async function* body(): AsyncGenerator<Buffer> {
      let res = first;
      let received = 0;
      let failures = 0;
      let startedAt = Date.now();
      try {
        for (;;) {
          const before = received;
          try {
            for await (const chunk of res as AsyncIterable<Buffer>) {
              received += chunk.length;
              yield chunk;
            }
            if (received >= expected) return;
            throw Object.assign(new Error(`S3 GetObject: the response ended after ${received} of ${expected} bytes`), { code: "ERR_STREAM_PREMATURE_CLOSE" });
          } catch (e) {
            res.destroy();
            // A body that stalled is cut by the request's timeout, and reads as "aborted".
            const reason = timedOut.has(res) ? "timeout" : classify(e);
            // The budget is per stall, not per download: a long download may break more than once.
            if (received > before) [failures, startedAt] = [0, Date.now()];
            client.stats.error("GetObject", reason);
            const delay = retryable(reason, true) ? nextDelay(client.retry, ++failures, startedAt) : undefined;
            if (delay === undefined) throw e;
            client.stats.retry("GetObject", reason);
            await sleep(delay);
            res = await open(received, etag);
          }
        }
      } finally {
        // Ended early (the reader went away, or a failure): free the connection.
        if (!res.complete) res.destroy();
      }
    }
    return Readable.from(body(), { objectMode: false });
  }

  // The object's size, or null if there is none.
  async headObject(key: string): Promise<number | null> {
    const res = await this.status("HeadObject", "HEAD", key, { ok: [200, 404] });
    return res.statusCode === 404 ? null : Number(res.headers["content-length"]);
  }

  async deleteObject(key: string): Promise<void> {
    await this.status("DeleteObject", "DELETE", key, { ok: [200, 204, 404] });
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const xml = await this.text("ListObjectsV2", true, "GET", undefined, { query: { "list-type": "2", prefix, "continuation-token": token } });
      keys.push(...xmlValues(xml, "Key"));
      token = xmlValue(xml, "IsTruncated") === "true" ? xmlValue(xml, "NextContinuationToken") : undefined;
    } while (token);
    return keys;
  }

  // Not idempotent as such: an attempt whose answer was lost leaves an upload nobody knows. Keys
  // are fresh for every upload, so after a retry any other upload of this key is such a leftover,
  // and is aborted.
  async createMultipartUpload(key: string): Promise<string> {
    let attempts = 0;
    const xml = await this.text("CreateMultipartUpload", true, "POST", key, { query: { uploads: "" } }, () => attempts++);
    const uploadId = xmlValue(xml, "UploadId");
    if (!uploadId) throw new S3Error(500, "", "CreateMultipartUpload answered without an UploadId");
    if (attempts > 1) {
      for (const u of await this.listMultipartUploads(key)) if (u.key === key && u.uploadId !== uploadId) await this.abortMultipartUpload(key, u.uploadId);
    }
    return uploadId;
  }

  // Parts are idempotent: the same bytes sent again under the same number replace themselves.
  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const res = await this.status("UploadPart", "PUT", key, { query: { partNumber: String(partNumber), uploadId }, body });
    const etag = res.headers.etag;
    if (!etag) throw new S3Error(500, "", `UploadPart ${partNumber} answered without an ETag`);
    return etag;
  }

  async completeMultipartUpload(key: string, uploadId: string, etags: readonly string[]): Promise<void> {
    const body = Buffer.from(
      `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`).join("")}</CompleteMultipartUpload>`,
    );
    try {
      await this.text("CompleteMultipartUpload", true, "POST", key, { query: { uploadId }, body, headers: { "content-type": "application/xml" } });
    } catch (e) {
      // A retry after an attempt that completed, but whose answer was lost: the upload is gone
      // and the object is there. Keys are fresh for every upload, so that object is this one.
      if (e instanceof S3Error && e.code === "NoSuchUpload" && (await this.headObject(key)) !== null) return;
      throw e;
    }
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    await this.status("AbortMultipartUpload", "DELETE", key, { query: { uploadId }, ok: [200, 204, 404] });
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUpload[]> {
    const out: MultipartUpload[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const xml = await this.text("ListMultipartUploads", true, "GET", undefined, { query: { uploads: "", prefix, "key-marker": keyMarker, "upload-id-marker": idMarker } });
      for (const u of xmlElements(xml, "Upload")) {
        out.push({ key: xmlValue(u, "Key")!, uploadId: xmlValue(u, "UploadId")!, initiated: new Date(xmlValue(u, "Initiated")!) });
      }
      if (xmlValue(xml, "IsTruncated") !== "true") return out;
      keyMarker = xmlValue(xml, "NextKeyMarker");
      idMarker = xmlValue(xml, "NextUploadIdMarker");
    }
  }

  presignedGet(key: string, expiresSeconds: number, responseHeaders: Query = {}): URL {
    return presignUrl(this.url(key, responseHeaders), this.credentials.current(), this.where.region, expiresSeconds);
  }

  close(): void {
    this.agent.destroy();
  }
}
