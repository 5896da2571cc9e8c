/** Who is calling. Resolved once per request from `Authorization: Bearer <token>`. */
export type StaffRole = 'AGENT' | 'SUPERVISOR' | 'ADMIN';

/** Scopes an API key can carry. `admin` lets a key do everything an ADMIN may. */
export const API_KEY_SCOPES = [
  'members:read',
  'members:write',
  'points:earn',
  'points:redeem',
  'vouchers:redeem',
  'failures:report',
  'contracts:write',
  'admin',
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export type Principal =
  | { kind: 'anonymous' }
  | { kind: 'apiKey'; apiKeyId: string; name: string; scopes: ReadonlySet<ApiKeyScope> }
  | { kind: 'staff'; staffId: string; role: StaffRole }
  | { kind: 'member'; memberId: string }
  | { kind: 'system'; name: string };

/** The actor recorded on ledger entries and audit rows. */
export interface Actor {
  type: 'API_KEY' | 'STAFF' | 'MEMBER' | 'SYSTEM';
  id: string;
}

export function actorOf(principal: Principal): Actor {
  switch (principal.kind) {
    case 'apiKey':
      return { type: 'API_KEY', id: principal.apiKeyId };
    case 'staff':
      return { type: 'STAFF', id: principal.staffId };
    case 'member':
      return { type: 'MEMBER', id: principal.memberId };
    case 'system':
      return { type: 'SYSTEM', id: principal.name };
    case 'anonymous':
      return { type: 'SYSTEM', id: 'anonymous' };
  }
}

export const SYSTEM_ACTOR: Actor = { type: 'SYSTEM', id: 'treue' };

/**
 * One caller as a key of its own, for limits per caller (live streams): each member, staff member and API key on
 * its own (`member:<id>`, `staff:<id>`, `apiKey:<id>`); the kind for the others.
 */
export function callerKeyOf(principal: Principal): string {
  switch (principal.kind) {
    case 'member':
      return `member:${principal.memberId}`;
    case 'staff':
      return `staff:${principal.staffId}`;
    case 'apiKey':
      return `apiKey:${principal.apiKeyId}`;
    default:
      return principal.kind;
  }
}

/** The staff role a principal acts with: staff their own, an API key with the `admin` scope ADMIN, anyone else none. */
export function roleOf(principal: Principal): StaffRole | undefined {
  if (principal.kind === 'staff') return principal.role;
  // An API key with the admin scope acts as an ADMIN (first-run setup, automation).
  if (principal.kind === 'apiKey' && principal.scopes.has('admin')) return 'ADMIN';
  return undefined;
}

/**
 * What a domain service needs to know of its caller, built once per request
 * (`callerOf`). Services decide permissions on it themselves (`assertRole` in
 * src/domain/authorization.ts), never relying on a GraphQL scope alone.
 */
export interface Caller {
  actor: Actor;
  /** The staff role this caller acts with (an admin-scoped API key: ADMIN); absent for members, other keys and the system. */
  role?: StaffRole;
  /** An API key's scopes; absent for everyone else. */
  scopes?: ReadonlySet<ApiKeyScope>;
}

/** A caller as the rows that record who did something name them, and as an idempotency key's owner: `STAFF:alice`. */
export const callerText = (caller: Caller): string => `${caller.actor.type}:${caller.actor.id}`;

export const callerOf = (principal: Principal): Caller => {
  const role = roleOf(principal);
  return {
    actor: actorOf(principal),
    ...(role ? { role } : {}),
    ...(principal.kind === 'apiKey' ? { scopes: principal.scopes } : {}),
  };
};
