import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { cancelContract, extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { ForbiddenError } from '../../src/domain/errors.js';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { recordServiceCase, resolveServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { enrollMember, updateMember } from '../../src/domain/members/members.service.js';
import { adjustPoints, earnPoints, redeemPoints, refundOrder } from '../../src/domain/points/points.service.js';
import { createReward, redeemReward } from '../../src/domain/rewards/rewards.service.js';
import { reportServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { issueVoucher, redeemVoucher, validateVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';

/**
 * Every service checks its caller itself (SERVICE_CALLERS), so a worker, the
 * CLI or a new GraphQL field cannot skip a rule that the GraphQL scope used to
 * hold alone. Each service is called directly with callers its rule does not
 * let in, on input that is otherwise valid (the right caller succeeds with it):
 * each call is a ForbiddenError and nothing is written.
 */
const { prisma, app } = useTestApp();
const NOW = new Date('2026-06-01T12:00:00.000Z');
const deps = () => ({ prisma, logger: app.deps.logger, now: () => NOW });

const admin = staffCaller('ADMIN');
const supervisor = staffCaller('SUPERVISOR');
const agent = staffCaller('AGENT');
const key = (...scopes: Parameters<typeof apiKeyCaller>[1]) => apiKeyCaller(`key-${scopes.join('+')}`, scopes);
const system: Caller = { actor: { type: 'SYSTEM', id: 'job' } };

/** A member with 1 000 available points and an earned order, a voucher, a reward, a contract up for renewal and an open case. */
async function world() {
  const memberId = await app.enroll({ enrolledAt: addMonths(NOW, -12) });
  await adjustPoints(deps(), { memberId, points: 1000, reason: 'opening balance', idempotencyKey: 'open' }, admin);
  await earnPoints(deps(), { memberId, orderRef: 'order-1', orderTotal: '50.00', idempotencyKey: 'earn-1' }, key('points:earn'));
  const { voucher } = await issueVoucher(prisma, {
    memberId,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: '5.00' },
    causeType: 'GESTURE',
    causeRef: 'setup',
    now: NOW,
  });
  const reward = await createReward(deps(), { name: 'Tote bag', pointsCost: 100, voucherValue: '1.00' }, admin);
  const { contractId } = await registerContract(
    deps(),
    { memberId, externalRef: 'C-1', plan: 'mobile', startsAt: addMonths(NOW, -11), termMonths: 12 },
    key('contracts:write'),
  );
  const serviceCase = await recordServiceCase(
    deps(),
    { memberId, channel: 'PHONE', category: 'billing', openedAt: addDays(NOW, -1), externalRef: 'T-1' },
    agent,
  );
  return { memberId, code: voucher.code, rewardId: reward.id, contractId, caseId: serviceCase.id };
}

/** Rows in every table a refused call could have written to. */
async function rowCounts(): Promise<Record<string, number>> {
  const tables = [
    'api_keys',
    'members',
    'ledger_entries',
    'point_lots',
    'idempotency_records',
    'vouchers',
    'voucher_redemptions',
    'reward_redemptions',
    'service_failures',
    'service_cases',
    'feedback',
    'contracts',
    'contract_renewals',
    'outbox_events',
  ];
  const counts: Record<string, number> = {};
  for (const table of tables) {
    const [row] = await prisma.$queryRawUnsafe<{ n: number }[]>(`SELECT count(*)::int AS n FROM ${table}`);
    counts[table] = row!.n;
  }
  return counts;
}

async function expectRefused(callers: Caller[], call: (caller: Caller) => Promise<unknown>): Promise<void> {
  const before = await rowCounts();
  for (const caller of callers) {
    await expect(call(caller), `${caller.actor.type}:${caller.actor.id}`).rejects.toBeInstanceOf(ForbiddenError);
  }
  expect(await rowCounts()).toEqual(before);
}

describe('services refuse callers their rule does not let in, and write nothing', () => {
  it('createApiKey: only admins (not supervisors, storefront keys, members or a role-less system caller)', async () => {
    const { memberId } = await world();
    await expectRefused([supervisor, key('members:write'), memberCaller(memberId), system], (caller) =>
      createApiKey(deps(), { name: 'sneaky', scopes: ['admin'] }, caller),
    );
  });

  it('enrollMember: not a key without members:write, nor a member', async () => {
    const { memberId } = await world();
    await expectRefused([key('points:earn', 'members:read'), memberCaller(memberId), system], (caller) =>
      enrollMember(deps(), { externalId: 'cust-x', email: 'x@example.com', name: 'X' }, caller),
    );
  });

  it('updateMember: not a key without members:write', async () => {
    const { memberId } = await world();
    await expectRefused([key('points:earn', 'members:read'), system], (caller) =>
      updateMember(deps(), { id: memberId, name: 'Renamed' }, caller),
    );
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).name).not.toBe('Renamed');
  });

  it('earnPoints and refundOrder: not staff below ADMIN, a key without points:earn, or the member', async () => {
    const { memberId } = await world();
    const callers = [supervisor, agent, key('points:redeem', 'members:write'), memberCaller(memberId)];
    await expectRefused(callers, (caller) =>
      earnPoints(deps(), { memberId, orderRef: 'order-2', orderTotal: '10.00', idempotencyKey: 'earn-2' }, caller),
    );
    await expectRefused(callers, (caller) => refundOrder(deps(), { memberId, orderRef: 'order-1', idempotencyKey: 'refund-1' }, caller));
  });

  it('redeemPoints: not staff below ADMIN, a key without points:redeem, or the member themselves', async () => {
    const { memberId } = await world();
    await expectRefused([supervisor, key('points:earn'), memberCaller(memberId)], (caller) =>
      redeemPoints(deps(), { memberId, points: 10, idempotencyKey: 'redeem-1' }, caller),
    );
  });

  it('redeemReward: not an agent or a key without points:redeem', async () => {
    const { memberId, rewardId } = await world();
    await expectRefused([agent, key('points:earn', 'vouchers:redeem')], (caller) =>
      redeemReward(deps(), { memberId, rewardId, idempotencyKey: 'reward-1' }, caller),
    );
  });

  it('validateVoucher and redeemVoucher: not keys without a voucher scope; redeeming not agents or members', async () => {
    const { memberId, code } = await world();
    await expectRefused([key('points:earn', 'failures:report'), system], (caller) =>
      validateVoucher(deps(), { code, orderTotal: '20.00', memberId }, caller),
    );
    await expectRefused([agent, key('members:read'), memberCaller(memberId)], (caller) =>
      redeemVoucher(deps(), { code, orderRef: 'order-9', orderTotal: '20.00', memberId, idempotencyKey: 'v-1' }, caller),
    );
  });

  it('reportServiceFailure: not a key without failures:report', async () => {
    const { memberId } = await world();
    await expectRefused([key('points:earn', 'members:write'), system], (caller) =>
      reportServiceFailure(
        deps(),
        { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'order-1', idempotencyKey: 'f-1' },
        caller,
      ),
    );
  });

  it('recordServiceCase, resolveServiceCase and submitFeedback: not a key without members:write; cases not members', async () => {
    const { memberId, caseId } = await world();
    const wrongKey = key('points:earn', 'members:read');
    await expectRefused([wrongKey, memberCaller(memberId)], (caller) =>
      recordServiceCase(deps(), { memberId, channel: 'CHAT', category: 'delivery' }, caller),
    );
    await expectRefused([wrongKey, memberCaller(memberId)], (caller) => resolveServiceCase(deps(), { caseId }, caller));
    await expectRefused([wrongKey], (caller) => submitFeedback(deps(), { memberId, nps: 10 }, caller));
  });

  it('registerContract, extendContract and cancelContract: not a key without contracts:write; extend and cancel not agents', async () => {
    const { memberId, contractId } = await world();
    const wrongKey = key('members:write', 'points:earn');
    await expectRefused([wrongKey, memberCaller(memberId)], (caller) =>
      registerContract(deps(), { memberId, externalRef: 'C-2', plan: 'mobile', startsAt: NOW, termMonths: 12 }, caller),
    );
    await expectRefused([wrongKey, agent], (caller) =>
      extendContract(deps(), { contractId, termMonths: 12, idempotencyKey: 'ext-1' }, caller),
    );
    await expectRefused([wrongKey, agent], (caller) => cancelContract(deps(), { contractId, idempotencyKey: 'cancel-1' }, caller));
  });

  it('the same calls succeed for a caller the rule lets in (the inputs above are valid)', async () => {
    const { memberId, code, rewardId, contractId, caseId } = await world();
    const shop = key('points:earn', 'points:redeem', 'vouchers:redeem', 'failures:report', 'members:write', 'contracts:write');
    await createApiKey(deps(), { name: 'sneaky', scopes: ['admin'] }, admin);
    await enrollMember(deps(), { externalId: 'cust-x', email: 'x@example.com', name: 'X' }, shop);
    await updateMember(deps(), { id: memberId, name: 'Renamed' }, shop);
    await earnPoints(deps(), { memberId, orderRef: 'order-2', orderTotal: '10.00', idempotencyKey: 'earn-2' }, shop);
    await refundOrder(deps(), { memberId, orderRef: 'order-1', idempotencyKey: 'refund-1' }, shop);
    await redeemPoints(deps(), { memberId, points: 10, idempotencyKey: 'redeem-1' }, shop);
    await redeemReward(deps(), { memberId, rewardId, idempotencyKey: 'reward-1' }, memberCaller(memberId));
    expect((await validateVoucher(deps(), { code, orderTotal: '20.00', memberId }, shop)).valid).toBe(true);
    await redeemVoucher(deps(), { code, orderRef: 'order-9', orderTotal: '20.00', memberId, idempotencyKey: 'v-1' }, shop);
    await reportServiceFailure(
      deps(),
      { memberId, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'order-1', idempotencyKey: 'f-1' },
      shop,
    );
    await recordServiceCase(deps(), { memberId, channel: 'CHAT', category: 'delivery' }, shop);
    await resolveServiceCase(deps(), { caseId }, shop);
    await submitFeedback(deps(), { memberId, nps: 10 }, shop);
    await registerContract(deps(), { memberId, externalRef: 'C-2', plan: 'mobile', startsAt: NOW, termMonths: 12 }, shop);
    await extendContract(deps(), { contractId, termMonths: 12, idempotencyKey: 'ext-1' }, supervisor);
    await cancelContract(deps(), { contractId, idempotencyKey: 'cancel-1' }, shop);
    expect(await prisma.contract.findUniqueOrThrow({ where: { id: contractId } })).toMatchObject({ status: 'CANCELLED' });
  });
});
