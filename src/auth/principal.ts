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

/** ADMIN staff, or an API key with the `admin` scope. */
export function isAdmin(principal: Principal): boolean {
  return (
    (principal.kind === 'staff' && principal.role === 'ADMIN') ||
    (principal.kind === 'apiKey' && principal.scopes.has('admin'))
  );
}

/** What a domain service needs to know of its caller. */
export interface Caller {
  actor: Actor;
  isAdmin: boolean;
}

export const callerOf = (principal: Principal): Caller => ({ actor: actorOf(principal), isAdmin: isAdmin(principal) });
