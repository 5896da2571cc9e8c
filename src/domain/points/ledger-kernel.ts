import { SYSTEM_ACTOR } from '../../auth/principal.js';
import { beforeLastStatement, rawSql, slotSentinels, sqlTransaction, StatementTemplate, type RawSql } from '../../db/sql.js';
import { Prisma, type Member } from '../../generated/prisma/client.js';
import { nowOf, type MemberChange, type MemberChangeKind, type PostedPoints, type ServiceDeps } from '../deps.js';
import { measure } from '../measures.js';
import { IdempotencyConflictError, NotFoundError } from '../errors.js';
import {
  fingerprint,
  isIdempotencyKeyTaken,
  isLedgerKeyTaken,
  keyTakenSql,
  replay,
  storeAnswer,
  storedAnswerSql,
  type StoredAnswer,
  type Replayable,
} from '../idempotency.js';
import { memberChange, reportMemberChanges } from '../members/member-changes.js';
import { settingsForHash } from '../program/program.service.js';
import type { ProgramSettings } from '../program/program-settings.js';
import { memberHasDueLotsSql, settleDueLots, type LockedMember, type LockedMemberRow } from './ledger.js';
import { pointsFromBigint } from './lifetime-points.js';
import { namesRemovedTier } from '../tiers/tier-rows.js';
import { withFields } from '../../with-fields.js';

/**
 * A request's idempotency: one effect per (scope, key); the same key with
 * another `body` is an IdempotencyConflictError.
 */
export interface LedgerRequest {
  scope: string;
  key: string;
  body: unknown;
}

/** A request with its body's fingerprint (what a replay compares). */
type KeyedRequest = LedgerRequest & { hash: string };

/** What a value-moving operation needs of the kernel. */
export interface LedgerOperation<First> {
  memberId: string;
  /**
   * The request's idempotency key, reserved under the member lock. Absent for
   * effects that a row of their own makes idempotent (a renewal bonus: its
   * renewal row and its entry's unique key).
   */
  request?: LedgerRequest;
  /**
   * Locks that must come before the member's, always in this order (goodwill:
   * the agent's authority row, which approvals lock first too); what it returns
   * is the effect's `first`.
   */
  lockFirst?: (tx: RawSql, now: Date) => Promise<First>;
  /**
   * What the effect does to the member, for the live member status (reported after
   * commit, with settled lots and a tier change the kernel sees itself). None: only those.
   */
  change?: { kind: MemberChangeKind; reference: string | null };
}

/** What the effect runs with: the member locked and their due lots settled. */
export interface LedgerStep<First = undefined> {
  tx: RawSql;
  member: LockedMember;
  settings: ProgramSettings;
  /** program.earning_rules_stamp as committed once the member was locked: the key of the cached rules (`earningRulesAt`); null before the program row exists. */
  earningRulesStamp: string | null;
  now: Date;
  /** The request's answer, which the effect may store in its own last statement. */
  answer: RequestAnswer;
  first: First;
}

/**
 * What an effect returns: its answer (stored for a replay: ids only) and, when
 * its last statement returned it, the member's row for the caller, so that the
 * caller need not read it again.
 */
export interface LedgerEffect<T> {
  result: T;
  member?: Member;
  /** What it did to the member when only the effect knows (a gesture granted or held); overrides the operation's `change`, null: nothing. */
  change?: { kind: MemberChangeKind; reference: string | null } | null;
}

/**
 * The kernel's answer: the stored answer, and on a first execution the member
 * row the effect returned with the settings it ran under (what the row's tier
 * key stands for), so that the caller need not read either again.
 */
export type LedgerOutcome<T> = Replayable<T> & { member?: Member; settings?: ProgramSettings };

/**
 * The answer written with a request's idempotency key: the key's one row,
 * written once. An effect may write it in its own last statement
 * (`inStatement`, a CTE) instead of the kernel's separate INSERT afterwards.
 */
export class RequestAnswer {
  private storedInStatement: object | null = null;
  constructor(private readonly request: KeyedRequest | undefined) {}

  /** The CTE (`answered`) storing `result`, which must be the very object the effect then returns. */
  inStatement(result: object): Prisma.Sql {
    const stored = this.forStatement(result);
    return stored ? storedAnswerSql(stored) : Prisma.sql`answered AS (SELECT 1)`;
  }

