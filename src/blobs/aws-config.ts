// Credentials and region the way every AWS tool finds them: AWS_* environment variables first,
// then the shared files (~/.aws/credentials and ~/.aws/config) for AWS_PROFILE or "default".
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Credentials } from "./sigv4.js";

type Ini = Map<string, Map<string, string>>;

export function parseIni(text: string): Ini {
  const out: Ini = new Map();
  let section: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (head) {
      section = out.get(head[1]!) ?? new Map();
      out.set(head[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    if (section && eq > 0) section.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

function readIni(path: string): Ini {
  try {
    return parseIni(readFileSync(path, "utf8"));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw e;
  }
}

export interface AwsSettings {
  credentials: Credentials;
  region: string | undefined;
  endpoint: string | undefined;
}

export function awsSettings(env: NodeJS.ProcessEnv = process.env): AwsSettings {
  const profile = env.AWS_PROFILE ?? "default";
  const home = env.HOME ?? homedir();
  const credFile = readIni(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, ".aws", "credentials")).get(profile);
  const configFile = readIni(env.AWS_CONFIG_FILE ?? join(home, ".aws", "config"));
  const config = configFile.get(profile === "default" ? "default" : `profile ${profile}`);
  const fromEnv = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY;
  const accessKeyId = fromEnv ? env.AWS_ACCESS_KEY_ID : (credFile?.get("aws_access_key_id") ?? config?.get("aws_access_key_id"));
  const secretAccessKey = fromEnv ? env.AWS_SECRET_ACCESS_KEY : (credFile?.get("aws_secret_access_key") ?? config?.get("aws_secret_access_key"));
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(`no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give profile '${profile}' keys in ~/.aws/credentials`);
  }
  const sessionToken = fromEnv ? env.AWS_SESSION_TOKEN : (credFile?.get("aws_session_token") ?? config?.get("aws_session_token"));
  return {
    credentials: { accessKeyId, secretAccessKey, sessionToken },
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config?.get("region"),
    endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? config?.get("endpoint_url"),
  };
}
