// S3 credentials found the way AWS tools find them, and refreshed before they expire:
//   1. AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) in the environment;
//   2. the AWS_PROFILE profile in ~/.aws/credentials or ~/.aws/config: keys (re-read every few
//      minutes, so a rotated file is picked up), or role_arn + web_identity_token_file;
//   3. AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (Kubernetes IRSA): STS AssumeRoleWithWebIdentity;
//   4. AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI (ECS, EKS Pod Identity);
//   5. the EC2 instance role, through IMDSv2 (unless AWS_EC2_METADATA_DISABLED=true).
// The first that is configured wins, on every refresh. Temporary credentials are renewed when
// less than REFRESH_AHEAD_MS of their life is left, so that a presigned URL made with them still
// lives its full redirect_expires.
import { readFileSync } from "node:fs";
import { sharedProfile } from "./aws-config.js";
import type { Credentials } from "./sigv4.js";

export interface ExpiringCredentials extends Credentials {
  expiration?: Date | undefined; // none: valid until the server says otherwise
  source: string; // for messages
}

// undefined: this source is not configured here, try the next.
export type CredentialProvider = (env: NodeJS.ProcessEnv) => Promise<ExpiringCredentials | undefined>;

export const REFRESH_AHEAD_MS = 10 * 60_000;
// Shared files have no expiry: re-reading them this often picks up a rotation without a restart.
const PROFILE_REREAD_MS = 5 * 60_000;
// Link-local metadata services answer in milliseconds or not at all (not on EC2, not in a container).
const METADATA_TIMEOUT_MS = 2_000;
const STS_TIMEOUT_MS = 15_000;

async function fetchText(url: string | URL, init: RequestInit & { what: string; timeoutMs?: number }): Promise<string> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? METADATA_TIMEOUT_MS) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.what} answered ${res.status}: ${text.slice(0, 200)}`);
  return text;
}

// The JSON shape the container endpoint and IMDS share.
function fromJson(text: string, source: string): ExpiringCredentials {
  const j = JSON.parse(text) as { AccessKeyId?: string; SecretAccessKey?: string; Token?: string; Expiration?: string; Code?: string };
  if (j.Code && j.Code !== "Success") throw new Error(`${source}: ${j.Code}`);
  if (!j.AccessKeyId || !j.SecretAccessKey) throw new Error(`${source}: the answer has no AccessKeyId and SecretAccessKey`);
  return { accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, sessionToken: j.Token, expiration: j.Expiration ? new Date(j.Expiration) : undefined, source };
}

export const fromEnv: CredentialProvider = async (env) => {
  if (!env.AWS_ACCESS_KEY_ID || !env.AWS_SECRET_ACCESS_KEY) return undefined;
  const expiration = env.AWS_CREDENTIAL_EXPIRATION ? new Date(env.AWS_CREDENTIAL_EXPIRATION) : undefined;
  return { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY, sessionToken: env.AWS_SESSION_TOKEN, expiration, source: "environment" };
};

const xmlValue = (xml: string, tag: string) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];

// STS needs no signature for this call: the token is the proof.
export async function assumeRoleWithWebIdentity(env: NodeJS.ProcessEnv, roleArn: string, tokenFile: string, sessionName?: string): Promise<ExpiringCredentials> {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  const url = new URL(env.AWS_ENDPOINT_URL_STS ?? (region ? `https://sts.${region}.amazonaws.com` : "https://sts.amazonaws.com"));
  const form = new URLSearchParams({
    Action: "AssumeRoleWithWebIdentity",
    Version: "2011-06-15",
    RoleArn: roleArn,
    RoleSessionName: sessionName ?? `repoman-${process.pid}-${Date.now()}`,
    // Read on every refresh: Kubernetes rotates the projected token in place.
    WebIdentityToken: readFileSync(tokenFile, "utf8").trim(),
  });
  const xml = await fetchText(url, { method: "POST", body: form, headers: { "content-type": "application/x-www-form-urlencoded", accept: "application/xml" }, what: "STS AssumeRoleWithWebIdentity", timeoutMs: STS_TIMEOUT_MS });
  const accessKeyId = xmlValue(xml, "AccessKeyId");
  const secretAccessKey = xmlValue(xml, "SecretAccessKey");
  const expiration = xmlValue(xml, "Expiration");
  if (!accessKeyId || !secretAccessKey) throw new Error("STS AssumeRoleWithWebIdentity answered without credentials");
  return { accessKeyId, secretAccessKey, sessionToken: xmlValue(xml, "SessionToken"), expiration: expiration ? new Date(expiration) : undefined, source: `web identity (${roleArn})` };
}

export const fromProfile: CredentialProvider = async (env) => {
  const p = sharedProfile(env);
  const get = (k: string) => p.credentials?.get(k) ?? p.config?.get(k);
  const accessKeyId = get("aws_access_key_id");
  const secretAccessKey = get("aws_secret_access_key");
  if (accessKeyId && secretAccessKey) {
    return { accessKeyId, secretAccessKey, sessionToken: get("aws_session_token"), expiration: new Date(Date.now() + PROFILE_REREAD_MS + REFRESH_AHEAD_MS), source: `profile ${p.name}` };
  }
  const roleArn = get("role_arn");
  const tokenFile = get("web_identity_token_file");
  if (roleArn && tokenFile) return assumeRoleWithWebIdentity(env, roleArn, tokenFile, get("role_session_name"));
  return undefined;
};

