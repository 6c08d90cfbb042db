// An error answered by the S3 server, with its HTTP status and its S3 error code.
export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`S3 ${code || status}: ${message}`);
  }
}
