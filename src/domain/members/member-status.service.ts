import type { Caller } from '../../auth/principal.js';
import { jsonObjectSql, rawSql, slotSentinels, StatementTemplate } from '../../db/sql.js';
import { Prisma, type LedgerEntry, type Member, type Voucher, type VoucherStatus } from '../../generated/prisma/client.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { MEMBER_COLUMNS } from './member-row.js';
import { readableMemberId } from './members.service.js';
import { expiriesFromJson, upcomingExpiriesSql, type UpcomingExpiry } from '../points/expiring.service.js';
import { pointsFromBigint } from '../points/lifetime-points.js';
import { settingsForHash, type ProgramView } from '../program/program.service.js';
import { NO_QUALIFYING_STANDING, qualifyingPointsChangeAt, qualifyingStandingSql, loadTierStandings } from '../tiers/tiers.service.js';
import {
  screenVouchersFromJson,
  voucherListChangesAt,
  vouchersFromJson,
  vouchersJsonSql,
  type ScreenVoucher,
} from '../vouchers/vouchers.service.js';

/**
 * What the member status screen shows, in one statement.
 *
 * Mobile apps load the status on every app open: the member, their newest
 * vouchers and ledger entries, every upcoming expiry and their tier standing.
 * Through Prisma that was one query for the member with its relations (its
 * engine's CPU per query is several times node-postgres's, and an unprepared
 * statement is planned again every time) plus one statement each for expiries
 * and standing. Here it is one prepared statement on node-postgres, with the
 * rules where they live: voucher status (vouchers), expiries (points),
 * qualifying points (tiers).
 */
export interface MemberStatusRequest {
  /**
   * Newest vouchers first (issued at, id), at most `take`; `status` as `voucherStatusWhere`. With `screen`, each
   * voucher has only the columns the status screen shows (`SCREEN_VOUCHER_COLUMNS`) and its `memberId`: for a caller
   * that reads no other. Building every column's JSON is most of the statement's cost to PostgreSQL.
   */
  vouchers?: { take: number; status: VoucherStatus | null; screen?: boolean };
  /** Newest entries first (created at, id), at most `take`; with `screen`, only `SCREEN_ENTRY_COLUMNS` and `memberId`. */
  ledger?: { take: number; screen?: boolean };
  expiries?: boolean;
  standing?: boolean;
  /** The program settings (for the member's tier as the program defines it); implied by `standing`. */
  program?: boolean;
}

/**
 * The orders this statement reads vouchers and entries in. The GraphQL
 * connections `Member.vouchers` and `Member.ledger` page in the same orders
 * (they use these constants), so their first pages are what this returns.
 */
export const VOUCHERS_NEWEST_FIRST = [{ issuedAt: 'desc' }, { id: 'desc' }] satisfies Prisma.VoucherOrderByWithRelationInput[];
export const LEDGER_NEWEST_FIRST = [{ createdAt: 'desc' }, { id: 'desc' }] satisfies Prisma.LedgerEntryOrderByWithRelationInput[];

export interface MemberStatus {
  /**
   * The member as Prisma returns it, with `vouchers` and `ledger` when they were asked for: rows as Prisma returns
   * them, or with the screen's columns alone when the request said `screen`.
   */
  member: Member & { vouchers?: Voucher[] | ScreenVoucher[]; ledger?: LedgerEntry[] | ScreenEntry[] };
  expiries?: UpcomingExpiry[];
  /**
   * `changesAt`: when the standing can next show otherwise with the clock alone — its oldest qualifying entry leaves
   * the rolling window, which no event marks (`qualifyingPointsChangeAt`); null: not before an event. Nothing else
   * read here changes with the clock alone: pending points and expiries change when a lot is settled (the
   * maintenance sweep, a point operation), which reports a change.
   */
  standing?: { program: ProgramView; qualifyingPoints: number; changesAt: Date | null };
  program?: ProgramView;
  /**
   * When the vouchers read can next show otherwise with the clock alone (`voucherListChangesAt`, dated at this
   * read's instant): an answer made of this status holds until then at most. Null: not before an event. Absent when
   * no vouchers were asked for.
   */
  vouchersChangeAt?: Date | null;
}

const ENTRY_JSON = Prisma.sql`json_build_object('id', e.id, 'memberId', e.member_id, 'kind', e.kind, 'amount', e.amount,
  'balanceAfter', e.balance_after, 'causeType', e.cause_type, 'causeRef', e.cause_ref, 'actorType', e.actor_type,
  'actorId', e.actor_id, 'idempotencyKey', e.idempotency_key, 'note', e.note, 'createdAt', e.created_at)`;

/**
 * The columns of a ledger entry the member status screen shows: what changed, by how much, the balance after, the
 * cause and when — 7 of its 12 columns (no actor, note or idempotency key).
 */
