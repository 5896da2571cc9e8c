import { createHash } from 'node:crypto';
import { callerText, type Caller } from '../auth/principal.js';
import { Prisma } from '../generated/prisma/client.js';
import { violates, type RawSql } from '../db/sql.js';
import { IdempotencyConflictError, ValidationError } from './errors.js';
import { withFields } from '../with-fields.js';

const KEY_PATTERN = /^[A-Za-z0-9._:-]{1,120}$/;

export function checkIdempotencyKey(key: string): string {
  if (!KEY_PATTERN.test(key)) {
    throw new ValidationError('idempotencyKey', 'must be 1-120 characters of letters, digits, ".", "_", ":" or "-"');
  }
  return key;
}

/** Whether `key` is one `checkIdempotencyKey` accepts: for a look-up before the request's checks, which refuse it. */
export const isIdempotencyKey = (key: string | null | undefined): key is string => key != null && KEY_PATTERN.test(key);

/** An optional key (`once()` runs without one): null when none was sent, else `checkIdempotencyKey`'s. */
export function optionalIdempotencyKey(key: string | null | undefined): string | null {
  return key == null ? null : checkIdempotencyKey(key);
}

function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
}

export function fingerprint(request: unknown): string {
  return createHash('sha256').update(stableStringify(request)).digest('hex');
}

/**
 * `fingerprint` of an object of text fields, computed in SQL from the expressions that hold them (a NULL is JSON
 * null): to compare a stored `request_hash` with requests the rows at hand recorded. The same text as
 * `stableStringify` — keys sorted as it sorts them, values quoted by `to_json`, which escapes as `JSON.stringify`
 * does — hashed as UTF-8.
 */
export function fingerprintSql(fields: Record<string, Prisma.Sql>): Prisma.Sql {
  const members = Object.entries(fields)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, value]) => Prisma.sql`${`${JSON.stringify(name)}:`}::text || coalesce(to_json((${value})::text)::text, 'null')`);
  return Prisma.sql`encode(sha256(convert_to('{' || ${Prisma.join(members, ` || ',' || `)} || '}', 'UTF8')), 'hex')`;
}

export type Replayable<T> = T & { replayed: boolean };

/** How a request reserves its idempotency key (`reserveKeySql`). */
export interface KeyReservation {
  scope: string;
  key: string;
  requestHash: string;
  /** The answer, when it is known before the effect; else stored by `recordResult` afterwards. */
  answer?: object;
  /**
   * A CTE of the same statement (a row it locks) to insert once per row of:
   * the reservation then runs after that lock, and not at all when the row is
   * missing.
   */
  after?: 'member';
}

/**
 * The CTE (`reserved`) reserving (scope, key): the one INSERT into
 * `idempotency_records`. It returns a row only for the first request with the
 * key; a concurrent request with the same key waits on the unique index until
 * the first transaction ends, then finds the key taken (a replay) or free (the
 * first rolled back).
 */
export function reserveKeySql(reservation: KeyReservation): Prisma.Sql {
  const answer = reservation.answer === undefined ? 'null' : JSON.stringify(reservation.answer);
  const from = reservation.after === undefined ? Prisma.empty : Prisma.raw(` FROM ${reservation.after}`);
  return Prisma.sql`reserved AS (
    INSERT INTO idempotency_records (operation, key, request_hash, result)
    SELECT ${reservation.scope}, ${reservation.key}, ${reservation.requestHash}, ${answer}::jsonb${from}
    ON CONFLICT (operation, key) DO NOTHING
    RETURNING 1)`;
}

/**
 * Runs `effect` at most once per (scope, key), inside the caller's transaction.
 *
 * The record is inserted *before* the effect: a concurrent request with the same
 * key blocks on the unique index until the first transaction ends. If the first
 * commits, the second finds its record and replays the stored result; if it
 * rolled back (a typed error), the second runs the effect itself. Same key with
 * a different request → IdempotencyConflictError. No key (an operation whose
 * key is optional, for integrations of before): the effect runs, unrecorded.
 */
export async function once<T extends object>(
  tx: RawSql,
  scope: string,
  key: string | null,
  request: unknown,
  effect: () => Promise<T>,
): Promise<Replayable<T>> {
  if (key === null) return withFields(await effect(), { replayed: false as const });
  const requestHash = fingerprint(request);
  const [reserved] = await tx.$queryRaw<{ fresh: boolean }[]>`
    WITH ${reserveKeySql({ scope, key, requestHash })} SELECT EXISTS (SELECT 1 FROM reserved) AS fresh`;
  if (!reserved?.fresh) return replay<T>(tx, scope, key, requestHash);
  const result = await effect();
  await recordResult(tx, scope, key, result);
  return withFields(result, { replayed: false as const });
}

/**
 * The first answer of (scope, key), whose record was found committed: its
 * result, or IdempotencyConflictError when it answered another request.
 */
