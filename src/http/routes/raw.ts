// /api/images/raw/[{user}/]{hypervisor}/{image}: streamed uploads (PUT) and downloads (GET, HEAD).
// Uploads are authorised before a byte of the body is read, stream into a new blob with one
// SHA-256 pass (which also tells the file's format), and become the image's next version in one
// transaction; anything less stores nothing. Downloads take the current version, ?version=N, or {image}@sha256:HEX.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import * as images from "../../catalog/images.js";
import type { Storage } from "../../catalog/housekeeping.js";
import { BlobSizeError } from "../../blobs/blob-store.js";
import { DiskSniffer } from "../../catalog/disk-formats.js";
import { badRequest, RepomanError } from "../../errors.js";
import { VERSION_COMMENT_MAX } from "../../catalog/names.js";
import { integer, optional, string } from "../schema.js";
import { actorOf } from "../app.js";
import { imageJson } from "../representations.js";
import { decideRange, etagMatches } from "../ranges.js";

// Digest: sha-256=<base64> (RFC 3230), Repr-Digest: sha-256=:<base64>: (RFC 9530), or X-Checksum-Sha256: <hex>.
export function clientSha256(req: FastifyRequest): string | undefined {
  const hex = req.headers["x-checksum-sha256"];
  if (typeof hex === "string") {
    if (!/^[0-9a-fA-F]{64}$/.test(hex.trim())) throw badRequest("X-Checksum-Sha256: expected 64 hex digits");
    return hex.trim().toLowerCase();
  }
  for (const name of ["digest", "repr-digest", "content-digest"]) {
    const v = req.headers[name];
    if (typeof v !== "string") continue;
    const m = /(?:^|,)\s*sha-256=:?([A-Za-z0-9+/]+=*):?\s*(?:,|$)/i.exec(v);
    if (!m) continue;
    const bytes = Buffer.from(m[1]!, "base64");
    if (bytes.length !== 32) throw badRequest(`${name}: sha-256 value is not 32 bytes of base64`);
    return bytes.toString("hex");
  }
  return undefined;
}

function contentLength(req: FastifyRequest): number | undefined {
  const v = req.headers["content-length"];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw badRequest("Content-Length: not a number");
  return Number(v);
}

// Query parameters are read one by one: others (a cache-buster, timestamps=iso) are no error.
type Query = Record<string, unknown>;
const commentParam = optional(string({ max: VERSION_COMMENT_MAX }));
const versionParam = optional(integer({ min: 1 }));

// {image}@sha256:HEX pins the bytes; image names cannot contain '@'.
function pinnedName(segment: string, version: number | undefined): { name: string; pin: images.Pin } {
  const at = segment.indexOf("@");
  if (at === -1) return { name: segment, pin: version === undefined ? undefined : { version } };
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(segment.slice(at + 1));
  if (!m) throw badRequest(`'${segment.slice(at + 1)}': pin a download as IMAGE@sha256:<64 hex digits>`);
  if (version !== undefined) throw badRequest("give either ?version or @sha256, not both");
  return { name: segment.slice(0, at), pin: { sha256: m[1]!.toLowerCase() } };
}

async function upload(storage: Storage, req: FastifyRequest, reply: FastifyReply, owner: string, hypervisor: string, name: string) {
  let ticket: images.UploadTicket;
  try {
    const actor = actorOf(req);
    const length = contentLength(req);
    const expected = clientSha256(req);
    const comment = commentParam.parse((req.query as Query).comment, "comment");
    ticket = await images.beginUpload(storage, actor, owner, name, hypervisor, length, comment);
    // A client that waits for "100 Continue" hears it only now, once the upload is authorised.
    if (req.headers.expect?.toLowerCase() === "100-continue") reply.raw.writeContinue();
    let stored;
    const sniffer = new DiskSniffer();
    try {
      stored = await storage.blobs.put(ticket.blobKey, req.raw, { expectedSize: length, maxBytes: ticket.maxBytes, observe: (chunk) => sniffer.add(chunk) });
      if (expected !== undefined && expected !== stored.sha256) {
        throw badRequest(`checksum mismatch: the client sent sha256 ${expected}, the server received ${stored.sha256}; nothing was stored`);
      }
    } catch (e) {
      await images.abandonUpload(storage, ticket);
      if (e instanceof BlobSizeError) throw new RepomanError(e.reason === "quota" ? "too_large" : "bad_request", `${e.message}; nothing was stored`);
      throw e;
    }
    const view = await images.commitUpload(storage, ticket, { ...stored, disk: sniffer.result() });
    return imageJson(req.urls, view);
  } catch (e) {
    // The rest of a refused body is not worth reading: close the connection after the answer.
    if (!req.raw.complete) reply.header("connection", "close");
    throw e;
  }
}

