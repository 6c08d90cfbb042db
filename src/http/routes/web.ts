// The web interface: the committed static files under web/ (plain ES modules and CSS, no build
// step), served at / to anyone — the page itself talks to the JSON API with whatever certificate
// the browser presents. The files are read once at start into memory and looked up by exact path,
// so no request can reach outside web/.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from "fastify";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { notFound } from "../../errors.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".woff2": "font/woff2",
};

// Scripts and styles only from this origin, no inline code, nothing from elsewhere.
export const WEB_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

// web/ sits at the package root: two levels above src/http/routes in the sources, three above
// dist/src/http/routes once compiled.
export function findWebDir(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, "web", "index.html")) && existsSync(join(dir, "package.json"))) return join(dir, "web");
  }
  throw new Error("cannot find the web interface (web/index.html) above " + fileURLToPath(import.meta.url));
}

export function loadAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith(".")) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        walk(path);
        continue;
      }
      const type = TYPES[extname(name).toLowerCase()];
      if (!type) continue;
      const body = readFileSync(path);
      const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"`;
      assets.set(relative(root, path).split(sep).join("/"), { body, type, etag });
    }
  };
  walk(root);
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply
    .header("content-type", asset.type)
    // Revalidate every time: file names carry no version, and a 304 costs one small round trip.
    .header("cache-control", "no-cache")
    .header("etag", asset.etag)
    .header("x-content-type-options", "nosniff")
    .header("referrer-policy", "no-referrer")
    .header("content-security-policy", WEB_CSP)
    .header("x-frame-options", "DENY");
  const inm = req.headers["if-none-match"];
  if (typeof inm === "string" && inm.split(",").some((t) => t.trim().replace(/^W\//, "") === asset.etag)) return reply.code(304).send();
  reply.header("content-length", asset.body.length);
  return reply.send(req.method === "HEAD" ? undefined : asset.body);
}

export const webRoutes: FastifyPluginAsync<{ dir?: string | undefined }> = async (app, opts) => {
  const assets = loadAssets(opts.dir ?? findWebDir());
  const index = assets.get("index.html");
  if (!index) throw new Error("web/index.html is missing");
  const config = { anonymous: true };
  app.route({ method: ["GET", "HEAD"], url: "/", config, handler: (req, reply) => send(req, reply, index) });
  app.route<{ Params: { "*": string } }>({
    method: ["GET", "HEAD"],
    url: "/web/*",
    config,
    handler: (req, reply) => {
      const asset = assets.get(req.params["*"]);
      if (!asset) throw notFound(`no such file: /web/${req.params["*"]}`);
      return send(req, reply, asset);
    },
  });
  const icon = assets.get("icon.svg");
  if (icon) app.route({ method: ["GET", "HEAD"], url: "/favicon.ico", config, handler: (req, reply) => send(req, reply, icon) });
};
