// The OpenAPI document, generated from the routes themselves: each route's config names its
// summary and the very schema objects its handler parses input with.
import type { FastifyInstance, RouteOptions } from "fastify";
import type { ObjectSchema } from "./schema.js";

export interface RouteDoc {
  summary: string;
  body?: ObjectSchema<any>;
  query?: ObjectSchema<any>;
  rawBody?: boolean; // the body is an image file, streamed
  binaryResponse?: boolean;
}

interface Collected {
  method: string;
  url: string;
  doc: RouteDoc;
  anonymous: boolean;
}

export function collectRouteDocs(app: FastifyInstance): () => Record<string, unknown> {
  const routes: Collected[] = [];
  app.addHook("onRoute", (r: RouteOptions) => {
    const config = (r.config ?? {}) as { doc?: RouteDoc; anonymous?: boolean };
    if (!config.doc) return;
    for (const method of [r.method].flat()) routes.push({ method: method.toLowerCase(), url: r.url, doc: config.doc, anonymous: !!config.anonymous });
  });
  return () => document(routes);
}

const errorResponse = { description: "Error", content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };

function document(routes: Collected[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z_]+)/g, "{$1}");
    const params = [...r.url.matchAll(/:([A-Za-z_]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    const query = r.doc.query
      ? Object.entries((r.doc.query.json.properties ?? {}) as Record<string, Record<string, unknown>>).map(([name, schema]) => ({ name, in: "query", required: false, schema }))
      : [];
    const op: Record<string, unknown> = {
      summary: r.doc.summary,
      parameters: [...params, ...query],
      responses: {
        "2XX": r.doc.binaryResponse ? { description: "The file", content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } } : { description: "Success (JSON)" },
        "4XX": errorResponse,
      },
      security: r.anonymous ? [{}, { clientCertificate: [] }] : [{ clientCertificate: [] }],
    };
    if (r.doc.body) {
      op.requestBody = {
        required: true,
        content: { "application/x-www-form-urlencoded": { schema: r.doc.body.json }, "application/json": { schema: r.doc.body.json } },
      };
    } else if (r.doc.rawBody) {
      op.requestBody = { required: true, content: { "application/octet-stream": { schema: { type: "string", format: "binary" } } } };
    }
    (paths[path] ??= {})[r.method] = op;
  }
  return {
    openapi: "3.1.0",
    info: { title: "Repoman", version: "1", description: "VM image repository. Identity comes from the X.509 (or grid proxy) client certificate of the TLS connection." },
    paths,
    components: {
      securitySchemes: { clientCertificate: { type: "mutualTLS", description: "X.509 client certificate, including RFC 3820 and legacy Globus proxies" } },
      schemas: {
        Error: { type: "object", properties: { error: { type: "object", properties: { code: { type: "string" }, message: { type: "string" } }, required: ["code", "message"] } } },
      },
    },
  };
}