async function download(storage: Storage, redirect: number | undefined, req: FastifyRequest, reply: FastifyReply, owner: string, hypervisor: string, segment: string) {
  const { name, pin } = pinnedName(segment, versionParam.parse((req.query as Query).version, "version"));
  const dl = await images.findDownload(storage.db, req.actor, owner, name, hypervisor, pin);
  const etag = `"${dl.file.sha256}"`;
  const lastModified = new Date(dl.file.uploaded);
  reply
    .header("content-type", "application/octet-stream")
    .header("accept-ranges", "bytes")
    .header("etag", etag)
    .header("last-modified", lastModified.toUTCString())
    .header("x-repoman-version", String(dl.file.version))
    .header("content-disposition", `attachment; filename="${name}"`);
  if (etagMatches(req.headers["if-none-match"], etag)) return reply.code(304).send();
  const size = dl.file.size;
  const range = decideRange(req.headers, size, etag, lastModified);
  if (range.kind === "unsatisfiable") {
    return reply.code(416).header("content-range", `bytes */${size}`).type("application/json").send({ error: { code: "range_not_satisfiable", message: `the file has ${size} bytes` } });
  }
  // The bytes can come straight from the object store, which honours Range itself — unless the
  // client's range no longer applies (If-Range for an older file): then it gets the whole file here.
  // The URL is short-lived and names one immutable blob, so it grants nothing beyond this download.
  if (redirect !== undefined && req.method === "GET" && storage.blobs.presignedUrl && (range.kind === "partial" || !req.headers.range)) {
    const to = storage.blobs.presignedUrl(dl.blobKey, { expiresSeconds: redirect, filename: name });
    return reply.code(307).header("cache-control", "no-store").header("location", to.href).send();
  }
  if (range.kind === "partial") {
    reply.code(206).header("content-range", `bytes ${range.start}-${range.end}/${size}`).header("content-length", range.end - range.start + 1);
  } else {
    reply.header("content-length", size);
  }
  if (req.method === "HEAD") return reply.send();
  const stream = await storage.blobs.get(dl.blobKey, range.kind === "partial" ? range : undefined);
  return reply.send(stream);
}

type Full = { Params: { user: string; hypervisor: string; image: string } };
type Own = { Params: { hypervisor: string; image: string } };

export const rawRoutes: FastifyPluginAsync<{ storage: Storage; redirectDownloads: number | undefined }> = async (app, { storage, redirectDownloads }) => {
  // Leave upload bodies unread for the handler to stream, whatever their content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  const me = (req: FastifyRequest) => actorOf(req).userName;
  const putDoc = { summary: "Upload the image file for one hypervisor as its next version (streamed; Digest or X-Checksum-Sha256 verified; ?comment= is kept with the version)", rawBody: true };
  const getDoc = { summary: "Download (GET) or probe (HEAD) the image file for one hypervisor: the current version, ?version=N, or IMAGE@sha256:HEX; Range and conditional requests", binaryResponse: true };
  const downloads = { anonymous: true, publicHttp: true, doc: getDoc };
  app.put<Full>("/api/images/raw/:user/:hypervisor/:image", { config: { doc: putDoc } }, (req, reply) => upload(storage, req, reply, req.params.user, req.params.hypervisor, req.params.image));
  app.put<Own>("/api/images/raw/:hypervisor/:image", { config: { doc: putDoc } }, (req, reply) => upload(storage, req, reply, me(req), req.params.hypervisor, req.params.image));
  app.route<Full>({
    method: ["GET", "HEAD"],
    url: "/api/images/raw/:user/:hypervisor/:image",
    config: downloads,
    handler: (req, reply) => download(storage, redirectDownloads, req, reply, req.params.user, req.params.hypervisor, req.params.image),
  });
  app.route<Own>({
    method: ["GET", "HEAD"],
    url: "/api/images/raw/:hypervisor/:image",
    config: { doc: getDoc },
    handler: (req, reply) => download(storage, redirectDownloads, req, reply, me(req), req.params.hypervisor, req.params.image),
  });
};
