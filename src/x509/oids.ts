// Names of the attribute types that appear in certificate subjects, as OpenSSL 3.0 knows them:
// [OID, short name (what X509_NAME_oneline prints), long name]. Generated from
//   openssl list -objects | awk -F' = ' '{ n = split($2, p, ", "); oid = p[n]
//     ln = n > 1 ? substr($2, 1, length($2) - length(oid) - 2) : $1
//     if (oid ~ /^(2\.5\.4|1\.2\.840\.113549\.1\.9|0\.9\.2342\.19200300\.100\.1|1\.3\.6\.1\.4\.1\.311\.60\.2\.1)\.[0-9]+$/)
//       printf "  [\"%s\", \"%s\", \"%s\"],\n", oid, $1, ln }'
// and checked against the installed openssl by test/x509/oids.test.ts. Types outside these arcs are
// printed as dotted OIDs, as OpenSSL prints the ones it does not know.
export const NAME_ATTRIBUTE_TYPES: readonly (readonly [oid: string, shortName: string, longName: string])[] = [
  ["0.9.2342.19200300.100.1.1", "UID", "userId"],
  ["0.9.2342.19200300.100.1.2", "textEncodedORAddress", "textEncodedORAddress"],
  ["0.9.2342.19200300.100.1.3", "mail", "rfc822Mailbox"],
  ["0.9.2342.19200300.100.1.4", "info", "info"],
  ["0.9.2342.19200300.100.1.5", "favouriteDrink", "favouriteDrink"],
  ["0.9.2342.19200300.100.1.6", "roomNumber", "roomNumber"],
  ["0.9.2342.19200300.100.1.7", "photo", "photo"],
  ["0.9.2342.19200300.100.1.8", "userClass", "userClass"],
  ["0.9.2342.19200300.100.1.9", "host", "host"],
  ["0.9.2342.19200300.100.1.10", "manager", "manager"],
  ["0.9.2342.19200300.100.1.11", "documentIdentifier", "documentIdentifier"],
  ["0.9.2342.19200300.100.1.12", "documentTitle", "documentTitle"],
  ["0.9.2342.19200300.100.1.13", "documentVersion", "documentVersion"],
  ["0.9.2342.19200300.100.1.14", "documentAuthor", "documentAuthor"],
  ["0.9.2342.19200300.100.1.15", "documentLocation", "documentLocation"],
  ["0.9.2342.19200300.100.1.20", "homeTelephoneNumber", "homeTelephoneNumber"],
  ["0.9.2342.19200300.100.1.21", "secretary", "secretary"],
  ["0.9.2342.19200300.100.1.22", "otherMailbox", "otherMailbox"],
  ["0.9.2342.19200300.100.1.23", "lastModifiedTime", "lastModifiedTime"],
  ["0.9.2342.19200300.100.1.24", "lastModifiedBy", "lastModifiedBy"],
  ["0.9.2342.19200300.100.1.25", "DC", "domainComponent"],
  ["0.9.2342.19200300.100.1.26", "aRecord", "aRecord"],
  ["0.9.2342.19200300.100.1.27", "pilotAttributeType27", "pilotAttributeType27"],
  ["0.9.2342.19200300.100.1.28", "mXRecord", "mXRecord"],
  ["0.9.2342.19200300.100.1.29", "nSRecord", "nSRecord"],
  ["0.9.2342.19200300.100.1.30", "sOARecord", "sOARecord"],
  ["0.9.2342.19200300.100.1.31", "cNAMERecord", "cNAMERecord"],
  ["0.9.2342.19200300.100.1.37", "associatedDomain", "associatedDomain"],
  ["0.9.2342.19200300.100.1.38", "associatedName", "associatedName"],
  ["0.9.2342.19200300.100.1.39", "homePostalAddress", "homePostalAddress"],
  ["0.9.2342.19200300.100.1.40", "personalTitle", "personalTitle"],
  ["0.9.2342.19200300.100.1.41", "mobileTelephoneNumber", "mobileTelephoneNumber"],
  ["0.9.2342.19200300.100.1.42", "pagerTelephoneNumber", "pagerTelephoneNumber"],
  ["0.9.2342.19200300.100.1.43", "friendlyCountryName", "friendlyCountryName"],
  ["0.9.2342.19200300.100.1.44", "uid", "uniqueIdentifier"],
  ["0.9.2342.19200300.100.1.45", "organizationalStatus", "organizationalStatus"],
  ["0.9.2342.19200300.100.1.46", "janetMailbox", "janetMailbox"],
  ["0.9.2342.19200300.100.1.47", "mailPreferenceOption", "mailPreferenceOption"],
  ["0.9.2342.19200300.100.1.48", "buildingName", "buildingName"],
  ["0.9.2342.19200300.100.1.49", "dSAQuality", "dSAQuality"],
  ["0.9.2342.19200300.100.1.50", "singleLevelQuality", "singleLevelQuality"],
  ["0.9.2342.19200300.100.1.51", "subtreeMinimumQuality", "subtreeMinimumQuality"],
  ["0.9.2342.19200300.100.1.52", "subtreeMaximumQuality", "subtreeMaximumQuality"],
  ["0.9.2342.19200300.100.1.53", "personalSignature", "personalSignature"],
  ["0.9.2342.19200300.100.1.54", "dITRedirect", "dITRedirect"],
  ["0.9.2342.19200300.100.1.55", "audio", "audio"],
  ["0.9.2342.19200300.100.1.56", "documentPublisher", "documentPublisher"],
  ["1.2.840.113549.1.9.1", "emailAddress", "emailAddress"],
  ["1.2.840.113549.1.9.2", "unstructuredName", "unstructuredName"],
  ["1.2.840.113549.1.9.3", "contentType", "contentType"],
  ["1.2.840.113549.1.9.4", "messageDigest", "messageDigest"],
  ["1.2.840.113549.1.9.5", "signingTime", "signingTime"],
  ["1.2.840.113549.1.9.6", "countersignature", "countersignature"],
  ["1.2.840.113549.1.9.7", "challengePassword", "challengePassword"],
  ["1.2.840.113549.1.9.8", "unstructuredAddress", "unstructuredAddress"],
  ["1.2.840.113549.1.9.9", "extendedCertificateAttributes", "extendedCertificateAttributes"],
  ["1.2.840.113549.1.9.14", "extReq", "Extension Request"],
  ["1.2.840.113549.1.9.15", "SMIME-CAPS", "S/MIME Capabilities"],
  ["1.2.840.113549.1.9.16", "SMIME", "S/MIME"],
  ["1.2.840.113549.1.9.20", "friendlyName", "friendlyName"],
  ["1.2.840.113549.1.9.21", "localKeyID", "localKeyID"],
  ["1.3.6.1.4.1.311.60.2.1.1", "jurisdictionL", "jurisdictionLocalityName"],
  ["1.3.6.1.4.1.311.60.2.1.2", "jurisdictionST", "jurisdictionStateOrProvinceName"],
  ["1.3.6.1.4.1.311.60.2.1.3", "jurisdictionC", "jurisdictionCountryName"],
  ["2.5.4.3", "CN", "commonName"],
  ["2.5.4.4", "SN", "surname"],
  ["2.5.4.5", "serialNumber", "serialNumber"],
  ["2.5.4.6", "C", "countryName"],
  ["2.5.4.7", "L", "localityName"],
  ["2.5.4.8", "ST", "stateOrProvinceName"],
  ["2.5.4.9", "street", "streetAddress"],
  ["2.5.4.10", "O", "organizationName"],
  ["2.5.4.11", "OU", "organizationalUnitName"],
  ["2.5.4.12", "title", "title"],
  ["2.5.4.13", "description", "description"],
  ["2.5.4.14", "searchGuide", "searchGuide"],
  ["2.5.4.15", "businessCategory", "businessCategory"],
  ["2.5.4.16", "postalAddress", "postalAddress"],
  ["2.5.4.17", "postalCode", "postalCode"],
  ["2.5.4.18", "postOfficeBox", "postOfficeBox"],
  ["2.5.4.19", "physicalDeliveryOfficeName", "physicalDeliveryOfficeName"],
  ["2.5.4.20", "telephoneNumber", "telephoneNumber"],
  ["2.5.4.21", "telexNumber", "telexNumber"],
  ["2.5.4.22", "teletexTerminalIdentifier", "teletexTerminalIdentifier"],
  ["2.5.4.23", "facsimileTelephoneNumber", "facsimileTelephoneNumber"],
  ["2.5.4.24", "x121Address", "x121Address"],
  ["2.5.4.25", "internationaliSDNNumber", "internationaliSDNNumber"],
  ["2.5.4.26", "registeredAddress", "registeredAddress"],
  ["2.5.4.27", "destinationIndicator", "destinationIndicator"],
  ["2.5.4.28", "preferredDeliveryMethod", "preferredDeliveryMethod"],
  ["2.5.4.29", "presentationAddress", "presentationAddress"],
  ["2.5.4.30", "supportedApplicationContext", "supportedApplicationContext"],
  ["2.5.4.31", "member", "member"],
  ["2.5.4.32", "owner", "owner"],
  ["2.5.4.33", "roleOccupant", "roleOccupant"],
  ["2.5.4.34", "seeAlso", "seeAlso"],
  ["2.5.4.35", "userPassword", "userPassword"],
  ["2.5.4.36", "userCertificate", "userCertificate"],
  ["2.5.4.37", "cACertificate", "cACertificate"],
  ["2.5.4.38", "authorityRevocationList", "authorityRevocationList"],
  ["2.5.4.39", "certificateRevocationList", "certificateRevocationList"],
  ["2.5.4.40", "crossCertificatePair", "crossCertificatePair"],
  ["2.5.4.41", "name", "name"],
  ["2.5.4.42", "GN", "givenName"],
  ["2.5.4.43", "initials", "initials"],
  ["2.5.4.44", "generationQualifier", "generationQualifier"],
  ["2.5.4.45", "x500UniqueIdentifier", "x500UniqueIdentifier"],
  ["2.5.4.46", "dnQualifier", "dnQualifier"],
  ["2.5.4.47", "enhancedSearchGuide", "enhancedSearchGuide"],
  ["2.5.4.48", "protocolInformation", "protocolInformation"],
  ["2.5.4.49", "distinguishedName", "distinguishedName"],
  ["2.5.4.50", "uniqueMember", "uniqueMember"],
  ["2.5.4.51", "houseIdentifier", "houseIdentifier"],
  ["2.5.4.52", "supportedAlgorithms", "supportedAlgorithms"],
  ["2.5.4.53", "deltaRevocationList", "deltaRevocationList"],
  ["2.5.4.54", "dmdName", "dmdName"],
  ["2.5.4.65", "pseudonym", "pseudonym"],
  ["2.5.4.72", "role", "role"],
  ["2.5.4.97", "organizationIdentifier", "organizationIdentifier"],
  ["2.5.4.98", "c3", "countryCode3c"],
  ["2.5.4.99", "n3", "countryCode3n"],
  ["2.5.4.100", "dnsName", "dnsName"],
];

