import { currentTraceparent, inSpan } from '../../telemetry/trace-context.js';
import { newRowId } from '../../db/ids.js';
import { Decimal } from 'decimal.js';
import type { Caller } from '../../auth/principal.js';
import { jsonObjectSql, lastStatement, slotSentinels, sqlTransaction, StatementTemplate, type RawSql } from '../../db/sql.js';
import {
  Prisma,
  type CauseType,
  type MemberStatus,
  type Voucher,
  type VoucherKind,
  type VoucherStatus,
} from '../../generated/prisma/client.js';
import { assertMayCall, ownRowsWhere, SERVICE_CALLERS } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { NotFoundError, ValidationError, VoucherNotRedeemableError, type VoucherProblem } from '../errors.js';
import { checkIdempotencyKey, fingerprint, keyTakenSql, once, replay, storedAnswerSql, type Replayable } from '../idempotency.js';
import { memberChange, reportMemberChanges } from '../members/member-changes.js';
import { balanceCte, purchaseMove, reactivationEventsCte, reactivationEventsJson } from '../points/ledger.js';
import {
  assertProgramCurrency,
  currentSettings,
  loadProgram,
  settingsForHash,
  settingsHashAfterLocksSql,
} from '../program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS, type ProgramSettings } from '../program/program-settings.js';
import { addDays } from '../time.js';
import * as check from '../validation.js';
import { eventRowsJson, eventRowsOfJson, isoTimeSql, webhookEventsCte, type WebhookEventInput } from '../webhooks/webhook-events.js';
import { orderReference } from '../orders/order-lines.js';
import { finalOrderRefusalOf, finalOrderRefusalSql, finalOrderStateSql, refuseNewOrderReference } from '../orders/order-record.js';
import { generateVoucherCode, normalizeVoucherCode } from './voucher-code.js';
import { recordGestureVoucherVoided } from '../goodwill/gesture-voucher-voided.js';
import { returnVoidedToBudget } from '../service-failures/incident-budget.js';
import { withFields } from '../../with-fields.js';

const MAX_CODE_ATTEMPTS = 5;

/** A code as typed by a person, in canonical form; a typed error when it cannot be one. */
export function voucherCode(field: string, value: string): string {
  const code = normalizeVoucherCode(value);
  if (code.length === 0 || code.length > 64) throw new ValidationError(field, 'must be a voucher code');
  return code;
}

/** The status a voucher has at `now`: an ISSUED voucher past its expiry is EXPIRED, marked or not. */
export function voucherStatusAt(voucher: Pick<Voucher, 'status' | 'expiresAt'>, now: Date): VoucherStatus {
  return voucher.status === 'ISSUED' && voucher.expiresAt <= now ? 'EXPIRED' : voucher.status;
}

/** Vouchers whose status at `now` is `status` (see `voucherStatusAt`). */
export function voucherStatusWhere(status: VoucherStatus, now: Date): Prisma.VoucherWhereInput {
  switch (status) {
    case 'ISSUED':
      return { status: 'ISSUED', expiresAt: { gt: now } };
    case 'EXPIRED':
      return { OR: [{ status: 'EXPIRED' }, { status: 'ISSUED', expiresAt: { lte: now } }] };
    default:
      return { status };
  }
}

/**
 * The first instant after `now` at which one of these vouchers, read at `now`, changes status with the clock alone:
 * the earliest expiry among those ISSUED then (`voucherStatusAt`); null when none will, every other status being
 * final. No event marks that instant (the maintenance sweep writes EXPIRED later): whoever keeps an answer showing
 * these vouchers keeps it until then at most.
 */
export function voucherStatusesChangeAt(vouchers: Iterable<Pick<Voucher, 'status' | 'expiresAt'>>, now: Date): Date | null {
  return earliestExpiry(vouchers, (voucher) => voucherStatusAt(voucher, now) === 'ISSUED');
}

/** The earliest expiry among the vouchers `counts` takes; null when none. */
function earliestExpiry<V extends Pick<Voucher, 'expiresAt'>>(vouchers: Iterable<V>, counts: (voucher: V) => boolean): Date | null {
  let earliest: Date | null = null;
  for (const voucher of vouchers) if (counts(voucher) && (earliest === null || voucher.expiresAt < earliest)) earliest = voucher.expiresAt;
  return earliest;
}

/** How a list of a member's vouchers was read: its status filter (`voucherStatusWhere`; null: all) and whether its whole length is counted. */
export interface VoucherListRead {
  status: VoucherStatus | null;
  counted?: boolean;
}

/**
 * When a list of a member's vouchers can next differ with the clock alone, from the rows its read returned (a page
 * with its extra row, which tells whether there is a next page); `now` is the instant of the read or a later one.
 * Null: not before an event.
 *
 * - A listed voucher changes status when it expires (`voucherStatusesChangeAt`). Under ISSUED it then leaves the
 *   list; every row was ISSUED when read, so each row counts, even one expired by a `now` later than the read:
 *   an answer showing it is stale already.
 * - Under EXPIRED, a voucher not read joins the list when it expires, and a count under ISSUED or EXPIRED moves with
 *   every expiry of the member's vouchers: rows at hand cannot tell when, so `now` (the answer may change at any moment).
 * - REDEEMED and VOIDED are final, and no voucher reaches them with time.
 */
export function voucherListChangesAt(
  rows: readonly Pick<Voucher, 'status' | 'expiresAt'>[],
  read: VoucherListRead,
  now: Date,
): Date | null {
  if (read.status === 'EXPIRED' || (read.counted === true && read.status === 'ISSUED')) return now;
  if (read.status !== 'ISSUED') return voucherStatusesChangeAt(rows, now);
  return earliestExpiry(rows, (row) => row.status === 'ISSUED');
}

/** `voucherStatusWhere` in SQL, on the vouchers table aliased `v`; no status: every voucher. */
function voucherStatusSql(status: VoucherStatus | null, now: Date): Prisma.Sql {
  switch (status) {
    case null:
      return Prisma.sql`true`;
    case 'ISSUED':
      return Prisma.sql`v.status = 'ISSUED' AND v.expires_at > ${now}::timestamptz`;
    case 'EXPIRED':
      return Prisma.sql`(v.status = 'EXPIRED' OR (v.status = 'ISSUED' AND v.expires_at <= ${now}::timestamptz))`;
    default:
      return Prisma.sql`v.status = ${status}::"VoucherStatus"`;
  }
}

