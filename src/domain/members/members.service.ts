import { Prisma } from '../../generated/prisma/client.js';
import type { MemberStatus } from '../../generated/prisma/client.js';
import { reportApprovalQueueChanges } from '../approvals/approval-queue.js';
import { assertMayCall, assertRole, mayReadOwnRow, ownRowsWhere, SERVICE_CALLERS } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type ServiceDeps, type Tx } from '../deps.js';
import { callerText, type Caller } from '../../auth/principal.js';
import { AlreadyExistsError, ForbiddenError, NotFoundError, ValidationError } from '../errors.js';
import { TIER_KEY_PATTERN } from '../program/program-settings.js';
import { namesRemovedTier } from '../tiers/tier-rows.js';
import { declineHeldRenewalBonuses, releaseHeldRenewalBonuses } from '../contracts/contracts.service.js';
import { publishOutboxEvents } from '../outbox/outbox.service.js';
import { declineWaitingCompensation, releaseHeldCompensation } from '../service-failures/service-failures.service.js';
import * as check from '../validation.js';
import { CLOSED_DECLINE_REASON, heldGrantsOnStatusChange } from './eligibility.js';
import { recordWebhookEvents } from '../webhooks/webhook-events.js';
import { memberChange, reportMemberChanges } from './member-changes.js';

const LOCALE = /^[a-z]{2,3}(-[A-Z]{2})?$/;

function locale(value: string): string {
  if (!LOCALE.test(value)) throw new ValidationError('locale', 'must be a language tag such as "en" or "de-DE"');
  return value;
}

/** Turns a unique violation on members into a typed error naming the field. */
function duplicateField(error: unknown): AlreadyExistsError | null {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
    const target = JSON.stringify(error.meta ?? {});
    if (target.includes('email')) return new AlreadyExistsError('email', 'a member with this e-mail already exists');
    if (target.includes('external_id') || target.includes('externalId')) {
      return new AlreadyExistsError('externalId', 'a member with this external id already exists');
    }
  }
  return null;
}

/**
 * An external id as members are stored under it: without the spaces around it.
 * Enrolment stores it so (and checks the rest); a lookup normalises its argument
 * the same way, so the id a member was enrolled with always finds them.
 */
const storedExternalId = (value: string): string => value.trim();

/**
 * An external id as enrolment checks and stores it: trimmed, 1–120 characters, a key (`check.storableKey`: nothing a
 * name may not hold, no format character, Unicode NFC) unless a member is stored under it already.
 */
const externalIdOf = (value: string): check.StorableKey => check.storableKey('externalId', storedExternalId(value), { max: 120 });

export interface EnrollMemberInput {
  externalId: string;
  /** Optional (shop floor, phone-only customers); unique when given. */
  email?: string | null;
  name: string;
  locale?: string | null;
}

/**
 * Enrols a member. External id and e-mail are unique (constraints in the
 * database): a second enrolment of either is an AlreadyExistsError, never a
 * second member — also for an external id stored before the key rule that the
 * rule refuses as a new one. The e-mail is optional; members without one never
 * collide (NULLs are distinct in the unique index).
 */
export async function enrollMember(deps: ServiceDeps, input: EnrollMemberInput, caller: Caller) {
  assertMayCall(caller, 'enrollMember');
  const externalId = externalIdOf(input.externalId);
  const data = {
    externalId: externalId.value,
    email: input.email == null ? null : check.email('email', input.email),
    name: check.plainText('name', input.name),
    locale: input.locale == null ? 'en' : locale(input.locale),
  };
  await check.refuseUnlessStored(externalId, async () => (await deps.prisma.member.count({ where: { externalId: data.externalId } })) > 0);
  const now = nowOf(deps);
  // The member and its member.enrolled event commit together.
  const enrol = () =>
    deps.prisma.$transaction(async (tx) => {
      const member = await tx.member.create({
        data: { ...data, enrolledAt: now, lastActivityAt: now, tierSince: now },
      });
      const enrolled = { memberId: member.id, ...data, enrolledAt: now.toISOString() };
      await recordWebhookEvents(tx, [{ type: 'member.enrolled', data: enrolled }], now);
      return member;
    });
  try {
    // A new member starts in the lowest tier as committed when the row is written (`lowest_tier()`); an admin who
    // replaced that tier (no member held it) meanwhile makes the foreign key refuse it: once more, on the tiers of now.
    return await enrol().catch((error: unknown) => {
      if (namesRemovedTier(error)) return enrol();
      throw error;
    });
  } catch (error) {
    throw duplicateField(error) ?? error;
  }
}

