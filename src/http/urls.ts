// Absolute URLs in responses. The base is the configured public URL, else the scheme of the
// listener and the request's Host header. X-Forwarded-* are honoured only from trusted front ends.
import type { FastifyRequest } from "fastify";

export interface UrlContext {
  base: string; // e.g. https://repo.example.org:8443, no trailing slash
  publicHttpBase: string | null; // the plain-HTTP download listener, when there is one
  isoTimes: boolean; // the client asked for ISO 8601 timestamps instead of the original's ctime form
}

export function requestBase(req: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, "");
  const fromFrontEnd = req.viaTrustedFrontEnd;
  const proto = fromFrontEnd ? firstHeader(req.headers["x-forwarded-proto"]) ?? "https" : "https";
  const host = (fromFrontEnd ? firstHeader(req.headers["x-forwarded-host"]) : undefined) ?? req.headers.host ?? "localhost";
  return `${proto}://${host}`;
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s?.split(",")[0]?.trim() || undefined;
}

const seg = encodeURIComponent;
export const userUrl = (u: UrlContext, name: string) => `${u.base}/api/users/${seg(name)}`;
export const groupUrl = (u: UrlContext, name: string) => `${u.base}/api/groups/${seg(name)}`;
export const imageUrl = (u: UrlContext, owner: string, name: string) => `${u.base}/api/images/${seg(owner)}/${seg(name)}`;
// The original's raw-file URL template: clients replace the literal __hypervisor__ segment.
export const rawUrlTemplate = (base: string, owner: string, name: string) => rawUrl(base, owner, "__hypervisor__", name);
export const rawUrl = (base: string, owner: string, hypervisor: string, name: string) => `${base}/api/images/raw/${seg(owner)}/${seg(hypervisor)}/${seg(name)}`;