/**
 * What a voucher takes off an order: a fixed amount or a percentage of the order total, to the cent — at most what
 * is left of the total once `discounted` is off it (what the order's other vouchers, redeemed and not rolled back,
 * take off: `orderDiscountedSql`), so that an order's vouchers never take off more than its total together.
 */
export function discountFor(
  voucher: Pick<Voucher, 'valueType' | 'amount' | 'percent'>,
  orderTotal: Decimal,
  discounted: Decimal = new Decimal(0),
): Decimal {
  const left = Decimal.max(orderTotal.minus(discounted), 0);
  const worth =
    voucher.valueType === 'FIXED'
      ? new Decimal(voucher.amount!.toString())
      : orderTotal.mul(voucher.percent!).div(100).toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
  return Decimal.min(worth, left);
}

/**
 * SQL: what the vouchers redeemed on the member's order `orderRef` and not rolled back take off it, in all (numeric;
 * 0 when none or no such order). In a fresh snapshot (a VOLATILE function, migration 202612191000): called in the
 * select list of a statement that locked the voucher's member, it sees every redemption that held the lock before.
 */
export function orderDiscountedSql(memberId: Prisma.Sql, orderRef: string): Prisma.Sql {
  return Prisma.sql`order_vouchers_discount(${memberId}, ${orderRef}::text)`;
}

export type VoucherValue = { type: 'FIXED'; amount: string } | { type: 'PERCENT'; percent: number };

export interface IssueVoucherInput {
  memberId: string;
  kind: VoucherKind;
  value: VoucherValue;
  /** Defaults to the program currency. */
  currency?: string | null;
  minimumOrderValue?: string | null;
  /** Defaults to `now` plus the program's `voucherValidityDays`. */
  expiresAt?: Date | null;
  causeType: CauseType;
  causeRef: string;
  now: Date;
  /** The program settings, when the caller has them loaded already. */
  settings?: ProgramSettings;
}

export interface IssuedVoucher {
  voucher: Voucher;
  /** False when a voucher for this cause already existed and is returned instead. */
  created: boolean;
}

/** A vouchers row as `Voucher`, read the same way by Prisma's raw queries and node-postgres (db/sql.ts). */
const VOUCHER_COLUMNS = Prisma.sql`
  id::text, code, member_id::text AS "memberId", kind::text, value_type::text AS "valueType",
  amount::text, percent, currency, minimum_order_value::text AS "minimumOrderValue", status::text,
  cause_type::text AS "causeType", cause_ref AS "causeRef", issued_at AS "issuedAt", expires_at AS "expiresAt",
  redeemed_at AS "redeemedAt", voided_at AS "voidedAt", void_reason AS "voidReason", expiry_reminded_at AS "expiryRemindedAt"`;

type VoucherRow = Omit<Voucher, 'amount' | 'minimumOrderValue'> & { amount: string | null; minimumOrderValue: string | null };

const voucherOf = (row: VoucherRow): Voucher => ({
  ...row,
  amount: row.amount === null ? null : new Prisma.Decimal(row.amount),
  minimumOrderValue: row.minimumOrderValue === null ? null : new Prisma.Decimal(row.minimumOrderValue),
});

/**
 * The columns of a voucher the member status screen shows: its id, code, kind, status, value (type, amount, percent,
 * currency) and expiry — 9 of its 18 columns, one of its five dates. What `voucherListChangesAt` needs is among them.
 * Building each voucher's JSON is most of what the status statement costs PostgreSQL (bench/README.md, 2026-12-06):
 * a read that needs no more reads these (`vouchersJsonSql`'s `screen`), and the rows it gives back have no others.
 */
const SCREEN_VOUCHER_SQL = {
  id: Prisma.sql`v.id`,
  code: Prisma.sql`v.code`,
  kind: Prisma.sql`v.kind`,
  status: Prisma.sql`v.status`,
  valueType: Prisma.sql`v.value_type`,
  amount: Prisma.sql`v.amount::text`,
  percent: Prisma.sql`v.percent`,
  currency: Prisma.sql`v.currency`,
  expiresAt: Prisma.sql`v.expires_at`,
} satisfies Partial<Record<keyof Voucher, Prisma.Sql>>;

export const SCREEN_VOUCHER_COLUMNS = Object.keys(SCREEN_VOUCHER_SQL) as readonly (keyof typeof SCREEN_VOUCHER_SQL)[];

/** A voucher with the status screen's columns alone, and its member (known to the read that asked for it). */
export type ScreenVoucher = Pick<Voucher, keyof typeof SCREEN_VOUCHER_SQL | 'memberId'>;

const SCREEN_VOUCHER_JSON = jsonObjectSql(SCREEN_VOUCHER_SQL);

/**
 * The member's vouchers in the vouchers table aliased `v`, as one JSON array per statement (newest first, at most
 * `take`): for reads that put a member's vouchers into the member's own statement. Each voucher with every column
 * (`VOUCHER_COLUMNS`; `vouchersFromJson` reads them back), or with `screen` only the status screen's
 * (`SCREEN_VOUCHER_COLUMNS`; `screenVouchersFromJson`).
 */
export function vouchersJsonSql(
  memberId: Prisma.Sql,
  status: VoucherStatus | null,
  take: number,
  now: Date,
  columns: 'all' | 'screen' = 'all',
): Prisma.Sql {
  const page = Prisma.sql`SELECT ${columns === 'all' ? VOUCHER_COLUMNS : Prisma.sql`v.*`} FROM vouchers v
    WHERE v.member_id = ${memberId} AND ${voucherStatusSql(status, now)}
    ORDER BY v.issued_at DESC, v.id DESC LIMIT ${take}::int`;
  return columns === 'all'
    ? Prisma.sql`(SELECT COALESCE(json_agg(page ORDER BY page."issuedAt" DESC, page.id::uuid DESC), '[]') FROM (${page}) page)`
    : Prisma.sql`(SELECT COALESCE(json_agg(${SCREEN_VOUCHER_JSON} ORDER BY v.issued_at DESC, v.id DESC), '[]') FROM (${page}) v)`;
}

type Json<T> = { [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K] };
const dateOrNull = (value: string | null): Date | null => (value === null ? null : new Date(value));

export function vouchersFromJson(rows: Json<VoucherRow>[]): Voucher[] {
  return rows.map((row) =>
    voucherOf({
      ...row,
      issuedAt: new Date(row.issuedAt),
      expiresAt: new Date(row.expiresAt),
      redeemedAt: dateOrNull(row.redeemedAt),
      voidedAt: dateOrNull(row.voidedAt),
      expiryRemindedAt: dateOrNull(row.expiryRemindedAt),
    }),
  );
}