// Spellings other tools print that the table does not resolve, or resolves differently when matched
// case-insensitively: "uid" is userId (RFC 4514, LDAP), not OpenSSL's uniqueIdentifier; "E" and
// "Email" are what old OpenSSL and Windows print for emailAddress; "S" is Windows' stateOrProvinceName.
const ALIASES: Readonly<Record<string, string>> = {
  uid: "0.9.2342.19200300.100.1.1",
  e: "1.2.840.113549.1.9.1",
  email: "1.2.840.113549.1.9.1",
  s: "2.5.4.8",
};

const shortNames = new Map(NAME_ATTRIBUTE_TYPES.map(([oid, shortName]) => [oid, shortName]));

const oidsByName = (() => {
  const byName = new Map<string, string>();
  for (const [oid, shortName, longName] of NAME_ATTRIBUTE_TYPES) {
    for (const name of [shortName, longName]) {
      const key = name.toLowerCase();
      if (!byName.has(key)) byName.set(key, oid);
    }
  }
  for (const [name, oid] of Object.entries(ALIASES)) byName.set(name, oid);
  return byName;
})();

/** The name X509_NAME_oneline prints for an attribute type: its short name, else the dotted OID. */
export function attributeShortName(oid: string): string {
  return shortNames.get(oid) ?? oid;
}

