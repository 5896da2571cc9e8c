import { createHash } from 'node:crypto';
import { Prisma } from '../generated/prisma/client.js';
import type { RawSql } from '../db/sql.js';
import { IdempotencyConflictError, ValidationError } from './errors.js';

const KEY_PATTERN = /^[A-Za-z0-9._:-]{1,120}$/;

export function checkIdempotencyKey(key: string): string {
  if (!KEY_PATTERN.test(key)) {
    throw new ValidationError('idempotencyKey', 'must be 1-120 characters of letters, digits, ".", "_", ":" or "-"');
  }
  return key;
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

export type Replayable<T> = T & { replayed: boolean };

/**
 * Runs `effect` at most once per (scope, key), inside the caller's transaction.
 *
 * The record is inserted *before* the effect: a concurrent request with the same
 * key blocks on the unique index until the first transaction ends. If the first
 * commits, the second finds its record and replays the stored result; if it
 * rolled back (a typed error), the second runs the effect itself. Same key with
 * a different request → IdempotencyConflictError.
 */
export async function once<T extends object>(
  tx: RawSql,
  scope: string,
  key: string,
  request: unknown,
  effect: () => Promise<T>,
): Promise<Replayable<T>> {
  const requestHash = fingerprint(request);
  const inserted = await tx.$executeRaw`
    INSERT INTO idempotency_records (operation, key, request_hash, result)
    VALUES (${scope}, ${key}, ${requestHash}, 'null'::jsonb)
    ON CONFLICT (operation, key) DO NOTHING`;
  if (inserted === 0) return replay<T>(tx, scope, key, requestHash);
  const result = await effect();
  await recordResult(tx, scope, key, result);
  return { ...result, replayed: false };
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

/**
 * `recordResult` as a CTE (`answered`) for the effect's last statement, so that
 * storing the answer costs no round trip of its own (see `AlsoInStatement`).
 */
export function recordResultSql(scope: string, key: string, result: object): Prisma.Sql {
  return Prisma.sql`answered AS (
    UPDATE idempotency_records SET result = ${JSON.stringify(result)}::jsonb
    WHERE operation = ${scope} AND key = ${key}
    RETURNING 1)`;
}

/** Stores the result of the effect that `scope`/`key` reserved (see `once`). */
export async function recordResult(tx: RawSql, scope: string, key: string, result: object): Promise<void> {
  await tx.$executeRaw`
    UPDATE idempotency_records SET result = ${JSON.stringify(result)}::jsonb
    WHERE operation = ${scope} AND key = ${key}`;
}

export type JsonObject = Prisma.InputJsonObject;
