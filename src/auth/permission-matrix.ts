import { API_KEY_SCOPES } from './principal.js';

/**
 * Who may call what: every root field of the GraphQL schema (and `node`) × every
 * kind of caller. This table is the intent; `tests/permissions/permission-matrix.test.ts`
 * checks every cell through real requests and fails when a root field has no row,
 * and `npm run permissions:doc` prints it as `docs/permissions.md`.
 *
 * Callers: no token; a member token acting on its own data (`memberSelf`) or
 * aiming at another member's (`memberOther`); an API key carrying exactly one
 * scope; a staff token of each role.
 *
 * Cells:
 * - `allow`: the call succeeds (a mutation really does what it says).
 * - `deny`: ForbiddenError / UnauthenticatedError (or null for a read), nothing
 *   written. A member aiming at another member is answered exactly as if that
 *   member, voucher or contract did not exist.
 * - `own`: allowed on the caller's own data only (a member's own member, vouchers,
 *   contracts, rewards and feedback; an agent's own goodwill authority); another's
 *   is denied without revealing whether it exists.
 */
export type Access = 'allow' | 'deny' | 'own';

export const CALLER_KINDS = ['anonymous', 'memberSelf', 'memberOther', ...API_KEY_SCOPES, 'AGENT', 'SUPERVISOR', 'ADMIN'] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** How the table names a caller kind to readers. */
export const CALLER_KIND_LABELS: Record<CallerKind, string> = {
  anonymous: 'anonymous',
  memberSelf: 'member (self)',
  memberOther: 'member (other)',
  'members:read': 'key `members:read`',
  'members:write': 'key `members:write`',
  'points:earn': 'key `points:earn`',
  'points:redeem': 'key `points:redeem`',
  'vouchers:redeem': 'key `vouchers:redeem`',
  'failures:report': 'key `failures:report`',
  'contracts:write': 'key `contracts:write`',
  admin: 'key `admin`',
  AGENT: 'AGENT',
  SUPERVISOR: 'SUPERVISOR',
  ADMIN: 'ADMIN',
};

/**
 * One row in CALLER_KINDS order. A tuple, so that a missing or extra cell is a
 * type error; `memberOther` is never `own` (it is the other side of `own`).
 */
type Cells = readonly [
  anonymous: Access,
  memberSelf: Access,
  memberOther: 'allow' | 'deny',
  membersRead: Access,
  membersWrite: Access,
  pointsEarn: Access,
  pointsRedeem: Access,
  vouchersRedeem: Access,
  failuresReport: Access,
  contractsWrite: Access,
  adminKey: Access,
  agent: Access,
  supervisor: Access,
  admin: Access,
];

export interface PermissionRow {
  readonly access: Readonly<Record<CallerKind, Access>>;
  readonly note?: string;
}

export type RootType = 'Query' | 'Mutation' | 'Subscription';

function row(cells: Cells, note?: string): PermissionRow {
  const access = Object.fromEntries(CALLER_KINDS.map((kind, i) => [kind, cells[i]])) as Record<CallerKind, Access>;
  return note === undefined ? { access } : { access, note };
}

// Short names keep the table readable as a table.
const ok = 'allow';
const __ = 'deny';
const own = 'own';

