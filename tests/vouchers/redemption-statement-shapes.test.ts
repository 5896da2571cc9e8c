import { describe, expect, it } from 'vitest';
import { redeemVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { currentTraceparent, inSpan } from '../../src/telemetry/trace-context.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';
import { issueTestVoucher } from '../support/vouchers.js';
import { subscribedEndpoint } from '../support/webhook-endpoints.js';

/**
 * redeemVoucher sends two statements built once (src/domain/vouchers/vouchers.service.ts, `REDEMPTION_STATEMENTS`):
 * what differs between two redemptions must be a value of those statements, never a part fixed when they were
 * built. Redemptions one after the other, of other members' vouchers on other orders, each lock, decide and write
 * their own.
 */
const { prisma, app } = useTestApp();
const { exporter } = useTracing();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);

/** The services' clock, a minute further at each redemption: each request's own instant is told apart in its rows. */
function ticking() {
  let clock = new Date(Date.now() + 60_000);
  const instants: Date[] = [];
  return {
    deps: { prisma, logger: testLogger, now: () => clock },
    next: () => {
      clock = new Date(clock.getTime() + 60_000);
      instants.push(clock);
      return clock;
    },
    instants,
  };
}

const byKey =
  <T>(key: (item: T) => string) =>
  (a: T, b: T) =>
    key(a).localeCompare(key(b));