export interface UpdateMemberInput {
  id: string;
  email?: string | null;
  name?: string | null;
  locale?: string | null;
  status?: MemberStatus | null;
}

/**
 * What a status change does to the grants waiting for the member, one entry
 * per kind of grant that can be held (src/domain/members/eligibility.ts):
 * `release` re-queues them through the outbox (returning the events to
 * publish), `decline` makes them not eligible with the reason.
 */
const WAITING_GRANTS: readonly {
  release(tx: Tx, memberId: string): Promise<CommittedOutboxEvent[]>;
  decline(tx: Tx, memberId: string, now: Date, reason: string): Promise<void>;
}[] = [
  { release: releaseHeldCompensation, decline: declineWaitingCompensation },
  { release: releaseHeldRenewalBonuses, decline: declineHeldRenewalBonuses },
];

/** Releases or declines the member's waiting grants as the status change from `from` to `to` asks. */
async function resolveWaitingGrants(tx: Tx, memberId: string, from: MemberStatus, to: MemberStatus, now: Date) {
  const change = heldGrantsOnStatusChange(from, to);
  const events: CommittedOutboxEvent[] = [];
  for (const grants of WAITING_GRANTS) {
    if (change === 'RELEASE') events.push(...(await grants.release(tx, memberId)));
    if (change === 'DECLINE') await grants.decline(tx, memberId, now, CLOSED_DECLINE_REASON);
  }
  return events;
}

/**
 * Changes a member's details. A member may change their own name and locale,
 * nothing of anyone else, and not their e-mail: the address is unique, so any
 * answer to a member's change that depended on it would tell whether another
 * member has that address; the storefront or support (who verify it) change it.
 * A status change is a staff decision taken by a SUPERVISOR or above (an admin
 * key counts as ADMIN): never by a member, a storefront key or an agent. It
 * moves value, in the same transaction, under the member's row lock (which the
 * compensation and renewal-bonus jobs take too): ending a suspension releases
 * the member's held grants — each re-queued through the outbox, granted once
 * by its job — and closing declines whatever waits for them. A refused request
 * writes nothing, not even its other fields.
 */
export async function updateMember(deps: ServiceDeps, input: UpdateMemberInput, caller: Caller) {
  assertMayCall(caller, 'updateMember');
  const id = check.uuid('id', input.id);
  if (caller.actor.type === 'MEMBER') {
    if (caller.actor.id !== id) throw new ForbiddenError('A member may only change their own details');
    if (input.status != null) throw new ForbiddenError('A member may not change their own status');
    // Refused before the address is looked at: taken or free, the answer is the same.
    if (input.email != null) throw new ForbiddenError('A member may not change their own e-mail address');
  }
  if (input.status != null) assertRole(caller, 'SUPERVISOR', "change a member's status");
  const data: Prisma.MemberUpdateInput = {};
  if (input.email != null) data.email = check.email('email', input.email);
  if (input.name != null) data.name = check.plainText('name', input.name);
  if (input.locale != null) data.locale = locale(input.locale);
  if (input.status != null) data.status = input.status;
  const status = input.status;
  const now = nowOf(deps);
  // The service's clock, not Prisma's: a status change is recorded in the status history at updated_at.
  data.updatedAt = now;
  try {
    const { member, events, statusChanged } = await deps.prisma.$transaction(async (tx) => {
      const [current] = await tx.$queryRaw<{ status: MemberStatus }[]>`
        SELECT status::text FROM members WHERE id = ${id}::uuid FOR NO KEY UPDATE`;
      if (!current) throw new NotFoundError('Member', id);
      const member = await tx.member.update({ where: { id }, data });
      const events = status == null ? [] : await resolveWaitingGrants(tx, id, current.status, status, now);
      if (status != null && current.status !== status) {
        // Announced (member.status_changed) with the status before, read under the row's lock.
        const changed = {
          memberId: id,
          fromStatus: current.status,
          toStatus: status,
          cause: 'STAFF',
          changedBy: callerText(caller),
        };
        await recordWebhookEvents(tx, [{ type: 'member.status_changed', data: changed }], now);
      }
      return { member, events, statusChanged: status != null && current.status !== status };
    });
    await publishOutboxEvents(deps, events);
    // A CLOSED member's token stops working on every API process (src/auth/member-accounts.ts).
    if (status != null) await deps.credentials?.memberStatusChanged(id);
    reportMemberChanges(deps, [memberChange(id, status != null ? 'STATUS_CHANGED' : 'PROFILE_UPDATED', status ?? null)]);
    // Reactivating releases, closing declines, what waited for a supervisor.
    if (statusChanged) reportApprovalQueueChanges(deps, [{ kind: 'MEMBER_STATUS_CHANGED', reference: id }]);
    return member;
  } catch (error) {
    throw duplicateField(error) ?? error;
  }
}

