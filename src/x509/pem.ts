// PEM or DER files of certificates and CRLs, as found in X509_CERT_DIR and in proxy files.
import { X509Certificate } from "node:crypto";

/** The DER of every PEM block with this label ("CERTIFICATE", "X509 CRL"), in file order. */
export function pemBlocks(text: string, label: string): Buffer[] {
  const pattern = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]*?)-----END ${label}-----`, "g");
  return [...text.matchAll(pattern)].map((m) => Buffer.from(m[1]!.replace(/\s+/g, ""), "base64"));
}

function pemOrDer(data: Buffer, label: string): Buffer[] {
  const text = data.toString("latin1");
  return text.includes(`-----BEGIN ${label}-----`) ? pemBlocks(text, label) : [data];
}

/** Every certificate in a PEM file (a proxy file: proxy, key, chain) or the one in a DER file. */
export function readCertificates(data: Buffer): X509Certificate[] {
  return pemOrDer(data, "CERTIFICATE").map((der) => new X509Certificate(der));
}

/** DER of every CRL in a PEM file, or of the one in a DER file. */
export function readCrlDers(data: Buffer): Buffer[] {
  return pemOrDer(data, "X509 CRL");
}
