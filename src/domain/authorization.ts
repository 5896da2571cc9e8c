import type { ApiKeyScope, Caller, StaffRole } from '../auth/principal.js';
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

/**
 * Who may call a service: staff from a role up (an admin-scoped API key counts
 * as ADMIN), API keys carrying one of the scopes (or `admin`) — `'any'`: every
 * API key, whatever its scopes —, member tokens. A member passes only this
 * gate: the service itself then keeps them to their own data.
 */
export interface CallerRule {
  staff?: StaffRole;
  apiKeys?: readonly ApiKeyScope[] | 'any';
  members?: true;
}

/**
 * Who may call each service entry point. The services check it themselves
 * (`assertMayCall`), so a worker, the CLI or a new GraphQL field can never skip
 * it; the GraphQL fields use the same rule as their first filter (the `caller`
 * auth scope). `src/auth/permission-matrix.ts` states the same intent per
 * GraphQL field and caller kind, checked through real requests.
 */
export const SERVICE_CALLERS = {
  createApiKey: { staff: 'ADMIN' },
  /** An API key by `node(id)` (`readApiKey`), and the visibility of one wherever it is shown: admins only. */
  readApiKeys: { staff: 'ADMIN' },
  enrollMember: { staff: 'AGENT', apiKeys: ['members:write'] },
  /**
   * Reading a member (by id, by external id, `node(id)`; `me` and the live status' member: readMemberStatus,
   * readMember) and their orders: a member reads only themself. GraphQL shows a member, and what is theirs, by the
   * same rule (mayReadMember).
   */
  readMembers: { staff: 'AGENT', apiKeys: ['members:read'], members: true },
  /** Listing members (`members`): not for members, not even to find themselves. */
  listMembers: { staff: 'AGENT', apiKeys: ['members:read'] },
  updateMember: { staff: 'AGENT', apiKeys: ['members:write'], members: true },
  earnPoints: { staff: 'ADMIN', apiKeys: ['points:earn'] },
  redeemPoints: { staff: 'ADMIN', apiKeys: ['points:redeem'] },
  refundOrder: { staff: 'ADMIN', apiKeys: ['points:earn'] },
  cancelOrder: { staff: 'ADMIN', apiKeys: ['points:earn'] },
  returnOrderItems: { staff: 'ADMIN', apiKeys: ['points:earn'] },
  adjustPoints: { staff: 'ADMIN' },
  previewEarn: { staff: 'AGENT', apiKeys: ['points:earn'] },
  trackEvent: { staff: 'ADMIN', apiKeys: ['points:earn'] },
  manageEarningRules: { staff: 'ADMIN' },
  /** Earning rules (`earningRules`, an EarningRule by `node(id)`: `readEarningRule`). */
  readEarningRules: { staff: 'AGENT' },
  /** The program settings (`program`): storefronts show members the rules, members read them in their app. */
  readProgram: { staff: 'AGENT', apiKeys: ['members:read'], members: true },
  /** The settings' audit trail (`Program.changes`, a ProgramChange by `node(id)`: `readProgramChange`). */
  readProgramChanges: { staff: 'ADMIN' },
  /**
   * The program's internal policies (`Program.goodwill`, `Program.saveDesk`: `goodwillDefaultsFor`,
   * `saveDeskWeightsFor`): staff business. An agent's default authority tells a caller how large a gesture an agent
   * grants without asking, the weights how the business ranks members at risk; members and storefronts read the rest.
   */
  readProgramPolicies: { staff: 'AGENT' },
  /** The tiers (`tiers`): every caller with credentials. A member's standing in them is readMembers'. */
  readTiers: { staff: 'AGENT', apiKeys: 'any', members: true },
  updateProgram: { staff: 'ADMIN' },
  changeRewards: { staff: 'ADMIN' },
  /**
   * The rewards catalogue (`rewards`, a Reward by `node(id)`: `readReward`): staff, storefront keys that read members
   * or redeem points, and members, who buy rewards.
   */
  readRewards: { staff: 'AGENT', apiKeys: ['members:read', 'points:redeem'], members: true },
  redeemReward: { staff: 'ADMIN', apiKeys: ['points:redeem'], members: true },
  /** Looking a voucher up by code (`voucher`): a member finds only their own. */
  readVouchers: { staff: 'AGENT', apiKeys: ['vouchers:redeem', 'members:read'], members: true },
  validateVoucher: { staff: 'AGENT', apiKeys: ['vouchers:redeem', 'members:read'], members: true },
  redeemVoucher: { staff: 'ADMIN', apiKeys: ['vouchers:redeem'] },
  voidVoucher: { staff: 'AGENT' },
  reportServiceFailure: { staff: 'AGENT', apiKeys: ['failures:report'] },
  /** Listing service failures (`serviceFailures`); a member reads their own on their member. */
  readServiceFailures: { staff: 'AGENT' },
  reviewServiceFailure: { staff: 'SUPERVISOR' },
  reportServiceIncident: { staff: 'AGENT', apiKeys: ['failures:report'] },
  /** Service incidents (`serviceIncident(id)`, `serviceIncidents`, a ServiceIncident by `node(id)`: `serviceIncidentById`). */
  readServiceIncident: { staff: 'AGENT', apiKeys: ['failures:report'] },
  decideServiceIncident: { staff: 'SUPERVISOR' },
  recordServiceCase: { staff: 'AGENT', apiKeys: ['members:write'] },
  resolveServiceCase: { staff: 'AGENT', apiKeys: ['members:write'] },
  submitFeedback: { staff: 'AGENT', apiKeys: ['members:write'], members: true },
  /** Looking a contract up: a member finds only their own. */
  readContracts: { staff: 'AGENT', apiKeys: ['contracts:write', 'members:read'], members: true },
  registerContract: { staff: 'AGENT', apiKeys: ['contracts:write'] },
  extendContract: { staff: 'SUPERVISOR', apiKeys: ['contracts:write'] },
  cancelContract: { staff: 'SUPERVISOR', apiKeys: ['contracts:write'] },
  decideRenewalBonus: { staff: 'SUPERVISOR' },
  readAgentAuthority: { staff: 'AGENT' },
  setAgentAuthority: { staff: 'SUPERVISOR' },
  issueGoodwill: { staff: 'AGENT' },
  /** Listing goodwill gestures (`goodwillGestures`). */
  readGoodwill: { staff: 'AGENT' },
  decideGoodwill: { staff: 'SUPERVISOR' },
  loyaltyMetrics: { staff: 'SUPERVISOR' },
  atRiskMembers: { staff: 'AGENT' },
  manageWebhooks: { staff: 'ADMIN' },
  watchMemberStatus: { staff: 'AGENT', apiKeys: ['members:read'], members: true },
  watchApprovalQueue: { staff: 'SUPERVISOR' },
  /** The read-only queue dashboard at /admin/queues (src/http/queue-board.ts). */
  viewQueueBoard: { staff: 'ADMIN' },
} as const satisfies Record<string, CallerRule>;