/** `vouchersJsonSql`'s `screen` vouchers as `ScreenVoucher`s of `memberId`'s. */
export function screenVouchersFromJson(rows: Json<Pick<VoucherRow, keyof typeof SCREEN_VOUCHER_SQL>>[], memberId: string): ScreenVoucher[] {
  // Each key named, not spread with memberId added: V8 builds a spread object that gains a key the slow way (about
  // four times the time of this literal for the five vouchers of a status read).
  return rows.map((row) => ({
    id: row.id,
    code: row.code,
    memberId,
    kind: row.kind,
    status: row.status,
    valueType: row.valueType,
    amount: row.amount === null ? null : new Prisma.Decimal(row.amount),
    percent: row.percent,
    currency: row.currency,
    expiresAt: new Date(row.expiresAt),
  }));
}

/** When a voucher issued at `now` expires unless its issuer says otherwise: the program's `voucherValidityDays` later. */
const defaultVoucherExpiry = (now: Date, settings: ProgramSettings): Date => addDays(now, settings.voucherValidityDays);

/** One voucher of a batch: a fixed amount in the program currency for one cause. */
export interface FixedVoucherGrant {
  /** The voucher's id, when the caller has recorded it already (a failure's `voucher_id`); else a new one. */
  id?: string;
  memberId: string;
  causeRef: string;
  /** Decimal string, positive, to the cent. */
  amount: string;
}

/**
 * `issueVoucher` for many causes at once, set-based (the batch compensation of
 * incidents): FIXED vouchers of one kind and cause type in the program currency,
 * valid for the program's `voucherValidityDays`, issued at `now`. The same
 * guards: one voucher per (kind, cause type, cause ref) — a cause that has its
 * voucher already gets that one back — and a code collision is retried with
 * fresh codes. Returns the voucher id per cause ref.
 */
export async function issueFixedVouchers(
  tx: RawSql,
  input: { kind: VoucherKind; causeType: CauseType; grants: readonly FixedVoucherGrant[]; now: Date; settings: ProgramSettings },
): Promise<Map<string, string>> {
  const issued = new Map<string, string>();
  const expiresAt = defaultVoucherExpiry(input.now, input.settings);
  let open = input.grants.map((grant) => ({
    ...grant,
    causeRef: check.text('causeRef', grant.causeRef, { max: 200 }),
    amount: check.money('amount', grant.amount).toFixed(2),
  }));
  for (let attempt = 1; open.length > 0; attempt++) {
    if (attempt > MAX_CODE_ATTEMPTS)
      throw new Error(`no unique voucher codes for ${open.length} vouchers after ${MAX_CODE_ATTEMPTS} attempts`);
    // Each voucher inserted is announced (voucher.issued) in the same statement, as by issueVoucher.
    const inserted = await tx.$queryRaw<{ id: string; causeRef: string }[]>`
      WITH issued AS (
        INSERT INTO vouchers (id, code, member_id, kind, value_type, amount, currency, cause_type, cause_ref, issued_at, expires_at)
        SELECT coalesce(grant_row.id, uuid_v7()), grant_row.code, grant_row.member_id, ${input.kind}::"VoucherKind", 'FIXED',
               grant_row.amount, ${input.settings.currency}::text, ${input.causeType}::"CauseType", grant_row.cause_ref,
               ${input.now}::timestamptz, ${expiresAt}::timestamptz
        FROM unnest(${open.map((grant) => grant.id ?? null)}::uuid[], ${open.map(() => generateVoucherCode())}::text[],
                    ${open.map((grant) => grant.memberId)}::uuid[], ${open.map((grant) => grant.amount)}::numeric[],
                    ${open.map((grant) => grant.causeRef)}::text[])
             AS grant_row(id, code, member_id, amount, cause_ref)
        ON CONFLICT DO NOTHING
        RETURNING *),
      ${webhookEventsCte(voucherEventRows('voucher.issued', Prisma.sql`issued`), input.now)}
      SELECT id::text, cause_ref AS "causeRef" FROM issued`;
    for (const row of inserted) issued.set(row.causeRef, row.id);
    const missing = open.filter((grant) => !issued.has(grant.causeRef));
    if (missing.length === 0) break;
    // Not inserted: the cause has its voucher already (take it), or the code collided (draw again).
    const existing = await tx.$queryRaw<{ id: string; causeRef: string; memberId: string }[]>`
      SELECT id::text, cause_ref AS "causeRef", member_id::text AS "memberId" FROM vouchers
      WHERE kind = ${input.kind}::"VoucherKind" AND cause_type = ${input.causeType}::"CauseType"
        AND cause_ref = ANY(${missing.map((grant) => grant.causeRef)}::text[])`;
    const byCause = new Map(existing.map((row) => [row.causeRef, row]));
    for (const grant of missing) {
      const found = byCause.get(grant.causeRef);
      if (!found) continue;
      if (found.memberId !== grant.memberId) {
        throw new Error(`voucher for ${input.kind} ${input.causeType} ${grant.causeRef} belongs to another member`);
      }
      issued.set(grant.causeRef, found.id);
    }
    open = missing.filter((grant) => !issued.has(grant.causeRef));
  }
  return issued;
}

/**
 * Issues a voucher inside the caller's transaction — a Prisma interactive
 * transaction or a node-postgres one (`sqlTransaction`, the hot paths): the
 * building block for reward purchases, compensation, goodwill and renewal
 * vouchers. One voucher per (kind, cause type, cause ref), by a unique index: a
 * retried grant gets the existing voucher back instead of a second one. The
 * code comes from the CSPRNG; the rare collision on the unique code is retried
 * with a fresh one.
 */
export function issueVoucher(tx: Tx | RawSql, input: IssueVoucherInput): Promise<IssuedVoucher> {
  // Its own span: a trace shows the voucher a request or a job (compensation, reward, goodwill) issued.
  return inSpan('issueVoucher', () => insertVoucher(tx, input), { attributes: { 'treue.voucher.kind': input.kind } });
}

