// Every reason a client certificate chain can be refused, with the meaning operators and clients
// see. The codes are stable API: the HTTP layer returns them and the tests assert them.
export const GRID_AUTH_ERROR_CODES = {
  NO_CERTIFICATE: "the client sent no certificate",
  MALFORMED: "a certificate could not be decoded",
  CHAIN_TOO_LONG: "more certificates were sent than the configured maximum",
  UNTRUSTED_ISSUER: "the chain does not lead to a CA of the trust store",
  BAD_SIGNATURE: "a certificate names an issuer whose key does not verify its signature",
  EXPIRED: "a certificate in the chain has expired",
  NOT_YET_VALID: "a certificate in the chain is not valid yet",
  UNHANDLED_CRITICAL_EXTENSION: "a certificate has a critical extension this server does not implement",
  DUPLICATE_EXTENSION: "a certificate carries the same extension twice",
  CA_PATH_LENGTH: "a CA's basicConstraints path length is exceeded",
  KEY_USAGE: "a key usage forbids what the certificate was used for",
  REVOKED: "a certificate has been revoked by its CA",
  UNABLE_TO_GET_CRL: "no CRL of the issuing CA is available (crl mode require)",
  CRL_HAS_EXPIRED: "the issuing CA's CRL is past its nextUpdate (crl mode require)",
  CRL_NOT_YET_VALID: "the issuing CA's CRL starts in the future (crl mode require)",
  PROXY_ISSUED_BY_CA: "a proxy certificate was issued directly by a CA",
  NOT_A_PROXY: "a certificate below the end-entity certificate is not a proxy",
  PROXY_SUBJECT_NAME: "a proxy's subject is not its issuer's subject plus one CN",
  PROXY_IS_CA: "a proxy certificate claims to be a CA",
  PROXY_HAS_SAN: "a proxy certificate has a subject or issuer alternative name",
  MIXED_PROXY_TYPES: "the chain mixes RFC 3820, draft and legacy proxies",
  PROXY_PATH_LENGTH: "a proxy's path length constraint is exceeded",
  UNKNOWN_PROXY_POLICY: "a proxy carries a restricted policy this server does not understand",
  INDEPENDENT_PROXY: "independent proxies are not accepted",
  LIMITED_PROXY: "limited proxies are not accepted",
  LEGACY_PROXY: "legacy (pre-RFC Globus) proxies are not accepted",
  DRAFT_PROXY: "draft (GT3) proxies are not accepted",
  INVALID_PURPOSE: "the certificate may not be used for TLS client authentication",
  INTERNAL_ERROR: "the chain could not be validated because of a server error",
} as const;

export type GridAuthErrorCode = keyof typeof GRID_AUTH_ERROR_CODES;

export class GridAuthError extends Error {
  override readonly name = "GridAuthError";
  constructor(
    readonly code: GridAuthErrorCode,
    message: string = GRID_AUTH_ERROR_CODES[code],
  ) {
    super(message);
  }
}