const SCREEN_ENTRY_SQL = {
  id: Prisma.sql`e.id`,
  kind: Prisma.sql`e.kind`,
  amount: Prisma.sql`e.amount`,
  balanceAfter: Prisma.sql`e.balance_after`,
  causeType: Prisma.sql`e.cause_type`,
  causeRef: Prisma.sql`e.cause_ref`,
  createdAt: Prisma.sql`e.created_at`,
} satisfies Partial<Record<keyof LedgerEntry, Prisma.Sql>>;

export const SCREEN_ENTRY_COLUMNS = Object.keys(SCREEN_ENTRY_SQL) as readonly (keyof typeof SCREEN_ENTRY_SQL)[];

/** An entry with the status screen's columns alone, and its member (the member read). */
export type ScreenEntry = Pick<LedgerEntry, keyof typeof SCREEN_ENTRY_SQL | 'memberId'>;

const SCREEN_ENTRY_JSON = jsonObjectSql(SCREEN_ENTRY_SQL);

type Json<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] };

function entryFromJson(row: Json<LedgerEntry>): LedgerEntry {
  return { ...row, createdAt: new Date(row.createdAt) };
}

/** Each key named, as `screenVouchersFromJson` builds its rows (a spread that gains a key is V8's slow path). */
function screenEntryFromJson(row: Json<Omit<ScreenEntry, 'memberId'>>, memberId: string): ScreenEntry {
  return {
    id: row.id,
    memberId,
    kind: row.kind,
    amount: row.amount,
    balanceAfter: row.balanceAfter,
    causeType: row.causeType,
    causeRef: row.causeRef,
    createdAt: new Date(row.createdAt),
  };
}

interface StatusRow extends Member {
  vouchers: Parameters<typeof vouchersFromJson>[0] | Parameters<typeof screenVouchersFromJson>[0] | null;
  ledger: Json<LedgerEntry>[] | Json<Omit<ScreenEntry, 'memberId'>>[] | null;
  expiries: { expiresAt: string; points: number }[] | null;
  qualifying_points: bigint | null;
  qualifying_oldest: Date | null;
  settings_hash: string | null;
  program_version: number | null;
  program_updated_at: Date | null;
}

/**
 * The member's status as asked for, for a caller (`member(id)`, `me`, the live status' member on the status screen's
 * path): whoever may read the member (`readableMemberId`: SERVICE_CALLERS.readMembers, anyone else refused with a
 * ForbiddenError before anything is read). A member reads only themself: another member's status is null, as one
 * nobody has. Checked in memory, before the one statement: the hot path pays nothing more.
 */
export async function readMemberStatus(
  deps: ServiceDeps,
  memberId: string,
  request: MemberStatusRequest,
  caller: Caller,
): Promise<MemberStatus | null> {
  const id = readableMemberId(memberId, caller);
  return id === null ? null : loadMemberStatus(deps, id, request);
}

/** What a read of a member through Prisma loads with it: plugin-prisma's plan of a GraphQL selection, say. */
export type MemberReadShape = Pick<Prisma.MemberFindUniqueArgs, 'select' | 'include'>;

/**
 * The member, with what `shape` loads with it, for a caller: the same read and rule as `readMemberStatus`, through
 * Prisma, for what the one statement does not answer (cursors, last pages, other relations). Null when there is no
 * such member, and for a member token, for anyone but themself.
 */
export async function readMember(deps: ServiceDeps, memberId: string, shape: MemberReadShape, caller: Caller): Promise<Member | null> {
  const id = readableMemberId(memberId, caller);
  if (id === null) return null;
  return deps.prisma.member.findUnique({ ...shape, where: { id } } as Prisma.MemberFindUniqueArgs);
}

/** What changes between two status reads of one shape: the statement's values. */
interface StatusValues extends Record<string, unknown> {
  memberId: string;
  now: Date;
  vouchersTake: number;
  ledgerTake: number;
}

/** The sentinels of `StatusValues` (`StatementTemplate`). */
const STATUS_SLOTS = slotSentinels<StatusValues>({ memberId: 'text', now: 'date', vouchersTake: 'number', ledgerTake: 'number' });

/**
 * The status statement of each request's shape (which parts, which voucher status, all columns or the screen's),
 * built once: a read assembles no SQL and sends the same prepared statement as the last read of its shape. At most
 * 198 shapes (11 of the vouchers' page × 3 of the ledger's × 2 × 3 of the expiries, standing and program), each a
 * named statement of src/db/sql.ts's MAX_PREPARED as its text was before; a service sees the few its clients send.
 */
const statusStatements = new Map<string, StatementTemplate<StatusValues>>();

function statusShapeKey(request: MemberStatusRequest, withProgram: boolean): string {
  const { vouchers, ledger } = request;
  return `${vouchers ? `${vouchers.status ?? '*'}${vouchers.screen === true ? 's' : 'a'}` : '-'}/${ledger ? (ledger.screen === true ? 's' : 'a') : '-'}/${request.expiries === true ? 'x' : '-'}/${request.standing === true ? 'q' : '-'}/${withProgram ? 'p' : '-'}`;
}

