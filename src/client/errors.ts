// Errors the client reports to its user: a headline, and the underlying detail when there is one.
export class ClientError extends Error {
  constructor(
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

// A problem with configuration files or settings, reported as the original did
// ("Client configuration error:").
export class ClientConfigError extends ClientError {
  override name = "ClientConfigError";
}

// The server answered with an error status.
export class ApiError extends ClientError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
    detail?: string,
  ) {
    super(message, detail);
  }
}
