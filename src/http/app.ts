// The Fastify application: hooks that establish who is asking before any body is read, error
// mapping, one log line per request, and the routes of each resource.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type FastifyReply } from "fastify";
import type { Server } from "node:http";
import type { Socket } from "node:net";
import { TLSSocket } from "node:tls";
import type { Storage } from "../catalog/housekeeping.js";
import type { Actor } from "../policy/actor.js";
import { loadActorForIdentity, type VomsPolicy } from "../catalog/actors.js";
import { RepomanError } from "../errors.js";
import { certificateIdentity, frontEndIdentity, addressIn, type FrontEndPolicy, type Identity } from "./identity.js";
import { sendError, toErrorResponse } from "./errors.js";
import { sameOriginHook } from "./same-origin.js";
import { requestBase, type UrlContext } from "./urls.js";
import { whoamiRoutes } from "./routes/whoami.js";
import { userRoutes } from "./routes/users.js";
import { groupRoutes } from "./routes/groups.js";
import { imageRoutes } from "./routes/images.js";
import { rawRoutes } from "./routes/raw.js";
import { uploadRoutes } from "./routes/uploads.js";
import { DEFAULT_UPLOAD_EXPIRY_HOURS } from "../catalog/uploads.js";
import { webRoutes } from "./routes/web.js";
import { operationsRoutes, type MetricsReaders } from "./routes/operations.js";
import { auditRoutes } from "./routes/audit.js";
import { listRoutes } from "./routes/lists.js";
import type { Signer } from "../x509/smime.js";
import type { Metrics, Sampled, Kind } from "./metrics.js";
import type { BlockList } from "node:net";
import { randomBytes } from "node:crypto";
import { collectRouteDocs, type RouteDoc } from "./openapi.js";
import type { Log } from "../log.js";

declare module "fastify" {
  interface FastifyRequest {
    identity: Identity;
    actor: Actor | null;
    viaTrustedFrontEnd: boolean;
    urls: UrlContext;
  }
  interface FastifyContextConfig {
    // Routes are closed to anonymous callers unless they say otherwise.
    anonymous?: boolean;
    // Authorisation that does not depend on the body, run before the body is read, so that a
    // caller who may not do this at all is refused without the server reading what they send.
    precheck?: (req: FastifyRequest) => Promise<void> | void;
    // Served on the plain-HTTP download listener too (public image downloads only).
    publicHttp?: boolean;
    // What the OpenAPI document says about the route (see openapi.ts).
    doc?: RouteDoc;
  }
}

export interface AppDeps {
  storage: Storage;
  redirectDownloads?: number | undefined;
  uploadExpiryHours?: number | undefined; // resumable uploads left alone this long are deleted
  frontEnd: FrontEndPolicy;
  frontEndSockets: WeakSet<Socket>; // connections accepted on the front-end (plain HTTP) listener
  publicHttpSockets: WeakSet<Socket>; // connections accepted on the public download listener
  publicUrl?: string | undefined;
  // Base URL of the plain-HTTP download listener, or a function of the request's host name.
  publicHttpBase?: ((hostname: string) => string) | undefined;
  log: Log;
  health: Health;
  metricsReaders: MetricsReaders; // who may read /metrics besides admins
  metrics: Metrics;
  signer: Signer; // of image lists
  sample: () => Sampled; // read at each scrape of /metrics
  voms?: VomsPolicy | undefined; // what valid VOMS FQANs give (--voms-map, --voms-auto-register)
}

// What /readyz reports besides its checks: a server that is shutting down says so, so that load
// balancers stop sending it new requests while it finishes those it has.
export interface Health {
  draining: boolean;
}

export const BODY_LIMIT = 64 * 1024;

