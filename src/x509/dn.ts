// Distinguished names: the OpenSSL one-line form built from raw DER, parsing of the two text forms
// people type (OpenSSL one-line and RFC 2253), and the canonical key every DN comparison uses.
import { Der, DerError, Tag } from "./der.js";
import { attributeOid, attributeShortName } from "./oids.js";

export class DnSyntaxError extends Error {
  override readonly name = "DnSyntaxError";
}

export interface Ava {
  readonly oid: string;
  /** The value as text; for a value of a non-string ASN.1 type, "#" and the hex of its DER. */
  readonly value: string;
  readonly isText: boolean;
}
/** A relative distinguished name: usually one AVA, several for a multi-valued RDN ("OU=a+OU=b"). */
export type Rdn = readonly Ava[];

/** A Name read from DER, with the canonical keys the chain validator compares. */
export interface Name {
  readonly der: Uint8Array;
  readonly rdns: readonly Rdn[];
  /** canonicalDn() of this name, one entry per RDN. */
  readonly rdnKeys: readonly string[];
  readonly key: string;
}

// ------------------------------------------------------------------------------------------------
// DER → text

interface RawAva {
  readonly oid: string;
  readonly value: Der;
}

function readRawName(derName: Uint8Array): RawAva[][] {
  return Der.parse(derName)
    .expect(Tag.SEQUENCE, "Name")
    .children()
    .map((rdn) =>
      rdn
        .expect(Tag.SET, "RelativeDistinguishedName")
        .children()
        .map((ava) => {
          const [type, value, ...rest] = ava.expect(Tag.SEQUENCE, "AttributeTypeAndValue").children();
          if (!type || !value || rest.length > 0) throw new DerError("malformed AttributeTypeAndValue");
          return { oid: type.oid(), value };
        }),
    );
}

/**
 * Exactly what OpenSSL's X509_NAME_oneline() (and `openssl x509 -subject -nameopt compat`) prints:
 * "/" before each RDN and "+" between the AVAs of a multi-valued one, OpenSSL's short attribute
 * names, and the value's raw octets whatever its string type, with octets outside 0x20..0x7e as
 * \xHH and "/" and "+" backslash-escaped. Non-ASCII text is deliberately left escaped: that is the
 * form grid-mapfiles, VOMS and grid-proxy-info use. (OpenSSL's GeneralString special case is not
 * needed: its name parser refuses GeneralString values, so Node never hands us one.)
 */
export function nameToOneline(derName: Uint8Array): string {
  let out = "";
  for (const rdn of readRawName(derName)) {
    rdn.forEach((ava, i) => {
      out += `${i === 0 ? "/" : "+"}${attributeShortName(ava.oid)}=${escapeOnelineOctets(onelineOctets(ava.value))}`;
    });
  }
  return out;
}

// OpenSSL keeps a string's content octets, a BIT STRING without its unused-bits octet, and the whole
// encoding of anything constructed (a SEQUENCE is the only one its parser lets through).
function onelineOctets(value: Der): Uint8Array {
  if (value.tag === Tag.BIT_STRING) return value.content.subarray(1);
  return value.constructed ? value.encoded : value.content;
}

function escapeOnelineOctets(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) {
    if (b < 0x20 || b > 0x7e) out += `\\x${b.toString(16).toUpperCase().padStart(2, "0")}`;
    else out += (b === 0x2f || b === 0x2b ? "\\" : "") + String.fromCharCode(b);
  }
  return out;
}