export type GuardedService = keyof typeof SERVICE_CALLERS;

/** Whether the caller passes a rule. */
export function mayCall(caller: Caller, rule: CallerRule): boolean {
  if (rule.staff && hasRole(caller, rule.staff)) return true;
  const scopes = caller.scopes;
  // Every API key caller has its scopes (callerOf), none of the others.
  if (rule.apiKeys && scopes && (rule.apiKeys === 'any' || rule.apiKeys.some((scope) => scopes.has(scope)))) return true;
  return rule.members === true && caller.actor.type === 'MEMBER';
}

function describeRule(rule: CallerRule): string {
  const who: string[] = [];
  if (rule.staff) who.push(rule.staff === 'ADMIN' ? 'admins' : `${rule.staff.toLowerCase()}s and above`);
  if (rule.apiKeys) who.push(rule.apiKeys === 'any' ? 'API keys' : `API keys with ${rule.apiKeys.join(' or ')}`);
  if (rule.members) who.push('members');
  return who.join(', ');
}

/** Refuses (ForbiddenError) a caller the service's rule in SERVICE_CALLERS does not let in; nothing is written. */
export function assertMayCall(caller: Caller, service: GuardedService): void {
  assertMayCallRule(caller, SERVICE_CALLERS[service], service);
}

/**
 * `assertMayCall` for a rule that is no entry of SERVICE_CALLERS (a read by a GraphQL type's visibility rule, say):
 * `what` names what the rule guards, and the refusal lists who may, from the rule itself.
 */
function assertMayCallRule(caller: Caller, rule: CallerRule, what: string): void {
  if (!mayCall(caller, rule)) throw new ForbiddenError(`${what} is for ${describeRule(rule)} only`);
}

/**
 * The `where` that keeps a read of rows members own (their entries, orders, vouchers, contracts, cases…) to what
 * `rule` lets the caller see: a caller outside it is refused (ForbiddenError, `what` naming the read) before anything
 * is read; a member token, whom a rule lets in with `members`, finds only their own rows (another member's row is not
 * returned, as one nobody has); the others, any member's.
 */
export function ownRowsWhere(caller: Caller, rule: CallerRule, what: string): { memberId?: string } {
  assertMayCallRule(caller, rule, what);
  return caller.actor.type === 'MEMBER' ? { memberId: caller.actor.id } : {};
}

/** `ownRowsWhere`'s rule for a row at hand (GraphQL's visibility of it): whether the caller may see a row of `memberId`. */
export function mayReadOwnRow(caller: Caller, rule: CallerRule, memberId: string): boolean {
  return mayCall(caller, rule) && !(caller.actor.type === 'MEMBER' && caller.actor.id !== memberId);
}
