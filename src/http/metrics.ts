// What this process has served, for Prometheus (text exposition format 0.0.4): requests by route
// and status, clients that went away, bytes in and out, requests and transfers in flight, request
// durations, and the process's memory, open files and trust store. Counted in memory, per process:
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

export interface Extra {
  trustStoreGeneration: number;
  trustStoreLoaded: number; // Unix seconds
}

const label = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

export class Metrics {
  private readonly requests = new Map<string, number>();
  private readonly aborted = new Map<Kind, number>();
  private readonly bytes = { in: new Map<Kind, number>(), out: new Map<Kind, number>() };
  private readonly inFlight = new Map<Kind, number>();
  private readonly durations = new Map<Kind, Histogram>();

  // `counters`: families kept elsewhere (the blob store's S3 errors and retries), read at each scrape.
  constructor(private readonly counters: () => CounterFamily[] = () => []) {}

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
    const i = BUCKETS.findIndex((b) => f.seconds <= b);
    if (i >= 0) h.counts[i]!++;
    h.sum += f.seconds;
    h.count++;
  }

  render(extra: Extra): string {
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
    out.push("# HELP repoman_http_request_duration_seconds Time from a request's arrival to the close of its response.", "# TYPE repoman_http_request_duration_seconds histogram");
    for (const [kind, h] of this.durations) {
      let cumulative = 0;
      BUCKETS.forEach((b, i) => out.push(`repoman_http_request_duration_seconds_bucket{kind="${kind}",le="${b}"} ${(cumulative += h.counts[i]!)}`));
      out.push(`repoman_http_request_duration_seconds_bucket{kind="${kind}",le="+Inf"} ${h.count}`);
      out.push(`repoman_http_request_duration_seconds_sum{kind="${kind}"} ${h.sum}`, `repoman_http_request_duration_seconds_count{kind="${kind}"} ${h.count}`);
    }
    for (const f of this.counters()) {
      family(f.name, "counter", f.help, f.samples.map((s) => [Object.entries(s.labels).map(([k, v]) => `${k}="${label(v)}"`).join(","), s.value]));
    }
    family("repoman_trust_store_generation", "gauge", "How many times the trusted CAs and CRLs were (re)loaded.", [["", extra.trustStoreGeneration]]);
    family("repoman_trust_store_loaded_timestamp_seconds", "gauge", "When the trusted CAs and CRLs were last loaded.", [["", extra.trustStoreLoaded]]);
    const mem = process.memoryUsage();
    family("process_resident_memory_bytes", "gauge", "Resident memory of this process.", [["", mem.rss]]);
    family("nodejs_heap_used_bytes", "gauge", "V8 heap in use.", [["", mem.heapUsed]]);
    family("process_open_fds", "gauge", "Open file descriptors of this process.", [["", openFds()]]);
    return out.join("\n") + "\n";
  }
}

function openFds(): number {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch {
    return -1;
  }
}
