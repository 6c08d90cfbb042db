// /api/uploads: resumable uploads, tus 1.0 (core, creation, checksum, termination, expiration),
// so that a large image survives a dropped connection or a killed client. POST creates an upload
// for one image's hypervisor (Upload-Metadata: image, hypervisor, optional owner and comment),
// HEAD tells its offset, PATCH appends a chunk at that offset, DELETE cancels it. The chunk that
// completes the file answers 200 with the image, now at its new version.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import * as uploads from "../../catalog/uploads.js";
import type { Storage } from "../../catalog/housekeeping.js";
import { HYPERVISORS, IMAGE_NAME, USER_NAME, VERSION_COMMENT_MAX } from "../../catalog/names.js";
import { badRequest, RepomanError } from "../../errors.js";
import { actorOf } from "../app.js";
import { imageJson } from "../representations.js";

const TUS_VERSION = "1.0.0";
const uploadUrl = (req: FastifyRequest, id: string) => `${req.urls.base}/api/uploads/${id}`;

// Upload-Metadata: comma-separated "key base64(value)" pairs.
function metadata(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of (header ?? "").split(",").map((p) => p.trim()).filter(Boolean)) {
    const [key, value = ""] = pair.split(" ");
    if (!key || !/^[A-Za-z0-9+/]*=*$/.test(value)) throw badRequest(`Upload-Metadata: '${pair}' is not "key base64-value"`);
    out.set(key, Buffer.from(value, "base64").toString("utf8"));
  }
  return out;
}

function wholeNumber(req: FastifyRequest, name: string): number {
  const v = req.headers[name];
  if (typeof v !== "string" || !/^\d{1,16}$/.test(v)) throw badRequest(`${name}: a whole number is required`);
  return Number(v);
}

// Upload-Checksum: "sha256 <base64>" (the only algorithm offered).
function chunkSha256(req: FastifyRequest): string | undefined {
  const v = req.headers["upload-checksum"];
  if (v === undefined) return undefined;
  const m = /^(\S+) ([A-Za-z0-9+/]+=*)$/.exec(String(v).trim());
  if (!m) throw badRequest('Upload-Checksum: expected "sha256 <base64>"');
  if (m[1]!.toLowerCase() !== "sha256") throw badRequest(`Upload-Checksum: algorithm '${m[1]}' is not supported; use sha256`);
  const digest = Buffer.from(m[2]!, "base64");
  if (digest.length !== 32) throw badRequest("Upload-Checksum: a sha256 digest is 32 bytes");
  return digest.toString("hex");
}

function tusHeaders(reply: FastifyReply, session?: uploads.Session) {
  reply.header("tus-resumable", TUS_VERSION).header("cache-control", "no-store");
  if (session) reply.header("upload-offset", String(session.offset)).header("upload-length", String(session.length)).header("upload-expires", new Date(session.expires).toUTCString());
}