function statusStatement(request: MemberStatusRequest, withProgram: boolean): StatementTemplate<StatusValues> {
  const key = statusShapeKey(request, withProgram);
  let template = statusStatements.get(key);
  if (!template) {
    template = new StatementTemplate((slots) => statusSql(request, withProgram, slots), STATUS_SLOTS);
    statusStatements.set(key, template);
  }
  return template;
}

function statusSql(request: MemberStatusRequest, withProgram: boolean, values: StatusValues): Prisma.Sql {
  const id = Prisma.sql`m.id`;
  const { vouchers, ledger } = request;
  return Prisma.sql`
    SELECT ${MEMBER_COLUMNS},
      ${vouchers ? vouchersJsonSql(id, vouchers.status, values.vouchersTake, values.now, vouchers.screen ? 'screen' : 'all') : Prisma.sql`NULL::json`} AS vouchers,
      ${
        ledger
          ? Prisma.sql`(SELECT COALESCE(json_agg(${ledger.screen ? SCREEN_ENTRY_JSON : ENTRY_JSON} ORDER BY e.created_at DESC, e.id DESC), '[]')
              FROM (SELECT * FROM ledger_entries e WHERE e.member_id = m.id
                    ORDER BY e.created_at DESC, e.id DESC LIMIT ${values.ledgerTake}::int) e)`
          : Prisma.sql`NULL::json`
      } AS ledger,
      ${request.expiries ? upcomingExpiriesSql(id) : Prisma.sql`NULL::json`} AS expiries,
      q.qualifying_points, q.qualifying_oldest,
      ${withProgram ? Prisma.sql`p.settings_hash` : Prisma.sql`NULL::text`} AS settings_hash,
      ${withProgram ? Prisma.sql`p.version` : Prisma.sql`NULL::int`} AS program_version,
      ${withProgram ? Prisma.sql`p.program_updated_at` : Prisma.sql`NULL::timestamptz`} AS program_updated_at
    FROM members m
    LEFT JOIN (SELECT settings_hash, version, updated_at AS program_updated_at
               FROM program WHERE id = 1) p ON true
    CROSS JOIN LATERAL ${request.standing ? qualifyingStandingSql(id, values.now) : NO_QUALIFYING_STANDING} q
    WHERE m.id = ${values.memberId}::uuid`;
}

/** The member's status as asked for; null when there is no such member. Checks no caller: `readMemberStatus`'s. */
async function loadMemberStatus(deps: ServiceDeps, memberId: string, request: MemberStatusRequest): Promise<MemberStatus | null> {
  const now = nowOf(deps);
  const { vouchers, ledger } = request;
  const db = rawSql(deps.prisma);
  const withProgram = request.standing === true || request.program === true;
  const statement = statusStatement(request, withProgram);
  const [row] = await db.$queryRaw<StatusRow[]>(
    statement.strings,
    ...statement.values({ memberId, now, vouchersTake: vouchers?.take ?? 0, ledgerTake: ledger?.take ?? 0 }),
  );
  if (!row) return null;
  const {
    vouchers: voucherRows,
    ledger: entryRows,
    expiries,
    qualifying_points: qualifyingPoints,
    qualifying_oldest: qualifyingOldest,
    settings_hash: settingsHash,
    program_version: version,
    program_updated_at: updatedAt,
    ...member
  } = row;
  const status: MemberStatus = { member };
  if (vouchers) {
    const rows = vouchers.screen
      ? screenVouchersFromJson((voucherRows ?? []) as Parameters<typeof screenVouchersFromJson>[0], member.id)
      : vouchersFromJson((voucherRows ?? []) as Parameters<typeof vouchersFromJson>[0]);
    status.member.vouchers = rows;
    status.vouchersChangeAt = voucherListChangesAt(rows, { status: vouchers.status }, now);
  }
  if (ledger) {
    status.member.ledger = ledger.screen
      ? (entryRows ?? []).map((row) => screenEntryFromJson(row, member.id))
      : ((entryRows as Json<LedgerEntry>[] | null) ?? []).map(entryFromJson);
  }
  if (request.expiries) status.expiries = expiriesFromJson(expiries ?? []);
  if (withProgram) {
    let standing: NonNullable<MemberStatus['standing']>;
    if (settingsHash === null || version === null || updatedAt === null) {
      // No program row yet: loadTierStandings creates it with the defaults.
      const standings = await loadTierStandings(db, request.standing ? [memberId] : [], now);
      standing = {
        program: standings.program,
        qualifyingPoints: standings.qualifyingPoints.get(memberId) ?? 0,
        changesAt: standings.changesAt.get(memberId) ?? null,
      };
    } else {
      const settings = await settingsForHash(db, settingsHash);
      standing = {
        program: { settings, version, updatedAt },
        qualifyingPoints: qualifyingPoints === null ? 0 : pointsFromBigint(qualifyingPoints),
        // With the window's months of the program row the statement read.
        changesAt: qualifyingPointsChangeAt(qualifyingOldest, settings.tierQualifyingMonths),
      };
    }
    status.program = standing.program;
    if (request.standing) status.standing = standing;
  }
  return status;
}
