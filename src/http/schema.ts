// Request schemas: each one validates and coerces input (form-encoded strings or JSON values)
// and describes itself as JSON Schema for the OpenAPI document, so the two cannot disagree.
import { badRequest } from "../errors.js";

export interface Field<T> {
  parse(value: unknown, name: string): T;
  json: Record<string, unknown>;
  optional: boolean;
}

type Shape = Record<string, Field<unknown>>;
export type Infer<S extends Shape> = { [K in keyof S]: S[K] extends Field<infer T> ? T : never };

function field<T>(json: Record<string, unknown>, parse: (value: unknown, name: string) => T): Field<T> {
  return { json, parse, optional: false };
}

export function optional<T>(f: Field<T>): Field<T | undefined> {
  return { json: f.json, optional: true, parse: (v, n) => (v === undefined ? undefined : f.parse(v, n)) };
}

export function string(opts: { pattern?: RegExp; max?: number; min?: number; description?: string; patternHelp?: string } = {}): Field<string> {
  const json: Record<string, unknown> = { type: "string" };
  if (opts.pattern) json.pattern = opts.pattern.source;
  if (opts.max !== undefined) json.maxLength = opts.max;
  if (opts.min !== undefined) json.minLength = opts.min;
  if (opts.description) json.description = opts.description;
  return field(json, (v, name) => {
    if (typeof v !== "string") throw badRequest(`${name}: must be a string`);
    if (opts.min !== undefined && v.length < opts.min) throw badRequest(`${name}: must not be empty`);
    if (opts.max !== undefined && v.length > opts.max) throw badRequest(`${name}: at most ${opts.max} characters`);
    if (opts.pattern && !opts.pattern.test(v)) throw badRequest(`${name}: ${opts.patternHelp ?? `must match ${opts.pattern.source}`}`);
    return v;
  });
}

export function oneOf<T extends string>(values: readonly T[], description?: string): Field<T> {
  return field({ type: "string", enum: values, ...(description ? { description } : {}) }, (v, name) => {
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) throw badRequest(`${name}: must be one of ${values.join(", ")}`);
    return v as T;
  });
}

// ISO 8601 date or date-time (UTC unless an offset is given), normalised to an ISO string;
// an empty string, "null" or "never" clear it.
export function timestamp(description?: string): Field<string | null> {
  return field({ type: "string", format: "date-time", description: description ?? "ISO 8601; empty to clear" }, (v, name) => {
    if (v === null || v === "" || v === "null" || v === "never") return null;
    if (typeof v !== "string" || !/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
      throw badRequest(`${name}: must be an ISO 8601 date or date-time, e.g. 2027-01-31T12:00:00Z`);
    }
    const hasZone = /(Z|[+-]\d{2}:?\d{2})$/.test(v) && v.length > 10;
    const d = new Date(v.length === 10 ? `${v}T00:00:00Z` : hasZone ? v.replace(" ", "T") : `${v.replace(" ", "T")}Z`);
    if (Number.isNaN(d.getTime())) throw badRequest(`${name}: not a valid date`);
    return d.toISOString();
  });
}

// null, "" or "default" mean "not set" (the server's default applies).
export function nullable<T>(f: Field<T>, description?: string): Field<T | null> {
  return { json: { ...f.json, ...(description ? { description } : {}), nullable: true }, optional: f.optional, parse: (v, n) => (v === null || v === "" || v === "default" ? null : f.parse(v, n)) };
}

const TRUE = new Set(["true", "yes", "1", "on"]);
const FALSE = new Set(["false", "no", "0", "off"]);

export function boolean(description?: string): Field<boolean> {
  return field({ type: "boolean", ...(description ? { description } : {}) }, (v, name) => {
    if (typeof v === "boolean") return v;
    const s = String(v).toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
    throw badRequest(`${name}: must be true or false (also yes/no, 1/0)`);
  });
}

export function integer(opts: { min?: number; max?: number; description?: string } = {}): Field<number> {
  return field({ type: "integer", minimum: opts.min, maximum: opts.max, description: opts.description }, (v, name) => {
    const n = typeof v === "number" ? v : typeof v === "string" && /^-?\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) throw badRequest(`${name}: must be a whole number`);
    if (opts.min !== undefined && n < opts.min) throw badRequest(`${name}: must be at least ${opts.min}`);
    if (opts.max !== undefined && n > opts.max) throw badRequest(`${name}: must be at most ${opts.max}`);
    return n;
  });
}

// A list given as a JSON array or, as the original client sends it, a comma-separated string.
export function list<T>(item: Field<T>, description?: string): Field<T[]> {
  return field({ type: "array", items: item.json, description: description ?? "JSON array or comma-separated string" }, (v, name) => {
    const parts = Array.isArray(v) ? v : typeof v === "string" ? v.split(",").map((s) => s.trim()).filter((s) => s !== "") : null;
    if (parts === null) throw badRequest(`${name}: must be a list`);
    return parts.map((p, i) => item.parse(p, `${name}[${i}]`));
  });
}

export interface ObjectSchema<S extends Shape> {
  shape: S;
  parse(input: unknown): Infer<S>;
  json: Record<string, unknown>;
}

export function object<S extends Shape>(shape: S): ObjectSchema<S> {
  const required = Object.entries(shape)
    .filter(([, f]) => !f.optional)
    .map(([k]) => k);
  return {
    shape,
    json: {
      type: "object",
      additionalProperties: false,
      properties: Object.fromEntries(Object.entries(shape).map(([k, f]) => [k, f.json])),
      ...(required.length ? { required } : {}),
    },
    parse(input) {
      const obj = input === undefined || input === null ? {} : input;
      if (typeof obj !== "object" || Array.isArray(obj)) throw badRequest("the request body must be an object of fields");
      const rec = obj as Record<string, unknown>;
      for (const key of Object.keys(rec)) {
        if (!Object.hasOwn(shape, key)) throw badRequest(`unknown field '${key}'; expected ${Object.keys(shape).join(", ") || "none"}`);
      }
      const out: Record<string, unknown> = {};
      for (const [key, f] of Object.entries(shape)) {
        const v = rec[key];
        if (v === undefined && !f.optional) throw badRequest(`${key}: required`);
        out[key] = f.parse(v, key);
      }
      return out as Infer<S>;
    },
  };
}
