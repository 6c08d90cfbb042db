// A development PKI for a server started with no host certificate: a CA, a host certificate for
// localhost and 127.0.0.1, an admin credential and a client configuration that uses them. Made
// with the openssl command (no shell), once; the CRL is re-signed at every start so that the
// default `crl = require` keeps working on a long-lived development server. `repoman-server
// dev-user` issues more user credentials from the same CA (issueUserCredential).
import { execFileSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { readCertificate } from "../x509/certificate.js";
import { canonicalDn, nameToOneline } from "../x509/dn.js";

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

// A word as the shell reads it: quoted only when it has to be.
const sh = (word: string) => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`);
const CLIENT_MAIN = fileURLToPath(new URL("./client-main.js", import.meta.url));

// The command lines printed for a credential: the repoman client with its configuration file
// (-p when the server listens on another port than the file says), and curl.
export const clientCommand = (config: string, port?: number | string) => `REPOMAN_CLIENT_CONFIG=${sh(config)} node ${sh(CLIENT_MAIN)}${port === undefined ? "" : ` -p ${port}`} whoami`;
export const curlCommand = (caCert: string, credential: string, url: string) => `curl --cacert ${sh(caCert)} --cert ${sh(credential)} ${url}/api/whoami`;

function openssl(args: string[], cwd: string): string {
  try {
    return execFileSync("openssl", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    const err = e as { code?: string; stderr?: string };
    if (err.code === "ENOENT") throw new Error("the openssl command is needed to generate a development PKI; install it (apt-get install openssl) or pass --host-cert and --host-key");
    throw new Error(`openssl ${args[0]} failed: ${err.stderr ?? String(e)}`);
  }
}

export const devPkiComplete = (p: DevPki) => existsSync(join(p.dir, ".complete"));

// The client configuration of a credential: the server on localhost (the host certificate's
// name) and its port (none for a server on port 0: the one it gets is printed with -p), the
// development CA to verify it with.
export const clientConfigText = (port: number, credential: string, caCert: string) =>
  ["[Repository]", "repository = localhost", ...(port === 0 ? [] : [`port = ${port}`]), "", "[User]", `proxy_cert = ${credential}`, "", "[Security]", `ca_file = ${caCert}`, ""].join("\n");

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
    writeFileSync(p.clientConfig, clientConfigText(port, p.adminCredential, p.caCert));
    writeFileSync(join(dir, ".complete"), "");
    p.created = true;
  }
  const hash = openssl(["x509", "-hash", "-noout", "-in", "ca.pem"], ca).trim();
  openssl(["ca", "-config", cnf, "-gencrl", "-out", join(caDir, `${hash}.r0`)], ca);
  return p;
}

export interface UserCredential {
  dir: string;
  credential: string; // certificate + key in one file, as a proxy file is
  dn: string; // the certificate's subject, as OpenSSL prints it
  remove(): void;
}

// A user certificate from the development CA, in DEV_PKI/users/NAME/: usercert.pem, userkey.pem
// and credential.pem (both in one file). The DN must come out of openssl exactly as asked for.
export function issueUserCredential(p: DevPki, name: string, dn: string): UserCredential {
  const ca = join(p.dir, "ca");
  const dir = join(p.dir, "users", name);
  if (existsSync(dir)) throw new Error(`a credential for '${name}' was issued before, in ${dir}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  try {
    const key = join(dir, "userkey.pem");
    const cert = join(dir, "usercert.pem");
    const csr = join(dir, "user.csr");
    openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", dn], ca);
    openssl(["x509", "-req", "-in", csr, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(8).toString("hex")}`, "-days", "3650", "-extfile", join(ca, "openssl.cnf"), "-extensions", "user", "-out", cert], ca);
    rmSync(csr);
    chmodSync(key, 0o600);
    const issued = nameToOneline(readCertificate(new X509Certificate(readFileSync(cert))).subject.der);
    if (canonicalDn(issued) !== canonicalDn(dn)) throw new Error(`openssl issued the certificate for ${issued}, not ${dn}; give --dn in plain ASCII`);
    const credential = join(dir, "credential.pem");
    writeFileSync(credential, readFileSync(cert, "utf8") + readFileSync(key, "utf8"), { mode: 0o600 });
    return { dir, credential, dn: issued, remove: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

// The port a development client configuration names, if it names one.
export function configuredPort(file: string): number | undefined {
  const m = /^port\s*[=:]\s*(\d+)\s*$/m.exec(readFileSync(file, "utf8"));
  return m ? Number(m[1]) : undefined;
}