  /**
   * `inStatement`'s answer as values, for a statement built once (`StatementTemplate`) that writes it with
   * `storedAnswerSql`; null without a request (the statement's `answered` is then `SELECT 1`).
   */
  forStatement(result: object): StoredAnswer | null {
    if (!this.request) return null;
    this.storedInStatement = result;
    return { scope: this.request.scope, key: this.request.key, requestHash: this.request.hash, json: JSON.stringify(result) };
  }

  /** Throws unless the answer is stored in the effect's statement: a transaction's last statement (`lastStatement`) must hold it. */
  assertInStatement(): void {
    if (this.request && this.storedInStatement === null) {
      throw new Error(
        "a transaction's last statement must store the request's answer (answer.inStatement): nothing can be written after it",
      );
    }
  }

  /** Stores `result` unless the effect's last statement already stored it (the same object: no second serialisation to compare). */
  async store(tx: RawSql, result: object): Promise<void> {
    if (!this.request || this.storedInStatement === result) return;
    await storeAnswer(tx, this.request.scope, this.request.key, this.request.hash, result);
  }
}

interface OpenedLedger extends LockedMemberRow {
  taken: boolean;
  due: boolean;
  settings_hash: string | null;
  earning_rules_stamp: string | null;
}

/** What changes between two openings of a ledger transaction: the opening statement's values. */
interface OpeningValues extends Record<string, unknown> {
  memberId: string;
  /** The request's idempotency scope and key ('' without a request: the statement then has none). */
  scope: string;
  key: string;
  now: Date;
}

/** The sentinels of `OpeningValues` (`StatementTemplate`). */
const OPENING_SLOTS = slotSentinels<OpeningValues>({ memberId: 'text', scope: 'text', key: 'text', now: 'date' });

/**
 * The statement opening a ledger transaction (see `inLedgerTransaction`). The functions run in select lists, so after
 * the member row came out locked: each reads what committed by then. The subquery's volatile select list keeps it
 * from being flattened: one program_cache_keys() call.
 */
function openingSql(withRequest: boolean, values: OpeningValues): Prisma.Sql {
  return Prisma.sql`
      WITH member AS (
        SELECT id, status, tier, available_points, pending_points, lifetime_points
        FROM members WHERE id = ${values.memberId}::uuid FOR UPDATE)
      SELECT m.id::text, m.status::text, m.tier::text, m.available_points AS available, m.pending_points AS pending,
             m.lifetime_points AS lifetime,
             ${withRequest ? keyTakenSql(values.scope, values.key) : Prisma.sql`false`} AS taken,
             ${memberHasDueLotsSql(Prisma.sql`m.id`, values.now)} AS due,
             (m.program).settings_hash, (m.program).earning_rules_stamp::text
      FROM (SELECT member.*, program_cache_keys() AS program FROM member) m`;
}

/** The opening statement with a request's key and without, each built once: a transaction assembles no SQL to open. */
const OPENINGS = {
  withRequest: new StatementTemplate((slots: OpeningValues) => openingSql(true, slots), OPENING_SLOTS),
  withoutRequest: new StatementTemplate((slots: OpeningValues) => openingSql(false, slots), OPENING_SLOTS),
};

/**
 * The one frame of everything that moves points: earn, redeem, adjust, refund,
 * reward purchase, goodwill grant, renewal bonus, claw-back, maintenance.
 *
 * In one transaction on node-postgres (db/sql.ts): the locks of `lockFirst`;
 * then one statement that locks the member row — every write to one member's
 * points is serialised on it, and a replay waits for the first request to
 * commit — asks whether the request's idempotency key is taken (`keyTakenSql`:
 * a fresh snapshot, after the lock), says whether any of the member's lots is
 * due to be released or expired (`memberHasDueLotsSql`: a fresh snapshot too, so a
 * lot that the transaction it waited for made due is settled before the effect),
 * and reads the settings' version and the earning rules' stamp (`program_cache_keys`:
 * one fresh snapshot for both, so the effect runs on the settings and rules the
 * transaction it waited for committed with, the member's tier among those settings'
 * tiers; parsed settings are cached per version, `settingsForHash`, rules per stamp,
 * `earningRulesAt`). A key seen before replays
 * its stored answer (or is an IdempotencyConflictError) without running the
 * effect. Otherwise due lots are settled, the effect runs, and the key is
 * written once, with its answer, by the effect's last statement or after it. A
 * throw rolls all of it back. A key that a request under another lock took
 * meanwhile (a scope not serialised by the member: a unique violation of
 * `idempotency_records`' primary key) rolls the effect back and replays that
 * request's answer. A move into a tier an admin removed after the settings were
 * read fails on the tier's foreign key: the operation runs once more, on the
 * settings of now.
 */
