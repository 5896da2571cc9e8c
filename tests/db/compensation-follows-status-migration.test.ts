// No useTestApp(): the tests migrate databases of their own. Some are seeded as they could be before a failure's
// status held its compensation and voucher (migration 202612181000_compensation_follows_status), then migrated to
// the end; the last is a clone of the migrated template and refuses the broken shapes.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { applyMigrations } from '../../src/db/migrate.js';
import { createPrisma } from '../../src/db/prisma.js';
import { violates } from '../../src/db/sql.js';
import { createLogger } from '../../src/logger.js';
import { processCompensation } from '../../workers/compensation.processor.js';
import { createScratchDatabase, dropTestDatabase } from '../support/db.js';
import { useDatabasesBefore, withClient } from '../support/migration-steps.js';

const MIGRATION = '202612181000_compensation_follows_status';
const HAS_AMOUNT = 'service_failures_granted_or_waiting_has_amount';
const VOUCHER_ONLY_WHEN_COMPENSATED = 'service_failures_voucher_only_when_compensated';
const HAS_VOUCHER = 'service_failures_compensated_has_voucher';
const CHECK_VIOLATION = '23514';
const databases = useDatabasesBefore();

async function insertMember(client: pg.Client, externalId: string, status = 'ACTIVE'): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO members (external_id, name, status) VALUES ($1, 'Ada', $2) RETURNING id::text`,
    [externalId, status],
  );
  return rows[0]!.id;
}

/** A COMPENSATION voucher of `amount` `currency`, caused by the failure `causeRef` (or by a gesture, `kind: 'GOODWILL'`). */
async function insertVoucher(
  client: pg.Client,
  memberId: string,
  { amount, currency, causeRef, goodwill = false }: { amount: string; currency: string; causeRef: string; goodwill?: boolean },
): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO vouchers (code, member_id, kind, value_type, amount, currency, cause_type, cause_ref, expires_at)
     VALUES ('TEST-VOUCHER-' || $1::text, $2, $3, 'FIXED', $4, $5, $6, $1::text, now() + interval '90 days') RETURNING id::text`,
    [causeRef, memberId, goodwill ? 'GOODWILL' : 'COMPENSATION', amount, currency, goodwill ? 'GESTURE' : 'FAILURE'],
  );
  return rows[0]!.id;
}

interface FailureRow {
  status: string;
  amount?: string | null;
  currency?: string | null;
  voucherId?: string | null;
  note?: string | null;
  reviewReason?: string | null;
  decidedBy?: string | null;
  incidentId?: string | null;
  /** Its id, when a voucher names it as its cause before it exists. */
  id?: string;
}

/** A failure of `memberId` for the order `orderRef`, with its decision as given. */
async function insertFailure(client: pg.Client, memberId: string, orderRef: string, failure: FailureRow): Promise<string> {
  const { rows } = await client.query<{ id: string }>(
    `INSERT INTO service_failures (id, member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id, status,
                                   compensation_amount, compensation_currency, voucher_id, decision_note, review_reason,
                                   decided_by, decided_at, incident_id)
     VALUES (coalesce($1::uuid, gen_random_uuid()), $2, 'LATE_DELIVERY', 'LOW', now(), $3, 'API_KEY', 'shop', $4,
             $5, $6, $7, $8, $9, $10, CASE WHEN $10::text IS NOT NULL THEN now() END, $11)
     RETURNING id::text`,
    [
      failure.id ?? null,
      memberId,
      orderRef,
      failure.status,
      failure.amount ?? null,
      failure.currency ?? null,
      failure.voucherId ?? null,
      failure.note ?? null,
      failure.reviewReason ?? null,
      failure.decidedBy ?? null,
      failure.incidentId ?? null,
    ],
  );
  return rows[0]!.id;
}

const failuresByOrder = async (client: pg.Client) =>
  Object.fromEntries(
    (
      await client.query<{ order_ref: string } & Required<Omit<FailureRow, 'id' | 'incidentId'>>>(
        `SELECT order_ref, status::text, compensation_amount::text AS amount, compensation_currency AS currency,
                voucher_id::text AS "voucherId", decision_note AS note, review_reason::text AS "reviewReason",
                decided_by AS "decidedBy"
         FROM service_failures`,
      )
    ).rows.map(({ order_ref, ...failure }) => [order_ref, failure]),
  );

const compensationJobs = async (client: pg.Client) =>
  (
    await client.query<{ id: string; queue: string; jobName: string; payload: { failureId: string; eventId: string } }>(
      `SELECT id::text, queue, job_name AS "jobName", payload FROM outbox_events WHERE completed_at IS NULL`,
    )
  ).rows.sort((a, b) => (a.payload.failureId < b.payload.failureId ? -1 : 1));