export async function buildApp(deps: AppDeps, serverFactory: (handler: (req: any, res: any) => void) => Server): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Fastify would log each request twice, at its start and when it completes; the close hook
    // below writes one line instead, also for requests whose client went away.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: "request_id" }),
    bodyLimit: BODY_LIMIT,
    // Ids unique across processes and hosts; a client's own X-Request-Id is not trusted.
    genReqId: () => randomBytes(8).toString("hex"),
    requestIdHeader: false,
    // HEAD is registered explicitly where it is meaningful (raw files), never by running a GET.
    exposeHeadRoutes: false,
    serverFactory: (handler) => serverFactory(handler),
    // Closed by the server module, which owns the listeners.
    forceCloseConnections: false,
    // Requests Node cannot parse never reach a hook or route: answer them in the API's error
    // format, and log them, so that they are not invisible.
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code ?? "";
      if (code === "ECONNRESET" || !socket.writable) return;
      const [status, text] = code === "HPE_HEADER_OVERFLOW" ? [431, "Request Header Fields Too Large"] : code === "ERR_HTTP_REQUEST_TIMEOUT" ? [408, "Request Timeout"] : [400, "Bad Request"];
      deps.log.info({ remote: socket.remoteAddress ?? "-", status, reason: code || err.message }, "malformed request");
      const body = JSON.stringify({ error: { code: status === 408 ? "request_timeout" : "bad_request", message: `malformed HTTP request: ${code || err.message}` } });
      socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    },
  });

  app.decorateRequest("identity", null as never);
  app.decorateRequest("actor", null);
  app.decorateRequest("viaTrustedFrontEnd", false);
  app.decorateRequest("urls", null as never);

  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  // One line per request once its response closes, finished or not: a download the client gave up
  // halfway is logged too (aborted), with the bytes that crossed the connection (TLS included)
  // while the request was served.
  const { metrics } = deps;
  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
    const socket = req.raw.socket;
    const before = { read: socket.bytesRead, written: socket.bytesWritten };
    const route = req.routeOptions.url ?? "unmatched";
    const kind = kindOf(req.method, route);
    metrics.started(kind);
    reply.raw.once("close", () => {
      const aborted = !reply.raw.writableFinished;
      const bytesIn = socket.bytesRead - before.read;
      const bytesOut = socket.bytesWritten - before.written;
      metrics.finished({ method: req.method, route, status: reply.statusCode, kind, aborted, bytesIn, bytesOut, seconds: reply.elapsedTime / 1000 });
      req.log.info({
        remote: clientAddress(req, socket),
        identity: req.identity?.status === "authenticated" ? req.identity.dn : "-",
        user: req.actor?.userName ?? "-",
        method: req.method,
        path: req.url,
        status: reply.statusCode,
        aborted,
        bytes_in: bytesIn,
        bytes_out: bytesOut,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      }, "request");
    });
  });

  // Runs before the body is read: establish identity, resolve the user, refuse anonymous callers.
  app.addHook("onRequest", async (req) => {
    const socket = req.raw.socket;
    if (deps.publicHttpSockets.has(socket)) {
      // This listener exists for public downloads and answers nothing else.
      if (!req.routeOptions.config.publicHttp) throw new RepomanError("not_found", "this listener serves only downloads of public images");
      req.identity = { status: "anonymous", reason: "plain HTTP carries no identity" };
    } else if (deps.frontEndSockets.has(socket)) {
      req.identity = frontEndIdentity(socket, req.headers, deps.frontEnd);
      req.viaTrustedFrontEnd = addressIn(deps.frontEnd.trusted, socket.remoteAddress);
    } else if (socket instanceof TLSSocket) {
      req.identity = certificateIdentity(socket);
    } else {
      req.identity = { status: "anonymous", reason: "plain HTTP carries no identity" };
    }
    req.urls = {
      base: requestBase(req, deps.publicUrl),
      publicHttpBase: deps.publicHttpBase ? deps.publicHttpBase(req.hostname.replace(/:\d+$/, "")) : null,
      isoTimes: /[?&]timestamps=iso(&|$)/.test(req.url),
    };
    if (req.identity.status === "authenticated") {
      const found = await loadActorForIdentity(deps.storage.db, req.identity, deps.voms);
      if (found.status === "ok") req.actor = { ...found.actor, origin: { dn: req.identity.dn, remote: clientAddress(req), requestId: req.id } };
      else if (!req.routeOptions.config.anonymous) {
        throw new RepomanError(
          "forbidden",
          found.status === "suspended"
            ? `account '${found.userName}' is suspended; contact your administrator`
            : `certificate DN '${req.identity.dn}' is not registered with this repository`,
        );
      }
    }
    if (!req.actor && !req.routeOptions.config.anonymous) {
      throw new RepomanError("unauthorized", `a valid client certificate is required: ${req.identity.status === "anonymous" ? req.identity.reason : "unknown user"}`);
    }
  });

  // After identity (X-Forwarded-* are believed only from trusted front ends), before any body.
  app.addHook("onRequest", sameOriginHook(deps.publicUrl));

  app.addHook("preParsing", async (req, _reply, payload) => {
    await req.routeOptions.config.precheck?.(req);
    return payload;
  });

  app.setErrorHandler((err, req, reply) => {
    // A client that went away mid-transfer is no server error: its request line says aborted.
    if (reply.raw.destroyed || !reply.raw.socket || reply.raw.socket.destroyed) {
      req.log.info({ method: req.method, path: req.url, reason: (err as Error)?.message }, "client went away");
      return;
    }
    const { status, code, message } = toErrorResponse(err);
    if (status === 500) req.log.error({ method: req.method, path: req.url, err }, "unhandled error");
    sendError(req, reply, status, code, message);
  });
  app.setNotFoundHandler((req, reply) => sendError(req, reply, 404, "not_found", `no such resource: ${req.method} ${req.url.split("?")[0]}`));

  const openapi = collectRouteDocs(app);
  app.get("/api/openapi.json", { config: { anonymous: true } }, async () => openapi());
  const { storage } = deps;
  await app.register(whoamiRoutes, { storage });
  await app.register(userRoutes, { storage });
  await app.register(groupRoutes, { db: storage.db });
  await app.register(imageRoutes, { storage });
  await app.register(rawRoutes, { storage, redirectDownloads: deps.redirectDownloads });
  await app.register(uploadRoutes, { storage, expiryHours: deps.uploadExpiryHours ?? DEFAULT_UPLOAD_EXPIRY_HOURS });
  await app.register(auditRoutes, { db: storage.db });
  await app.register(listRoutes, { storage, signer: deps.signer });
  await app.register(operationsRoutes, { storage, health: deps.health, metrics, readers: deps.metricsReaders, sample: deps.sample });
  await app.register(webRoutes, {});
  return app;
}

// Image transfers apart from API calls, in metrics: by the route's pattern.
function kindOf(method: string, route: string): Kind {
  if (route.startsWith("/api/images/raw/")) return method === "PUT" ? "upload" : "download";
  return route === "/api/uploads/:id" && method === "PATCH" ? "upload" : "api";
}

// The client's address: behind a trusted front end, the one it adds last to X-Forwarded-For (what
// it saw; earlier entries are the client's own say), else the peer of the connection.
function clientAddress(req: FastifyRequest, socket: Socket | null = req.raw.socket): string {
  const forwarded = req.viaTrustedFrontEnd ? req.headers["x-forwarded-for"] : undefined;
  const last = (Array.isArray(forwarded) ? forwarded.join(",") : forwarded)?.split(",").pop()?.trim();
  return last || socket?.remoteAddress || "-";
}

export function actorOf(req: FastifyRequest): Actor {
  if (!req.actor) throw new RepomanError("unauthorized", "a valid client certificate is required");
  return req.actor;
}
