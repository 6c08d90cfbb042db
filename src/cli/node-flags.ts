// The Node.js flags repoman-server runs with. `repoman-server` (repoman-server.ts) adds them when it
// was started without them; the tests and the benchmark start the server with them.
//
// --initial-old-space-size=64: V8 otherwise sizes the old generation from the allocation rate it
// saw last, so a server that was idle starts every large download with a limit just above its live
// heap, and the buffers in flight then force a full mark-compact every ~60 ms — measured at 1.6
// instead of 0.95 server CPU-seconds per GiB, with no effect on peak RSS (128 vs 123 MB). It must
// be given when the process starts: v8.setFlagsFromString() later has no effect on the heap's
// sizing, and NODE_OPTIONS does not accept it.
export const SERVER_NODE_FLAGS: readonly string[] = ["--initial-old-space-size=64"];

const flagName = (arg: string) => arg.split("=", 1)[0];

// The flags missing from a process's execArgv (a flag given with another value counts as given).
export const missingNodeFlags = (execArgv: readonly string[]) => SERVER_NODE_FLAGS.filter((f) => !execArgv.some((a) => flagName(a) === flagName(f)));