// How OpenSSL's canonical name encoding (X509_NAME_cmp) reads each string type: T61String as
// Latin-1, BMPString as UTF-16, UniversalString as UTF-32. Types it does not canonicalise stay DER.
function decodeStringValue(value: Der): string | undefined {
  const c = value.content;
  switch (value.tag) {
    case Tag.UTF8_STRING:
      return new TextDecoder().decode(c);
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.NUMERIC_STRING:
    case Tag.T61_STRING:
      return Buffer.from(c).toString("latin1");
    case Tag.BMP_STRING:
      return Buffer.from(c.subarray(0, c.length & ~1)).swap16().toString("utf16le");
    case Tag.UNIVERSAL_STRING: {
      const points: number[] = [];
      for (let i = 0; i + 3 < c.length; i += 4) points.push(((c[i]! << 24) | (c[i + 1]! << 16) | (c[i + 2]! << 8) | c[i + 3]!) >>> 0);
      return String.fromCodePoint(...points.map((p) => (p > 0x10ffff ? 0xfffd : p)));
    }
    default:
      return undefined;
  }
}

function avaFromDer(oid: string, value: Der): Ava {
  const text = decodeStringValue(value);
  return text === undefined
    ? { oid, value: `#${Buffer.from(value.encoded).toString("hex")}`, isText: false }
    : { oid, value: text, isText: true };
}

export function readName(derName: Uint8Array): Name {
  const rdns = readRawName(derName).map((rdn) => rdn.map((ava) => avaFromDer(ava.oid, ava.value)));
  const rdnKeys = rdns.map(canonicalRdn);
  return { der: derName, rdns, rdnKeys, key: rdnKeys.join("") };
}

// ------------------------------------------------------------------------------------------------
// Canonical comparison key

/**
 * The comparison key of a DN, modelled on OpenSSL's X509_NAME_cmp canonical form: forward order
 * (C … CN), attribute types by OpenSSL short name (aliases resolved), values as Unicode (NFC) with
 * runs of whitespace collapsed, leading and trailing whitespace dropped and case folded, the AVAs of
 * a multi-valued RDN sorted. The one-line and RFC 2253 spellings of one DN give the same key, and
 * so does the certificate's DER whatever string types it used. One exception is inherent to the
 * one-line form: it prints BMPString values as raw UTF-16 octets, which read back as other text.
 */
export function canonicalDn(text: string): string {
  return parseDn(text).map(canonicalRdn).join("");
}

function canonicalRdn(rdn: Rdn): string {
  return `/${rdn.map(canonicalAva).sort().join("+")}`;
}

function canonicalAva(ava: Ava): string {
  const value = ava.isText ? escapeKeyValue(foldValue(ava.value)) : ava.value;
  return `${attributeShortName(ava.oid)}=${value}`;
}

function foldValue(value: string): string {
  return value
    .normalize("NFC")
    .replace(/[ \t\n\v\f\r]+/g, " ")
    .replace(/^ | $/g, "")
    .toLowerCase();
}

