import { callerOf, type ApiKeyScope, type Caller, type StaffRole } from '../../src/auth/principal.js';

/**
 * Callers for tests that call services directly, built by the same `callerOf`
 * as a real request, so a test caller has exactly the shape the API gives.
 */
export const apiKeyCaller = (apiKeyId: string, scopes: readonly ApiKeyScope[]): Caller =>
  callerOf({ kind: 'apiKey', apiKeyId, name: apiKeyId, scopes: new Set(scopes) });

export const staffCaller = (role: StaffRole, staffId = `staff-${role.toLowerCase()}`): Caller => callerOf({ kind: 'staff', staffId, role });

export const memberCaller = (memberId: string): Caller => callerOf({ kind: 'member', memberId });

/** What a web shop's key carries: everything but `admin`. */
export const STOREFRONT_SCOPES: readonly ApiKeyScope[] = [
  'members:read',
  'members:write',
  'points:earn',
  'points:redeem',
  'vouchers:redeem',
  'failures:report',
];
