// Domain errors. Every layer below HTTP throws these; src/http/errors.ts maps kind → status.
export type ErrorKind =
  | "bad_request"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "gone"
  | "checksum_mismatch"
  | "precondition_failed"
  | "conflict"
  | "too_large"
  | "unsupported_media_type"
  | "unsafe_image";

export class RepomanError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "RepomanError";
  }
}

export const badRequest = (msg: string) => new RepomanError("bad_request", msg);
export const forbidden = (msg: string) => new RepomanError("forbidden", msg);
export const notFound = (msg: string) => new RepomanError("not_found", msg);
export const gone = (msg: string) => new RepomanError("gone", msg);
export const conflict = (msg: string) => new RepomanError("conflict", msg);
