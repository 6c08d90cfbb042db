// The server's log: Fastify's own logger (pino), one JSON object per line on stdout. Levels are
// written as words and times as ISO 8601, so that the lines read well to people and to tools
// (journald, Loki, jq) alike.
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from "pino";

export type Log = Logger;

// `destination` defaults to stdout; tests pass one that collects the lines.
export function createLog(destination?: DestinationStream): Log {
  return pino(
    {
      base: { pid: process.pid },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
