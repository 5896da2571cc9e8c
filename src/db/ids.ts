import { v7 } from 'uuid';

/**
 * A new id for a row written per event — a ledger entry, lot, order, voucher,
 * redemption, failure, outbox event, delivery: a UUID version 7 (RFC 9562),
 * whose first 48 bits are the Unix time in milliseconds, so ids made one after
 * the other sort one after the other (`uuid` keeps them increasing within a
 * millisecond too). The time is the clock of the machine that makes the id, not
 * the domain's `now` (tests set their own): an id orders rows, it states no
 * business time; `created_at` does.
 *
 * Why not random: a random (version 4) primary key puts every insert on a
 * random leaf of its index. With millions of members those indexes are far
 * larger than what recent inserts touch, and each insert dirties a leaf of its
 * own, which after every checkpoint goes into the WAL whole (a full-page image)
 * and stays in shared buffers. Time-ordered keys land where the last insert
 * did (bench/README.md measures the WAL per earn both ways). The database's
 * default for the same tables is `uuid_v7()` (migration 202612101000).
 *
 * Ids that outsiders hold and that should not say when they were made — members,
 * API keys, contracts, rewards, rules, cases, incidents, webhook endpoints —
 * stay random (`randomUUID()` / `gen_random_uuid()`).
 */
export function newRowId(): string {
  return v7();
}
