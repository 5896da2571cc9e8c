import { describe, expect, it } from 'vitest';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { currentTraceparent, inSpan } from '../../src/telemetry/trace-context.js';
import { apiKeyCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { useTracing } from '../support/tracing.js';
import { subscribedEndpoint } from '../support/webhook-endpoints.js';

/**
 * earnPoints sends a statement built once per shape (src/domain/points/ledger.ts, `earningStatement`): what differs
 * between two earns of one shape must be a value of that statement, never a part fixed when it was built. Earns of
 * one shape, one after the other, each write their own.
 */
const { prisma, app } = useTestApp();
const { exporter } = useTracing();
const shop = apiKeyCaller('shop', STOREFRONT_SCOPES);
const deps = { prisma, logger: testLogger };

const lotsOf = (memberId: string) =>
  prisma.pointLot.findMany({ where: { memberId }, orderBy: { createdAt: 'asc' }, select: { releasedAt: true, createdAt: true } });

describe("earnPoints' statement, built once per shape", () => {
  it("releases a lot as the earn's own program says: pending, then at once, then pending again", async () => {
    const memberId = await app.enroll();
    const windowOf = (days: number) => updateProgram(deps, { patch: { returnWindowDays: days } }, staffCaller('ADMIN'));

    await earnPoints(deps, { memberId, orderRef: 'o-1', orderTotal: '10.00', idempotencyKey: 'o-1' }, shop);
    await windowOf(0);
    await earnPoints(deps, { memberId, orderRef: 'o-2', orderTotal: '20.00', idempotencyKey: 'o-2' }, shop);
    await windowOf(14);
    await earnPoints(deps, { memberId, orderRef: 'o-3', orderTotal: '40.00', idempotencyKey: 'o-3' }, shop);

    const [first, second, third] = await lotsOf(memberId);
    expect(first!.releasedAt).toBeNull();
    expect(second!.releasedAt).toEqual(second!.createdAt);
    expect(third!.releasedAt).toBeNull();
    expect(await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).toMatchObject({ availablePoints: 20, pendingPoints: 50 });
  });

  it("writes each order's own lines, channel and date, and none for an order without them", async () => {
    const [a, b] = [await app.enroll(), await app.enroll()];
    const placedAt = '2026-11-30T09:00:00.000Z';
    const lined = (sku: string) => ({
      reference: `lined-${sku}`,
      total: { amount: '30.00', currency: 'EUR' },
      channel: 'web',
      placedAt: new Date(placedAt),
      lines: [{ sku, quantity: 3, unitPrice: '10.00' }],
    });

    await earnPoints(deps, { memberId: a, order: lined('sku-a'), idempotencyKey: 'a-1' }, shop);
    await earnPoints(
      deps,
      { memberId: b, order: { reference: 'plain', total: { amount: '5.00', currency: 'EUR' } }, idempotencyKey: 'b-1' },
      shop,
    );
    await earnPoints(deps, { memberId: b, order: lined('sku-b'), idempotencyKey: 'b-2' }, shop);

    const orders = await prisma.pointOrder.findMany({
      where: { memberId: { in: [a, b] } },
      select: { memberId: true, orderRef: true, channel: true, placedAt: true, createdAt: true, lines: { select: { sku: true } } },
      orderBy: { createdAt: 'asc' },
    });
    expect(
      orders.map(({ memberId, orderRef, channel, lines }) => ({ memberId, orderRef, channel, skus: lines.map((l) => l.sku) })),
    ).toEqual([
      { memberId: a, orderRef: 'lined-sku-a', channel: 'web', skus: ['sku-a'] },
      { memberId: b, orderRef: 'plain', channel: null, skus: [] },
      { memberId: b, orderRef: 'lined-sku-b', channel: 'web', skus: ['sku-b'] },
    ]);
    expect(orders[0]!.placedAt.toISOString()).toBe(placedAt);
    // Without a date the order was placed when it earned.
    expect(orders[1]!.placedAt).toEqual(orders[1]!.createdAt);
  });

  it("announces each earn, and each PASSIVE member's reactivation, with that member's own ids", async () => {
    await subscribedEndpoint(prisma, ['points.earned', 'member.status_changed']);
    const members = [await app.enroll(), await app.enroll()];
    await prisma.member.updateMany({ where: { id: { in: members } }, data: { status: 'PASSIVE' } });

    const entries: (string | null)[] = [];
    for (const [i, memberId] of members.entries()) {
      const earned = await earnPoints(deps, { memberId, orderRef: `p-${i}`, orderTotal: '10.00', idempotencyKey: `p-${i}` }, shop);
      entries.push(earned.entryId);
    }

    const events = await prisma.webhookEvent.findMany({ orderBy: { createdAt: 'asc' }, select: { type: true, payload: true } });
    const about = (type: string) => events.filter((event) => event.type === type).map((event) => event.payload as Record<string, unknown>);
    expect(about('points.earned').map(({ memberId, entryId }) => ({ memberId, entryId }))).toEqual(
      members.map((memberId, i) => ({ memberId, entryId: entries[i] })),
    );
    expect(about('member.status_changed')).toEqual(
      members.map((memberId) => ({ memberId, fromStatus: 'PASSIVE', toStatus: 'ACTIVE', cause: 'ACTIVITY' })),
    );
  });

  it("hands each earn's webhook delivery the trace of its own request, and none outside a trace", async () => {
    await subscribedEndpoint(prisma, ['points.earned']);
    const memberId = await app.enroll();
    const traced = (reference: string) =>
      inSpan(
        'earn',
        async () => {
          await earnPoints(deps, { memberId, orderRef: reference, orderTotal: '10.00', idempotencyKey: reference }, shop);
          return currentTraceparent();
        },
        { newTrace: true },
      );

    const first = await traced('t-1');
    const second = await traced('t-2');
    await earnPoints(deps, { memberId, orderRef: 't-3', orderTotal: '10.00', idempotencyKey: 't-3' }, shop);

    const rows = await prisma.$queryRaw<{ trace_context: string | null }[]>`
      SELECT trace_context FROM outbox_events WHERE queue = 'webhooks' ORDER BY created_at, id`;
    expect(first).not.toBe(second);
    expect(rows.map((row) => row.trace_context)).toEqual([first, second, null]);
    expect(exporter.getFinishedSpans().filter((span) => span.name === 'earn')).toHaveLength(2);
  });
});
