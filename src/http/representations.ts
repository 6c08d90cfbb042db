// The JSON shapes of the original API (reference §2.2), built from catalog views.
import type { UserView } from "../catalog/users.js";
import type { GroupView } from "../catalog/groups.js";
import type { ImageView, VersionView } from "../catalog/images.js";
import type { AuditEvent } from "../catalog/audit.js";
import type { ListDocument, ListView } from "../catalog/image-lists.js";
import { readCertificate } from "../x509/certificate.js";
import { nameToOneline } from "../x509/dn.js";
import type { Signer } from "../x509/smime.js";
import { groupUrl, rawUrl, rawUrlTemplate, userUrl, type UrlContext } from "./urls.js";

export function userJson(u: UrlContext, v: UserView, images: string[] = []) {
  return {
    user_name: v.userName,
    full_name: v.fullName,
    email: v.email,
    client_dn: v.clientDn,
    suspended: v.suspended,
    permissions: v.permissions,
    groups: v.groups.map((g) => groupUrl(u, g)),
    images,
    // Added keys (the original client prints only its own): quota in bytes, 0 = unlimited.
    quota: v.quotaBytes,
    created: v.created,
  };
}

export function groupJson(u: UrlContext, v: GroupView) {
  return {
    name: v.name,
    permissions: v.permissions,
    users: v.users.map((name) => userUrl(u, name)),
    protected: v.protected,
  };
}