const undecided = { note: null, reviewReason: null, decidedBy: null };

describe(`migration ${MIGRATION}`, () => {
  it('sends a waiting failure without its amount back to the policy, with a job; a compensated one takes its voucher’s; a voucher makes a failure compensated', async () => {
    const url = await databases.before(MIGRATION, 'compensation_status');
    const ids = await withClient(url, async (client) => {
      const memberId = await insertMember(client, 'm-1');
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO service_incidents (type, severity, occurred_at, budget, currency, reporter_type, reporter_id)
         VALUES ('OUTAGE', 'LOW', now(), 10.00, 'EUR', 'API_KEY', 'shop') RETURNING id::text`,
      );
      const incidentId = rows[0]!.id;
      const failure = (orderRef: string, row: FailureRow) => insertFailure(client, memberId, orderRef, row);

      // Waiting for a grant without the amount to grant: back to RECORDED, with a job.
      const ids = {
        reviewWithout: await failure('review-without', { status: 'NEEDS_REVIEW', reviewReason: 'CAP' }),
        heldWithout: await failure('held-without', { status: 'HELD', note: 'the member is suspended' }),
        budgetWithout: await failure('budget-without', { status: 'NEEDS_REVIEW', reviewReason: 'INCIDENT_BUDGET', incidentId }),
        // An incident records one failure per member: another member's, approved.
        approvedWithout: await insertFailure(client, await insertMember(client, 'm-2'), 'approved-without', {
          status: 'RECORDED',
          reviewReason: 'INCIDENT_BUDGET',
          decidedBy: 'supervisor-1',
          note: 'granted',
          incidentId,
        }),
      };
      // A compensated failure without its amount: its voucher's, in the voucher's currency.
      const compensatedWithout = randomUUID();
      const issuedVoucher = await insertVoucher(client, memberId, { amount: '12.50', currency: 'GBP', causeRef: compensatedWithout });
      await failure('compensated-without', { id: compensatedWithout, status: 'COMPENSATED', voucherId: issuedVoucher });
      // Not compensated, but a voucher issued for it: the member holds it, so it is compensated, as the voucher says.
      const declinedWithVoucher = randomUUID();
      const ownVoucher = await insertVoucher(client, memberId, { amount: '7.00', currency: 'USD', causeRef: declinedWithVoucher });
      await failure('declined-with-voucher', {
        id: declinedWithVoucher,
        status: 'NOT_ELIGIBLE',
        amount: '5.00',
        currency: 'EUR',
        voucherId: ownVoucher,
        note: 'declined',
        decidedBy: 'supervisor-1',
      });
      // A voucher id naming no compensation of the failure (a gesture's voucher; a voucher that does not exist): cleared.
      const gestureVoucher = await insertVoucher(client, memberId, {
        amount: '3.00',
        currency: 'EUR',
        causeRef: 'gesture-1',
        goodwill: true,
      });
      await failure('recorded-with-other-voucher', { status: 'RECORDED', voucherId: gestureVoucher });
      await failure('review-with-missing-voucher', {
        status: 'NEEDS_REVIEW',
        amount: '10.00',
        currency: 'EUR',
        reviewReason: 'CAP',
        voucherId: randomUUID(),
      });

      // Rows that already keep the rules: untouched.
      const paid = randomUUID();
      const paidVoucher = await insertVoucher(client, memberId, { amount: '15.00', currency: 'EUR', causeRef: paid });
      await failure('compensated', { id: paid, status: 'COMPENSATED', amount: '15.00', currency: 'EUR', voucherId: paidVoucher });
      await failure('review', { status: 'NEEDS_REVIEW', amount: '20.00', currency: 'EUR', reviewReason: 'CAP' });
      await failure('held', { status: 'HELD', amount: '5.00', currency: 'EUR', note: 'the member is suspended' });
      await failure('released', { status: 'RECORDED', amount: '5.00', currency: 'EUR' });
      await failure('recorded', { status: 'RECORDED' });
      await failure('not-eligible', { status: 'NOT_ELIGIBLE', note: 'closed' });
      await failure('declined', { status: 'NOT_ELIGIBLE', amount: '8.00', currency: 'EUR', note: 'no', decidedBy: 'supervisor-1' });
      return { ...ids, issuedVoucher, ownVoucher, paidVoucher };
    });

    const { applied } = await applyMigrations(url);
    expect(applied[0]).toBe(MIGRATION);

    await withClient(url, async (client) => {
      const failures = await failuresByOrder(client);
      expect(failures).toEqual({
        'review-without': { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'held-without': { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'budget-without': { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'approved-without': { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'compensated-without': { status: 'COMPENSATED', amount: '12.50', currency: 'GBP', voucherId: ids.issuedVoucher, ...undecided },
        'declined-with-voucher': {
          status: 'COMPENSATED',
          amount: '7.00',
          currency: 'USD',
          voucherId: ids.ownVoucher,
          note: 'declined',
          reviewReason: null,
          decidedBy: 'supervisor-1',
        },
        'recorded-with-other-voucher': { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'review-with-missing-voucher': {
          status: 'NEEDS_REVIEW',
          amount: '10.00',
          currency: 'EUR',
          voucherId: null,
          note: null,
          reviewReason: 'CAP',
          decidedBy: null,
        },
        compensated: { status: 'COMPENSATED', amount: '15.00', currency: 'EUR', voucherId: ids.paidVoucher, ...undecided },
        review: {
          status: 'NEEDS_REVIEW',
          amount: '20.00',
          currency: 'EUR',
          voucherId: null,
          note: null,
          reviewReason: 'CAP',
          decidedBy: null,
        },
        held: { status: 'HELD', amount: '5.00', currency: 'EUR', voucherId: null, ...undecided, note: 'the member is suspended' },
        released: { status: 'RECORDED', amount: '5.00', currency: 'EUR', voucherId: null, ...undecided },
        recorded: { status: 'RECORDED', amount: null, currency: null, voucherId: null, ...undecided },
        'not-eligible': { status: 'NOT_ELIGIBLE', amount: null, currency: null, voucherId: null, ...undecided, note: 'closed' },
        declined: {
          status: 'NOT_ELIGIBLE',
          amount: '8.00',
          currency: 'EUR',
          voucherId: null,
          note: 'no',
          reviewReason: null,
          decidedBy: 'supervisor-1',
        },
      });

      // One compensation job per failure sent back, with an event of its own, as a released hold gets.
      const released = [ids.reviewWithout, ids.heldWithout, ids.budgetWithout, ids.approvedWithout].sort();
      const jobs = await compensationJobs(client);
      expect(jobs.map((job) => job.payload.failureId)).toEqual(released);
      for (const job of jobs) {
        expect(job).toEqual({ id: job.payload.eventId, queue: 'compensation', jobName: 'compensate', payload: job.payload });
        expect(released).not.toContain(job.id);
      }
    });
  });

  it('the job it writes decides the failure again, this time with its amount', async () => {
    const url = await databases.before(MIGRATION, 'compensation_redecided');
    const failureIds = await withClient(url, async (client) => ({
      active: await insertFailure(client, await insertMember(client, 'm-active'), 'o-1', { status: 'NEEDS_REVIEW', reviewReason: 'CAP' }),
      suspended: await insertFailure(client, await insertMember(client, 'm-suspended', 'SUSPENDED'), 'o-2', { status: 'HELD' }),
    }));
    await applyMigrations(url);

    const jobs = await withClient(url, compensationJobs);
    expect(jobs).toHaveLength(2);
    const prisma = createPrisma(url, 2);
    onTestFinished(() => prisma.$disconnect());
    const deps = { prisma, logger: createLogger('silent') };
    const outcomes = Object.fromEntries(
      await Promise.all(jobs.map(async (job) => [job.payload.failureId, await processCompensation(job.payload, deps)] as const)),
    );
    // A member's first LOW failure in the lowest tier: 5.00 in the program currency.
    expect(outcomes[failureIds.active]).toMatchObject({ outcome: 'COMPENSATED', amount: '5.00' });
    expect(outcomes[failureIds.suspended]).toMatchObject({ outcome: 'HELD', amount: '5.00' });

    await withClient(url, async (client) => {
      expect(await failuresByOrder(client)).toMatchObject({
        'o-1': { status: 'COMPENSATED', amount: '5.00', currency: 'EUR', voucherId: expect.any(String) },
        'o-2': { status: 'HELD', amount: '5.00', currency: 'EUR', voucherId: null },
      });
      expect(await compensationJobs(client)).toEqual([]);
    });
  });

  it('stops, naming them, at a compensated failure without an amount whose voucher is gone', async () => {
    const url = await databases.before(MIGRATION, 'compensation_unknown');
    const failureId = await withClient(url, async (client) =>
      insertFailure(client, await insertMember(client, 'm-1'), 'o-1', { status: 'COMPENSATED', voucherId: randomUUID() }),
    );

    await expect(applyMigrations(url)).rejects.toMatchObject({
      code: 'MIGRATION_FAILED',
      message: expect.stringContaining(
        `COMPENSATED service failures without an amount, and no voucher of a fixed amount to take it from: ${failureId}`,
      ),
    });
    // Nothing of it was applied: the row is as it was.
    await withClient(url, async (client) => {
      expect(await failuresByOrder(client)).toMatchObject({ 'o-1': { status: 'COMPENSATED', amount: null } });
      const { rows } = await client.query(`SELECT 1 FROM pg_constraint WHERE conname = $1`, [HAS_AMOUNT]);
      expect(rows).toEqual([]);
    });
  });

  it(`refuses, once migrated, a granted or waiting failure without its amount (${HAS_AMOUNT}) and a voucher on a failure not compensated (${VOUCHER_ONLY_WHEN_COMPENSATED})`, async () => {
    const url = await createScratchDatabase('compensation_status_refused');
    onTestFinished(() => dropTestDatabase(url));
    await withClient(url, async (client) => {
      const memberId = await insertMember(client, 'm-1');
      const attempt = (sql: string) =>
        client.query(sql).then(
          () => 'accepted',
          (error: unknown) => error,
        );
      let order = 0;
      const insert = (status: string, amount: string | null, voucher: boolean) =>
        attempt(
          `INSERT INTO service_failures (member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id,
                                         status, compensation_amount, compensation_currency, voucher_id)
           VALUES ('${memberId}', 'LATE_DELIVERY', 'LOW', now(), 'o-${++order}', 'API_KEY', 'shop', '${status}',
                   ${amount ?? 'NULL'}, ${amount ? "'EUR'" : 'NULL'}, ${voucher ? 'gen_random_uuid()' : 'NULL'})`,
        );
      const update = (orderRef: string, set: string) => attempt(`UPDATE service_failures SET ${set} WHERE order_ref = '${orderRef}'`);
      const refusedBy = (constraint: string) => (refused: unknown) => {
        expect(refused).toMatchObject({ code: CHECK_VIOLATION, constraint });
        expect(violates(refused, CHECK_VIOLATION, constraint)).toBe(true);
      };

      // Every shape the writers keep is accepted.
      for (const [status, amount, voucher] of [
        ['COMPENSATED', '15.00', true],
        ['NEEDS_REVIEW', '20.00', false],
        ['HELD', '5.00', false],
        ['RECORDED', null, false],
        ['RECORDED', '5.00', false], // released from a hold, or an approved remainder
        ['NOT_ELIGIBLE', null, false],
        ['NOT_ELIGIBLE', '8.00', false], // declined, or computed as nothing
      ] as const) {
        expect(await insert(status, amount, voucher), `${status} ${amount} ${voucher}`).toBe('accepted');
      }
      const before = await failuresByOrder(client);

      for (const refused of [
        await insert('COMPENSATED', null, true),
        await insert('NEEDS_REVIEW', null, false),
        await insert('HELD', null, false),
        await update('o-1', 'compensation_amount = NULL, compensation_currency = NULL'),
        await update('o-2', 'compensation_amount = NULL, compensation_currency = NULL'),
        await update('o-3', 'compensation_amount = NULL, compensation_currency = NULL'),
        await update('o-4', "status = 'HELD'"),
        await update('o-6', "status = 'NEEDS_REVIEW'"),
      ]) {
        refusedBy(HAS_AMOUNT)(refused);
      }
      for (const refused of [
        await insert('NEEDS_REVIEW', '20.00', true),
        await insert('HELD', '5.00', true),
        await insert('RECORDED', null, true),
        await insert('NOT_ELIGIBLE', '8.00', true),
        await update('o-1', "status = 'NOT_ELIGIBLE'"),
        await update('o-2', 'voucher_id = gen_random_uuid()'),
      ]) {
        refusedBy(VOUCHER_ONLY_WHEN_COMPENSATED)(refused);
      }
      // And a compensated failure has its voucher, as since the beginning.
      refusedBy(HAS_VOUCHER)(await insert('COMPENSATED', '15.00', false));
      expect(await failuresByOrder(client)).toEqual(before);

      // The writers' moves: a waiting failure granted with its voucher, a hold released, an approved remainder sent
      // back to wait (its amount kept), and declined.
      expect(await update('o-2', "status = 'COMPENSATED', voucher_id = gen_random_uuid()")).toBe('accepted');
      expect(await update('o-3', "status = 'RECORDED'")).toBe('accepted');
      expect(await update('o-5', "status = 'NEEDS_REVIEW'")).toBe('accepted');
      expect(await update('o-5', "status = 'NOT_ELIGIBLE'")).toBe('accepted');
    });
  });
});
