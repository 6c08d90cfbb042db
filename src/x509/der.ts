// A small DER reader: just enough ASN.1 to walk certificates, names and CRLs byte for byte.
// OpenSSL (via node:crypto) has already accepted every certificate we read, so this reader aims at
// being exact and bounded rather than forgiving: it refuses indefinite lengths, lengths that run
// past their parent, and high tag numbers (which no certificate field uses).

export class DerError extends Error {
  override readonly name = "DerError";
}

export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
} as const;

/** Context-specific tag [n], constructed or not. */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** One TLV inside `bytes`; `content` and `encoded` are views, not copies. */
export class Der {
  private constructor(
    readonly bytes: Uint8Array,
    readonly tag: number,
    readonly start: number,
    readonly contentStart: number,
    readonly end: number,
  ) {}

  /** Reads the single TLV that must fill `bytes` exactly. */
  static parse(bytes: Uint8Array): Der {
    const der = Der.at(bytes, 0, bytes.length);
    if (der.end !== bytes.length) throw new DerError("trailing bytes after the DER value");
    return der;
  }

  static at(bytes: Uint8Array, offset: number, limit: number): Der {
    if (offset + 2 > limit) throw new DerError("truncated DER header");
    const tag = bytes[offset]!;
    if ((tag & 0x1f) === 0x1f) throw new DerError("high tag numbers are not supported");
    let pos = offset + 1;
    const first = bytes[pos++]!;
    let length: number;
    if (first < 0x80) {
      length = first;
    } else {
      const octets = first & 0x7f;
      if (octets === 0) throw new DerError("indefinite length is not DER");
      if (octets > 4) throw new DerError("DER length too large");
      if (pos + octets > limit) throw new DerError("truncated DER length");
      length = 0;
      for (let i = 0; i < octets; i++) length = length * 256 + bytes[pos++]!;
    }
    const end = pos + length;
    if (end > limit) throw new DerError("DER value runs past its container");
    return new Der(bytes, tag, offset, pos, end);
  }

  get constructed(): boolean {
    return (this.tag & 0x20) !== 0;
  }

  get content(): Uint8Array {
    return this.bytes.subarray(this.contentStart, this.end);
  }

  /** The whole TLV, header included. */
  get encoded(): Uint8Array {
    return this.bytes.subarray(this.start, this.end);
  }

  children(): Der[] {
    if (!this.constructed) throw new DerError(`tag 0x${this.tag.toString(16)} is not constructed`);
    const out: Der[] = [];
    for (let pos = this.contentStart; pos < this.end; ) {
      const child = Der.at(this.bytes, pos, this.end);
      out.push(child);
      pos = child.end;
    }
    return out;
  }

  expect(tag: number, what: string): this {
    if (this.tag !== tag) {
      throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, got 0x${this.tag.toString(16)}`);
    }
    return this;
  }

  oid(): string {
    return decodeOid(this.expect(Tag.OID, "OBJECT IDENTIFIER").content);
  }

  boolean(): boolean {
    const c = this.expect(Tag.BOOLEAN, "BOOLEAN").content;
    if (c.length !== 1) throw new DerError("BOOLEAN must be one octet");
    return c[0] !== 0;
  }

  /** A non-negative INTEGER small enough for a JS number (path lengths, versions). */
  smallInteger(): number {
    const c = this.expect(Tag.INTEGER, "INTEGER").content;
    if (c.length === 0 || c.length > 6 || (c[0]! & 0x80) !== 0) throw new DerError("INTEGER out of range");
    let n = 0;
    for (const b of c) n = n * 256 + b;
    return n;
  }

  /** INTEGER content as lower-case hex, for serial numbers of any size. */
  integerHex(): string {
    const c = this.expect(Tag.INTEGER, "INTEGER").content;
    if (c.length === 0) throw new DerError("empty INTEGER");
    return Buffer.from(c).toString("hex");
  }

  /** BIT STRING payload without its unused-bits octet. */
  bitString(): { unusedBits: number; bits: Uint8Array } {
    const c = this.expect(Tag.BIT_STRING, "BIT STRING").content;
    if (c.length === 0 || c[0]! > 7) throw new DerError("malformed BIT STRING");
    return { unusedBits: c[0]!, bits: c.subarray(1) };
  }

  time(): Date {
    if (this.tag === Tag.UTC_TIME) return parseTime(this.content, 2);
    if (this.tag === Tag.GENERALIZED_TIME) return parseTime(this.content, 4);
    throw new DerError("expected UTCTime or GeneralizedTime");
  }
}

function decodeOid(c: Uint8Array): string {
  if (c.length === 0 || (c[c.length - 1]! & 0x80) !== 0) throw new DerError("malformed OBJECT IDENTIFIER");
  const arcs: number[] = [];
  let value = 0;
  for (const b of c) {
    if (value === 0 && b === 0x80) throw new DerError("non-minimal OBJECT IDENTIFIER arc");
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) throw new DerError("OBJECT IDENTIFIER arc too large");
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs[0]!;
  const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
  return [...head, ...arcs.slice(1)].join(".");
}

// Only the forms RFC 5280 allows: YYMMDDHHMMSSZ and YYYYMMDDHHMMSSZ.
function parseTime(c: Uint8Array, yearDigits: 2 | 4): Date {
  const text = Buffer.from(c).toString("latin1");
  const pattern = yearDigits === 2 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
  const m = pattern.exec(text);
  if (!m) throw new DerError(`unsupported time format ${JSON.stringify(text)}`);
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const year = yearDigits === 2 ? (y >= 50 ? 1900 + y : 2000 + y) : y;
  return new Date(Date.UTC(year, mo - 1, d, h, mi, s));
}
