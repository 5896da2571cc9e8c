import { createHash, randomUUID } from 'node:crypto';
import type pg from 'pg';
import { newRowId } from '../src/db/ids.js';
import { ORDER_REFUSALS } from '../src/domain/points/ledger.js';

/**
 * The raw earn with the service's rows: what earnPoints asks of PostgreSQL for one order of 25.00 (one rule
 * of 1 point per unit, no line, no webhook endpoint subscribed), sent with as little JavaScript as the raw
 * earn of bench/baseline-server.ts. The two statements are the service's own texts as PostgreSQL logged them
 * (`log_statement = all`, 2026-12-04; the entry's date, `entryDateSql`, since 2026-12-06; a value that recurs
 * sent once, since 2026-12-07): the kernel's opening statement (the member locked, the idempotency key looked up,
 * the due check, the program's versions) and the earn's one write (entry, lot, order, balance, the key with its
 * answer, the webhook fan-out that finds no endpoint), between BEGIN and COMMIT.
 *
 * Its throughput against the raw earn (two rows) is the ceiling the rows themselves put on earnPoints'
 * ratio; earnPoints against it is what the service's code costs beyond its SQL. When the service's statements
 * change, log them again and copy them here (`npx tsx bench/micro.ts --query earn --requests 20` with
 * `log_statement = all`): tests/points/bench-earn-rows.test.ts fails until they are.
 */

const OPEN = `
  WITH member AS (
    SELECT id, status, tier, available_points, pending_points, lifetime_points
    FROM members WHERE id = $1::uuid FOR UPDATE)
  SELECT m.id::text, m.status::text, m.tier::text, m.available_points AS available, m.pending_points AS pending,
         m.lifetime_points AS lifetime,
         idempotency_key_taken($2, $3) AS taken,
         member_has_due_lots(m.id, $4::timestamptz) AS due,
         (m.program).settings_hash, (m.program).earning_rules_stamp::text
  FROM (SELECT member.*, program_cache_keys() AS program FROM member) m`;

const WRITE = `
    WITH entry AS (
      INSERT INTO ledger_entries
        (id, member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key, note, created_at)
      VALUES
        (COALESCE($1::uuid, uuid_v7()), $2::uuid, $3::"LedgerEntryKind",
         $4::int, $5::int, $6::"CauseType", $7,
         $8::"ActorType", $9, $10, $11,
         GREATEST($12::timestamptz,
           (SELECT max(e.created_at) + interval '1 millisecond' FROM ledger_entries e WHERE e.member_id = $2::uuid)))
      RETURNING id),
    lot AS (
      INSERT INTO point_lots (member_id, entry_id, points, remaining, available_at, released_at, expires_at, created_at)
      SELECT $2::uuid, entry.id, $4::int, $4::int, $13::timestamptz,
             $14::timestamptz, $15::timestamptz, $12::timestamptz
      FROM entry
      RETURNING id),
    recorded AS (
      INSERT INTO point_orders
        (member_id, order_ref, order_total, currency, channel, placed_at, earned_at, points_earned, lot_id, created_at)
      SELECT $2::uuid, $7, $16::numeric, $17, $18,
             COALESCE($19::timestamptz, $12::timestamptz), $12::timestamptz, $4::int,
             lot.id, $12::timestamptz
      FROM lot
      ON CONFLICT (member_id, order_ref) DO UPDATE SET
        order_total = EXCLUDED.order_total, channel = EXCLUDED.channel,
        placed_at = COALESCE($19::timestamptz, point_orders.placed_at), earned_at = EXCLUDED.earned_at,
        points_earned = EXCLUDED.points_earned, lot_id = EXCLUDED.lot_id
      WHERE point_orders.earned_at IS NULL AND point_orders.cancelled_at IS NULL
      RETURNING id),
    balance AS (
      UPDATE members SET
        available_points = available_points + $20::int,
        pending_points = pending_points + $21::int,
        lifetime_points = lifetime_points + $4::int,
        last_activity_at = CASE WHEN $22::boolean THEN GREATEST(last_activity_at, $12::timestamptz)
                                ELSE last_activity_at END,
        status = CASE WHEN $23::boolean AND status = 'PASSIVE' THEN 'ACTIVE'::"MemberStatus" ELSE status END,
        updated_at = $12::timestamptz
      WHERE id = $2::uuid
      RETURNING id::text, external_id AS "externalId", email, name, locale, status::text,
  tier::text, tier_since AS "tierSince", enrolled_at AS "enrolledAt", last_activity_at AS "lastActivityAt",
  available_points AS "availablePoints", pending_points AS "pendingPoints", lifetime_points AS "lifetimePoints",
  at_risk AS "atRisk", at_risk_since AS "atRiskSince", created_at AS "createdAt", updated_at AS "updatedAt"), answered AS (
    INSERT INTO idempotency_records (operation, key, request_hash, result)
    VALUES ($24, $25, $26, $27::jsonb)
    RETURNING 1), earned_wh_events AS (
      INSERT INTO webhook_events (type, payload, dedupe_key, created_at)
      SELECT r.type, r.data, r.dedupe_key, $12::timestamptz FROM (SELECT e.type, e.data, e.dedupe_key FROM jsonb_to_recordset($28::jsonb)
    AS e(type text, data jsonb, dedupe_key text)) r
      WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.enabled AND r.type = ANY (e.event_types))
      ON CONFLICT (dedupe_key) DO NOTHING
      RETURNING id, type),
    earned_wh_deliveries AS (
      INSERT INTO webhook_deliveries (event_id, endpoint_id, event_type, created_at, updated_at)
      SELECT ev.id, e.id, ev.type, $12::timestamptz, $12::timestamptz
      FROM earned_wh_events ev JOIN webhook_endpoints e ON e.enabled AND ev.type = ANY (e.event_types)
      RETURNING id),
    earned_wh_jobs AS (
      INSERT INTO outbox_events (id, queue, job_name, payload, created_at, trace_context)
      SELECT d.id, $29, $30, jsonb_build_object('deliveryId', d.id::text), $12::timestamptz,
             $31::text
      FROM earned_wh_deliveries d
      RETURNING id)
    SELECT entry.id::text AS entry_id, lot.id::text AS lot_id, CASE WHEN EXISTS (SELECT 1 FROM recorded) THEN true ELSE treue_refuse(COALESCE((SELECT $32::text FROM point_orders o
               WHERE o.member_id = $2::uuid AND o.order_ref = $7 AND o.cancelled_at IS NOT NULL), $33::text)) END AS recorded, balance.*
    FROM entry, lot, balance`;

