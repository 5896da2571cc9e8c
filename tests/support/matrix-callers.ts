import { CALLER_KINDS, permissionOf, type Access, type CallerKind, type RootType } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, callerOf, type ApiKeyScope, type Caller, type StaffRole } from '../../src/auth/principal.js';

/** One caller of a kind of the permission matrix, as a service sees it, with the matrix's answer for the field. */
export interface MatrixCaller {
  kind: CallerKind;
  access: Access;
  caller: Caller;
}

const isScope = (kind: CallerKind): kind is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(kind);

/**
 * Every kind of caller of src/auth/permission-matrix.ts, built by the same
 * `callerOf` as a real request, with the cell of `field` for it: tests that call
 * a service directly check it against the matrix itself, not a copy of it.
 * `memberSelf` is a token of `members.owner` (whose data the test reads),
 * `memberOther` one of `members.stranger`.
 */
export function matrixCallers(type: RootType, field: string, members: { owner: string; stranger: string }): MatrixCaller[] {
  const row = permissionOf(type, field);
  if (!row) throw new Error(`the permission matrix has no row for ${type}.${field}`);
  return CALLER_KINDS.map((kind) => ({ kind, access: row.access[kind], caller: callerOf(principalOf(kind, members)) }));
}

function principalOf(kind: CallerKind, members: { owner: string; stranger: string }): Parameters<typeof callerOf>[0] {
  if (kind === 'anonymous') return { kind: 'anonymous' };
  if (kind === 'memberSelf') return { kind: 'member', memberId: members.owner };
  if (kind === 'memberOther') return { kind: 'member', memberId: members.stranger };
  if (isScope(kind)) return { kind: 'apiKey', apiKeyId: `key-${kind}`, name: `key ${kind}`, scopes: new Set([kind]) };
  const role: StaffRole = kind;
  return { kind: 'staff', staffId: `staff-${role.toLowerCase()}`, role };
}

/** A worker or the CLI acting on its own: no role, no scopes. */
export const systemCaller: Caller = callerOf({ kind: 'system', name: 'worker' });

/** Who reads members in the permission matrix (`member`, `node`, a member's tier): the kinds the matrix lets in, in its order. */
export const MEMBER_READER_KINDS = ['memberSelf', 'members:read', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];
