// Maps errors to responses: JSON {"error":{"code","message"}} with a precise status, or plain
// text for clients that ask for it (Accept: text/plain, and the original client's "Accept: *").
import type { FastifyReply, FastifyRequest } from "fastify";
import { RepomanError, type ErrorKind } from "../errors.js";

const STATUS: Record<ErrorKind, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
  checksum_mismatch: 460, // tus 1.0 checksum extension
  precondition_failed: 412,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  unsafe_image: 422, // a file the server will not keep for what it is, not for how it was sent
};

const REASON: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  412: "Precondition Failed",
  410: "Gone",
  460: "Checksum Mismatch",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  500: "Internal Server Error",
};

function wantsText(req: FastifyRequest): boolean {
  const accept = (req.headers.accept ?? "").trim();
  if (accept === "*") return true;
  return /\btext\/plain\b/.test(accept) && !/json|\*\/\*/.test(accept);
}

export function sendError(req: FastifyRequest, reply: FastifyReply, status: number, code: string, message: string): void {
  if (status === 401) reply.header("www-authenticate", 'Certificate realm="repoman"');
  if (wantsText(req)) {
    reply.code(status).type("text/plain; charset=utf-8").send(`${status} ${REASON[status] ?? ""}: ${message}\n`);
  } else {
    reply.code(status).type("application/json").send({ error: { code, message } });
  }
}

// Fastify's own errors (malformed JSON, oversized body…) carry a statusCode; anything else is a bug.
export function toErrorResponse(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof RepomanError) return { status: STATUS[err.kind], code: err.kind, message: err.message };
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (typeof e?.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    const code = e.statusCode === 413 ? "too_large" : e.statusCode === 415 ? "unsupported_media_type" : "bad_request";
    return { status: e.statusCode, code, message: e.message ?? "bad request" };
  }
  return { status: 500, code: "internal", message: "internal server error" };
}
