// A development PKI for a server started with no host certificate: a CA, a host certificate for
// localhost and 127.0.0.1, an admin credential and a client configuration that uses them. Made
// with the openssl command (no shell), once; the CRL is re-signed at every start so that the
// default `crl = require` keeps working on a long-lived development server.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, writeFileSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export interface DevPki {
  dir: string;
  caDir: string; // X509_CERT_DIR layout
  caCert: string;
  hostCert: string;
  hostKey: string;
  adminCredential: string; // certificate + key in one file, as a proxy file is
  adminDn: string;
  clientConfig: string;
  created: boolean;
}

export const DEV_ADMIN_DN = "/O=Repoman Development/CN=Repoman Admin";

function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    if (err.code === "ENOENT") throw new Error("the openssl command is needed to generate a development PKI; install it (apt-get install openssl) or pass --host-cert and --host-key");
    throw new Error(`openssl ${args[0]} failed: ${err.stderr ?? String(e)}`);
  }
}

export function devPkiPaths(dataDir: string): DevPki {
  const dir = resolve(dataDir, "dev-pki");
  const ca = join(dir, "ca");
  return {
    dir,
    caDir: join(dir, "certificates"),
    caCert: join(ca, "ca.pem"),
    hostCert: join(dir, "hostcert.pem"),
    hostKey: join(dir, "hostkey.pem"),
    adminCredential: join(dir, "admin", "credential.pem"),
    adminDn: DEV_ADMIN_DN,
    clientConfig: join(dir, "repoman.conf"),
    created: false,
  };
}

export function ensureDevPki(dataDir: string, port: number): DevPki {
  const p = devPkiPaths(dataDir);
  const { dir, caDir } = p;
  const ca = join(dir, "ca");
  const cnf = join(ca, "openssl.cnf");
  if (!existsSync(join(dir, ".complete"))) {
    mkdirSync(ca, { recursive: true, mode: 0o700 });
    mkdirSync(caDir, { recursive: true });
    mkdirSync(join(dir, "admin"), { recursive: true, mode: 0o700 });
    writeFileSync(join(ca, "index.txt"), "");
    writeFileSync(join(ca, "crlnumber"), "01\n");
    writeFileSync(
      cnf,
      [
        "[ ca ]",
        "default_ca = dev",
        "[ dev ]",
        `database = ${join(ca, "index.txt")}`,
        `crlnumber = ${join(ca, "crlnumber")}`,
        `certificate = ${p.caCert}`,
        `private_key = ${join(ca, "ca.key")}`,
        "default_md = sha256",
        "default_crl_days = 30",
        "[ host ]",
        "basicConstraints = critical,CA:FALSE",
        "keyUsage = critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage = serverAuth",
        "subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1",
        "[ user ]",
        "basicConstraints = critical,CA:FALSE",
        "keyUsage = critical,digitalSignature,keyEncipherment",
        "extendedKeyUsage = clientAuth",
        "",
      ].join("\n"),
    );
    const days = "3650";
    openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", days, "-subj", "/O=Repoman Development/CN=Repoman Development CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"], ca);
    const issue = (name: string, subj: string, ext: string, keyOut: string, certOut: string) => {
      const csr = join(ca, `${name}.csr`);
      openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", keyOut, "-out", csr, "-subj", subj], ca);
      openssl(["x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", String(Date.now() + name.length), "-days", days, "-extfile", cnf, "-extensions", ext, "-out", certOut], ca);
      chmodSync(keyOut, 0o600);
    };
    issue("host", "/CN=localhost", "host", p.hostKey, p.hostCert);
    const adminKey = join(dir, "admin", "userkey.pem");
    const adminCert = join(dir, "admin", "usercert.pem");
    issue("admin", DEV_ADMIN_DN, "user", adminKey, adminCert);
    writeFileSync(p.adminCredential, readFileSync(adminCert, "utf8") + readFileSync(adminKey, "utf8"), { mode: 0o600 });
    const hash = openssl(["x509", "-hash", "-noout", "-in", "ca.pem"], ca).trim();
    writeFileSync(join(caDir, `${hash}.0`), readFileSync(p.caCert));
    writeFileSync(
      p.clientConfig,
      ["[Repository]", "repository = localhost", `port = ${port}`, "", "[User]", `proxy_cert = ${p.adminCredential}`, "", "[Security]", `ca_file = ${p.caCert}`, ""].join("\n"),
    );
    writeFileSync(join(dir, ".complete"), "");
    p.created = true;
  }
  const hash = openssl(["x509", "-hash", "-noout", "-in", "ca.pem"], ca).trim();
  openssl(["ca", "-config", cnf, "-gencrl", "-out", join(caDir, `${hash}.r0`)], ca);
  return p;
}