/** The two statement texts, for the test that they are still earnPoints' own (tests/points/bench-earn-rows.test.ts). */
export const EARN_STATEMENTS = { open: OPEN, write: WRITE } as const;

interface Opened {
  available: number;
  pending: number;
  taken: boolean;
}

/**
 * One earn of `points` for `memberId` on `client`, inside BEGIN … COMMIT (the caller's). Returns the entry's id and
 * balance. The entry's id is made as the service makes it (`newRowId`, time-ordered) unless `newEntryId` says
 * otherwise (bench/wal-ids.ts compares it with random ids); the lot's and the order's are the tables' defaults.
 */
export async function earnWithServiceRows(
  client: pg.PoolClient,
  memberId: string,
  points: number,
  newEntryId: () => string = newRowId,
): Promise<{ entryId: string; balanceAfter: number }> {
  const now = new Date();
  const orderRef = `rows-${randomUUID()}`;
  const scope = `earnPoints:${memberId}`;
  const requestHash = createHash('sha256').update(`${memberId}:${orderRef}:25.00`).digest('hex');
  const opened = await client.query<Opened>({
    name: 'rows-open',
    text: OPEN,
    values: [memberId, scope, orderRef, now],
  });
  const member = opened.rows[0];
  if (!member || member.taken) throw new Error('no such member, or the key was seen');
  const entryId = newEntryId();
  const balanceAfter = member.available + member.pending + points;
  const availableAt = new Date(now.getTime() + 14 * 86_400_000);
  const expiresAt = new Date(now.getTime() + 730 * 86_400_000);
  const answer = { earned: { lines: [['25', '1', '25', -1, 0]], rules: [], bonuses: [], currency: 'EUR' }, points, entryId, memberId };
  const event = [
    {
      data: { points, status: 'PENDING', entryId, memberId, orderRef, expiresAt, availableAt },
      type: 'points.earned',
      dedupe_key: null,
    },
  ];
  await client.query({
    name: 'rows-write',
    text: WRITE,
    values: [
      entryId,
      memberId,
      'EARN',
      points,
      balanceAfter,
      'ORDER',
      orderRef,
      'API_KEY',
      'bench-baseline',
      `earnPoints:${orderRef}`,
      null,
      now,
      availableAt,
      null,
      expiresAt,
      '25.00',
      'EUR',
      null,
      null,
      0,
      points,
      true,
      true,
      scope,
      orderRef,
      requestHash,
      JSON.stringify(answer),
      JSON.stringify(event),
      'webhooks',
      'deliver',
      null,
      ORDER_REFUSALS.cancelled,
      ORDER_REFUSALS.earned,
    ],
  });
  return { entryId, balanceAfter };
}
