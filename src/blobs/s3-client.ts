// The few S3 operations the blob store needs, over node:http with keep-alive, signed with SigV4.
// Written against what real servers do (Ceph RGW 16 in the tests), not what an SDK assumes:
// no aws-chunked bodies, and errors hidden in 200 responses are still errors.
import http, { type IncomingMessage } from "node:http";
import https from "node:https";
import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import { EMPTY_SHA256, encodeKey, presignUrl, sha256hex, signRequest, uriEncode, type Credentials } from "./sigv4.js";

export interface S3Location {
  endpoint: URL; // e.g. http://127.0.0.1:7480 or https://s3.eu-west-1.amazonaws.com
  region: string;
  bucket: string;
  pathStyle: boolean;
  credentials: Credentials;
  timeoutMs?: number;
}

export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`S3 ${code || status}: ${message}`);
  }
}

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

export class S3Client {
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(readonly where: S3Location) {
    const secure = where.endpoint.protocol === "https:";
    this.transport = secure ? https : http;
    const ca = secure && process.env.AWS_CA_BUNDLE ? readFileSync(process.env.AWS_CA_BUNDLE) : undefined;
    this.agent = secure ? new https.Agent({ keepAlive: true, ca }) : new http.Agent({ keepAlive: true });
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

  // One signed request. The body is a Buffer (signed by its hash) or nothing; the response comes
  // back unread, so a GET can be streamed. Failures are S3Errors with the server's code.
  async request(method: string, key: string | undefined, opts: { query?: Query; headers?: Record<string, string>; body?: Buffer; ok?: number[] } = {}): Promise<IncomingMessage> {
    const url = this.url(key, opts.query);
    const body = opts.body;
    const headers = signRequest(
      { method, url, headers: { ...opts.headers, ...(body ? { "content-length": String(body.length) } : {}) }, payloadSha256: body ? sha256hex(body) : EMPTY_SHA256 },
      this.where.credentials,
      this.where.region,
    );
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = this.transport.request(url, { method, headers, agent: this.agent, timeout: this.where.timeoutMs ?? 120_000 }, resolve);
      req.on("timeout", () => req.destroy(new Error(`S3 ${method} ${url.pathname}: no answer within ${(this.where.timeoutMs ?? 120_000) / 1000} s`)));
      req.on("error", reject);
      req.end(body);
    });
    if ((opts.ok ?? [200, 204, 206]).includes(res.statusCode!)) return res;
    const text = method === "HEAD" ? "" : await readText(res).catch(() => "");
    res.resume();
    throw new S3Error(res.statusCode!, xmlValue(text, "Code") ?? "", xmlValue(text, "Message") ?? `${method} ${url.pathname} answered ${res.statusCode}`);
  }

  private async text(method: string, key: string | undefined, opts: Parameters<S3Client["request"]>[2] = {}): Promise<string> {
    const text = await readText(await this.request(method, key, opts));
    // CompleteMultipartUpload may fail after answering 200: the error is then in the body.
    if (/^(<\?xml[^>]*\?>)?\s*<Error>/.test(text)) throw new S3Error(500, xmlValue(text, "Code") ?? "", xmlValue(text, "Message") ?? text);
    return text;
  }

  async headBucket(): Promise<boolean> {
    try {
      (await this.request("HEAD", undefined)).resume();
      return true;
    } catch (e) {
      if (e instanceof S3Error && e.status === 404) return false;
      throw e;
    }
  }

  async createBucket(): Promise<void> {
    await this.text("PUT", undefined);
  }

  async putObject(key: string, body: Buffer): Promise<void> {
    (await this.request("PUT", key, { body })).resume();
  }

  async getObject(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return this.request("GET", key, { headers: range ? { range: `bytes=${range.start}-${range.end}` } : {} });
  }

  // The object's size, or null if there is none.
  async headObject(key: string): Promise<number | null> {
    try {
      const res = await this.request("HEAD", key);
      res.resume();
      return Number(res.headers["content-length"]);
    } catch (e) {
      if (e instanceof S3Error && e.status === 404) return null;
      throw e;
    }
  }

  async deleteObject(key: string): Promise<void> {
    (await this.request("DELETE", key, { ok: [200, 204, 404] })).resume();
  }

  async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const xml = await this.text("GET", undefined, { query: { "list-type": "2", prefix, "continuation-token": token } });
      keys.push(...xmlValues(xml, "Key"));
      token = xmlValue(xml, "IsTruncated") === "true" ? xmlValue(xml, "NextContinuationToken") : undefined;
    } while (token);
    return keys;
  }

  async createMultipartUpload(key: string): Promise<string> {
    const uploadId = xmlValue(await this.text("POST", key, { query: { uploads: "" } }), "UploadId");
    if (!uploadId) throw new S3Error(500, "", "CreateMultipartUpload answered without an UploadId");
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer): Promise<string> {
    const res = await this.request("PUT", key, { query: { partNumber: String(partNumber), uploadId }, body });
    res.resume();
    const etag = res.headers.etag;
    if (!etag) throw new S3Error(500, "", `UploadPart ${partNumber} answered without an ETag`);
    return etag;
  }

  async completeMultipartUpload(key: string, uploadId: string, etags: readonly string[]): Promise<void> {
    const body = Buffer.from(
      `<CompleteMultipartUpload>${etags.map((e, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(e)}</ETag></Part>`).join("")}</CompleteMultipartUpload>`,
    );
    await this.text("POST", key, { query: { uploadId }, body, headers: { "content-type": "application/xml" } });
  }

  async abortMultipartUpload(key: string, uploadId: string): Promise<void> {
    (await this.request("DELETE", key, { query: { uploadId }, ok: [200, 204, 404] })).resume();
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUpload[]> {
    const out: MultipartUpload[] = [];
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const xml = await this.text("GET", undefined, { query: { uploads: "", prefix, "key-marker": keyMarker, "upload-id-marker": idMarker } });
      for (const u of xmlElements(xml, "Upload")) {
        out.push({ key: xmlValue(u, "Key")!, uploadId: xmlValue(u, "UploadId")!, initiated: new Date(xmlValue(u, "Initiated")!) });
      }
      if (xmlValue(xml, "IsTruncated") !== "true") return out;
      keyMarker = xmlValue(xml, "NextKeyMarker");
      idMarker = xmlValue(xml, "NextUploadIdMarker");
    }
  }

  presignedGet(key: string, expiresSeconds: number, responseHeaders: Query = {}): URL {
    return presignUrl(this.url(key, responseHeaders), this.where.credentials, this.where.region, expiresSeconds);
  }

  close(): void {
    this.agent.destroy();
  }
}
