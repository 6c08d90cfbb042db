// What the S3 client counts for /metrics: failed attempts and retries, by operation and reason.
// Both label sets are closed (operation names are ours, reasons a fixed list), so the number of
// series stays small whatever the server answers.
import type { CounterFamily } from "./blob-store.js";
import type { FailureReason } from "./retry.js";

export class S3Stats {
  private readonly errors = new Map<string, number>();
  private readonly retries = new Map<string, number>();

  error(operation: string, reason: FailureReason): void {
    bump(this.errors, operation, reason);
  }

  retry(operation: string, reason: FailureReason): void {
    bump(this.retries, operation, reason);
  }

  // Totals for one reason, or all, across operations (for tests and logs).
  count(kind: "errors" | "retries", reason?: FailureReason): number {
    let n = 0;
    for (const [k, v] of this[kind]) if (reason === undefined || k.endsWith(`\0${reason}`)) n += v;
    return n;
  }

  families(): CounterFamily[] {
    const samples = (m: Map<string, number>) =>
      [...m].map(([k, v]) => {
        const [operation, reason] = k.split("\0") as [string, string];
        return { labels: { operation, reason }, value: v };
      });
    return [
      { name: "repoman_s3_errors_total", help: "S3 requests that failed, retried or not, by operation and reason.", samples: samples(this.errors) },
      { name: "repoman_s3_retries_total", help: "S3 requests sent again after a transient failure, by operation and reason.", samples: samples(this.retries) },
    ];
  }
}

function bump(m: Map<string, number>, operation: string, reason: FailureReason): void {
  const k = `${operation}\0${reason}`;
  m.set(k, (m.get(k) ?? 0) + 1);
}