// prettier-ignore
export const PERMISSION_MATRIX: Readonly<Record<RootType, Readonly<Record<string, PermissionRow>>>> = {
  //                          anon mSelf mOther m:read m:write p:earn p:redeem v:redeem f:report c:write admin AGENT SUPER ADMIN
  Query: {
    apiKeys:               row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Never shows a secret or its hash.'),
    agentAuthority:        row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   own,  ok,   ok], 'Agents read their own authority; supervisors and admins anyone’s.'),
    atRiskMembers:         row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Each result carries the caller’s own goodwill authority.'),
    contractByExternalRef: row([__, own, __,    ok,    __,     __,    __,      __,      __,      ok,     ok,   ok,   ok,   ok]),
    earningRules:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Staff read the rules (agents explain points with them); only admins change them.'),
    goodwillGestures:      row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
    heldRenewalBonuses:    row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'The approval queue’s held renewal bonuses: those who decide them (decideRenewalBonus), not agents or storefront keys.'),
    loyaltyMetrics:        row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Whole-program figures: supervisors and above, not agents or storefronts.'),
    me:                    row([__, own, __,    __,    __,     __,    __,      __,      __,      __,     __,   __,   __,   __], 'Member tokens only; always the caller’s own member.'),
    member:                row([__, own, __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
    order:                 row([__, own, __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'A member reads their own orders; another member’s order reads as none.'),
    memberByExternalId:    row([__, own, __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
    members:               row([__, __,  __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
    node:                  row([__, own, __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'The rules of the object’s type apply; this row is for a Member id. A service case and feedback read as their member does: by this row’s callers (not `members:write` keys, which record them). A service failure: staff, its member, and a `failures:report` key only the failures it reported (another’s is null, as an unknown id). A service incident: staff, and a `failures:report` key only the incidents it reported (another’s is null, as an unknown id).'),
    previewEarn:           row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Writes nothing; an explicit amount of points only for admins.'),
    program:               row([__, ok,  ok,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'The audit trail `changes` inside is for admins only; the internal policies `goodwill` and `saveDesk` for staff and admin keys.'),
    rewards:               row([__, ok,  ok,    ok,    __,     __,    ok,      __,      __,      __,     ok,   ok,   ok,   ok], 'Retired rewards only for admins.'),
    serviceFailures:       row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
    serviceIncident:       row([__, __,  __,    __,    __,     __,    __,      __,      ok,      __,     ok,   ok,   ok,   ok], 'Progress counted from its members and failures. A `failures:report` key reads only the incidents it reported: another key’s or a staff member’s is null, as an unknown id.'),
    serviceIncidents:      row([__, __,  __,    __,    __,     __,    __,      __,      ok,      __,     ok,   ok,   ok,   ok], 'Newest first, each with its progress; the service decides who may list (the rule of serviceIncident: a `failures:report` key lists only the incidents it reported).'),
    tiers:                 row([__, ok,  ok,    ok,    ok,     ok,    ok,      ok,      ok,      ok,     ok,   ok,   ok,   ok], 'Any authenticated caller.'),
    validateVoucher:       row([__, own, __,    ok,    __,     __,    __,      ok,      __,      __,     ok,   ok,   ok,   ok], 'Another member’s code reads as NOT_FOUND to a member.'),
    voucher:               row([__, own, __,    ok,    __,     __,    __,      ok,      __,      __,     ok,   ok,   ok,   ok]),
    webhookDeliveries:     row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Attempts, response codes and timings; never a secret.'),
    webhookEndpoints:      row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Never shows a secret.'),
  },
  Mutation: {
    adjustPoints:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    approveGoodwill:       row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Never the agent who issued the gesture.'),
    cancelContract:        row([__, __,  __,    __,    __,     __,    __,      __,      __,      ok,     ok,   __,   ok,   ok], 'It can take renewal bonuses back, so not agents.'),
    revokeApiKey:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Every API process refuses the key within a second.'),
    createApiKey:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'The token is shown once, here; a retry with the same idempotency key answers the key without it.'),
    createWebhookEndpoint: row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'The secret is shown once, here; a retry with the same idempotency key answers the endpoint without it.'),
    deleteWebhookEndpoint: row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    createEarningRule:     row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Validated as a whole; every version kept.'),
    createReward:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    decideRenewalBonus:    row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Only a held bonus: the member suspended, or past the balance limit.'),
    decideServiceIncident: row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'One decision on everything held over the incident budget.'),
    earnPoints:            row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   __,   __,   ok], 'An explicit amount of points: admins only.'),
    enrollMember:          row([__, __,  __,    __,    ok,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'The payload’s `member` shows only to callers who may read members, as every payload’s: a `members:write` key alone gets `FORBIDDEN` on it (the member is enrolled); it selects `__typename` and `memberId`, the enrolled member’s global id, shown to every caller that may enrol (a taken external id or e-mail is `AlreadyExistsError` naming the field, no id).'),
    extendContract:        row([__, __,  __,    __,    __,     __,    __,      __,      __,      ok,     ok,   __,   ok,   ok], 'Only a contract up for renewal, once per term; not agents (docs/domain-rules.md).'),
    issueGoodwill:         row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Above the agent’s authority it waits for a supervisor.'),
    recordServiceCase:     row([__, __,  __,    __,    ok,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'The payload’s `serviceCase` shows to the caller that recorded it, a `members:write` key too (its id and what it sent); its `member` and `feedback` only to callers who may read members: `FORBIDDEN` for a `members:write` key alone (the case is recorded).'),
    redeemPoints:          row([__, __,  __,    __,    __,     __,    ok,      __,      __,      __,     ok,   __,   __,   ok]),
    redeemReward:          row([__, own, __,    __,    __,     __,    ok,      __,      __,      __,     ok,   __,   __,   ok]),
    redeemVoucher:         row([__, __,  __,    __,    __,     __,    __,      ok,      __,      __,     ok,   __,   __,   ok]),
    cancelOrder:           row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Once per order; gives back redeemed points and vouchers.'),
    returnOrderItems:      row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   __,   __,   ok], 'Never more than is left of the order.'),
    refundOrder:           row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    registerContract:      row([__, __,  __,    __,    __,     __,    __,      __,      __,      ok,     ok,   ok,   ok,   ok]),
    rejectGoodwill:        row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Never the agent who issued the gesture.'),
    reportServiceFailure:  row([__, __,  __,    __,    __,     __,    __,      __,      ok,      __,     ok,   ok,   ok,   ok], 'A `failures:report` key reads the failure it reported (its id, what it sent, the status; not `member`); a duplicate of another caller’s failure answers `duplicate` true and `failure` null.'),
    reportServiceIncident: row([__, __,  __,    __,    __,     __,    __,      __,      ok,      __,     ok,   ok,   ok,   ok], 'At most 1 000 members per page; later pages name the incident. A `failures:report` key adds pages only to the incidents it reported (another’s is `NotFoundError`, nothing written). An idempotency key is the caller’s own: another caller’s same key records its own page.'),
    resolveServiceCase:    row([__, __,  __,    __,    ok,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'As recordServiceCase: the resolved case shows to the caller that resolved it; its `member` and `feedback` (other answers, their comments) only to callers who may read members. A `members:write` key alone resolving a case it did not record (by `externalRef`, say) sees its `id`, `resolvedAt` and `resolvedOnFirstContact` (that only when it sent it or `contacts`); the recording (`category`, `channel`, `contacts`, `externalRef`, the times) is `FORBIDDEN` for it (the case is resolved), and its validation errors do not tell it.'),
    replayWebhookDeliveries: row([__, __, __,   __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    replayWebhookDelivery: row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    retireEarningRule:     row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'It stops applying at once; it and its history stay.'),
    retireReward:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    reviewServiceFailure:  row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok]),
    setAgentAuthority:     row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Supervisors not their own.'),
    submitFeedback:        row([__, own, __,    __,    ok,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'The payload’s `feedback` shows to the caller that gave it, a `members:write` key too (its id and what it sent); its `member` and `serviceCase` only to callers who may read members: `FORBIDDEN` for a `members:write` key alone (`serviceCase` null; the feedback is recorded).'),
    trackEvent:            row([__, __,  __,    __,    __,     ok,    __,      __,      __,      __,     ok,   __,   __,   ok], 'The storefront reports events as it earns points; members cannot grant themselves points.'),
    updateEarningRule:     row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'The next version; a retired rule cannot change.'),
    updateMember:          row([__, own, __,    __,    ok,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Members change their own name and locale (not e-mail: no answer may tell a taken address); a status only SUPERVISOR and above.'),
    updateProgram:         row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    updateWebhookEndpoint: row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'A rotated secret is shown once, here.'),
    updateReward:          row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok]),
    voidVoucher:           row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok]),
  },
  Subscription: {
    approvalQueueChanged:  row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   ok,   ok], 'Over SSE. Ids of what changed in the approval queue, from any API process or worker; the stream ends when the credentials stop holding.'),
    memberStatusChanged:   row([__, own, __,    ok,    __,     __,    __,      __,      __,      __,     ok,   ok,   ok,   ok], 'Over SSE. A member token watches its own member only (another member’s id is NOT_FOUND, as a missing one is); the stream ends when the credentials stop holding.'),
  },
};

/**
 * HTTP paths outside /graphql that answer by caller (the console's files and /healthz, /readyz, /metrics answer
 * everyone alike). `deny`: 401 without valid credentials, 403 for a valid caller below the row's rule.
 * tests/http/queue-board.test.ts checks every cell through real requests.
 */
// prettier-ignore
export const HTTP_PERMISSIONS: Readonly<Record<string, PermissionRow>> = {
  //                          anon mSelf mOther m:read m:write p:earn p:redeem v:redeem f:report c:write admin AGENT SUPER ADMIN
  '/admin/queues':         row([__, __,  __,    __,    __,     __,    __,      __,      __,      __,     ok,   __,   __,   ok], 'The queue dashboard, read-only; a browser opens it with the cookie from `POST /admin/queues/session` and ends it with `DELETE /admin/queues/session` (anyone: it only clears the cookie; the console signs out with it) (docs/operations.md).'),
};

/** The row of a root field, or undefined when the table has none. */
export function permissionOf(type: RootType, field: string): PermissionRow | undefined {
  return Object.hasOwn(PERMISSION_MATRIX[type], field) ? PERMISSION_MATRIX[type][field] : undefined;
}