export async function inLedgerTransaction<T extends object, First = undefined>(
  deps: ServiceDeps,
  operation: LedgerOperation<First>,
  effect: (step: LedgerStep<First>) => Promise<LedgerEffect<T>>,
): Promise<LedgerOutcome<T>> {
  const now = nowOf(deps);
  const { memberId } = operation;
  const request: KeyedRequest | undefined =
    operation.request && withFields(operation.request, { hash: fingerprint(operation.request.body) });
  const changes: MemberChange[] = [];
  const posted: PostedPoints[] = [];
  const run = () =>
    sqlTransaction(deps.prisma, async (tx): Promise<LedgerOutcome<T>> => {
      changes.length = 0;
      posted.length = 0;
      const first = (operation.lockFirst ? await operation.lockFirst(tx, now) : undefined) as First;
      const opening = request ? OPENINGS.withRequest : OPENINGS.withoutRequest;
      const [opened] = await tx.$queryRaw<OpenedLedger[]>(
        opening.strings,
        ...opening.values({ memberId, scope: request?.scope ?? '', key: request?.key ?? '', now }),
      );
      if (!opened) throw new NotFoundError('Member', memberId);
      if (request && opened.taken) return replay<T>(tx, request.scope, request.key, request.hash);
      const { taken: _taken, due, settings_hash: settingsHash, earning_rules_stamp: earningRulesStamp, lifetime, ...locked } = opened;
      // Every entry posted on the locked member is counted after commit.
      const member: LockedMember = withFields(locked, { lifetime: pointsFromBigint(lifetime), posted });
      const settings = await settingsForHash(tx, settingsHash);
      const tierBefore = member.tier;
      if (due) {
        const settled = await settleDueLots(tx, member, now, SYSTEM_ACTOR);
        if (settled.releasedPoints > 0) changes.push(memberChange(memberId, 'RELEASED'));
        if (settled.expiredPoints > 0) changes.push(memberChange(memberId, 'EXPIRED'));
      }
      const answer = new RequestAnswer(request);
      // An effect whose write goes out with COMMIT leaves the kernel nothing to write after it: the answer must be in it.
      beforeLastStatement(tx, () => answer.assertInStatement());
      const {
        result,
        member: row,
        change = operation.change,
      } = await effect({ tx, member, settings, earningRulesStamp, now, answer, first });
      // The row goes to the caller only: the stored answer stays ids only.
      await answer.store(tx, result);
      if (change) changes.push(memberChange(memberId, change.kind, change.reference));
      if (member.tier !== tierBefore) changes.push(memberChange(memberId, 'TIER_CHANGED', member.tier));
      return row ? withFields(result, { replayed: false, member: row, settings }) : withFields(result, { replayed: false });
    });
  // The settings are read after the member lock, but an admin may still remove a tier no member holds between that
  // read and the effect's write (updateProgram does not wait for members): a move into that tier then fails on the
  // tier's foreign key and the effect is rolled back. The window is the effect's few statements, no longer the wait
  // for the lock, so once more rather than a lock on the tier row; the second run reads the settings committed now.
  const outcome = await run()
    .catch(async (error: unknown) => {
      if (namesRemovedTier(error)) return run();
      throw error;
    })
    .catch((error: unknown) => {
      // Taken meanwhile by a request the member lock did not serialise (and committed): this effect was rolled back.
      if (request && isIdempotencyKeyTaken(error)) return replay<T>(rawSql(deps.prisma), request.scope, request.key, request.hash);
      // An entry of another request holds the key this one derived (`<operation>:<key>`): before restore entries
      // were keyed `restore:<operation>:<key>`, they were `<operation>:<key>:restore`, which a client key ending in
      // ":restore" meets. That key was used, by another request.
      if (request && isLedgerKeyTaken(error)) throw new IdempotencyConflictError(request.key);
      throw error;
    });
  // Committed: now, and only now, live screens may hear of it (a replay changed nothing).
  if (!outcome.replayed) {
    reportMemberChanges(deps, changes);
    if (posted.length > 0) measure(deps, (measures) => measures.pointsMoved(posted));
  }
  return outcome;
}