/** OID for an attribute name typed by a person (case-insensitive; "OID.1.2.3" and "1.2.3" too). */
export function attributeOid(name: string): string | undefined {
  const dotted = /^(?:oid\.)?([0-2](?:\.(?:0|[1-9]\d*))+)$/i.exec(name);
  if (dotted) return dotted[1];
  return oidsByName.get(name.toLowerCase());
}

// VOMS attribute certificates (RFC 3281 ACs with the VOMS extensions), and the signature
// algorithms we verify them with.
export const VomsOid = {
  /** In a proxy: SEQUENCE OF SEQUENCE OF AttributeCertificate. */
  acSequence: "1.3.6.1.4.1.8005.100.100.5",
  /** AC attribute: IetfAttrSyntax, policyAuthority "vo://host:port", values = FQANs. */
  fqans: "1.3.6.1.4.1.8005.100.100.4",
  /** AC extension: SEQUENCE OF Certificate, the signing VOMS server's chain. */
  certs: "1.3.6.1.4.1.8005.100.100.10",
  /** AC extension: generic attributes (voms-proxy-fake -ga); informational only. */
  attributes: "1.3.6.1.4.1.8005.100.100.11",
  targetInformation: "2.5.29.55",
  noRevAvail: "2.5.29.56",
  authorityKeyIdentifier: "2.5.29.35",
} as const;

/** Signature algorithm OID → the digest and the key type it must be used with. */
export const SIGNATURE_ALGORITHMS: ReadonlyMap<string, { readonly hash: string; readonly keyType: "rsa" | "ec" }> = new Map([
  ["1.2.840.113549.1.1.5", { hash: "sha1", keyType: "rsa" }],
  ["1.2.840.113549.1.1.11", { hash: "sha256", keyType: "rsa" }],
  ["1.2.840.113549.1.1.12", { hash: "sha384", keyType: "rsa" }],
  ["1.2.840.113549.1.1.13", { hash: "sha512", keyType: "rsa" }],
  ["1.2.840.10045.4.1", { hash: "sha1", keyType: "ec" }],
  ["1.2.840.10045.4.3.2", { hash: "sha256", keyType: "ec" }],
  ["1.2.840.10045.4.3.3", { hash: "sha384", keyType: "ec" }],
  ["1.2.840.10045.4.3.4", { hash: "sha512", keyType: "ec" }],
] as const);
