import type { Caller, StaffRole } from '../auth/principal.js';
import { ForbiddenError } from './errors.js';

const ROLE_RANK: Record<StaffRole, number> = { AGENT: 1, SUPERVISOR: 2, ADMIN: 3 };

/** Whether the caller acts as staff of at least `role` (an admin-scoped API key counts as ADMIN). */
export function hasRole(caller: Caller, role: StaffRole): boolean {
  const own = caller.role ?? (caller.isAdmin ? 'ADMIN' : undefined);
  return own !== undefined && ROLE_RANK[own] >= ROLE_RANK[role];
}

/** Refuses (ForbiddenError) a caller below `role`: the service's own check, whatever the GraphQL scope said. */
export function assertRole(caller: Caller, role: StaffRole, action: string): void {
  if (!hasRole(caller, role)) throw new ForbiddenError(`Only ${role.toLowerCase()}s and above may ${action}`);
}