// The original printed timestamps as C ctime() strings of UTC time, e.g. "Thu Nov 11 00:04:59 2010".
const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
export function ctime(iso: string): string {
  const d = new Date(iso);
  const p2 = (n: number) => String(n).padStart(2, "0");
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

const time = (u: UrlContext, iso: string | null) => (iso === null ? null : u.isoTimes ? iso : ctime(iso));
const sha256 = (value: string | undefined) => (value === undefined ? { type: null, value: null } : { type: "sha256", value });

export function imageJson(u: UrlContext, v: ImageView) {
  // size and checksum describe the most recent upload, as the original's did; `files` has each.
  const latest = [...v.files].sort((a, b) => b.uploaded.localeCompare(a.uploaded))[0];
  return {
    uuid: v.id,
    name: v.name,
    owner_user_name: v.ownerName,
    owner: userUrl(u, v.ownerName),
    uploaded: time(u, v.uploaded),
    modified: time(u, v.modified),
    expires: time(u, v.expires),
    checksum: sha256(latest?.sha256),
    os_variant: v.osVariant,
    os_type: v.osType,
    os_arch: v.osArch,
    hypervisor: v.hypervisors.join(","),
    description: v.description,
    read_only: v.readOnly,
    unauthenticated_access: v.public,
    http_file_url: v.public ? rawUrlTemplate(u.publicHttpBase ?? u.base, v.ownerName, v.name) : null,
    raw_file_uploaded: v.files.length > 0,
    version: v.version,
    size: latest?.size ?? null,
    file_url: rawUrlTemplate(u.base, v.ownerName, v.name),
    shared_with: { groups: v.sharedWithGroups.map((g) => groupUrl(u, g)), users: v.sharedWithUsers.map((n) => userUrl(u, n)) },
    // Added keys.
    created: time(u, v.created),
    files: Object.fromEntries(v.files.map((f) => [f.hypervisor, { size: f.size, checksum: sha256(f.sha256), uploaded: time(u, f.uploaded), version: f.version, format: f.format, virtual_size: f.virtualSize }])),
    keep_versions: v.keepVersions,
    // Of the most recent upload, as size is.
    format: latest?.format ?? null,
    virtual_size: latest?.virtualSize ?? null,
  };
}

export function versionJson(u: UrlContext, image: ImageView, v: VersionView) {
  return {
    hypervisor: v.hypervisor,
    version: v.version,
    current: v.current,
    size: v.size,
    checksum: sha256(v.sha256),
    uploaded: time(u, v.uploaded),
    uploader: v.uploader,
    comment: v.comment,
    restored_from: v.restoredFrom,
    format: v.format,
    virtual_size: v.virtualSize,
    // Pinned URLs: the version by number, and its bytes by digest (valid for as long as it is kept).
    file_url: `${rawUrl(u.base, image.ownerName, v.hypervisor, image.name)}?version=${v.version}`,
    digest_url: `${rawUrl(u.base, image.ownerName, v.hypervisor, image.name)}@sha256:${v.sha256}`,
  };
}

export const auditEventJson = (e: AuditEvent) => ({
  id: e.id,
  time: e.time,
  user: e.actor,
  dn: e.dn,
  remote: e.remote,
  request_id: e.requestId,
  action: e.action,
  target: e.target,
  before: e.before,
  after: e.after,
});

export const listJson = (u: UrlContext, v: ListView) => ({
  owner: v.ownerName,
  name: v.name,
  identifier: v.identifier,
  title: v.title,
  description: v.description,
  group: v.group,
  expires: v.expires,
  version: v.version,
  signed: v.signedAt,
  created: v.created,
  modified: v.modified,
  url: `${u.base}/api/lists/${v.ownerName}/${v.name}/image.list`,
  json_url: `${u.base}/api/lists/${v.ownerName}/${v.name}/image.json`,
  images: v.entries.map((e) => ({
    image: e.image,
    hypervisor: e.hypervisor,
    pinned: e.pinned,
    ...("omitted" in e.listed ? { omitted: e.listed.omitted } : { version: e.listed.version, size: e.listed.size, sha512: e.listed.sha512 }),
  })),
});

// Seconds only: the HEPiX tools read dates as %Y-%m-%dT%H:%M:%SZ.
const hepixDate = (iso: string) => new Date(iso).toISOString().replace(/\.\d+Z$/, "Z");

// A HEPiX image list (the fields hepixvmitrust requires of lists, endorsers and images). The
// endorser is who signs it — subscribers check that the signer is the list's hv:dn and hv:ca —
// and dc:creator is who published it here.
export function imageListDocument(u: UrlContext, d: ListDocument, signer: Signer) {
  const signerCert = readCertificate(signer.chain[0]!);
  return {
    "hv:imagelist": {
      "dc:identifier": d.list.identifier,
      "dc:title": d.list.title,
      "dc:description": d.list.description || d.list.title,
      "dc:source": `${u.base}/`,
      "dc:date:created": hepixDate(d.list.signedAt ?? d.list.modified),
      "dc:date:expires": hepixDate(d.list.expires),
      "hv:version": String(d.list.version),
      "hv:uri": `${u.base}/api/lists/${d.list.ownerName}/${d.list.name}/image.list`,
      "hv:endorser": { "hv:x509": { "hv:dn": nameToOneline(signerCert.subject.der), "hv:ca": nameToOneline(signerCert.issuer.der), "hv:email": d.publisher.email ?? "", "dc:creator": d.publisher.dn } },
      "hv:images": d.images.map((i) => ({
        "hv:image": {
          "dc:identifier": i.identifier,
          "dc:title": i.image.name,
          "dc:description": i.image.description || i.image.name,
          "hv:version": String(i.version),
          "hv:hypervisor": i.entry.hypervisor,
          "hv:size": i.size,
          // Glance's disk_format names, which subscribers such as atrope hand to OpenStack; left
          // out for files uploaded before formats were detected.
          ...(i.format !== null ? { "hv:format": i.format } : {}),
          "sl:checksum:sha512": i.sha512,
          "sl:os": i.image.osType ?? "",
          "sl:osversion": i.image.osVariant ?? "",
          "sl:arch": i.image.osArch ?? "",
          "sl:comments": i.comment ?? "",
          "hv:uri": `${rawUrl(u.publicHttpBase ?? u.base, i.image.ownerName, i.entry.hypervisor, i.image.name)}?version=${i.version}`,
        },
      })),
    },
  };
}
