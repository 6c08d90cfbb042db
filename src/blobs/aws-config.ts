// Region and endpoint the way every AWS tool finds them: AWS_* environment variables first, then
// the shared files (~/.aws/credentials and ~/.aws/config) for AWS_PROFILE or "default".
// Credentials are found by credentials.ts, which reads the same files.
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

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
  region: string | undefined;
  endpoint: string | undefined;
}

// The AWS_PROFILE (or "default") sections of the shared files, read now: credential providers call
// this on every refresh, so that a rotated ~/.aws/credentials is picked up without a restart.
export function sharedProfile(env: NodeJS.ProcessEnv = process.env): { name: string; credentials?: Map<string, string>; config?: Map<string, string> } {
  const name = env.AWS_PROFILE ?? "default";
  const home = env.HOME ?? homedir();
  const credentials = readIni(env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, ".aws", "credentials")).get(name);
  const config = readIni(env.AWS_CONFIG_FILE ?? join(home, ".aws", "config")).get(name === "default" ? "default" : `profile ${name}`);
  return { name, credentials, config };
}

export function awsSettings(env: NodeJS.ProcessEnv = process.env): AwsSettings {
  const { config } = sharedProfile(env);
  return {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? config?.get("region"),
    endpoint: env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL ?? config?.get("endpoint_url"),
  };
}