export const uploadRoutes: FastifyPluginAsync<{ storage: Storage; expiryHours: number }> = async (app, { storage, expiryHours }) => {
  // PATCH bodies are streamed by the handler, whatever their content type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null));

  // Every request but OPTIONS names the protocol version it speaks.
  app.addHook("preHandler", async (req, reply) => {
    if (req.method === "OPTIONS") return;
    if (req.headers["tus-resumable"] !== TUS_VERSION) {
      reply.header("tus-version", TUS_VERSION);
      throw new RepomanError("precondition_failed", `Tus-Resumable: this server speaks tus ${TUS_VERSION}`);
    }
  });

  app.options("/api/uploads", { config: { anonymous: true, doc: { summary: "The tus protocol's capabilities (tus 1.0: creation, checksum, termination, expiration)" } } }, async (_req, reply) => {
    tusHeaders(reply);
    return reply
      .code(204)
      .header("tus-version", TUS_VERSION)
      .header("tus-extension", "creation,checksum,termination,expiration")
      .header("tus-checksum-algorithm", "sha256")
      .header("tus-max-size", String(Number.MAX_SAFE_INTEGER))
      .send();
  });

  app.post("/api/uploads", { config: { doc: { summary: "Begin a resumable upload (tus creation): Upload-Length, Upload-Metadata image, hypervisor[, owner, comment]" } } }, async (req, reply) => {
    const actor = actorOf(req);
    if (req.headers["upload-defer-length"] !== undefined) throw badRequest("Upload-Defer-Length is not supported: announce the Upload-Length");
    const length = wholeNumber(req, "upload-length");
    const meta = metadata(req.headers["upload-metadata"] as string | undefined);
    const name = meta.get("image") ?? "";
    const hypervisor = meta.get("hypervisor") ?? "";
    const ownerName = meta.get("owner") ?? actor.userName;
    const comment = meta.get("comment");
    if (!IMAGE_NAME.test(name)) throw badRequest("Upload-Metadata: 'image' must name the image (letters, digits, '.', '_' or '-')");
    if (!(HYPERVISORS as readonly string[]).includes(hypervisor)) throw badRequest(`Upload-Metadata: 'hypervisor' must be one of ${HYPERVISORS.join(", ")}`);
    if (!USER_NAME.test(ownerName)) throw badRequest("Upload-Metadata: 'owner' is not a user name");
    if (comment !== undefined && comment.length > VERSION_COMMENT_MAX) throw badRequest(`Upload-Metadata: 'comment' is at most ${VERSION_COMMENT_MAX} characters`);
    const created = await uploads.createSession(storage, actor, { ownerName, name, hypervisor }, length, comment, expiryHours);
    tusHeaders(reply, created.session);
    reply.code(201).header("location", uploadUrl(req, created.session.id));
    return { upload_url: uploadUrl(req, created.session.id), offset: created.session.offset, length, expires: created.session.expires, ...(created.image ? { image: imageJson(req.urls, created.image) } : {}) };
  });

  type Id = { Params: { id: string } };
  app.route<Id>({
    method: "HEAD",
    url: "/api/uploads/:id",
    config: { doc: { summary: "How many bytes of a resumable upload the server has (Upload-Offset)" } },
    handler: async (req, reply) => {
      tusHeaders(reply, await uploads.sessionStatus(storage, actorOf(req), req.params.id));
      return reply.code(200).send();
    },
  });

  app.patch<Id>("/api/uploads/:id", { config: { doc: { summary: "Append a chunk at Upload-Offset (Content-Type application/offset+octet-stream; optional Upload-Checksum: sha256 <base64>); the last chunk answers 200 with the image", rawBody: true } } }, async (req, reply) => {
    try {
      const actor = actorOf(req);
      if (req.headers["content-type"] !== "application/offset+octet-stream") throw new RepomanError("unsupported_media_type", "a chunk is sent as Content-Type: application/offset+octet-stream");
      const chunk = { offset: wholeNumber(req, "upload-offset"), length: wholeNumber(req, "content-length"), sha256: chunkSha256(req) };
      const done = await uploads.writeChunk(storage, actor, req.params.id, chunk, req.raw, expiryHours, () => {
        if (req.headers.expect?.toLowerCase() === "100-continue") reply.raw.writeContinue();
      });
      tusHeaders(reply, done.session);
      if (done.image) return reply.code(200).send(imageJson(req.urls, done.image));
      return reply.code(204).send();
    } catch (e) {
      // The rest of a refused chunk is not worth reading: close the connection after the answer.
      if (!req.raw.complete) reply.header("connection", "close");
      tusHeaders(reply);
      throw e;
    }
  });

  app.delete<Id>("/api/uploads/:id", { config: { doc: { summary: "Cancel a resumable upload (tus termination); its bytes are deleted" } } }, async (req, reply) => {
    await uploads.terminate(storage, actorOf(req), req.params.id);
    tusHeaders(reply);
    return reply.code(204).send();
  });
};
