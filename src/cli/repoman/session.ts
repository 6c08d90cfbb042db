// What a subcommand works with: the configuration, the server to talk to (-r/-p over the
// configuration, for every request), the credential (--proxy over the configuration) and the
// connection, each made only when the subcommand needs it.
import { RepomanApi } from "../../client/api.js";
import { loadClientConfig, type ClientConfig, type Environment } from "../../client/config.js";
import { Connection, parseEndpoint, type Endpoint } from "../../client/connection.js";
import { findCredential, type Credential } from "../../client/credentials.js";
import { ClientConfigError } from "../../client/errors.js";
import { loadTrust } from "../../client/trust.js";
import type { Level, LogFile } from "./log-file.js";
import { UsageError, type Parsed } from "./parse-args.js";
import { LogFile as OpenLogFile } from "./log-file.js";
import type { Terminal } from "./terminal.js";
import { VERSION } from "./version.js";

export interface Globals {
  repository?: string;
  port?: number;
  proxy?: string;
  insecure: boolean;
  debug: boolean;
}

// The global options as the session uses them. -H is -r under the first client's name; -P is a
// port when its value is digits only (the first client's -P PORT), else a proxy file (the 2013
// client's -P PROXYFILE). Two options that say the same thing differently are refused.
export function globalsFrom(o: Parsed["options"]): Globals {
  const given = (key: string) => o[key] !== undefined;
  const clash = (a: string, b: string) => new UsageError(`argument ${a}: not allowed with argument ${b}`);
  if (given("repository") && given("host")) throw clash("-H/--host", "-r/--repository");
  const P = o.port_or_proxy as string | undefined;
  const pIsPort = P !== undefined && /^\d+$/.test(P);
  if (pIsPort && given("port")) throw clash("-P", "-p/--port");
  if (P !== undefined && !pIsPort && given("proxy")) throw clash("-P", "--proxy");
  const port = pIsPort ? Number(P) : (o.port as number | undefined);
  if (port !== undefined && !(port >= 1 && port <= 65535)) throw new UsageError(`argument ${pIsPort ? "-P" : "-p/--port"}: not a port number: ${port}`);
  return {
    repository: (o.repository ?? o.host) as string | undefined,
    port,
    proxy: pIsPort ? (o.proxy as string | undefined) : (P ?? (o.proxy as string | undefined)),
    insecure: o.insecure === true,
    debug: o.debug === true,
  };
}

export class Session {
  private configCache: ClientConfig | undefined;
  private connection: Connection | undefined;
  private apiCache: RepomanApi | undefined;
  private logFile: LogFile | undefined | null = null;

  constructor(
    readonly globals: Globals,
    readonly environment: Environment,
    readonly terminal: Terminal,
  ) {}

  get config(): ClientConfig {
    this.configCache ??= loadClientConfig(this.environment);
    return this.configCache;
  }

  endpoint(): Endpoint {
    const host = this.globals.repository ?? this.config.repository;
    if (!host) throw new ClientConfigError("no repository server is configured", "Pass -r HOST, or set `repository` in the [Repository] section of ~/.repoman/repoman.conf (`repoman make-config` writes a template).");
    const e = parseEndpoint(host, this.config.port);
    return { host: e.host, port: this.globals.port ?? e.port };
  }

  async credential(): Promise<Credential> {
    const c = await findCredential({
      proxyOption: this.globals.proxy,
      config: this.config,
      environment: this.environment,
      askPassphrase: (keyFile) => this.terminal.askSecret(`Enter the passphrase for ${keyFile}: `),
    });
    this.debug(`credential: ${c.kind} ${c.certFile} (${c.subject}), valid until ${c.notAfter.toISOString()}`);
    return c;
  }

  async api(): Promise<RepomanApi> {
    if (this.apiCache) return this.apiCache;
    const endpoint = this.endpoint();
    const trust = loadTrust(this.config, this.environment, this.globals.insecure);
    if (trust.insecure) process.stderr.write("WARNING: --insecure: the server's certificate is not checked; anyone on the network path could pose as the server.\n");
    this.debug(`server: ${endpoint.host}:${endpoint.port}, trusting ${trust.source}`);
    this.connection = new Connection(endpoint, trust, await this.credential(), `repoman/${VERSION} (node ${process.versions.node})`);
    this.apiCache = new RepomanApi(this.connection);
    return this.apiCache;
  }

  debug(message: string): void {
    if (this.globals.debug) process.stderr.write(`DEBUG: ${message}\n`);
    this.log("DEBUG", message);
  }

  // Logging must never stop a command: a log that cannot be written is skipped.
  log(level: Level, message: string): void {
    try {
      if (this.logFile === null) {
        const enabled = !/^(false|no|off|0)$/i.test(this.config.get("Logger", "enabled"));
        this.logFile = enabled ? new OpenLogFile(this.config.get("Logger", "dir"), this.config.get("Logger", "level")) : undefined;
      }
      this.logFile?.write(level, message);
    } catch {
      this.logFile = undefined;
    }
  }

  logFilePath(): string | undefined {
    this.log("DEBUG", "about");
    return this.logFile?.file;
  }

  close(): void {
    this.connection?.close();
  }
}