async function insertVoucher(tx: Tx | RawSql, input: IssueVoucherInput): Promise<IssuedVoucher> {
  const settings = input.settings ?? (await currentSettings(tx));
  const currency = input.currency == null ? settings.currency : check.currency('currency', input.currency);
  const causeRef = check.text('causeRef', input.causeRef, { max: 200 });
  let amount: string | null = null;
  let percent: number | null = null;
  if (input.value.type === 'FIXED') {
    amount = check.money('amount', input.value.amount).toFixed(2);
  } else {
    if (!Number.isInteger(input.value.percent) || input.value.percent < 1 || input.value.percent > 100) {
      throw new ValidationError('percent', 'must be a whole percentage between 1 and 100');
    }
    percent = input.value.percent;
  }
  const minimum =
    input.minimumOrderValue == null ? null : check.money('minimumOrderValue', input.minimumOrderValue, { positive: false }).toFixed(2);
  const expiresAt = input.expiresAt ?? defaultVoucherExpiry(input.now, settings);
  if (expiresAt <= input.now) throw new ValidationError('expiresAt', 'must be in the future');

  for (let attempt = 1; attempt <= MAX_CODE_ATTEMPTS; attempt++) {
    // DO NOTHING on any unique index: a concurrent grant of the same cause waits
    // for the first to commit and then finds its voucher below.
    // The voucher.issued event comes from the inserted row in the same statement (none when it existed).
    const inserted = await tx.$queryRaw<VoucherRow[]>`
      WITH issued AS (
        INSERT INTO vouchers
          (code, member_id, kind, value_type, amount, percent, currency, minimum_order_value,
           cause_type, cause_ref, issued_at, expires_at)
        VALUES
          (${generateVoucherCode()}::text, ${input.memberId}::uuid, ${input.kind}::"VoucherKind",
           ${input.value.type}::"VoucherValueType", ${amount}::numeric, ${percent}::int, ${currency}::text,
           ${minimum}::numeric, ${input.causeType}::"CauseType", ${causeRef}::text, ${input.now}::timestamptz,
           ${expiresAt}::timestamptz)
        ON CONFLICT DO NOTHING
        RETURNING *),
      ${webhookEventsCte(voucherEventRows('voucher.issued', Prisma.sql`issued`), input.now)}
      SELECT ${VOUCHER_COLUMNS} FROM issued`;
    if (inserted[0]) return { voucher: voucherOf(inserted[0]), created: true };
    const [found] = await tx.$queryRaw<VoucherRow[]>`
      SELECT ${VOUCHER_COLUMNS} FROM vouchers
      WHERE kind = ${input.kind}::"VoucherKind" AND cause_type = ${input.causeType}::"CauseType" AND cause_ref = ${causeRef}::text`;
    const existing = found ? voucherOf(found) : null;
    if (existing) {
      if (existing.memberId !== input.memberId) {
        throw new Error(`voucher for ${input.kind} ${input.causeType} ${causeRef} belongs to another member`);
      }
      return { voucher: existing, created: false };
    }
    // Neither the cause nor anything else: the code collided. Draw again.
  }
  throw new Error(`no unique voucher code after ${MAX_CODE_ATTEMPTS} attempts`);
}

/**
 * Event rows (see `webhookEventsCte`) of `type` for the vouchers in `source`
 * (a table or CTE with the vouchers columns): the voucher as a receiver needs
 * it to tell the member, code included (docs/webhooks.md).
 */
export function voucherEventRows(type: 'voucher.issued' | 'voucher.expiring', source: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`SELECT ${type}::text AS type, jsonb_build_object(
      'voucherId', v.id::text, 'memberId', v.member_id::text, 'code', v.code, 'kind', v.kind::text,
      'value', jsonb_build_object('type', v.value_type::text, 'amount', v.amount::text, 'percent', v.percent, 'currency', v.currency),
      'minimumOrderValue', v.minimum_order_value::text, 'causeType', v.cause_type::text, 'causeRef', v.cause_ref,
      'issuedAt', ${isoTimeSql(Prisma.sql`v.issued_at`)}, 'expiresAt', ${isoTimeSql(Prisma.sql`v.expires_at`)}) AS data,
    CASE WHEN ${type}::text = 'voucher.expiring' THEN 'voucher.expiring:' || v.id::text END AS dedupe_key
    FROM ${source} v`;
}

/**
 * How to look a voucher up for a caller (`voucher(code)`; case and grouping of
 * the code do not matter). Who may look is SERVICE_CALLERS.readVouchers (staff,
 * keys with `vouchers:redeem` or `members:read`, members): anyone else is
 * refused before the code is looked at. A member only ever finds their own
 * vouchers, so another member's code reads as "no such voucher".
 */
export function visibleVoucherWhere(code: string, caller: Caller): Prisma.VoucherWhereUniqueInput {
  const mayRead = readableVouchersWhere(caller);
  return { code: voucherCode('code', code), ...mayRead };
}

/** What a read loads with the voucher: plugin-prisma's plan of a GraphQL selection, say. */
export type VoucherReadShape = Pick<Prisma.VoucherFindUniqueArgs, 'select' | 'include'>;

/**
 * A voucher by its id (`node(id)`), with what `shape` loads with it, or null when there is none. The rule of
 * `voucher(code)` (`visibleVoucherWhere`), not the members' read: keys with `vouchers:redeem` read vouchers too.
 * Anyone else is refused before anything is read; a member token finds only their own: another member's voucher is
 * not returned, as one nobody was issued. The id must be a UUID (ValidationError).
 */
export async function readVoucher(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: VoucherReadShape,
  caller: Caller,
): Promise<Voucher | null> {
  const mayRead = readableVouchersWhere(caller);
  return deps.prisma.voucher.findUnique({ ...shape, where: { id: check.uuid('id', id), ...mayRead } });
}

/** SERVICE_CALLERS.readVouchers, checked before anything is read, and a member token's read kept to their own vouchers. */
function readableVouchersWhere(caller: Caller): { memberId?: string } {
  return ownRowsWhere(caller, SERVICE_CALLERS.readVouchers, 'readVouchers');
}

interface UseCheck {
  orderTotal: Decimal;
  /** What the order's vouchers redeemed before (not rolled back) take off it: 0 when the order is not known. */
  discounted: Decimal;
  /** The order's currency: the program's (an order total is given in it). */
  orderCurrency: string;
  memberId: string | null;
  caller: Caller;
  now: Date;
}