// Escapes what would make the key ambiguous: separators, the escape itself, and a leading "#" that
// would read as a DER value.
function escapeKeyValue(value: string): string {
  return value.replace(/[\\/+]|^#/g, (c) => `\\${c}`);
}

// ------------------------------------------------------------------------------------------------
// Text → RDNs

// An AVA parsed from text, with the octets its one-line form prints: kept apart from the decoded
// value so that a one-line DN of T61 or BMP octets prints back unchanged.
interface TextAva {
  readonly ava: Ava;
  readonly octets: Uint8Array;
}

function parseText(text: string): TextAva[][] {
  // only leading blanks go: in the one-line form trailing ones belong to the last value
  const trimmed = text.trimStart();
  if (trimmed.trim() === "") throw new DnSyntaxError("empty DN");
  return trimmed.startsWith("/") ? parseOneline(trimmed) : parseRfc2253(trimmed);
}

/**
 * Parses a DN typed by a person or printed by a tool, in forward order (C … CN):
 * - OpenSSL one-line, starting with "/": "/C=CA/O=Grid/OU=a+OU=b/CN=Jos\xC3\xA9". "\/", "\+" and
 *   \xHH are escapes. An unescaped "/" or "+" only separates when an attribute name and "=" follow,
 *   so names printed by OpenSSL 1.x, which escaped neither ("/CN=host/foo.example.org"), still parse.
 * - RFC 2253 / 4514 (most specific first): "CN=x,O=Grid,C=CA", with "\," style and \C3\A9 escapes,
 *   "#hex" DER values, quoted values, "+" for multi-valued RDNs, ";" as a separator.
 * Escaped octets are read as UTF-8, or as Latin-1 when they are not valid UTF-8 (a T61String).
 */
export function parseDn(text: string): Rdn[] {
  return parseText(text).map((rdn) => rdn.map(({ ava }) => ava));
}

/** Any accepted spelling of a DN, printed as OpenSSL's one-line form. */
export function toOneline(text: string): string {
  return parseText(text)
    .map((rdn) => rdn.map(({ ava, octets }, i) => `${i === 0 ? "/" : "+"}${attributeShortName(ava.oid)}=${escapeOnelineOctets(octets)}`).join(""))
    .join("");
}

function resolveType(name: string): string {
  const oid = attributeOid(name.trim());
  if (!oid) throw new DnSyntaxError(`unknown attribute type ${JSON.stringify(name.trim())}`);
  return oid;
}

/** A text AVA from the octets its spelling produced: UTF-8 when valid, else Latin-1 (T61String). */
function textAva(oid: string, bytes: number[]): TextAva {
  const octets = Uint8Array.from(bytes);
  let value: string;
  try {
    value = new TextDecoder("utf-8", { fatal: true }).decode(octets);
  } catch {
    value = Buffer.from(octets).toString("latin1");
  }
  return { ava: { oid, value, isText: true }, octets };
}

// Sticky regular expressions match at lastIndex without copying the rest of the text: a DN pasted
// into a form could be long, and slicing at every "/" would make parsing quadratic.
const ATTRIBUTE_NAME_AND_EQUALS = /(?:[A-Za-z][A-Za-z0-9-]*|(?:OID\.)?[0-2](?:\.\d+)+)=/iy;
const HEX_VALUE = /#((?:[0-9A-Fa-f]{2})+)/y;

function matchAt(pattern: RegExp, text: string, at: number): RegExpExecArray | null {
  pattern.lastIndex = at;
  return pattern.exec(text);
}

function startsAva(text: string, at: number): boolean {
  const m = matchAt(ATTRIBUTE_NAME_AND_EQUALS, text, at);
  return m !== null && attributeOid(m[0].slice(0, -1)) !== undefined;
}

function utf8Of(text: string, pos: number): { bytes: Uint8Array; width: number } {
  const cp = text.codePointAt(pos)!;
  return { bytes: new TextEncoder().encode(String.fromCodePoint(cp)), width: cp > 0xffff ? 2 : 1 };
}

function parseOneline(text: string): TextAva[][] {
  const rdns: TextAva[][] = [];
  let pos = 0;
  while (pos < text.length) {
    // text[pos] is "/" or "+", and an attribute name with "=" follows
    const separator = text[pos];
    pos++;
    const eq = text.indexOf("=", pos);
    if (eq < 0) throw new DnSyntaxError(`missing "=" after ${JSON.stringify(text.slice(pos))}`);
    const oid = resolveType(text.slice(pos, eq));
    const octets: number[] = [];
    pos = eq + 1;
    while (pos < text.length) {
      const c = text[pos]!;
      if ((c === "/" || c === "+") && startsAva(text, pos + 1)) break;
      if (c === "\\" && (text[pos + 1] === "/" || text[pos + 1] === "+")) {
        octets.push(text.charCodeAt(pos + 1));
        pos += 2;
      } else if (c === "\\" && /^x[0-9A-Fa-f]{2}/.test(text.slice(pos + 1, pos + 4))) {
        octets.push(parseInt(text.slice(pos + 2, pos + 4), 16));
        pos += 4;
      } else {
        const { bytes, width } = utf8Of(text, pos);
        octets.push(...bytes);
        pos += width;
      }
    }
    const ava = textAva(oid, octets);
    if (separator === "+") rdns[rdns.length - 1]!.push(ava);
    else rdns.push([ava]);
  }
  return rdns;
}

const RFC2253_SPECIALS = new Set([",", "=", "+", "<", ">", "#", ";", "\\", '"', " "]);

function parseRfc2253(text: string): TextAva[][] {
  const avas: { ava: TextAva; startsRdn: boolean }[] = [];
  let pos = 0;
  let startsRdn = true;
  for (;;) {
    const eq = text.indexOf("=", pos);
    if (eq < 0) throw new DnSyntaxError(`missing "=" in ${JSON.stringify(text.slice(pos))}`);
    const oid = resolveType(text.slice(pos, eq));
    pos = eq + 1;
    while (text[pos] === " ") pos++;
    let ava: TextAva;
    if (text[pos] === "#") {
      const m = matchAt(HEX_VALUE, text, pos);
      if (!m) throw new DnSyntaxError("malformed #hex value");
      ava = avaFromHex(oid, m[1]!);
      pos += m[0].length;
    } else {
      const quoted = text[pos] === '"';
      const { octets, end } = readRfc2253Value(text, quoted ? pos + 1 : pos, quoted);
      ava = textAva(oid, octets);
      pos = quoted ? end + 1 : end;
    }
    avas.push({ ava, startsRdn });
    while (text[pos] === " ") pos++;
    if (pos >= text.length) break;
    const sep = text[pos];
    if (sep !== "," && sep !== ";" && sep !== "+") throw new DnSyntaxError(`unexpected ${JSON.stringify(sep)} after a value`);
    startsRdn = sep !== "+";
    pos++;
  }
  // RFC 2253 lists the most specific RDN first; reversing every AVA reverses the RDNs and, as
  // OpenSSL's and Apache's printers do, the AVAs inside a multi-valued RDN ("OU=b+OU=a").
  const rdns: TextAva[][] = [];
  let current: TextAva[] = [];
  for (const { ava, startsRdn: first } of avas.reverse()) {
    current.push(ava);
    if (first) {
      rdns.push(current);
      current = [];
    }
  }
  return rdns;
}

function avaFromHex(oid: string, hex: string): TextAva {
  let value: Der;
  try {
    value = Der.parse(Buffer.from(hex, "hex"));
  } catch (e) {
    if (e instanceof DerError) throw new DnSyntaxError(`#${hex} is not a DER value: ${e.message}`);
    throw e;
  }
  return { ava: avaFromDer(oid, value), octets: onelineOctets(value) };
}

/** Reads a value up to an unescaped separator (or the closing quote); `end` is where it stopped. */
function readRfc2253Value(text: string, start: number, quoted: boolean): { octets: number[]; end: number } {
  const octets: number[] = [];
  // Unescaped trailing spaces are not part of the value; an escaped one is.
  let keep = 0;
  let pos = start;
  while (pos < text.length) {
    const c = text[pos]!;
    if (quoted ? c === '"' : c === "," || c === ";" || c === "+") break;
    if (c === "\\") {
      const next = text[pos + 1];
      if (/^[0-9A-Fa-f]{2}$/.test(text.slice(pos + 1, pos + 3))) {
        octets.push(parseInt(text.slice(pos + 1, pos + 3), 16));
        pos += 3;
      } else if (next !== undefined && RFC2253_SPECIALS.has(next)) {
        octets.push(next.charCodeAt(0));
        pos += 2;
      } else {
        throw new DnSyntaxError(`bad escape at ${JSON.stringify(text.slice(pos, pos + 3))}`);
      }
      keep = octets.length;
      continue;
    }
    const { bytes, width } = utf8Of(text, pos);
    octets.push(...bytes);
    if (c !== " " || quoted) keep = octets.length;
    pos += width;
  }
  if (quoted && text[pos] !== '"') throw new DnSyntaxError("unterminated quoted value");
  return { octets: octets.slice(0, keep), end: pos };
}