export async function replay<T extends object>(tx: RawSql, scope: string, key: string, requestHash: string): Promise<Replayable<T>> {
  const [record] = await tx.$queryRaw<{ request_hash: string; result: T }[]>`
    SELECT request_hash, result FROM idempotency_records WHERE operation = ${scope} AND key = ${key}`;
  if (!record || record.request_hash !== requestHash) throw new IdempotencyConflictError(key);
  return { ...record.result, replayed: true };
}

/** Stores the result of the effect that `scope`/`key` reserved (see `once`). */
export async function recordResult(tx: RawSql, scope: string, key: string, result: object): Promise<void> {
  await tx.$executeRaw`
    UPDATE idempotency_records SET result = ${JSON.stringify(result)}::jsonb
    WHERE operation = ${scope} AND key = ${key}`;
}

/**
 * Whether (scope, key) is taken, as committed when the statement reaches this
 * expression (the function `idempotency_key_taken`, VOLATILE: its query takes a
 * fresh snapshot). In the select list of a statement that locks a row first, it
 * sees every request that held the lock before, which the statement's own
 * snapshot, taken before it waited, does not.
 */
export function keyTakenSql(scope: string, key: string): Prisma.Sql {
  return Prisma.sql`idempotency_key_taken(${scope}, ${key})`;
}

/**
 * The CTE (`answered`) writing (scope, key) once, with its answer: for an effect
 * whose key was found free under its lock (`keyTakenSql`). A request that took
 * the key meanwhile without that lock makes it a unique violation
 * (`isIdempotencyKeyTaken`), which rolls the effect back.
 */
export function storeAnswerSql(scope: string, key: string, requestHash: string, result: object): Prisma.Sql {
  return storedAnswerSql({ scope, key, requestHash, json: JSON.stringify(result) });
}

/** A request's answer as `storeAnswerSql` writes it: its key and the answer's JSON text. */
export interface StoredAnswer {
  scope: string;
  key: string;
  requestHash: string;
  json: string;
}

/** `storeAnswerSql` of an answer already serialised (a statement built once, `StatementTemplate`, takes the text). */
export function storedAnswerSql(answer: StoredAnswer): Prisma.Sql {
  return Prisma.sql`answered AS (
    INSERT INTO idempotency_records (operation, key, request_hash, result)
    VALUES (${answer.scope}, ${answer.key}, ${answer.requestHash}, ${answer.json}::jsonb)
    RETURNING 1)`;
}

/** `storeAnswerSql` as a statement of its own. */
export async function storeAnswer(tx: RawSql, scope: string, key: string, requestHash: string, result: object): Promise<void> {
  await tx.$executeRaw`WITH ${storeAnswerSql(scope, key, requestHash, result)} SELECT 1`;
}

/**
 * The error of `storeAnswerSql`/`storeAnswer` when another request committed the key first (node-postgres' SQLSTATE
 * and constraint). On a Prisma client built elsewhere (`sqlTransaction`'s fallback) the violation stays an error.
 */
export function isIdempotencyKeyTaken(error: unknown): boolean {
  return violates(error, '23505', 'idempotency_records_pkey');
}

/** Whether a unique violation is of a ledger entry's key (`ledger_entries`: one entry per member and key). */
export function isLedgerKeyTaken(error: unknown): boolean {
  return violates(error, '23505', 'ledger_entries_member_id_idempotency_key_key');
}

export type JsonObject = Prisma.InputJsonObject;

/** The scope of one operation's idempotency keys: the caller's own, so two integrations sending "1" do not meet. */
export const scopeOf = (operation: string, caller: Caller): string => `${operation}:${callerText(caller)}`;

/** A record `ownSharedRecordSql` found: what it answered, and to which request. */
export interface SharedRecord {
  requestHash: string;
  result: object;
}

/**
 * The record of `key` under `shared` — the scope every caller of an operation shared before its keys became the
 * caller's own (`scopeOf(shared, caller)`) — when it is the caller's: `mine`, a condition on the record
 * (`stored_record`) or on what it decided, holds. A select-list expression (a `SharedRecord` as jsonb, else null)
 * for the statement that reads the object anyway, without a lock of its own: this version writes no such scope, so
 * it meets records committed before the upgrade (while an older process still runs beside it, a retry whose first
 * request that process answered after this read is told the object is decided rather than replayed; nothing is
 * decided twice). Another caller's record there is not looked at: that key is not this caller's.
 */
export function ownSharedRecordSql(shared: string, key: string, mine: Prisma.Sql): Prisma.Sql {
  return Prisma.sql`(SELECT jsonb_build_object('requestHash', stored_record.request_hash, 'result', stored_record.result)
    FROM idempotency_records stored_record
    WHERE stored_record.operation = ${shared} AND stored_record.key = ${key} AND ${mine})`;
}

/**
 * The caller's own record under a shared scope (`ownSharedRecordSql`), replayed as `once` replays: its answer, or
 * IdempotencyConflictError when it answered another request; null when there was none.
 */
export function replayShared<T extends object>(stored: SharedRecord | null, key: string, request: unknown): Replayable<T> | null {
  if (stored === null) return null;
  if (stored.requestHash !== fingerprint(request)) throw new IdempotencyConflictError(key);
  return { ...(stored.result as T), replayed: true };
}
