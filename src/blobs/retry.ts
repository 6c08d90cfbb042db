// When and how long to try an S3 request again. A transient failure (a reset connection, a
// timeout, a 5xx, SlowDown) should cost a retry of one part, not the whole upload; a permanent one
// (403, 404, a bad request) must fail at once. Retries are bounded in attempts and in time, and
// spread with exponential backoff and full jitter so that many servers hitting one overloaded
// gateway do not retry in lockstep.
import { S3Error } from "./s3-error.js";

export interface RetryPolicy {
  maxAttempts: number; // the first try included
  maxElapsedMs: number; // no new attempt starts after this much time since the first
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, maxElapsedMs: 60_000, baseDelayMs: 200, maxDelayMs: 10_000 };

// Label values for metrics: a closed set, so a misbehaving server cannot grow the label space.
export type FailureReason = "slow_down" | "server_error" | "reset" | "timeout" | "refused" | "network" | "credentials" | "client_error";

const NETWORK: Record<string, FailureReason> = {
  ECONNRESET: "reset",
  EPIPE: "reset",
  ECONNABORTED: "reset",
  ERR_STREAM_PREMATURE_CLOSE: "reset",
  ECONNREFUSED: "refused",
  ETIMEDOUT: "timeout",
  ESOCKETTIMEDOUT: "timeout",
  EHOSTUNREACH: "network",
  ENETUNREACH: "network",
  ENOTFOUND: "network",
  EAI_AGAIN: "network",
};

// Credentials that the server says are stale: worth one retry after fetching fresh ones.
const STALE_CREDENTIALS = new Set(["ExpiredToken", "InvalidToken", "TokenRefreshRequired", "ExpiredTokenException", "InvalidAccessKeyId"]);

export class TimeoutError extends Error {
  readonly code = "ETIMEDOUT";
}

export function classify(e: unknown): FailureReason {
  if (e instanceof S3Error) {
    if (e.code === "SlowDown" || e.status === 429) return "slow_down";
    if (STALE_CREDENTIALS.has(e.code)) return "credentials";
    // RGW answers RequestTimeout (400) when it waited too long for a body that a stall held up.
    if (e.status >= 500 || e.code === "RequestTimeout" || e.code === "InternalError") return "server_error";
    return "client_error";
  }
  if ((e as { permanent?: boolean } | undefined)?.permanent) return "client_error";
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code && NETWORK[code]) return NETWORK[code];
  if (e instanceof Error && /socket hang up|aborted/i.test(e.message)) return "reset";
  return "network";
}

// Whether a request that failed for this reason may be sent again. Idempotent requests may be sent
// again after any transient failure; the others only when the server cannot have acted on them.
export function retryable(reason: FailureReason, idempotent: boolean): boolean {
  if (reason === "client_error") return false;
  if (idempotent) return true;
  return reason === "refused" || reason === "slow_down" || reason === "credentials";
}

// Full jitter (a uniform delay up to the exponential bound), as AWS's architecture blog
// recommends: it spreads retries best for the least total waiting.
export function backoff(policy: RetryPolicy, attempt: number, random = Math.random): number {
  return Math.floor(random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1)));
}

// The delay before attempt `attempt + 1`, or undefined when the budget is spent.
export function nextDelay(policy: RetryPolicy, attempt: number, startedAt: number, now = Date.now()): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const delay = backoff(policy, attempt);
  return now + delay - startedAt > policy.maxElapsedMs ? undefined : delay;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