export const fromWebIdentity: CredentialProvider = async (env) => {
  if (!env.AWS_WEB_IDENTITY_TOKEN_FILE || !env.AWS_ROLE_ARN) return undefined;
  return assumeRoleWithWebIdentity(env, env.AWS_ROLE_ARN, env.AWS_WEB_IDENTITY_TOKEN_FILE, env.AWS_ROLE_SESSION_NAME);
};

// FULL_URI may only point at the container agent's addresses or at loopback, unless it is HTTPS:
// the token sent with it must not leak to an arbitrary host.
const CONTAINER_HOSTS = new Set(["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]", "localhost", "[::1]"]);

export const fromContainer: CredentialProvider = async (env) => {
  const relative = env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI;
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (!relative && !full) return undefined;
  const url = new URL(relative ? `http://169.254.170.2${relative}` : full!);
  if (!relative && url.protocol !== "https:" && !CONTAINER_HOSTS.has(url.hostname) && !url.hostname.startsWith("127.")) {
    throw new Error(`AWS_CONTAINER_CREDENTIALS_FULL_URI: ${url.hostname} is neither a loopback nor a container-agent address, and the URL is not HTTPS`);
  }
  const token = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ? readFileSync(env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, "utf8").trim() : env.AWS_CONTAINER_AUTHORIZATION_TOKEN;
  const text = await fetchText(url, { headers: token ? { authorization: token } : {}, what: "the container credentials endpoint" });
  return fromJson(text, "container credentials");
};

export const fromInstanceMetadata: CredentialProvider = async (env) => {
  if (env.AWS_EC2_METADATA_DISABLED === "true") return undefined;
  const base = (env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? "http://169.254.169.254").replace(/\/$/, "");
  // IMDSv2: a session token first, so that an SSRF through some GET cannot read the role's keys.
  const token = await fetchText(`${base}/latest/api/token`, { method: "PUT", headers: { "x-aws-ec2-metadata-token-ttl-seconds": "21600" }, what: "IMDS token" });
  const headers = { "x-aws-ec2-metadata-token": token };
  const roles = await fetchText(`${base}/latest/meta-data/iam/security-credentials/`, { headers, what: "IMDS role list" });
  const role = roles.split("\n")[0]?.trim();
  if (!role) throw new Error("IMDS: this instance has no IAM role");
  const text = await fetchText(`${base}/latest/meta-data/iam/security-credentials/${encodeURIComponent(role)}`, { headers, what: "IMDS credentials" });
  return fromJson(text, `instance role ${role}`);
};

// Nothing configured anywhere: a setup mistake, not worth retrying.
export class NoCredentialsError extends Error {
  readonly permanent = true;
}

export const DEFAULT_CHAIN: CredentialProvider[] = [fromEnv, fromProfile, fromWebIdentity, fromContainer, fromInstanceMetadata];

export async function resolveChain(env: NodeJS.ProcessEnv, chain: CredentialProvider[] = DEFAULT_CHAIN): Promise<ExpiringCredentials> {
  const failures: string[] = [];
  for (const provider of chain) {
    try {
      const c = await provider(env);
      if (c) return c;
    } catch (e) {
      // A source that is configured but fails is the answer: falling through to IMDS would hide it.
      if (provider !== fromInstanceMetadata) throw e;
      failures.push((e as Error).message);
    }
  }
  throw new NoCredentialsError(
    `no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, give profile '${env.AWS_PROFILE ?? "default"}' keys in ~/.aws/credentials, or run with a web identity, container or instance role${failures.length ? ` (instance metadata: ${failures.join("; ")})` : ""}`,
  );
}

// The credentials of one S3 client: fetched when first needed, renewed ahead of expiry by one
// fetch at a time, and kept when a renewal fails while they are still valid.
export class CredentialSource {
  private cached: ExpiringCredentials | undefined;
  private pending: Promise<ExpiringCredentials> | undefined;

  constructor(
    private readonly resolve: () => Promise<ExpiringCredentials>,
    private readonly refreshAheadMs = REFRESH_AHEAD_MS,
  ) {}

  static fixed(c: Credentials): CredentialSource {
    const s = new CredentialSource(async () => ({ ...c, source: "given" }));
    s.cached = { ...c, source: "given" };
    return s;
  }

  static chain(env: NodeJS.ProcessEnv = process.env, chain: CredentialProvider[] = DEFAULT_CHAIN): CredentialSource {
    return new CredentialSource(() => resolveChain(env, chain));
  }

  private stale(now = Date.now()): boolean {
    const c = this.cached;
    return !c || (c.expiration !== undefined && c.expiration.getTime() - now < this.refreshAheadMs);
  }

  async get(): Promise<ExpiringCredentials> {
    if (!this.stale()) return this.cached!;
    try {
      return await this.refresh();
    } catch (e) {
      const c = this.cached;
      if (c && (!c.expiration || c.expiration.getTime() > Date.now())) return c;
      throw e;
    }
  }

  // For signing synchronously (presigned URLs): the credentials at hand, renewed in the background
  // when they are getting old.
  current(): ExpiringCredentials {
    if (this.stale()) void this.refresh().catch(() => undefined);
    if (!this.cached) throw new Error("S3 credentials are not loaded yet");
    return this.cached;
  }

  // After the server refused them (ExpiredToken, InvalidAccessKeyId): the next get() fetches anew.
  invalidate(): void {
    if (this.cached) this.cached = { ...this.cached, expiration: new Date(0) };
  }

  private refresh(): Promise<ExpiringCredentials> {
    this.pending ??= this.resolve()
      .then((c) => (this.cached = c))
      .finally(() => (this.pending = undefined));
    return this.pending;
  }
}