/**
 * The member a caller may read by id (`member(id)`), or null: staff, keys with
 * `members:read` and members may read (SERVICE_CALLERS.readMembers; anyone
 * else is refused), and a member reads only themself: another member's id is
 * null, as an unknown one is. The id must be a UUID (ValidationError).
 */
export function readableMemberId(id: string, caller: Caller): string | null {
  assertMayCall(caller, 'readMembers');
  const memberId = check.uuid('id', id);
  return anotherMember(caller, memberId) ? null : memberId;
}

/**
 * Whether the caller may see this member and what is theirs: `readableMemberId`'s rule as a yes or no, for an
 * object already at hand (GraphQL's visibility of a Member, of their orders, feedback and tier history). The id is
 * one a row holds.
 */
export function mayReadMember(caller: Caller, memberId: string): boolean {
  return mayReadOwnRow(caller, SERVICE_CALLERS.readMembers, memberId);
}

/**
 * The `where` that keeps a read of rows a member owns (their ledger entries, orders, tier changes) to the caller's:
 * `readableMemberId`'s rule for rows looked up by their own id. A caller outside SERVICE_CALLERS.readMembers is
 * refused (ForbiddenError) before anything is read; a member token finds only their own rows (another member's
 * row is not returned, as one nobody has); the others, any member's.
 */
export function memberRowsWhere(caller: Caller): { memberId?: string } {
  return ownRowsWhere(caller, SERVICE_CALLERS.readMembers, 'readMembers');
}

/** A member token aiming at someone else: they read only themself. */
function anotherMember(caller: Caller, memberId: string): boolean {
  return caller.actor.type === 'MEMBER' && caller.actor.id !== memberId;
}

/**
 * The `where` of `memberByExternalId`: the member enrolled under `externalId`,
 * trimmed as enrolment stores it (' shop-7 ' finds 'shop-7'), 1–120 characters
 * (`check.lookupKey`: a member enrolled before the naming rules is found by the
 * id they hold; an id no member can hold finds nothing). Who
 * may look is SERVICE_CALLERS.readMembers; a member caller finds only
 * themself: another member's id finds nothing, as an unknown one does.
 */
export function memberByExternalIdWhere(externalId: string, caller: Caller): Prisma.MemberWhereInput {
  assertMayCall(caller, 'readMembers');
  // As stored: a member enrolled before the naming rules (or imported by SQL) stays findable by the id they hold.
  const where: Prisma.MemberWhereInput = { externalId: check.lookupKey('externalId', storedExternalId(externalId), { max: 120 }) };
  if (caller.actor.type === 'MEMBER') where.id = caller.actor.id;
  return where;
}

export interface MemberFilter {
  status?: MemberStatus | null;
  /** A tier key (members in a tier the program does not have: none). */
  tier?: string | null;
  /** Case-insensitive text in e-mail or name. */
  search?: string | null;
}

/**
 * The text as a literal inside a LIKE pattern: Prisma's `contains` puts it
 * between `%` unescaped, so `%`, `_` and `\` would be wildcards (or an escape)
 * and "%" would match everyone. Backslash is PostgreSQL's default LIKE escape.
 */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/**
 * The `where` of a member listing (`members`); the GraphQL connection pages over
 * it. Who may list is SERVICE_CALLERS.listMembers (staff, keys with
 * `members:read`): anyone else, a member token included, is refused before the
 * filter is looked at.
 */
export function memberListWhere(filter: MemberFilter | null | undefined, caller: Caller): Prisma.MemberWhereInput {
  assertMayCall(caller, 'listMembers');
  const where: Prisma.MemberWhereInput = {};
  if (filter?.status) where.status = filter.status;
  if (filter?.tier != null) {
    if (!TIER_KEY_PATTERN.test(filter.tier)) throw new ValidationError('filter.tier', 'is not a tier key');
    where.tier = filter.tier;
  }
  if (filter?.search != null) {
    const search = escapeLike(check.text('filter.search', filter.search, { min: 1, max: 100 }));
    where.OR = [{ email: { contains: search, mode: 'insensitive' } }, { name: { contains: search, mode: 'insensitive' } }];
  }
  return where;
}