/** The first reason a voucher cannot be used for this order and caller, or null. */
function problemOf(
  voucher: Pick<Voucher, 'memberId' | 'status' | 'expiresAt' | 'minimumOrderValue' | 'valueType' | 'currency'>,
  { orderTotal, discounted, orderCurrency, memberId, caller, now }: UseCheck,
): Exclude<VoucherProblem, 'NOT_FOUND'> | null {
  if (memberId !== null && memberId !== voucher.memberId) return 'WRONG_MEMBER';
  if (caller.actor.type === 'MEMBER' && caller.actor.id !== voucher.memberId) return 'WRONG_MEMBER';
  const status = voucherStatusAt(voucher, now);
  if (status !== 'ISSUED') return status;
  // An amount (off the order, or as its minimum) is money of the voucher's currency; a bare percentage is not.
  const inMoney = voucher.valueType === 'FIXED' || voucher.minimumOrderValue !== null;
  if (inMoney && voucher.currency !== orderCurrency) return 'OTHER_CURRENCY';
  if (voucher.minimumOrderValue && orderTotal.lt(voucher.minimumOrderValue.toString())) return 'MINIMUM_NOT_MET';
  // Other vouchers took the whole total off: this one would take nothing, and the member keeps it. (A lone voucher on
  // an order of 0.00 is still redeemed, for nothing, as it always was.)
  if (discounted.gt(0) && discounted.gte(orderTotal)) return 'ORDER_FULLY_DISCOUNTED';
  return null;
}

/** Writes down an expiry that has happened; a no-op when someone else already did. */
async function markExpired(db: Tx | ServiceDeps['prisma'], voucherId: string, now: Date): Promise<void> {
  await db.$executeRaw`
    UPDATE vouchers SET status = 'EXPIRED'
    WHERE id = ${voucherId}::uuid AND status = 'ISSUED' AND expires_at <= ${now}`;
}

export interface ValidateVoucherInput {
  code: string;
  orderTotal: string;
  /**
   * The order (of the voucher's member) it would be redeemed on: its vouchers already redeemed count, as
   * `redeemVoucher` counts them. Without it, the voucher is judged alone.
   */
  orderRef?: string | null;
  /** The member the order belongs to; another member's voucher is WRONG_MEMBER. */
  memberId?: string | null;
}

export interface VoucherValidation {
  valid: boolean;
  reason: VoucherProblem | null;
  /** What the voucher would take off this order (0 when not valid). */
  discount: string;
  currency: string;
  /** Null when there is no such voucher or it belongs to another member. */
  voucherId: string | null;
}

/**
 * Says whether a code can be redeemed against an order, and if not, why.
 * Changes nothing but the lazy EXPIRED mark. Another member's voucher reveals
 * nothing beyond WRONG_MEMBER to a storefront or staff; to a member token it
 * is NOT_FOUND, answered exactly as a code that does not exist, so that a
 * member cannot tell whether someone else holds a code.
 */
export async function validateVoucher(deps: ServiceDeps, input: ValidateVoucherInput, caller: Caller): Promise<VoucherValidation> {
  assertMayCall(caller, 'validateVoucher');
  const code = voucherCode('code', input.code);
  const orderTotal = check.money('orderTotal', input.orderTotal, { positive: false });
  const memberId = input.memberId == null ? null : check.uuid('memberId', input.memberId);
  const orderKey = input.orderRef == null ? null : orderReference('orderRef', input.orderRef);
  const orderRef = orderKey?.value ?? null;
  const now = nowOf(deps);
  // The program's currency is the order's: read with the voucher, not after it; so is what the order's vouchers take off.
  const [voucher, { settings }, discounted] = await Promise.all([
    deps.prisma.voucher.findUnique({ where: { code } }),
    loadProgram(deps.prisma),
    orderRef === null ? new Decimal(0) : discountedOnOrderOf(deps.prisma, code, orderRef),
  ]);
  const othersForAMember = voucher !== null && caller.actor.type === 'MEMBER' && caller.actor.id !== voucher.memberId;
  if (orderKey?.refusal) {
    // A reference redeemVoucher would refuse is refused here too, unless the voucher's member has that order (stored
    // before the key rule). Asked only of a voucher the caller may see, held by the member it names: nothing tells
    // of another member's orders.
    const holder = voucher && !othersForAMember && (memberId === null || memberId === voucher.memberId) ? voucher.memberId : null;
    if (holder === null) throw orderKey.refusal;
    await refuseNewOrderReference(deps.prisma, holder, orderKey);
  }
  if (!voucher || othersForAMember) {
    return { valid: false, reason: 'NOT_FOUND', discount: '0.00', currency: settings.currency, voucherId: null };
  }
  const reason = problemOf(voucher, { orderTotal, discounted, orderCurrency: settings.currency, memberId, caller, now });
  if (reason === 'WRONG_MEMBER') {
    return { valid: false, reason, discount: '0.00', currency: settings.currency, voucherId: null };
  }
  if (reason === 'EXPIRED' && voucher.status === 'ISSUED') await markExpired(deps.prisma, voucher.id, now);
  return {
    valid: reason === null,
    reason,
    discount: reason === null ? discountFor(voucher, orderTotal, discounted).toFixed(2) : '0.00',
    currency: settings.currency,
    voucherId: voucher.id,
  };
}

/** What the vouchers redeemed on the order `orderRef` of the member holding `code` take off it (0: no such voucher or order). */
async function discountedOnOrderOf(db: ServiceDeps['prisma'], code: string, orderRef: string): Promise<Decimal> {
  const [row] = await db.$queryRaw<{ discounted: string }[]>`
    SELECT ${orderDiscountedSql(Prisma.sql`v.member_id`, orderRef)}::text AS discounted FROM vouchers v WHERE v.code = ${code}`;
  return new Decimal(row?.discounted ?? 0);
}

async function lockVoucher(tx: Tx, code: string): Promise<Voucher> {
  const [row] = await tx.$queryRaw<{ id: string }[]>`SELECT id::text FROM vouchers WHERE code = ${code} FOR UPDATE`;
  if (!row) throw new NotFoundError('Voucher', code);
  return tx.voucher.findUniqueOrThrow({ where: { id: row.id } });
}

