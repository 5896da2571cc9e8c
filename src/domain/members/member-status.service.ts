import { rawSql } from '../../db/sql.js';
import {
  Prisma,
  type LedgerEntry,
  type Member,
  type Voucher,
  type VoucherStatus,
} from '../../generated/prisma/client.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { expiriesFromJson, upcomingExpiriesSql, type UpcomingExpiry } from '../points/expiring.service.js';
import { settingsForHash, type ProgramView } from '../program/program.service.js';
import { qualifyingPointsSql, tierStandings } from '../tiers/tiers.service.js';
import { voucherStatusSql } from '../vouchers/vouchers.service.js';

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
  /** Newest vouchers first (issued at, id), at most `take`; `status` as `voucherStatusWhere`. */
  vouchers?: { take: number; status: VoucherStatus | null };
  /** Newest entries first (created at, id), at most `take`. */
  ledger?: { take: number };
  expiries?: boolean;
  standing?: boolean;
}

export interface MemberStatus {
  /** The member as Prisma returns it, with `vouchers` and `ledger` when they were asked for. */
  member: Member & { vouchers?: Voucher[]; ledger?: LedgerEntry[] };
  expiries?: UpcomingExpiry[];
  standing?: { program: ProgramView; qualifyingPoints: number };
}

const MEMBER_COLUMNS = Prisma.sql`m.id::text AS "id", m.external_id AS "externalId", m.email, m.name, m.locale,
  m.status::text AS "status", m.tier::text AS "tier", m.tier_since AS "tierSince", m.enrolled_at AS "enrolledAt",
  m.last_activity_at AS "lastActivityAt", m.available_points AS "availablePoints", m.pending_points AS "pendingPoints",
  m.lifetime_points AS "lifetimePoints", m.at_risk AS "atRisk", m.at_risk_since AS "atRiskSince",
  m.created_at AS "createdAt", m.updated_at AS "updatedAt"`;

const VOUCHER_JSON = Prisma.sql`json_build_object('id', v.id, 'code', v.code, 'memberId', v.member_id, 'kind', v.kind,
  'valueType', v.value_type, 'amount', v.amount::text, 'percent', v.percent, 'currency', v.currency,
  'minimumOrderValue', v.minimum_order_value::text, 'status', v.status, 'causeType', v.cause_type,
  'causeRef', v.cause_ref, 'issuedAt', v.issued_at, 'expiresAt', v.expires_at, 'redeemedAt', v.redeemed_at,
  'voidedAt', v.voided_at, 'voidReason', v.void_reason)`;

const ENTRY_JSON = Prisma.sql`json_build_object('id', e.id, 'memberId', e.member_id, 'kind', e.kind, 'amount', e.amount,
  'balanceAfter', e.balance_after, 'causeType', e.cause_type, 'causeRef', e.cause_ref, 'actorType', e.actor_type,
  'actorId', e.actor_id, 'idempotencyKey', e.idempotency_key, 'note', e.note, 'createdAt', e.created_at)`;

type Json<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] extends Prisma.Decimal | null ? string | null : T[K] };

const date = (value: string | null): Date | null => (value === null ? null : new Date(value));
const decimal = (value: string | null): Prisma.Decimal | null => (value === null ? null : new Prisma.Decimal(value));

function voucherFromJson(row: Json<Voucher>): Voucher {
  return {
    ...row,
    amount: decimal(row.amount),
    minimumOrderValue: decimal(row.minimumOrderValue),
    issuedAt: new Date(row.issuedAt),
    expiresAt: new Date(row.expiresAt),
    redeemedAt: date(row.redeemedAt),
    voidedAt: date(row.voidedAt),
  };
}

function entryFromJson(row: Json<LedgerEntry>): LedgerEntry {
  return { ...row, createdAt: new Date(row.createdAt) };
}

interface StatusRow extends Member {
  vouchers: Json<Voucher>[] | null;
  ledger: Json<LedgerEntry>[] | null;
  expiries: { expiresAt: string; points: number }[] | null;
  qualifying_points: number | null;
  settings_hash: string | null;
  program_version: number | null;
  program_updated_at: Date | null;
}

/** The member's status as asked for; null when there is no such member. */
export async function readMemberStatus(
  deps: ServiceDeps,
  memberId: string,
  request: MemberStatusRequest,
): Promise<MemberStatus | null> {
  const now = nowOf(deps);
  const id = Prisma.sql`m.id`;
  const { vouchers, ledger } = request;
  const db = rawSql(deps.prisma);
  const [row] = await db.$queryRaw<StatusRow[]>`
    SELECT ${MEMBER_COLUMNS},
      ${
        vouchers
          ? Prisma.sql`(SELECT COALESCE(json_agg(${VOUCHER_JSON} ORDER BY v.issued_at DESC, v.id DESC), '[]')
              FROM (SELECT * FROM vouchers v WHERE v.member_id = m.id AND ${voucherStatusSql(vouchers.status, now)}
                    ORDER BY v.issued_at DESC, v.id DESC LIMIT ${vouchers.take}::int) v)`
          : Prisma.sql`NULL::json`
      } AS vouchers,
      ${
        ledger
          ? Prisma.sql`(SELECT COALESCE(json_agg(${ENTRY_JSON} ORDER BY e.created_at DESC, e.id DESC), '[]')
              FROM (SELECT * FROM ledger_entries e WHERE e.member_id = m.id
                    ORDER BY e.created_at DESC, e.id DESC LIMIT ${ledger.take}::int) e)`
          : Prisma.sql`NULL::json`
      } AS ledger,
      ${request.expiries ? upcomingExpiriesSql(id) : Prisma.sql`NULL::json`} AS expiries,
      ${request.standing ? qualifyingPointsSql(id, now) : Prisma.sql`NULL::int`} AS qualifying_points,
      ${request.standing ? Prisma.sql`p.settings_hash` : Prisma.sql`NULL::text`} AS settings_hash,
      ${request.standing ? Prisma.sql`p.version` : Prisma.sql`NULL::int`} AS program_version,
      ${request.standing ? Prisma.sql`p.updated_at` : Prisma.sql`NULL::timestamptz`} AS program_updated_at
    FROM members m
    LEFT JOIN (SELECT md5(settings::text) AS settings_hash, version, updated_at FROM program WHERE id = 1) p ON true
    WHERE m.id = ${memberId}::uuid`;
  if (!row) return null;
  const {
    vouchers: voucherRows,
    ledger: entryRows,
    expiries,
    qualifying_points: qualifyingPoints,
    settings_hash: settingsHash,
    program_version: version,
    program_updated_at: updatedAt,
    ...member
  } = row;
  const status: MemberStatus = { member };
  if (vouchers) status.member.vouchers = (voucherRows ?? []).map(voucherFromJson);
  if (ledger) status.member.ledger = (entryRows ?? []).map(entryFromJson);
  if (request.expiries) status.expiries = expiriesFromJson(expiries ?? []);
  if (request.standing) {
    status.standing =
      settingsHash === null || version === null || updatedAt === null
        ? // No program row yet: tierStandings creates it with the defaults.
          await tierStandings(db, [memberId], now).then((s) => ({
            program: s.program,
            qualifyingPoints: s.qualifyingPoints.get(memberId) ?? 0,
          }))
        : {
            program: { settings: await settingsForHash(db, settingsHash), version, updatedAt },
            qualifyingPoints: qualifyingPoints ?? 0,
          };
  }
  return status;
}
