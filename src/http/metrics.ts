// What this process has served, for Prometheus (text exposition format 0.0.4): requests by route
// and status, clients that went away, bytes in and out, requests and transfers in flight, request
// durations, upload commits, and the process's memory, open files, trust store and CRLs,
// certificate verdict cache and database pool. Counted in memory, per process:
// Prometheus adds up the servers (and --workers) it scrapes.
import { readdirSync } from "node:fs";
import type { CounterFamily } from "../blobs/blob-store.js";

export type Kind = "download" | "upload" | "api";

// Image transfers take seconds to hours; API calls milliseconds: one set of buckets spans both.
const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200];

interface Histogram {
  counts: number[]; // per bucket, not cumulative
  sum: number;
  count: number;
}

export interface Finished {
  method: string;
  route: string; // the route's pattern, never the raw path (bounded label values)
  status: number;
  kind: Kind;
  aborted: boolean;
  bytesIn: number;
  bytesOut: number;
  seconds: number;
}

// What is read at each scrape rather than counted here: the trust store, the verdict cache, the
// database pool and the blob store's counters.
export interface Sampled {
  trustStoreGeneration: number;
  trustStoreLoaded: number; // Unix seconds
  crls: readonly { issuer: string; thisUpdate: Date; nextUpdate: Date | undefined }[];
  verdictCache: { hits: number; misses: number; entries: number };
  dbPool: { total: number; idle: number; waiting: number } | undefined; // PostgreSQL only
  storeCounters: CounterFamily[]; // kept by the blob store: S3 errors and retries
}