/** A unique index refused a row: P2002 through Prisma, SQLSTATE 23505 from node-postgres (db/sql.ts). */
const isUniqueViolation = (error: unknown): boolean =>
  (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') ||
  (error as { code?: unknown } | null)?.code === '23505';

export interface RedeemVoucherInput {
  code: string;
  orderRef: string;
  orderTotal: string;
  /**
   * The currency `orderTotal` was given in (a MoneyInput), when the client named one: it must be the program's once
   * the redemption's locks are held, so a total given in a currency an admin replaced meanwhile is refused
   * (ValidationError on `currency`) rather than taken as the same figure in the new one.
   */
  currency?: string | null;
  /** The member the order belongs to; another member's voucher is refused (WRONG_MEMBER). */
  memberId?: string | null;
  idempotencyKey: string;
}

/** The outcome of a redemption, stored for idempotent replay. */
export interface VoucherRedemptionResult {
  voucherId: string;
  redemptionId: string;
  orderRef: string;
  discount: string;
  currency: string;
}

/**
 * What `redeemVoucher` answers: the stored outcome and, on its first execution
 * only, the voucher's row as the redemption left it, so that the caller need
 * not read it again. A replay has the stored outcome alone.
 */
export type VoucherRedemptionOutcome = Replayable<VoucherRedemptionResult> & { voucher?: Voucher };

/**
 * Redeems a voucher against an order, once. The voucher row is locked, so
 * concurrent redemptions of one code queue and all but the first find it
 * REDEEMED; the unique (voucher_id, rolled_back_at) NULLS NOT DISTINCT of
 * voucher_redemptions is the last guard (one live redemption per voucher: a
 * cancel may roll one back). The redemption belongs to the voucher member's
 * order `orderRef`, created here when this is the first to name it. The
 * order's vouchers take off at most its total together: this one at most what
 * those redeemed before (not rolled back) left, read under the member's lock,
 * which every redemption and rollback of the member's vouchers takes; when they
 * left nothing it is refused (ORDER_FULLY_DISCOUNTED) and stays ISSUED. The
 * same idempotency key with the same request returns the first result (scoped
 * by code); an expired voucher is marked EXPIRED on the way.
 */
export async function redeemVoucher(deps: ServiceDeps, input: RedeemVoucherInput, caller: Caller): Promise<VoucherRedemptionOutcome> {
  assertMayCall(caller, 'redeemVoucher');
  const code = voucherCode('code', input.code);
  const orderKey = orderReference('orderRef', input.orderRef);
  const orderRef = orderKey.value;
  const orderTotal = check.money('orderTotal', input.orderTotal, { positive: false });
  const memberId = input.memberId == null ? null : check.uuid('memberId', input.memberId);
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const request = { orderRef, orderTotal: orderTotal.toFixed(2), memberId };
  const expiry: { voucherId: string | null } = { voucherId: null };
  const scope = `redeemVoucher:${code}`;
  const requestHash = fingerprint(request);
  try {
    // On node-postgres (db/sql.ts), in two round trips: BEGIN with lock + load + look up the key,
    // redeem + write the key with its answer (returning the voucher's row for the caller) with COMMIT.
    const outcome = await sqlTransaction(deps.prisma, async (tx): Promise<VoucherRedemptionOutcome> => {
      // The voucher's member is locked first (the order every point operation takes: member, then vouchers), for
      // the purchase's activity below; the voucher after it (the one-time filter on `holder`). The key is looked
      // up after the locks, in a snapshot of its own (`keyTakenSql`): a replay waits for the first request. So is
      // the settings' version (`settingsHashAfterLocksSql`): the order is in the currency an admin switched to
      // while the redemption waited, not the one of the statement's snapshot.
      // What the order's vouchers take off it comes in a fresh snapshot too (`orderDiscountedSql`): the redemption of
      // another of the member's vouchers on this order that held the member's lock before is counted.
      const lock = REDEMPTION_STATEMENTS.lock;
      const [row] = await tx.$queryRaw<LockedRedemptionRow[]>(lock.strings, ...lock.values({ code, scope, key, orderRef }));
      if (!row) throw new NotFoundError('Voucher', code);
      if (row.taken) return replay<VoucherRedemptionResult>(tx, scope, key, requestHash);
      // Not a replay: the reference as a new key, unless the member's order holds it (stored before the key rule).
      if (orderKey.refusal) await refuseNewOrderReference(tx, row.memberId, orderKey);
      const { settingsHash, memberStatus, orderDiscounted, ...locked } = row;
      const discounted = new Decimal(orderDiscounted);
      const voucher = {
        ...locked,
        amount: row.amount === null ? null : new Prisma.Decimal(row.amount),
        minimumOrderValue: row.minimumOrderValue === null ? null : new Prisma.Decimal(row.minimumOrderValue),
      };
      // The order total is in the program's currency (the defaults' before the program was first written; parsed
      // settings are cached per version, so this reads the program only the first time a process meets one).
      const currency = settingsHash === null ? DEFAULT_PROGRAM_SETTINGS.currency : (await settingsForHash(tx, settingsHash)).currency;
      // Money keeps the currency it was decided in: 49.90 EUR are not 49.90 of the currency the program switched to.
      assertProgramCurrency('currency', input.currency, currency);
      const problem = problemOf(voucher, { orderTotal, discounted, orderCurrency: currency, memberId, caller, now });
      if (problem === 'EXPIRED' && voucher.status === 'ISSUED') expiry.voucherId = voucher.id;
      if (problem !== null) throw new VoucherNotRedeemableError(problem);
      const result = {
        voucherId: voucher.id,
        redemptionId: newRowId(),
        orderRef,
        // Off the order, in its currency (a fixed value is in the same one, problemOf made sure), at most what the
        // order's other vouchers left of its total.
        discount: discountFor(voucher, orderTotal, discounted).toFixed(2),
        currency,
      } satisfies VoucherRedemptionResult;
      // The order (the voucher's member's): created when this is the first to name it; a final order (cancelled or
      // returned in full, decided under the row's lock) takes no voucher: `redeemed` is empty, and the statement fails
      // with the order's state, keeping nothing (`finalOrderRefusalSql`). It is the transaction's last: it goes out
      // with COMMIT (`lastStatement`).
      // Paying with a voucher is a purchase: the member's activity, as an order that earns no points is.
      const reactivationJson = reactivationEventsJson({ id: voucher.memberId, status: memberStatus }, purchaseMove(now));
      const write = REDEMPTION_STATEMENTS[reactivationJson === null ? 'write' : 'writeReactivating'];
      const redemption = lastStatement(tx).$queryRaw<VoucherRow[]>(
        write.strings,
        ...write.values({
          memberId: voucher.memberId,
          voucherId: voucher.id,
          redemptionId: result.redemptionId,
          orderRef,
          orderTotal: orderTotal.toFixed(2),
          discount: result.discount,
          currency,
          actorType: caller.actor.type,
          actorId: caller.actor.id,
          scope,
          key,
          requestHash,
          answerJson: JSON.stringify(result),
          eventsJson: eventRowsJson([voucherRedeemedEvent(voucher.memberId, code, result)]),
          reactivationJson: reactivationJson ?? '',
          traceparent: currentTraceparent(),
          now,
        }),
      );
      // The voucher is locked: only a final order leaves it unredeemed, refused in the statement.
      const [redeemed] = await Promise.resolve(redemption).catch((error: unknown) => {
        throw finalOrderRefusalOf(error, 'orderRef') ?? error;
      });
      if (!redeemed) throw new Error(`voucher ${voucher.id} was neither redeemed nor refused`);
      // The row goes to the caller only: the stored answer is `result`.
      return withFields(result, { replayed: false, voucher: voucherOf(redeemed) });
    });
    if (!outcome.replayed && outcome.voucher) {
      reportMemberChanges(deps, [memberChange(outcome.voucher.memberId, 'VOUCHER_REDEEMED', outcome.voucher.id)]);
    }
    return outcome;
  } catch (error) {
    // The refusal rolled the transaction back; the expiry is a fact worth keeping.
    if (expiry.voucherId !== null) await markExpired(deps.prisma, expiry.voucherId, now);
    if (isUniqueViolation(error)) throw new VoucherNotRedeemableError('REDEEMED');
    throw error;
  }
}

/** What changes between two redemptions' first statements (`REDEMPTION_STATEMENTS`): the statement's values. */
interface RedemptionLockValues extends Record<string, unknown> {
  code: string;
  scope: string;
  key: string;
  orderRef: string;
}

/** The first statement's row: the locked voucher, whether the key is taken, and what the decision reads after the locks. */
type LockedRedemptionRow = LockedVoucherRow & {
  taken: boolean;
  settingsHash: string | null;
  memberStatus: MemberStatus;
  orderDiscounted: string;
};

/**
 * The voucher's member locked, then the voucher (the one-time filter on `holder`), read with the key's state, the
 * settings' version after the locks and what the order's other vouchers take off it (`redeemVoucher`).
 */
function redemptionLockSql(v: RedemptionLockValues): Prisma.Sql {
  return Prisma.sql`
        WITH holder AS (
          SELECT id, status FROM members WHERE id = (SELECT member_id FROM vouchers WHERE code = ${v.code}) FOR NO KEY UPDATE),
        voucher AS (SELECT * FROM vouchers WHERE code = ${v.code} AND EXISTS (SELECT 1 FROM holder) FOR UPDATE)
        SELECT v.id::text, v.member_id::text AS "memberId", v.status::text, v.expires_at AS "expiresAt",
               v.value_type::text AS "valueType", v.amount::text, v.percent, v.currency,
               v.minimum_order_value::text AS "minimumOrderValue", ${keyTakenSql(v.scope, v.key)} AS taken,
               ${settingsHashAfterLocksSql('voucher')} AS "settingsHash",
               (SELECT status::text FROM holder) AS "memberStatus",
               ${orderDiscountedSql(Prisma.sql`v.member_id`, v.orderRef)}::text AS "orderDiscounted"
        FROM voucher v`;
}

/** What changes between two redemptions' writes (`REDEMPTION_STATEMENTS`): the statement's values. */
interface RedemptionValues extends Record<string, unknown> {
  memberId: string;
  voucherId: string;
  redemptionId: string;
  orderRef: string;
  orderTotal: string;
  discount: string;
  currency: string;
  actorType: string;
  actorId: string;
  scope: string;
  key: string;
  requestHash: string;
  answerJson: string;
  eventsJson: string;
  reactivationJson: string;
  traceparent: string | null;
  now: Date;
}

/**
 * The redemption's write, the transaction's last statement (`redeemVoucher`): the order (the voucher's member's),
 * created when this is the first to name it, and the redemption on it; the voucher REDEEMED; the key with its answer;
 * the `voucher.redeemed` event; the purchase as the member's activity (`balanceCte`), with the reactivation's event
 * when it reactivates a PASSIVE member. A final order (cancelled or returned in full, decided under the row's lock)
 * takes no voucher: `redeemed` is empty, and the statement fails with the order's state, keeping nothing
 * (`finalOrderRefusalSql`).
 */
function redemptionWriteSql(reactivates: boolean, v: RedemptionValues): Prisma.Sql {
  const purchase = purchaseMove(v.now);
  const activity = [
    balanceCte(v.memberId, purchase),
    ...(reactivates ? [reactivationEventsCte(v.reactivationJson, v.now, v.traceparent)] : []),
  ];
  return Prisma.sql`
        WITH order_row AS (
          INSERT INTO point_orders (member_id, order_ref, currency, placed_at, created_at)
          VALUES (${v.memberId}::uuid, ${v.orderRef}, ${v.currency}, ${v.now}::timestamptz, ${v.now}::timestamptz)
          ON CONFLICT (member_id, order_ref) DO UPDATE SET order_ref = EXCLUDED.order_ref
          RETURNING id, ${finalOrderStateSql(Prisma.sql`point_orders`)} AS final),
        redemption AS (
          INSERT INTO voucher_redemptions
            (id, voucher_id, order_id, order_ref, order_total, discount, actor_type, actor_id, idempotency_key, created_at)
          SELECT ${v.redemptionId}::uuid, ${v.voucherId}::uuid, order_row.id, ${v.orderRef}, ${v.orderTotal}::numeric,
                 ${v.discount}::numeric, ${v.actorType}::"ActorType", ${v.actorId}, ${v.key}, ${v.now}::timestamptz
          FROM order_row WHERE order_row.final IS NULL
          RETURNING id),
        redeemed AS (
          UPDATE vouchers SET status = 'REDEEMED', redeemed_at = ${v.now}::timestamptz
          WHERE id = ${v.voucherId}::uuid AND EXISTS (SELECT 1 FROM redemption)
          RETURNING ${VOUCHER_COLUMNS}),
        ${storedAnswerSql({ scope: v.scope, key: v.key, requestHash: v.requestHash, json: v.answerJson })},
        ${webhookEventsCte(eventRowsOfJson(v.eventsJson), v.now, 'wh', v.traceparent)},
        ${Prisma.join(activity, ', ')}
        SELECT redeemed.*
        FROM (SELECT ${finalOrderRefusalSql(Prisma.sql`EXISTS (SELECT 1 FROM redeemed)`, Prisma.sql`(SELECT final FROM order_row)`)}) AS allowed
        LEFT JOIN redeemed ON true`;
}

/** The sentinels of `RedemptionValues` (`StatementTemplate`), shared by both shapes of the write. */
const REDEMPTION_SLOTS = slotSentinels<RedemptionValues>({
  memberId: 'text',
  voucherId: 'text',
  redemptionId: 'text',
  orderRef: 'text',
  orderTotal: 'text',
  discount: 'text',
  currency: 'text',
  actorType: 'text',
  actorId: 'text',
  scope: 'text',
  key: 'text',
  requestHash: 'text',
  answerJson: 'text',
  eventsJson: 'text',
  reactivationJson: 'text',
  traceparent: 'text',
  now: 'date',
});

/**
 * `redeemVoucher`'s two statements, built once: a redemption assembles no SQL and sends the same prepared statements
 * as the last one; the write has two shapes, with and without the reactivation's event.
 */
const REDEMPTION_STATEMENTS = {
  lock: new StatementTemplate(
    redemptionLockSql,
    slotSentinels<RedemptionLockValues>({ code: 'text', scope: 'text', key: 'text', orderRef: 'text' }),
  ),
  write: new StatementTemplate((v: RedemptionValues) => redemptionWriteSql(false, v), REDEMPTION_SLOTS),
  writeReactivating: new StatementTemplate((v: RedemptionValues) => redemptionWriteSql(true, v), REDEMPTION_SLOTS),
};

/** The `voucher.redeemed` event (docs/webhooks.md). */
function voucherRedeemedEvent(memberId: string, code: string, result: VoucherRedemptionResult): WebhookEventInput {
  return {
    type: 'voucher.redeemed',
    data: {
      voucherId: result.voucherId,
      memberId,
      code,
      redemptionId: result.redemptionId,
      orderRef: result.orderRef,
      discount: { amount: result.discount, currency: result.currency },
    },
  };
}

/** The columns of a locked voucher that redeeming needs (numerics as text: read alike by Prisma and node-postgres). */
interface LockedVoucherRow {
  id: string;
  memberId: string;
  status: VoucherStatus;
  expiresAt: Date;
  valueType: Voucher['valueType'];
  amount: string | null;
  percent: number | null;
  currency: string;
  minimumOrderValue: string | null;
}

export interface VoidVoucherInput {
  code: string;
  reason: string;
  idempotencyKey: string;
}

/**
 * Takes a voucher out of use (staff). A redeemed voucher cannot be voided; a
 * voided one stays as it was, first reason kept.
 *
 * A voided voucher gave the member nothing, and the limits that count what was
 * given leave it out (docs/domain-rules.md): the member's compensation cap reads
 * the voucher's status (`failureHistorySql`); an incident's budget gets back
 * what its batch counted of it (`returnVoidedToBudget`); a gesture's voucher is a
 * step of the gesture's audit trail (`recordGestureVoucherVoided`: who voided it,
 * and their role, which decides whether the agent's budget gets it back).
 */
export async function voidVoucher(deps: ServiceDeps, input: VoidVoucherInput, caller: Caller): Promise<Replayable<{ voucherId: string }>> {
  assertMayCall(caller, 'voidVoucher');
  const code = voucherCode('code', input.code);
  const reason = check.text('reason', input.reason, { min: 3, max: 500 });
  const key = checkIdempotencyKey(input.idempotencyKey);
  const now = nowOf(deps);
  const voided: { memberId: string | null; voucherId: string | null } = { memberId: null, voucherId: null };
  const outcome = await deps.prisma.$transaction(async (tx) => {
    const voucher = await lockVoucher(tx, code);
    return once(tx, `voidVoucher:${code}`, key, { reason }, async () => {
      if (voucher.status === 'REDEEMED') throw new ValidationError('code', 'a redeemed voucher cannot be voided');
      if (voucher.status !== 'VOIDED') {
        await tx.voucher.update({
          where: { id: voucher.id },
          data: { status: 'VOIDED', voidedAt: now, voidReason: reason },
        });
        if (voucher.kind === 'GOODWILL') await recordGestureVoucherVoided(tx, voucher.id, caller, reason, now);
        if (voucher.kind === 'COMPENSATION') await returnVoidedToBudget(tx, voucher.id);
        voided.memberId = voucher.memberId;
        voided.voucherId = voucher.id;
      }
      return { voucherId: voucher.id };
    });
  });
  // Committed (a replay voids nothing).
  if (voided.memberId !== null) reportMemberChanges(deps, [memberChange(voided.memberId, 'VOUCHER_VOIDED', voided.voucherId)]);
  return outcome;
}

/**
 * Announces vouchers about to expire (`voucher.expiring`), once per voucher,
 * `voucherExpiryReminderDays` (default 7) before they do — as
 * `remindExpiringPoints` does for lots: a conditional update of
 * `expiry_reminded_at` under the row lock, in the statement that writes the
 * event (keyed by the voucher, unique). Returns how many were announced.
 */
export async function remindExpiringVouchers(deps: ServiceDeps, batchSize = 1000): Promise<number> {
  const now = nowOf(deps);
  const { settings } = await loadProgram(deps.prisma);
  const horizon = addDays(now, settings.voucherExpiryReminderDays);
  let announced = 0;
  for (;;) {
    const [row] = await deps.prisma.$queryRaw<{ announced: number }[]>`
      WITH due AS (
        SELECT id FROM vouchers
        WHERE status = 'ISSUED' AND expires_at > ${now}::timestamptz AND expires_at <= ${horizon}::timestamptz
          AND expiry_reminded_at IS NULL
        ORDER BY expires_at
        LIMIT ${batchSize}::int
        FOR UPDATE SKIP LOCKED),
      reminded AS (
        UPDATE vouchers v SET expiry_reminded_at = ${now}::timestamptz
        FROM due WHERE v.id = due.id AND v.expiry_reminded_at IS NULL AND v.status = 'ISSUED'
        RETURNING v.*),
      ${webhookEventsCte(voucherEventRows('voucher.expiring', Prisma.sql`reminded`), now)}
      SELECT count(*)::int AS announced FROM reminded`;
    announced += row?.announced ?? 0;
    if ((row?.announced ?? 0) < batchSize) return announced;
  }
}

/** Marks every ISSUED voucher past its expiry as EXPIRED (maintenance); returns how many. */
export async function expireDueVouchers(deps: ServiceDeps): Promise<number> {
  const now = nowOf(deps);
  const expired = await deps.prisma.$queryRaw<{ id: string; memberId: string }[]>`
    UPDATE vouchers SET status = 'EXPIRED' WHERE status = 'ISSUED' AND expires_at <= ${now}
    RETURNING id::text, member_id::text AS "memberId"`;
  reportMemberChanges(
    deps,
    expired.map((voucher) => memberChange(voucher.memberId, 'VOUCHER_EXPIRED', voucher.id)),
  );
  return expired.length;
}
