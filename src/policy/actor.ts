// Who is asking: a registered, non-suspended user, with what their groups grant them.
import type { Permission } from "./permissions.js";

export interface ActorGroup {
  id: string;
  name: string;
  permissions: ReadonlySet<Permission>;
  // Given for this request by the user's VOMS attributes (--voms-map), not a stored membership.
  viaVoms?: boolean;
}

export interface Actor {
  userId: string;
  userName: string;
  groups: readonly ActorGroup[];
  permissions: ReadonlySet<Permission>;
  isAdmin: boolean;
  // Authenticated with a limited proxy: may read, never change anything.
  readOnly: boolean;
  // The valid VOMS FQANs of this request and the groups they mapped to (also in `groups`).
  voms?: { fqans: readonly string[]; groups: readonly string[] } | undefined;
  // Where the request came from, for the audit log; absent outside HTTP requests.
  origin?: Origin;
}

export interface Origin {
  dn: string; // the certificate identity
  remote: string; // the client's address
  requestId: string; // the id of the request's log line
}