describe("redeemVoucher's statements, built once", () => {
  it("write each redemption's own voucher, order, amounts, instant and answer", async () => {
    const { deps, next, instants } = ticking();
    const [a, b] = [await app.enroll(), await app.enroll()];
    const first = await issueTestVoucher(prisma, a, { value: { type: 'FIXED', amount: '10.00' } });
    const second = await issueTestVoucher(prisma, b, { value: { type: 'PERCENT', percent: 25 } });
    // Another voucher of `b` on the same order: 70.00 of it, but the order's 80.00 less the 20.00 the second took
    // (what the lock statement reads of the order, by its reference) leaves 60.00.
    const third = await issueTestVoucher(prisma, b, { value: { type: 'FIXED', amount: '70.00' } });

    const redeem = (code: string, orderRef: string, orderTotal: string, idempotencyKey: string) => {
      next();
      return redeemVoucher(deps, { code, orderRef, orderTotal, idempotencyKey }, shop);
    };
    const one = await redeem(first.code, 'A-1', '40.00', 'k-a');
    const two = await redeem(second.code, 'B-1', '80.00', 'k-b');
    const three = await redeem(third.code, 'B-1', '80.00', 'k-c');

    // Ids made in JavaScript (UUIDv7): in the order of the requests.
    const redemptions = await prisma.voucherRedemption.findMany({
      orderBy: { id: 'asc' },
      select: {
        id: true,
        voucherId: true,
        orderRef: true,
        orderTotal: true,
        discount: true,
        idempotencyKey: true,
        createdAt: true,
        order: { select: { memberId: true } },
        voucher: { select: { status: true, redeemedAt: true } },
      },
    });
    expect(
      redemptions.map((r) => ({
        id: r.id,
        voucherId: r.voucherId,
        orderRef: r.orderRef,
        total: r.orderTotal.toFixed(2),
        discount: r.discount.toFixed(2),
        key: r.idempotencyKey,
        member: r.order.memberId,
        at: r.createdAt,
        voucher: r.voucher,
      })),
    ).toEqual([
      {
        id: one.redemptionId,
        voucherId: first.id,
        orderRef: 'A-1',
        total: '40.00',
        discount: '10.00',
        key: 'k-a',
        member: a,
        at: instants[0],
        voucher: { status: 'REDEEMED', redeemedAt: instants[0] },
      },
      {
        id: two.redemptionId,
        voucherId: second.id,
        orderRef: 'B-1',
        total: '80.00',
        discount: '20.00',
        key: 'k-b',
        member: b,
        at: instants[1],
        voucher: { status: 'REDEEMED', redeemedAt: instants[1] },
      },
      {
        id: three.redemptionId,
        voucherId: third.id,
        orderRef: 'B-1',
        total: '80.00',
        discount: '60.00',
        key: 'k-c',
        member: b,
        at: instants[2],
        voucher: { status: 'REDEEMED', redeemedAt: instants[2] },
      },
    ]);

    // Each key answers its own redemption again, as stored with it.
    const again = await redeem(second.code, 'B-1', '80.00', 'k-b');
    expect(again).toMatchObject({ replayed: true, redemptionId: two.redemptionId, voucherId: second.id, discount: '20.00' });
  });

  it("announces each redemption, and each PASSIVE member's reactivation, with that member's own ids", async () => {
    const { deps, next } = ticking();
    await subscribedEndpoint(prisma, ['voucher.redeemed', 'member.status_changed']);
    const [passive, active, alsoPassive] = [await app.enroll(), await app.enroll(), await app.enroll()];
    await prisma.member.updateMany({ where: { id: { in: [passive, alsoPassive] } }, data: { status: 'PASSIVE' } });
    // The two shapes of the write in turn: with a reactivation, without, with.
    const members = [passive, active, alsoPassive];
    const codes: string[] = [];
    for (const memberId of members) codes.push((await issueTestVoucher(prisma, memberId)).code);

    const expected: { memberId: string; code: string; redemptionId: string }[] = [];
    for (const [i, code] of codes.entries()) {
      next();
      const redeemed = await redeemVoucher(deps, { code, orderRef: `R-${i}`, orderTotal: '40.00', idempotencyKey: `r-${i}` }, shop);
      expected.push({ memberId: members[i]!, code, redemptionId: redeemed.redemptionId });
    }

    const events = await prisma.webhookEvent.findMany({ select: { type: true, payload: true } });
    const about = (type: string) => events.filter((event) => event.type === type).map((event) => event.payload as Record<string, string>);
    const redeemed = about('voucher.redeemed').map(({ memberId, code, redemptionId }) => ({
      memberId: memberId!,
      code: code!,
      redemptionId: redemptionId!,
    }));
    expect(redeemed.sort(byKey((e) => e.redemptionId))).toEqual(expected.sort(byKey((e) => e.redemptionId)));
    expect(about('member.status_changed').sort(byKey((e) => e.memberId!))).toEqual(
      [passive, alsoPassive].sort().map((memberId) => ({ memberId, fromStatus: 'PASSIVE', toStatus: 'ACTIVE', cause: 'ACTIVITY' })),
    );
    const statuses = await prisma.member.findMany({ where: { id: { in: members } }, select: { status: true } });
    expect(statuses.map((m) => m.status)).toEqual(['ACTIVE', 'ACTIVE', 'ACTIVE']);
  });

  it("hands each redemption's webhook deliveries, its reactivation's too, the trace of its own request, and none outside a trace", async () => {
    const { deps, next } = ticking();
    await subscribedEndpoint(prisma, ['voucher.redeemed', 'member.status_changed']);
    const memberId = await app.enroll();
    await prisma.member.update({ where: { id: memberId }, data: { status: 'PASSIVE' } });
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) codes.push((await issueTestVoucher(prisma, memberId)).code);
    const redeem = async (i: number) => {
      next();
      return (await redeemVoucher(deps, { code: codes[i]!, orderRef: `T-${i}`, orderTotal: '40.00', idempotencyKey: `t-${i}` }, shop))
        .redemptionId;
    };
    const traced = (i: number) =>
      inSpan('redeem', async () => ({ redemptionId: await redeem(i), trace: currentTraceparent() }), { newTrace: true });

    // The first reactivates the PASSIVE member (both write shapes carry the trace), the second does not, the third is untraced.
    const first = await traced(0);
    const second = await traced(1);
    const third = await redeem(2);

    const rows = await prisma.$queryRaw<{ type: string; redemption: string | null; trace: string | null }[]>`
      SELECT ev.type, ev.payload->>'redemptionId' AS redemption, o.trace_context AS trace
      FROM outbox_events o JOIN webhook_deliveries d ON d.id = o.id JOIN webhook_events ev ON ev.id = d.event_id
      WHERE o.queue = 'webhooks'`;
    expect(first.trace).not.toBe(second.trace);
    expect(rows.sort(byKey((r) => `${r.type} ${r.redemption}`))).toEqual(
      [
        { type: 'member.status_changed', redemption: null, trace: first.trace },
        { type: 'voucher.redeemed', redemption: first.redemptionId, trace: first.trace },
        { type: 'voucher.redeemed', redemption: second.redemptionId, trace: second.trace },
        { type: 'voucher.redeemed', redemption: third, trace: null },
      ].sort(byKey((r) => `${r.type} ${r.redemption}`)),
    );
    expect(exporter.getFinishedSpans().filter((span) => span.name === 'redeem')).toHaveLength(2);
  });
});
