// Cross-site request forgery: a browser attaches the user's client certificate to every request
// it makes to this server, also those a page of another site makes (a form that posts here, a
// fetch in no-cors mode). Cookies have SameSite; TLS client certificates have nothing like it. So
// every state-changing request that a browser says comes from another origin is refused, before
// its body is read, whatever its content type (forms can send x-www-form-urlencoded,
// multipart/form-data and text/plain without asking first, and the API takes the first).
//
// Browsers say where a request comes from in two headers scripts cannot set: Sec-Fetch-Site
// (every current browser) and Origin (on every cross-origin request, and on same-origin POSTs).
// Clients that are not browsers (curl, the repoman client) send neither and are not affected:
// they carry their certificate on purpose. The rule is the one Go's net/http CrossOriginProtection
// settled on:
//   - GET, HEAD and OPTIONS change nothing and pass, except CORS preflights, which are refused:
//     no other origin is ever granted anything, and the server sends no Access-Control-* header.
//   - Sec-Fetch-Site: same-origin or none (the user typed or bookmarked it) passes; same-site
//     (another port or subdomain of this site) and cross-site are refused.
//   - Without Sec-Fetch-Site (older browsers), an Origin must be this server's own: the scheme and
//     host the request was addressed to (behind a trusted front end, X-Forwarded-Proto and
//     X-Forwarded-Host), or --public-url's.
//   - Neither header: not a browser, or one too old to matter; passes.
import type { FastifyRequest } from "fastify";
import { forbidden } from "../errors.js";
import { requestBase } from "./urls.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

// "https://Repo.example.org:443/" and "https://repo.example.org" are the same origin.
function normalOrigin(text: string): string | null {
  try {
    const u = new URL(text);
    return u.protocol === "https:" || u.protocol === "http:" ? u.origin : null;
  } catch {
    return null;
  }
}

function ownOrigins(req: FastifyRequest, publicUrl: string | undefined): Set<string> {
  const own = new Set<string>();
  for (const base of [requestBase(req, undefined), publicUrl]) {
    const o = base ? normalOrigin(base) : null;
    if (o) own.add(o);
  }
  return own;
}

// Why this request must be refused, or null. Runs after the identity hook (which decides whether
// X-Forwarded-* may be believed) and before the body is read.
export function crossOriginRefusal(req: FastifyRequest, publicUrl: string | undefined): string | null {
  const origin = one(req.headers.origin);
  const site = one(req.headers["sec-fetch-site"])?.toLowerCase();
  const isOwn = () => origin !== undefined && ownOrigins(req, publicUrl).has(normalOrigin(origin) ?? "");
  if (req.method === "OPTIONS") {
    if (req.headers["access-control-request-method"] === undefined || isOwn()) return null;
    return `this server grants no cross-origin access (CORS): a page of ${origin ?? "another origin"} may not call it`;
  }
  if (SAFE.has(req.method)) return null;
  if (site !== undefined) {
    if (site === "same-origin" || site === "none") return null;
    return `cross-origin request refused: the browser says it comes from a page of another ${site === "same-site" ? "origin on this site" : "site"}${origin ? ` (${origin})` : ""}, and state-changing requests are only taken from this server's own pages`;
  }
  if (origin === undefined || isOwn()) return null;
  return `cross-origin request refused: Origin ${origin} is not this server's, and state-changing requests are only taken from this server's own pages`;
}

export function sameOriginHook(publicUrl: string | undefined) {
  return async (req: FastifyRequest): Promise<void> => {
    const refusal = crossOriginRefusal(req, publicUrl);
    if (refusal) throw forbidden(refusal);
  };
}