const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly aborted = new Map<Kind, number>();
  private readonly bytes = { in: new Map<Kind, number>(), out: new Map<Kind, number>() };
  private readonly inFlight = new Map<Kind, number>();
  private readonly durations = new Map<Kind, Histogram>();
  private readonly commits: Histogram = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 };

  started(kind: Kind): void {
    this.inFlight.set(kind, (this.inFlight.get(kind) ?? 0) + 1);
  }

  finished(f: Finished): void {
    const add = <K>(m: Map<K, number>, k: K, n: number) => m.set(k, (m.get(k) ?? 0) + n);
    add(this.inFlight, f.kind, -1);
    add(this.requests, `method="${label(f.method)}",route="${label(f.route)}",status="${f.status}"`, 1);
    if (f.aborted) add(this.aborted, f.kind, 1);
    add(this.bytes.in, f.kind, f.bytesIn);
    add(this.bytes.out, f.kind, f.bytesOut);
    let h = this.durations.get(f.kind);
    if (!h) this.durations.set(f.kind, (h = { counts: BUCKETS.map(() => 0), sum: 0, count: 0 }));
    observe(h, f.seconds);
  }

  // An upload's commit: the transaction that makes it a version, and the garbage it frees.
  committed(seconds: number): void {
    observe(this.commits, seconds);
  }

  render(extra: Sampled, now = Date.now()): string {
    const out: string[] = [];
    const family = (name: string, type: string, help: string, samples: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) out.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    const byKind = (m: Map<Kind, number>) => [...m].map(([k, v]) => [`kind="${k}"`, v] as [string, number]);
    family("repoman_http_requests_total", "counter", "Requests answered, by method, route and status.", [...this.requests]);
    family("repoman_http_requests_aborted_total", "counter", "Requests whose client went away before the end of the response.", byKind(this.aborted));
    family("repoman_http_received_bytes_total", "counter", "Bytes received on connections while serving requests (TLS included).", byKind(this.bytes.in));
    family("repoman_http_sent_bytes_total", "counter", "Bytes sent on connections while serving requests (TLS included).", byKind(this.bytes.out));
    family("repoman_http_requests_in_flight", "gauge", "Requests being served: downloads and uploads are image transfers.", byKind(this.inFlight));
    const histogram = (name: string, help: string, series: [string, Histogram][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
      for (const [labels, h] of series) {
        const l = labels ? `${labels},` : "";
        let cumulative = 0;
        BUCKETS.forEach((b, i) => out.push(`${name}_bucket{${l}le="${b}"} ${(cumulative += h.counts[i]!)}`));
        out.push(`${name}_bucket{${l}le="+Inf"} ${h.count}`);
        out.push(`${name}_sum${labels ? `{${labels}}` : ""} ${h.sum}`, `${name}_count${labels ? `{${labels}}` : ""} ${h.count}`);
      }
    };
    histogram("repoman_http_request_duration_seconds", "Time from a request's arrival to the close of its response.", [...this.durations].map(([k, h]) => [`kind="${k}"`, h]));
    histogram("repoman_upload_commit_duration_seconds", "Time to commit a stored upload as a new version: the metadata transaction, and deleting the blobs of the versions it pruned.", [["", this.commits]]);
    for (const f of extra.storeCounters) {
      family(f.name, "counter", f.help, f.samples.map((s) => [Object.entries(s.labels).map(([k, v]) => `${k}="${label(v)}"`).join(","), s.value]));
    }
    family("repoman_trust_store_generation", "gauge", "How many times the trusted CAs and CRLs were (re)loaded.", [["", extra.trustStoreGeneration]]);
    family("repoman_trust_store_loaded_timestamp_seconds", "gauge", "When the trusted CAs and CRLs were last loaded.", [["", extra.trustStoreLoaded]]);
    // By issuer name, the worst of its CRLs (a CA rolled over to a new key keeps its name).
    const worst = new Map<string, { age: number; next: number | undefined }>();
    for (const c of extra.crls) {
      const age = Math.round((now - c.thisUpdate.getTime()) / 1000);
      const next = c.nextUpdate ? Math.floor(c.nextUpdate.getTime() / 1000) : undefined;
      const w = worst.get(c.issuer);
      worst.set(c.issuer, w ? { age: Math.max(w.age, age), next: next === undefined ? w.next : Math.min(w.next ?? next, next) } : { age, next });
    }
    const byIssuer = (f: (w: { age: number; next: number | undefined }) => number | undefined) =>
      [...worst].flatMap(([issuer, w]) => (f(w) === undefined ? [] : [[`issuer="${label(issuer)}"`, f(w)!] as [string, number]]));
    family("repoman_crl_age_seconds", "gauge", "Age of each CA's CRL (since its thisUpdate; the oldest, for CAs of one name): fetch-crl should keep it well below the CA's publication interval.", byIssuer((w) => w.age));
    family("repoman_crl_next_update_timestamp_seconds", "gauge", "When each CA's CRL expires (nextUpdate; the soonest, for CAs of one name); past it, --crl require refuses that CA's users.", byIssuer((w) => w.next));
    family("repoman_auth_verdict_cache_total", "counter", "Certificate chains answered from the verdict cache (hit) or validated (miss).", [["result=\"hit\"", extra.verdictCache.hits], ["result=\"miss\"", extra.verdictCache.misses]]);
    family("repoman_auth_verdict_cache_entries", "gauge", "Verdicts cached.", [["", extra.verdictCache.entries]]);
    if (extra.dbPool) {
      const p = extra.dbPool;
      family("repoman_db_pool_connections", "gauge", "PostgreSQL connections of this process, by state.", [["state=\"idle\"", p.idle], ["state=\"busy\"", p.total - p.idle]]);
      family("repoman_db_pool_waiting", "gauge", "Queries waiting for a PostgreSQL connection.", [["", p.waiting]]);
    }
    const mem = process.memoryUsage();
    family("process_resident_memory_bytes", "gauge", "Resident memory of this process.", [["", mem.rss]]);
    family("nodejs_heap_used_bytes", "gauge", "V8 heap in use.", [["", mem.heapUsed]]);
    family("process_open_fds", "gauge", "Open file descriptors of this process.", [["", openFds()]]);
    return out.join("\n") + "\n";
  }
}

function observe(h: Histogram, seconds: number): void {
  const i = BUCKETS.findIndex((b) => seconds <= b);
  if (i >= 0) h.counts[i]!++;
  h.sum += seconds;
  h.count++;
}

function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}
