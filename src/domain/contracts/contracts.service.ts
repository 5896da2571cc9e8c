import { Decimal } from 'decimal.js';
import type { Actor, Caller } from '../../auth/principal.js';
import { Prisma, type Contract, type ContractRenewal, type ContractStatus } from '../../generated/prisma/client.js';
import type { RenewalBonusHoldReason } from '../../generated/prisma/enums.js';
import { reportApprovalQueueChanges } from '../approvals/approval-queue.js';
import { assertMayCall, ownRowsWhere, SERVICE_CALLERS } from '../authorization.js';
import { nowOf, type CommittedOutboxEvent, type RenewalBonusDecision, type ServiceDeps, type Tx } from '../deps.js';
import {
  AlreadyExistsError,
  ContractNotActiveError,
  ContractNotUpForRenewalError,
  NotFoundError,
  PermanentJobError,
  ValidationError,
} from '../errors.js';
import {
  checkIdempotencyKey,
  once,
  ownSharedRecordSql,
  replayShared,
  scopeOf,
  type Replayable,
  type SharedRecord,
} from '../idempotency.js';
import { completeOutboxEvent, publishOutboxEvents, recordOutboxEvent, requeueReleased } from '../outbox/outbox.service.js';
import { rawSql, type RawSql } from '../../db/sql.js';
import { positionOrder } from '../../db/position-cursors.js';
import { assertEligible, eligibility } from '../members/eligibility.js';
import { measure } from '../measures.js';
import {
  balanceCte,
  consumeLots,
  lotExpiredPointsSql,
  postEntry,
  purchaseMove,
  reactivationEvents,
  roomRefusal,
  type LockedMember,
} from '../points/ledger.js';
import { grantAvailablePoints } from '../points/points.service.js';
import { inLedgerTransaction } from '../points/ledger-kernel.js';
import { eventRows, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { tierRule, type TierKey } from '../tiers/tiers.service.js';
import { loadProgram } from '../program/program.service.js';
import { addDays, addMonths } from '../time.js';
import * as check from '../validation.js';

/** Contract terms the billing system sells (also a CHECK on contracts and renewals). */
export const CONTRACT_TERMS = [12, 24] as const;

/** The outbox queue and job name of renewal bonuses; the job id is the renewal id. */
export const RENEWAL_BONUS_QUEUE = 'renewal-bonus' as const;
export const RENEWAL_BONUS_JOB = 'renewal-bonus';

/** Idempotency keys (unique per member) of a renewal's bonus entry and of the REVERSAL that claws it back. */
export const bonusEntryKey = (renewalId: string) => `renewal:${renewalId}`;
export const clawbackEntryKey = (renewalId: string) => `renewal-clawback:${renewalId}`;

/** The outbox event of a renewal: its bonus job, job id = event id = renewal id. */
const renewalBonusEvent = (renewalId: string) => ({
  id: renewalId,
  queue: RENEWAL_BONUS_QUEUE,
  jobName: RENEWAL_BONUS_JOB,
  payload: { renewalId },
});

function checkTerm(field: string, value: number): 12 | 24 {
  if (value !== 12 && value !== 24) throw new ValidationError(field, 'must be 12 or 24 months');
  return value;
}

function checkDate(field: string, value: Date): Date {
  const year = value instanceof Date ? value.getUTCFullYear() : NaN;
  if (!(year >= 1970 && year <= 9000)) throw new ValidationError(field, 'must be a date between 1970 and 9000');
  return value;
}

/**
 * A contract comes up for renewal `windowDays` before its end and can be
 * extended once per term: after an extension the end has moved a term ahead,
 * so the window is closed until the new term nears its end. The new end is
 * therefore at most window + term ahead of now (the database's
 * `contract_renewals_horizon` check holds it within 3 years).
 */
function assertUpForRenewal(contract: ContractRow, settings: ProgramSettings, now: Date): void {
  const renewableFrom = addDays(contract.endsAt, -settings.renewal.windowDays);
  if (now < renewableFrom) throw new ContractNotUpForRenewalError(contract.endsAt, renewableFrom);
}

/** A contract named by its id or by the billing system's reference: exactly one of them. */
export interface ContractReference {
  contractId?: string | null;
  externalRef?: string | null;
}

type CheckedReference = { id: string } | { externalRef: string };

/**
 * The billing system's contract reference as registerContract stores it: 1–120
 * characters after trimming, a key (`check.storableKey`: nothing a name may not
 * hold, no format character, Unicode NFC) unless a contract holds it already.
 * The operations that name a stored contract look it up as it is stored
 * (`storedRefOf`), so a reference one accepts, the others find.
 */
function externalRefOf(value: string): check.StorableKey {
  return check.storableKey('externalRef', value, { max: 120 });
}

/** A reference that names a stored contract: as it is stored (trimmed, 1–120), any character a stored one may hold. */
function storedRefOf(value: string): string {
  return check.lookupKey('externalRef', value, { max: 120 });
}

function checkReference(reference: ContractReference): CheckedReference {
  const hasId = reference.contractId != null;
  const hasRef = reference.externalRef != null;
  if (hasId === hasRef) throw new ValidationError('contractId', 'give exactly one of contractId or externalRef');
  if (hasId) return { id: check.uuid('contractId', reference.contractId!) };
  return { externalRef: storedRefOf(reference.externalRef!) };
}

interface ContractRow {
  id: string;
  memberId: string;
  externalRef: string;
  status: ContractStatus;
  endsAt: Date;
}

/** Reads (and with `lock`, row-locks) a contract; NotFoundError when there is none. */
async function findContract(tx: RawSql, reference: CheckedReference, lock: boolean): Promise<ContractRow> {
  const id = 'id' in reference ? reference.id : null;
  const externalRef = 'externalRef' in reference ? reference.externalRef : null;
  const rows = lock
    ? await tx.$queryRaw<ContractRow[]>`
        SELECT id::text, member_id::text AS "memberId", external_ref AS "externalRef", status::text, ends_at AS "endsAt"
        FROM contracts WHERE id = ${id}::uuid OR external_ref = ${externalRef} FOR UPDATE`
    : await tx.$queryRaw<ContractRow[]>`
        SELECT id::text, member_id::text AS "memberId", external_ref AS "externalRef", status::text, ends_at AS "endsAt"
        FROM contracts WHERE id = ${id}::uuid OR external_ref = ${externalRef}`;
  const contract = rows[0];
  if (!contract) throw new NotFoundError('Contract', id ?? externalRef ?? '');
  return contract;
}

/** The status a contract has at `now`: an ACTIVE contract past its end reads EXPIRED, marked or not. */
export function contractStatusAt(contract: { status: ContractStatus; endsAt: Date }, now: Date): ContractStatus {
  return contract.status === 'ACTIVE' && contract.endsAt <= now ? 'EXPIRED' : contract.status;
}

function assertActive(contract: ContractRow, now: Date): void {
  const status = contractStatusAt(contract, now);
  if (status !== 'ACTIVE') throw new ContractNotActiveError(status);
}

/** What a read loads with the contract row: plugin-prisma's selection for the GraphQL field, nothing else by default. */
export type ContractSelection = Pick<Prisma.ContractFindFirstArgs, 'select' | 'include'>;

/**
 * A contract by the billing system's reference, or null when there is none.
 * Staff (AGENT and up), the billing system (`contracts:write`), keys with
 * `members:read` and members may look (SERVICE_CALLERS.readContracts); a member
 * finds only their own contracts: another member's reads as null, exactly as a
 * reference nobody holds. The reference is looked up as it is stored (`storedRefOf`:
 * trimmed; blank, over 120 characters or holding NUL is a ValidationError, nothing read).
 * `selection` is what the caller wants loaded with the row (the GraphQL
 * field's plugin-prisma query).
 */
export async function contractByExternalRef(
  deps: Pick<ServiceDeps, 'prisma'>,
  externalRef: string,
  caller: Caller,
  selection: ContractSelection = {},
): Promise<Contract | null> {
  const mayRead = readableContractsWhere(caller);
  return deps.prisma.contract.findFirst({ ...selection, where: { externalRef: storedRefOf(externalRef), ...mayRead } });
}

/**
 * A contract by its id (`node(id)`), with what `selection` loads with it, or null when there is none. The rule of
 * `contractByExternalRef` (`readableContractsWhere`): anyone else is refused before anything is read; a member token
 * finds only their own: another member's contract is not returned, as one nobody holds. The id must be a UUID
 * (ValidationError).
 */
export async function readContract(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  selection: ContractSelection,
  caller: Caller,
): Promise<Contract | null> {
  const mayRead = readableContractsWhere(caller);
  return deps.prisma.contract.findUnique({ ...selection, where: { id: check.uuid('id', id), ...mayRead } });
}

/** What a read loads with the renewal: plugin-prisma's plan of a GraphQL selection, say. */
export type ContractRenewalReadShape = Pick<Prisma.ContractRenewalFindUniqueArgs, 'select' | 'include'>;

/**
 * A renewal by its id (`node(id)`), with what `shape` loads with it, or null when there is none. Whoever may read
 * the contract may read its renewals (`readableContractsWhere`: anyone else is refused before anything is read); a
 * member token finds only the renewals of their own contracts: another member's is not returned, as one nobody
 * made. The id must be a UUID (ValidationError).
 */
export async function readContractRenewal(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: ContractRenewalReadShape,
  caller: Caller,
): Promise<ContractRenewal | null> {
  const mayRead = readableContractsWhere(caller);
  // A renewal's member is its contract's.
  const ofContract = mayRead.memberId === undefined ? {} : { contract: mayRead };
  return deps.prisma.contractRenewal.findUnique({ ...shape, where: { id: check.uuid('id', id), ...ofContract } });
}

/** SERVICE_CALLERS.readContracts, checked before anything is read, and a member token's read kept to their own contracts. */
function readableContractsWhere(caller: Caller): { memberId?: string } {
  return ownRowsWhere(caller, SERVICE_CALLERS.readContracts, 'readContracts');
}

export interface RegisterContractInput {
  memberId: string;
  externalRef: string;
  plan: string;
  startsAt: Date;
  termMonths: number;
}

export interface ContractResult {
  contractId: string;
  /** True when an identical registration already existed and is returned instead. */
  replayed: boolean;
}

/**
 * Registers a member's contract (endsAt = startsAt + term). Idempotent through
 * the unique external reference: an identical repeat returns the same contract,
 * the same reference with another member, plan, start or term is an
 * AlreadyExistsError. Concurrent repeats meet on the unique index. A reference
 * the key rule refuses is refused unless a contract holds it already (stored
 * before the rule): its repeats still find it.
 */
export async function registerContract(deps: ServiceDeps, input: RegisterContractInput, caller: Caller): Promise<ContractResult> {
  assertMayCall(caller, 'registerContract');
  const memberId = check.uuid('memberId', input.memberId);
  const reference = externalRefOf(input.externalRef);
  const externalRef = reference.value;
  const plan = check.plainText('plan', input.plan, { max: 100 });
  const startsAt = checkDate('startsAt', input.startsAt);
  const termMonths = checkTerm('termMonths', input.termMonths);
  const endsAt = addMonths(startsAt, termMonths);
  const now = nowOf(deps);
  await check.refuseUnlessStored(reference, async () => (await deps.prisma.contract.count({ where: { externalRef } })) > 0);
  return deps.prisma.$transaction(async (tx) => {
    const member = await tx.member.findUnique({ where: { id: memberId }, select: { status: true } });
    if (!member) throw new NotFoundError('Member', memberId);
    assertEligible(member, 'CONTRACT');
    // ON CONFLICT waits for a concurrent insert of the same reference, then yields to it.
    const [inserted] = await tx.$queryRaw<{ id: string }[]>`
      INSERT INTO contracts (member_id, external_ref, plan, starts_at, ends_at, term_months, created_at)
      VALUES (${memberId}::uuid, ${externalRef}, ${plan}, ${startsAt}, ${endsAt}, ${termMonths}, ${now})
      ON CONFLICT (external_ref) DO NOTHING
      RETURNING id::text`;
    if (inserted) return { contractId: inserted.id, replayed: false };
    const existing = await tx.contract.findUniqueOrThrow({ where: { externalRef } });
    const identical =
      existing.memberId === memberId &&
      existing.plan === plan &&
      existing.startsAt.getTime() === startsAt.getTime() &&
      existing.termMonths === termMonths;
    if (!identical) throw new AlreadyExistsError('externalRef', 'another contract has this external reference');
    return { contractId: existing.id, replayed: true };
  });
}

export interface ExtendContractInput extends ContractReference {
  termMonths: number;
  idempotencyKey: string;
}

export interface ExtensionResult {
  contractId: string;
  renewalId: string;
}

/**
 * Extends an active contract by a new term: under the contract's row lock it
 * records the renewal (sequence = earlier renewals + 1, new end = old end +
 * term, the caller as the actor its bonus entry will name), moves the
 * contract's end, and writes the renewal-bonus outbox event (event id =
 * renewal id) in the same transaction, so an accepted extension is never
 * without its bonus job. Only a contract up for renewal (within the program's
 * `renewal.windowDays` before its end) can be extended, so once per term;
 * unique (contract, previous end) makes a second renewal of one term
 * impossible in the database too. Agents may not extend (SERVICE_CALLERS): a
 * bonus is points granted on the caller's word, and an agent's word on points
 * is goodwill, with its own authority and approval (docs/domain-rules.md).
 * One renewal per (caller, idempotency key): a repeat, concurrent or not,
 * replays; the same key for another contract or term is an
 * IdempotencyConflictError.
 */
export async function extendContract(deps: ServiceDeps, input: ExtendContractInput, caller: Caller): Promise<Replayable<ExtensionResult>> {
  assertMayCall(caller, 'extendContract');
  const reference = checkReference(input);
  const termMonths = checkTerm('termMonths', input.termMonths);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const result = await deps.prisma.$transaction(async (tx) => {
    // Lock first: extensions of one contract are serialised, and a repeat waits for the first to commit.
    const contract = await findContract(tx, reference, true);
    return once(tx, scopeOf('extendContract', caller), key, { contractId: contract.id, termMonths }, async () => {
      assertActive(contract, now);
      assertUpForRenewal(contract, (await loadProgram(tx)).settings, now);
      const member = await tx.member.findUniqueOrThrow({ where: { id: contract.memberId }, select: { status: true } });
      assertEligible(member, 'CONTRACT', 'contractId');
      const earlier = await tx.contractRenewal.count({ where: { contractId: contract.id } });
      const newEndsAt = addMonths(contract.endsAt, termMonths);
      const renewal = await tx.contractRenewal.create({
        data: {
          contractId: contract.id,
          sequence: earlier + 1,
          termMonths,
          previousEndsAt: contract.endsAt,
          newEndsAt,
          requestedType: caller.actor.type,
          requestedBy: caller.actor.id,
          createdAt: now,
        },
        select: { id: true },
      });
      await tx.contract.update({ where: { id: contract.id }, data: { endsAt: newEndsAt } });
      await recordOutboxEvent(tx, renewalBonusEvent(renewal.id));
      return { contractId: contract.id, renewalId: renewal.id } satisfies ExtensionResult;
    });
  });
  if (!result.replayed) {
    // After commit, best effort: the relay enqueues the event anyway if this cannot.
    await publishOutboxEvents(deps, [renewalBonusEvent(result.renewalId)]);
  }
  return result;
}

/**
 * Renewal bonus: pointsPer12Months × (term / 12) × tier multiplier × (1 +
 * min(consecutiveBonusPercent × earlier renewals, cap)), rounded down. Decimal
 * arithmetic, dividing last, so 500 × 2 × 1.5 × 1.2 is exactly 1800.
 */
export function renewalBonusPoints(settings: ProgramSettings, tier: TierKey, termMonths: number, earlierRenewals: number): number {
  const { pointsPer12Months, consecutiveBonusPercent, consecutiveBonusCapPercent } = settings.renewal;
  const extraPercent = Math.min(consecutiveBonusPercent * earlierRenewals, consecutiveBonusCapPercent);
  return new Decimal(pointsPer12Months)
    .mul(termMonths)
    .mul(tierRule(settings, tier).multiplier)
    .mul(100 + extraPercent)
    .div(12 * 100)
    .floor()
    .toNumber();
}

/** Where a renewal's bonus stands; derived from its columns (see `renewalBonusStatus`). */
export type RenewalBonusStatus = 'PENDING' | 'HELD' | 'GRANTED' | 'NOT_ELIGIBLE' | 'CLAWED_BACK' | 'FORFEITED';

export function renewalBonusStatus(
  renewal: Pick<ContractRenewal, 'bonusEntryId' | 'bonusGrantedAt' | 'clawedBackAt' | 'bonusHeldAt'>,
): RenewalBonusStatus {
  if (renewal.clawedBackAt) return renewal.bonusEntryId ? 'CLAWED_BACK' : 'FORFEITED';
  if (renewal.bonusGrantedAt) return renewal.bonusEntryId ? 'GRANTED' : 'NOT_ELIGIBLE';
  if (renewal.bonusHeldAt) return 'HELD';
  return 'PENDING';
}

export type { RenewalBonusHoldReason };

export interface RenewalBonusOutcome {
  renewalId: string;
  /**
   * GRANTED: this run granted the bonus. HELD: this run held it for a
   * supervisor's decision (`heldBecause`), the points kept on the renewal.
   * NOT_ELIGIBLE: this run found no points due (0 by the policy, or the member
   * is closed). ALREADY_DONE: an earlier run granted or held it, a decision
   * declined it, or a cancellation forfeited it; nothing changed.
   */
  outcome: 'GRANTED' | 'HELD' | 'NOT_ELIGIBLE' | 'ALREADY_DONE';
  /** Why it was held (HELD only): the member is suspended, or the points do not fit the member's balance. */
  heldBecause?: RenewalBonusHoldReason;
  points: number;
  entryId: string | null;
}

/**
 * The decision a job's outcome counts as in the operators' metrics
 * (`treue_renewal_bonus_decisions_total`); null for ALREADY_DONE (a repeat is not counted twice).
 */
export function renewalBonusDecisionOf(outcome: RenewalBonusOutcome): RenewalBonusDecision | null {
  switch (outcome.outcome) {
    case 'GRANTED':
    case 'NOT_ELIGIBLE':
      return outcome.outcome;
    case 'HELD':
      return outcome.heldBecause === 'BALANCE_LIMIT' ? 'HELD_BALANCE_LIMIT' : 'HELD_MEMBER_SUSPENDED';
    case 'ALREADY_DONE':
      return null;
  }
}

/** The payload of a renewal-bonus job: the renewal, and the outbox event the job completes when it is not the renewal's first. */
export interface RenewalBonusJobPayload {
  renewalId: string;
  /** A released bonus's job has an event of its own (the first one is done); absent: the renewal id. */
  eventId?: string;
}

interface RenewalRow {
  id: string;
  contractId: string;
  memberId: string;
  externalRef: string;
  sequence: number;
  termMonths: number;
  requestedType: Actor['type'];
  requestedBy: string;
  bonusPoints: number | null;
  bonusGrantedAt: Date | null;
  clawedBackAt: Date | null;
  bonusHeldAt: Date | null;
}

/** The member of a renewal (read without a lock: it never changes); PermanentJobError or NotFoundError when there is none. */
async function memberOfRenewal(
  deps: ServiceDeps,
  renewalId: string,
  missing: () => Error,
  storedBefore: Prisma.Sql = Prisma.sql`NULL::jsonb`,
): Promise<{ memberId: string; storedBefore: SharedRecord | null }> {
  const [found] = await rawSql(deps.prisma).$queryRaw<{ memberId: string; storedBefore: SharedRecord | null }[]>`
    SELECT c.member_id::text AS "memberId", ${storedBefore} AS "storedBefore"
    FROM contract_renewals r JOIN contracts c ON c.id = r.contract_id WHERE r.id = ${renewalId}::uuid`;
  if (!found) throw missing();
  return found;
}

/** Locks a renewal row in the kernel's transaction (its member is locked already). */
async function lockRenewal(tx: RawSql, renewalId: string): Promise<RenewalRow | undefined> {
  const [renewal] = await tx.$queryRaw<RenewalRow[]>`
    SELECT r.id::text, r.contract_id::text AS "contractId", c.member_id::text AS "memberId",
           c.external_ref AS "externalRef", r.sequence, r.term_months AS "termMonths",
           r.requested_type::text AS "requestedType", r.requested_by AS "requestedBy", r.bonus_points AS "bonusPoints",
           r.bonus_granted_at AS "bonusGrantedAt", r.clawed_back_at AS "clawedBackAt", r.bonus_held_at AS "bonusHeldAt"
    FROM contract_renewals r JOIN contracts c ON c.id = r.contract_id
    WHERE r.id = ${renewalId}::uuid FOR UPDATE OF r`;
  return renewal;
}

/** Who decided a held bonus, and why; absent when the policy decided alone. */
interface BonusDecision {
  decidedBy: string | null;
  note: string | null;
  /** The input field a grant past the balance limit is blamed on; default `points`. */
  amountField?: string;
}

/**
 * Writes the bonus of a locked renewal: `points` granted as one RENEWAL_BONUS
 * entry (when more than 0; available at once, a lot with the normal expiry,
 * member activity, the actor who extended the contract, keyed
 * `renewal:<id>`, unique per member, so it can never post twice) and the
 * renewal's bonus columns with who decided and why. Returns the entry's id.
 */
async function writeRenewalBonus(
  step: { tx: RawSql; member: LockedMember; settings: ProgramSettings; now: Date },
  renewal: RenewalRow,
  points: number,
  decision: BonusDecision,
): Promise<string | null> {
  const { tx, member, settings, now } = step;
  let entryId: string | null = null;
  if (points > 0) {
    const entry = await grantAvailablePoints(tx, member, settings, {
      kind: 'RENEWAL_BONUS',
      points,
      causeType: 'CONTRACT',
      causeRef: renewal.id,
      // The bonus is the extension's effect: it names who extended, not the job that ran.
      actor: { type: renewal.requestedType, id: renewal.requestedBy },
      idempotencyKey: bonusEntryKey(renewal.id),
      note: `Renewal ${renewal.sequence} of contract ${renewal.externalRef} (${renewal.termMonths} months)`,
      amountField: decision.amountField,
      now,
    });
    entryId = entry.id;
  }
  // A granted bonus is announced (contract.renewal_bonus_granted) in the renewal's own statement.
  const granted: WebhookEventInput[] =
    points > 0 ? [{ type: 'contract.renewal_bonus_granted', data: { ...renewalEventData(renewal, points), entryId } }] : [];
  await tx.$executeRaw`
    WITH ${webhookEventsCte(eventRows(granted), now)}
    UPDATE contract_renewals SET bonus_points = ${points}::int, bonus_entry_id = ${entryId}::uuid,
           bonus_granted_at = ${now}::timestamptz, bonus_decided_by = ${decision.decidedBy}::text,
           bonus_decision_note = ${decision.note}::text
    WHERE id = ${renewal.id}::uuid`;
  return entryId;
}

/** What the renewal-bonus events (docs/webhooks.md) say of the renewal and its points. */
function renewalEventData(renewal: RenewalRow, points: number): Record<string, unknown> {
  return {
    renewalId: renewal.id,
    contractId: renewal.contractId,
    externalRef: renewal.externalRef,
    memberId: renewal.memberId,
    sequence: renewal.sequence,
    termMonths: renewal.termMonths,
    points,
  };
}

/**
 * Holds the bonus of a locked renewal for a supervisor's decision
 * (`decideRenewalBonus`): the `points` the policy computed kept on the
 * renewal, `bonus_held_at` and the typed `reason` set, why in words in its
 * decision note, nothing granted; announced (contract.renewal_bonus_held) in
 * the same statement. The renewal's row lock and `bonus_held_at` make it
 * once: a job that finds the bonus held does nothing.
 */
async function holdRenewalBonus(
  tx: RawSql,
  renewal: RenewalRow,
  points: number,
  hold: { reason: RenewalBonusHoldReason; note: string },
  now: Date,
): Promise<void> {
  const held: WebhookEventInput = {
    type: 'contract.renewal_bonus_held',
    data: { ...renewalEventData(renewal, points), heldBecause: hold.reason },
  };
  await tx.$executeRaw`
    WITH ${webhookEventsCte(eventRows([held]), now)}
    UPDATE contract_renewals SET bonus_points = ${points}::int, bonus_held_at = ${now}::timestamptz,
           bonus_held_reason = ${hold.reason}::"RenewalBonusHoldReason", bonus_decision_note = ${hold.note}
    WHERE id = ${renewal.id}::uuid`;
}

/**
 * Why a bonus the member's status allows cannot be granted now: `points` do
 * not fit the member's points — the balance (available + pending) past
 * 2 147 483 647, or whatever else `roomRefusal`, the check the grant itself
 * makes, refuses; its message, in the note, says which. Null when they fit.
 * Nothing the job could wait for makes room by itself (the member spending
 * points, a correction), so the hold waits for a supervisor, not for a retry.
 */
function balanceLimitHold(member: LockedMember, points: number): { reason: 'BALANCE_LIMIT'; note: string } | null {
  const refusal = roomRefusal(member, points, 'points');
  if (!refusal) return null;
  return {
    reason: 'BALANCE_LIMIT',
    note: `${points} points ${refusal.message}: held for a supervisor's decision`,
  };
}

/**
 * Grants the bonus of one renewal, exactly once: under the member's lock and
 * the renewal's row lock, a renewal whose bonus was granted, held, declined or
 * forfeited by a cancellation is a no-op; otherwise, as the member's
 * eligibility says (src/domain/members/eligibility.ts): a suspended member's
 * bonus is HELD (MEMBER_SUSPENDED) — the points the policy computed kept on
 * the renewal, nothing granted — until the suspension ends
 * (`releaseHeldRenewalBonuses`) or a supervisor decides (`decideRenewalBonus`);
 * a closed member's is NOT_ELIGIBLE; a bonus that would take the member's
 * points past 2 147 483 647 is HELD (BALANCE_LIMIT) until a supervisor
 * decides — not failed, which the relay would re-drive every minute for ever;
 * otherwise `writeRenewalBonus` grants it (a bonus of 0 still counts as the
 * member's activity). A hold is announced (contract.renewal_bonus_held) and
 * every decision of the job counted once (`renewalBonusDecided`). The
 * renewal's bonus columns and the completion of the job's outbox event
 * (`eventId`: the renewal id for its first job, the release's own event after
 * a hold) commit together. The bonus counts as qualifying points and may upgrade the tier at
 * once. A job run again after that (redelivered) writes nothing but its
 * event's completion: it does not open the member's ledger, whose frame would
 * settle the member's due lots (a retried job, like a replayed request, has no
 * effect). Throws PermanentJobError when the renewal does not exist.
 */
export async function grantRenewalBonus(deps: ServiceDeps, renewalId: string, eventId = renewalId): Promise<RenewalBonusOutcome> {
  if (!check.isUuid(renewalId)) throw new PermanentJobError(`renewal id ${JSON.stringify(renewalId)} is malformed`);
  const id = renewalId.toLowerCase();
  const missing = () => new PermanentJobError(`renewal ${id} does not exist`);
  const db = rawSql(deps.prisma);
  const [found] = await db.$queryRaw<{ memberId: string; done: boolean }[]>`
    SELECT c.member_id::text AS "memberId",
           (r.bonus_granted_at IS NOT NULL OR r.clawed_back_at IS NOT NULL OR r.bonus_held_at IS NOT NULL) AS done
    FROM contract_renewals r JOIN contracts c ON c.id = r.contract_id WHERE r.id = ${id}::uuid`;
  if (!found) throw missing();
  // Granted and forfeited are final, and a held bonus's release sends a job of its own: seen
  // without a lock, they are safe to answer (the check under the locks below covers a race).
  if (found.done) {
    await completeOutboxEvent(db, eventId, nowOf(deps));
    return { renewalId: id, outcome: 'ALREADY_DONE', points: 0, entryId: null };
  }
  const { memberId } = found;
  // Member first, as every point operation (and cancelContract) does: no lock-order deadlocks.
  const { replayed: _replayed, ...outcome } = await inLedgerTransaction(deps, { memberId }, async (step) => {
    const { tx, member, settings, now } = step;
    const renewal = await lockRenewal(tx, id);
    if (!renewal) throw missing();
    if (renewal.bonusGrantedAt || renewal.clawedBackAt || renewal.bonusHeldAt) {
      await completeOutboxEvent(tx, eventId, now);
      return { result: { renewalId: id, outcome: 'ALREADY_DONE', points: 0, entryId: null } satisfies RenewalBonusOutcome };
    }

    const eligible = eligibility(member.status, 'AUTOMATIC_GRANT');
    const points = eligible.decision === 'REFUSE' ? 0 : renewalBonusPoints(settings, member.tier, renewal.termMonths, renewal.sequence - 1);
    const hold =
      points <= 0
        ? null
        : eligible.decision === 'HOLD'
          ? { reason: 'MEMBER_SUSPENDED' as const, note: eligible.reason }
          : eligible.decision === 'ALLOW'
            ? balanceLimitHold(member, points)
            : null;
    if (hold) {
      await holdRenewalBonus(tx, renewal, points, hold, now);
      await completeOutboxEvent(tx, eventId, now);
      deps.logger[hold.reason === 'BALANCE_LIMIT' ? 'warn' : 'info'](
        { renewalId: id, memberId, points, heldBecause: hold.reason },
        `renewal bonus held for a supervisor's decision: ${hold.note}`,
      );
      return { result: { renewalId: id, outcome: 'HELD', heldBecause: hold.reason, points, entryId: null } satisfies RenewalBonusOutcome };
    }
    const note = eligible.decision === 'REFUSE' ? eligible.reason : null;
    const entryId = await writeRenewalBonus(step, renewal, points, { decidedBy: null, note });
    // The renewal is the member's activity, as a purchase is, also when no entry says so (a zero bonus).
    if (eligible.decision === 'ALLOW' && points === 0) await recordRenewalActivity(tx, member, now);
    await completeOutboxEvent(tx, eventId, now);
    deps.logger.info({ renewalId: id, memberId, points }, 'renewal bonus granted');
    const result: RenewalBonusOutcome = { renewalId: id, outcome: points > 0 ? 'GRANTED' : 'NOT_ELIGIBLE', points, entryId };
    return { result, change: points > 0 ? { kind: 'RENEWAL_BONUS', reference: id } : null };
  });
  const decided = renewalBonusDecisionOf(outcome);
  if (decided) measure(deps, (measures) => measures.renewalBonusDecided(decided));
  // A held bonus waits in the supervisors' approval queue (`heldRenewalBonusesWhere`): open queues read it now.
  if (outcome.outcome === 'HELD') reportApprovalQueueChanges(deps, [{ kind: 'RENEWAL_BONUS_HELD', reference: id }]);
  return outcome;
}

/**
 * A renewal whose bonus wrote no entry is the member's activity all the same
 * (docs/domain-rules.md, "Activity"): their last activity moves to `now` and a
 * PASSIVE member is ACTIVE again, with the status's history row and
 * `member.status_changed`, as an order that earns no points does (`purchaseMove`).
 */
async function recordRenewalActivity(tx: RawSql, member: LockedMember, now: Date): Promise<void> {
  const move = purchaseMove(now);
  const reactivated = reactivationEvents(member, move);
  await tx.$queryRaw`
    WITH ${balanceCte(member.id, move)}${reactivated.length > 0 ? Prisma.sql`, ${Prisma.join(reactivated, ', ')}` : Prisma.empty}
    SELECT 1 FROM balance`;
  if (member.status === 'PASSIVE') member.status = 'ACTIVE';
}

/**
 * The suspension of a member ended (updateMember, in its transaction, the
 * member's row locked): every renewal bonus of theirs held because they were
 * suspended goes back to PENDING with a new renewal-bonus job in the outbox
 * (its own event id, in the payload), so the policy computes it again now —
 * the member's tier then — and the job, idempotent on the renewal row and the
 * entry's unique key, grants it at most once (or holds it again, past the
 * balance limit). A bonus held at the balance limit stays held: the
 * suspension was not why it waits. Returns the events to publish after commit.
 */
export async function releaseHeldRenewalBonuses(tx: Tx | RawSql, memberId: string): Promise<CommittedOutboxEvent[]> {
  const released = Prisma.sql`
    UPDATE contract_renewals r SET bonus_held_at = NULL, bonus_held_reason = NULL, bonus_points = NULL,
           bonus_decision_note = NULL
    FROM contracts c
    WHERE c.id = r.contract_id AND c.member_id = ${memberId}::uuid
      AND r.bonus_held_at IS NOT NULL AND r.bonus_held_reason = 'MEMBER_SUSPENDED'
      AND r.bonus_granted_at IS NULL AND r.clawed_back_at IS NULL
    RETURNING r.id`;
  return requeueReleased(tx, released, { queue: RENEWAL_BONUS_QUEUE, jobName: RENEWAL_BONUS_JOB, subjectKey: 'renewalId' });
}

/**
 * The member was closed (updateMember, member locked): every held renewal
 * bonus of theirs becomes NOT_ELIGIBLE (no points, the reason kept). Bonuses
 * still PENDING are declined by their job, which finds the member closed.
 */
export async function declineHeldRenewalBonuses(tx: Tx | RawSql, memberId: string, now: Date, reason: string): Promise<void> {
  await tx.$executeRaw`
    UPDATE contract_renewals r SET bonus_points = 0, bonus_granted_at = ${now}::timestamptz, bonus_decision_note = ${reason}
    FROM contracts c
    WHERE c.id = r.contract_id AND c.member_id = ${memberId}::uuid
      AND r.bonus_held_at IS NOT NULL AND r.bonus_granted_at IS NULL AND r.clawed_back_at IS NULL`;
}

export interface DecideRenewalBonusInput {
  renewalId: string;
  /** True grants the held points now; false declines the bonus (NOT_ELIGIBLE). */
  approve: boolean;
  note: string;
  idempotencyKey: string;
}

/**
 * A supervisor's decision on a held renewal bonus — the member suspended, or
 * the points past the balance limit: approve grants the points computed when
 * it was held, now, also while the member is still suspended (GRANTED);
 * decline makes it NOT_ELIGIBLE. The
 * supervisor and the note are kept on the renewal. Runs in the ledger kernel
 * under the member's lock and the renewal's row lock, so it cannot race the
 * bonus job, a reactivation or another decision into a second grant: only a
 * HELD bonus can be decided (ValidationError otherwise), and the entry's key
 * is unique per member. One decision per (supervisor, renewal, idempotency
 * key): their repeat replays; another supervisor sending the same key is told
 * the bonus is decided (ValidationError), never answered the first one's
 * decision as theirs, and a key stored before stop 53, per renewal, replays for
 * the supervisor who decided (`ownSharedRecordSql`). A decided bonus never
 * waits for a decision again. Supervisors and admins only (an admin-scoped key
 * counts as ADMIN).
 * Approving points that would take the member past the balance limit is a
 * ValidationError on `renewalId` (the renewal set them): nothing written, still
 * held — approve once the member has room (spent points), or decline. A
 * decision leaves the supervisors' approval queue (RENEWAL_BONUS_DECIDED).
 */
export async function decideRenewalBonus(
  deps: ServiceDeps,
  input: DecideRenewalBonusInput,
  caller: Caller,
): Promise<Replayable<{ renewalId: string; status: RenewalBonusStatus }>> {
  assertMayCall(caller, 'decideRenewalBonus');
  const renewalId = check.uuid('renewalId', input.renewalId);
  if (typeof input.approve !== 'boolean') throw new ValidationError('approve', 'must be true or false');
  const note = check.text('note', input.note, { min: 3, max: 2000 });
  const key = checkIdempotencyKey(input.idempotencyKey);
  const missing = () => new NotFoundError('ContractRenewal', renewalId);
  // With the renewal's member, the supervisor's own record of the key stored before stop 53 under the renewal alone
  // (the scope every supervisor shared then): theirs when the renewal names them as its decider.
  const mine = Prisma.sql`r.bonus_decided_by = ${caller.actor.id}::text`;
  const { memberId, storedBefore } = await memberOfRenewal(
    deps,
    renewalId,
    missing,
    ownSharedRecordSql(`decideRenewalBonus:${renewalId}`, key, mine),
  );
  const body = { approve: input.approve, note };
  // The bonus was decided then, so it replays without a lock.
  const before = replayShared<{ renewalId: string; status: RenewalBonusStatus }>(storedBefore, key, body);
  if (before) return before;
  const operation = { memberId, request: { scope: scopeOf(`decideRenewalBonus:${renewalId}`, caller), key, body } };
  const decided = await inLedgerTransaction(deps, operation, async (step) => {
    const renewal = await lockRenewal(step.tx, renewalId);
    if (!renewal) throw missing();
    const status = renewalBonusStatus({ ...renewal, bonusEntryId: null });
    if (status !== 'HELD') throw new ValidationError('renewalId', `this renewal's bonus is not held (${status})`);
    // The renewal set the points (DecideRenewalBonusInput has no `points`): a grant past the limit names it.
    const decision = { decidedBy: caller.actor.id, note, amountField: 'renewalId' };
    if (!input.approve) {
      await writeRenewalBonus(step, renewal, 0, decision);
      return { result: { renewalId, status: 'NOT_ELIGIBLE' as RenewalBonusStatus } };
    }
    assertEligible(step.member, 'DECIDED_GRANT', 'renewalId');
    await writeRenewalBonus(step, renewal, renewal.bonusPoints ?? 0, decision);
    const granted = (renewal.bonusPoints ?? 0) > 0;
    return {
      result: { renewalId, status: 'GRANTED' as RenewalBonusStatus },
      change: granted ? { kind: 'RENEWAL_BONUS' as const, reference: renewalId } : null,
    };
  });
  if (!decided.replayed) reportApprovalQueueChanges(deps, [{ kind: 'RENEWAL_BONUS_DECIDED', reference: renewalId }]);
  return decided;
}

export interface HeldRenewalBonusFilter {
  /** Only bonuses held for this reason. */
  reason?: RenewalBonusHoldReason | null;
}

/**
 * The approval queue's order, longest waiting first: when each bonus was held, then its id. A bonus's place changes
 * while a supervisor pages the queue — released back to PENDING (`bonusHeldAt` cleared), or held again (a later one)
 * — so its cursors are positions (src/db/position-cursors.ts): the next page follows the place the cursor was handed
 * out at, whatever happened to that bonus since. Every bonus in the queue has a `bonusHeldAt`.
 */
export const HELD_RENEWAL_BONUS_ORDER = positionOrder(
  'heldRenewalBonuses',
  [{ column: 'bonusHeldAt', direction: 'asc', kind: 'moment' }],
  'asc',
);

/**
 * The renewal bonuses waiting in the supervisors' approval queue
 * (`heldRenewalBonuses`): HELD — `bonus_held_at` set, neither decided
 * (`bonus_granted_at`) nor forfeited by a cancellation (`clawed_back_at`) —
 * for either reason, or the one `filter.reason` names. Those who decide them
 * only (`decideRenewalBonus`: supervisors and admins): refused before anything
 * is read.
 */
export function heldRenewalBonusesWhere(
  filter: HeldRenewalBonusFilter | null | undefined,
  caller: Caller,
): Prisma.ContractRenewalWhereInput {
  assertMayCall(caller, 'decideRenewalBonus');
  const where: Prisma.ContractRenewalWhereInput = { bonusHeldAt: { not: null }, bonusGrantedAt: null, clawedBackAt: null };
  if (filter?.reason) where.bonusHeldReason = filter.reason;
  return where;
}

export interface CancelContractInput extends ContractReference {
  idempotencyKey: string;
}

export interface CancellationResult {
  contractId: string;
  /** Bonus points taken back (a negative REVERSAL entry per renewal). */
  pointsClawedBack: number;
  /** Bonus points that should have been taken back but had been spent already. */
  pointsUnrecovered: number;
  /** Renewals whose granted bonus was clawed back. */
  renewalsClawedBack: number;
  /** Renewals in the window whose bonus had not been granted yet: it never will be. */
  bonusesForfeited: number;
}

/**
 * Cancels an active contract. Renewals made within the program's
 * `clawbackDays` before the cancellation lose their bonus, exactly once (the
 * renewal's `clawedBackAt` is set under its row lock): a granted bonus is
 * reversed from the bonus's own lot first, then from other available points,
 * taking what is there and reporting the rest as unrecovered (what of the
 * bonus expired before is gone already: neither taken again nor reported); a bonus not
 * granted yet is forfeited, and its job becomes a no-op (a held one leaves the
 * supervisors' approval queue: RENEWAL_BONUS_DECIDED). Runs under the
 * member's lock, like the bonus job, so the two never interleave. One
 * cancellation per (caller, idempotency key); cancelling a cancelled or
 * expired contract is a ContractNotActiveError.
 */
export async function cancelContract(
  deps: ServiceDeps,
  input: CancelContractInput,
  caller: Caller,
): Promise<Replayable<CancellationResult>> {
  assertMayCall(caller, 'cancelContract');
  const reference = checkReference(input);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const found = await findContract(rawSql(deps.prisma), reference, false);
  const operation = {
    memberId: found.memberId,
    request: { scope: scopeOf('cancelContract', caller), key, body: { contractId: found.id } },
  };
  // Held bonuses the cancellation forfeits: they leave the supervisors' approval queue.
  const forfeitedHolds: string[] = [];
  const cancelled = await inLedgerTransaction(deps, operation, async ({ tx, member, settings, now }) => {
    assertEligible(member, 'CORRECTION'); // a claw-back corrects the ledger, whatever the member's status
    const contract = await findContract(tx, { id: found.id }, true);
    assertActive(contract, now);
    await tx.$executeRaw`
      UPDATE contracts SET status = 'CANCELLED', cancelled_at = ${now}::timestamptz WHERE id = ${contract.id}::uuid`;

    const result: CancellationResult = {
      contractId: contract.id,
      pointsClawedBack: 0,
      pointsUnrecovered: 0,
      renewalsClawedBack: 0,
      bonusesForfeited: 0,
    };
    const since = addDays(now, -settings.renewal.clawbackDays);
    forfeitedHolds.length = 0; // a retried transaction starts afresh
    const renewals = await tx.$queryRaw<
      {
        id: string;
        bonusPoints: number | null;
        bonusEntryId: string | null;
        bonusGrantedAt: Date | null;
        bonusHeldAt: Date | null;
        lotId: string | null;
        expiredPoints: number;
      }[]
    >`
      SELECT r.id::text, r.bonus_points AS "bonusPoints", r.bonus_entry_id::text AS "bonusEntryId",
             r.bonus_granted_at AS "bonusGrantedAt", r.bonus_held_at AS "bonusHeldAt", l.id::text AS "lotId",
             ${lotExpiredPointsSql(Prisma.sql`${member.id}::uuid`, Prisma.sql`l.id`)} AS "expiredPoints"
      FROM contract_renewals r LEFT JOIN point_lots l ON l.entry_id = r.bonus_entry_id
      WHERE r.contract_id = ${contract.id}::uuid AND r.clawed_back_at IS NULL AND r.created_at >= ${since}::timestamptz
      ORDER BY r.sequence
      FOR UPDATE OF r`;
    for (const renewal of renewals) {
      const clawedBack = () => tx.$executeRaw`
        UPDATE contract_renewals SET clawed_back_at = ${now}::timestamptz WHERE id = ${renewal.id}::uuid`;
      if (!renewal.bonusGrantedAt) {
        await clawedBack();
        // Nothing is left for the job to do; the relay stops re-driving it.
        await completeOutboxEvent(tx, renewal.id, now);
        result.bonusesForfeited += 1;
        if (renewal.bonusHeldAt) forfeitedHolds.push(renewal.id);
        continue;
      }
      if (!renewal.bonusEntryId || !renewal.bonusPoints) continue; // no points were granted: nothing to take back
      // Due lots were settled by the kernel: what expired of the bonus's lot (its EXPIRE entry) is gone
      // already and is not taken again from other points; what the member spent of it is.
      const due = Math.max(0, renewal.bonusPoints - renewal.expiredPoints);
      const consumed = due > 0 ? await consumeLots(tx, member.id, due, now, renewal.lotId) : { fromAvailable: 0, fromPending: 0 };
      const taken = consumed.fromAvailable + consumed.fromPending;
      const missing = due - taken;
      if (taken > 0) {
        await postEntry(tx, member, {
          kind: 'REVERSAL',
          amount: -taken,
          availableDelta: -consumed.fromAvailable,
          pendingDelta: -consumed.fromPending,
          causeType: 'CONTRACT',
          causeRef: renewal.id,
          actor: caller.actor,
          idempotencyKey: clawbackEntryKey(renewal.id),
          note:
            missing > 0
              ? `Renewal bonus clawed back on cancellation; ${missing} points had already been spent`
              : 'Renewal bonus clawed back on cancellation',
          now,
        });
      }
      await clawedBack();
      result.pointsClawedBack += taken;
      result.pointsUnrecovered += missing;
      result.renewalsClawedBack += 1;
    }
    return { result, change: result.pointsClawedBack > 0 ? { kind: 'ADJUSTED', reference: contract.id } : null };
  });
  if (!cancelled.replayed) {
    reportApprovalQueueChanges(
      deps,
      forfeitedHolds.map((reference) => ({ kind: 'RENEWAL_BONUS_DECIDED', reference })),
    );
  }
  return cancelled;
}
