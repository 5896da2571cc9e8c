import type { Caller, StaffRole } from '../auth/principal.js';
import { ForbiddenError } from './errors.js';

/** The one order of staff roles: each may do what the ones below it may. */
const ROLE_RANK: Record<StaffRole, number> = { AGENT: 1, SUPERVISOR: 2, ADMIN: 3 };

/** Whether a role (possibly none) is at least `role`. */
export function roleAtLeast(own: StaffRole | undefined, role: StaffRole): boolean {
  return own !== undefined && ROLE_RANK[own] >= ROLE_RANK[role];
}

/** Whether the caller acts as staff of at least `role` (an admin-scoped API key counts as ADMIN). */
export function hasRole(caller: Caller, role: StaffRole): boolean {
  return roleAtLeast(caller.role, role);
}

/**
 * Refuses (ForbiddenError) a caller below `role`: the service's own check,
 * whatever the GraphQL scope said. Returns the caller's role.
 */
export function assertRole(caller: Caller, role: StaffRole, action: string): StaffRole {
  if (!caller.role || !roleAtLeast(caller.role, role)) {
    const who = role === 'ADMIN' ? 'admins' : `${role.toLowerCase()}s and above`;
    throw new ForbiddenError(`Only ${who} may ${action}`);
  }
  return caller.role;
}
