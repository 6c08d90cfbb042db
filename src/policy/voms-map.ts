// The operator's map from VOMS FQANs to Repoman groups (--voms-map "PATTERN GROUP").
// A pattern is a group path, optionally ending in "/*" (that group and every subgroup), optionally
// followed by "/Role=NAME" or "/Role=*":
//   /atlas                    members of /atlas without a role
//   /atlas/*                  members of /atlas or any subgroup, without a role
//   /atlas/Role=production    /atlas with the production role
//   /atlas/*/Role=*           anyone in the VO, with any role or none
// Every mapping that matches one of the user's FQANs applies: groups add up, as memberships do,
// so neither file order nor specificity can take a group away.
import { GROUP_NAME } from "../catalog/names.js";
import { ADMINS_GROUP } from "./permissions.js";

export interface VomsMapping {
  readonly pattern: string;
  readonly group: string;
  readonly groupPath: string;
  readonly subgroups: boolean;
  /** undefined: the FQAN must have no role; "*": any role or none. */
  readonly role: string | undefined;
}

export class VomsMapError extends Error {}

const SEGMENT = /^[A-Za-z0-9._-]+$/;

export function parseVomsMapping(line: string): VomsMapping {
  const m = /^\s*(\S+)\s+(\S+)\s*$/.exec(line);
  if (!m) throw new VomsMapError(`voms-map: expected "FQAN GROUP", got ${JSON.stringify(line)}`);
  const [, pattern, group] = m as unknown as [string, string, string];
  if (!GROUP_NAME.test(group)) throw new VomsMapError(`voms-map: "${group}" is not a group name`);
  // VO managers would decide who administers the repository
  if (group === ADMINS_GROUP) throw new VomsMapError(`voms-map: the ${ADMINS_GROUP} group cannot be given by VOMS`);
  const parts = pattern.split("/");
  if (parts[0] !== "" || parts.length < 2) throw new VomsMapError(`voms-map: "${pattern}" must start with /VO`);
  let segments = parts.slice(1);
  let role: string | undefined;
  const last = segments[segments.length - 1]!;
  if (last.startsWith("Role=")) {
    role = last.slice("Role=".length);
    if (role !== "*" && !SEGMENT.test(role)) throw new VomsMapError(`voms-map: bad role in "${pattern}"`);
    if (role === "NULL") role = undefined;
    segments = segments.slice(0, -1);
  }
  const subgroups = segments[segments.length - 1] === "*";
  if (subgroups) segments = segments.slice(0, -1);
  if (segments.length === 0 || !segments.every((s) => SEGMENT.test(s) && !s.includes("="))) {
    throw new VomsMapError(`voms-map: "${pattern}" is not /VO[/GROUP...][/*][/Role=ROLE|/Role=*]`);
  }
  return { pattern, group, groupPath: `/${segments.join("/")}`, subgroups, role };
}

function splitFqan(fqan: string): { group: string; role: string | undefined } {
  const parts = fqan.split("/");
  const roleAt = parts.findIndex((p) => p.startsWith("Role="));
  if (roleAt === -1) return { group: fqan.replace(/\/Capability=[^/]*$/, ""), role: undefined };
  const role = parts[roleAt]!.slice("Role=".length);
  return { group: parts.slice(0, roleAt).join("/"), role: role === "NULL" ? undefined : role };
}

export function mappingMatches(m: VomsMapping, fqan: string): boolean {
  const { group, role } = splitFqan(fqan);
  const groupOk = group === m.groupPath || (m.subgroups && group.startsWith(`${m.groupPath}/`));
  const roleOk = m.role === "*" || m.role === role;
  return groupOk && roleOk;
}

/** The groups the FQANs map to, each once, in map order. */
export function groupsForFqans(map: readonly VomsMapping[], fqans: readonly string[]): string[] {
  const groups = new Set<string>();
  for (const m of map) if (fqans.some((f) => mappingMatches(m, f))) groups.add(m.group);
  return [...groups];
}
