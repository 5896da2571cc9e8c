import { beforeAll, describe, expect, it } from 'vitest';
import { type GraphQLResponse, useTestApp } from '../support/app.js';
import { APPROVE, ISSUE } from './goodwill-documents.js';

let agent: string;

const { prisma, app } = useTestApp();
beforeAll(async () => {
  agent = await app.staffToken('AGENT', 'agent-c');
});

async function setBudget(monthlyBudget: string) {
  const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-c');
  const result = await app.gql(
    `mutation($input: SetAgentAuthorityInput!) { setAgentAuthority(input: $input) { __typename } }`,
    { input: { agentId: 'agent-c', monthlyBudget } },
    supervisor,
  );
  expect(result.data?.setAgentAuthority.__typename).toBe('SetAgentAuthorityPayload');
}

const statuses = (results: GraphQLResponse[]) =>
  results.map((r) => r.data?.issueGoodwill.status ?? r.data?.issueGoodwill.__typename ?? JSON.stringify(r.errors));

describe('goodwill under concurrency', () => {
  it('100 concurrent gestures of 1.00 against a budget of 50.00: exactly 50 granted, 50 pending', async () => {
    await setBudget('50.00');
    // Ten members, so that nothing but the agent's lock serialises the gestures.
    const members = await Promise.all(Array.from({ length: 10 }, () => app.enroll()));

    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        app.gql(
          ISSUE,
          {
            input: {
              memberId: members[i % members.length],
              kind: 'POINTS',
              points: 100,
              reason: 'LONG_WAIT',
              note: `queue ${i}`,
              idempotencyKey: `race-${i}`,
            },
          },
          agent,
        ),
      ),
    );

    const outcome = statuses(results);
    expect(outcome.filter((s) => s === 'GRANTED')).toHaveLength(50);
    expect(outcome.filter((s) => s === 'PENDING_APPROVAL')).toHaveLength(50);
    const granted = await prisma.goodwillGesture.aggregate({
      where: { agentId: 'agent-c', status: 'GRANTED' },
      _sum: { moneyValue: true },
    });
    expect(granted._sum.moneyValue?.toFixed(2)).toBe('50.00');
    expect(await prisma.ledgerEntry.count({ where: { kind: 'GOODWILL' } })).toBe(50);
    const balances = await prisma.member.aggregate({ _sum: { availablePoints: true } });
    expect(balances._sum.availablePoints).toBe(5000);
    expect(await prisma.goodwillAuditEntry.count({ where: { action: 'HELD_FOR_APPROVAL' } })).toBe(50);

    const authority = await app.gql('{ agentAuthority { spentThisMonth { amount } monthlyBudget { amount } } }', {}, agent);
    expect(authority.data?.agentAuthority).toEqual({ spentThisMonth: { amount: '50.00' }, monthlyBudget: { amount: '50.00' } });
  });

  it('concurrent voucher gestures to many members never overrun the budget either', async () => {
    await setBudget('50.00');
    const members = await Promise.all(Array.from({ length: 5 }, () => app.enroll()));

    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        app.gql(
          ISSUE,
          {
            input: {
              memberId: members[i % members.length],
              kind: 'VOUCHER',
              amount: '5.00',
              reason: 'BILLING_ERROR',
              note: 'double charge',
              idempotencyKey: `voucher-race-${i}`,
            },
          },
          agent,
        ),
      ),
    );

    const outcome = statuses(results);
    expect(outcome.filter((s) => s === 'GRANTED')).toHaveLength(10);
    expect(outcome.filter((s) => s === 'PENDING_APPROVAL')).toHaveLength(20);
    expect(await prisma.voucher.count({ where: { kind: 'GOODWILL' } })).toBe(10);
  });

  it('the same request sent 20 times at once makes one gesture and 20 identical answers', async () => {
    const memberId = await app.enroll();
    const input = { memberId, kind: 'POINTS', points: 300, reason: 'OTHER', note: 'sorry', idempotencyKey: 'one-key' };

    const results = await Promise.all(Array.from({ length: 20 }, () => app.gql(ISSUE, { input }, agent)));

    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(results[0]!.data?.issueGoodwill.status).toBe('GRANTED');
    expect(await prisma.goodwillGesture.count()).toBe(1);
    expect(await prisma.ledgerEntry.count({ where: { memberId } })).toBe(1);
  });

  it('10 supervisors approving one gesture at once grant it once', async () => {
    const memberId = await app.enroll();
    const held = await app.gql(
      ISSUE,
      { input: { memberId, kind: 'POINTS', points: 4000, reason: 'POOR_EXPERIENCE', note: 'rude', idempotencyKey: 'big' } },
      agent,
    );
    const gestureId = held.data?.issueGoodwill.gesture.id;
    expect(held.data?.issueGoodwill.status).toBe('PENDING_APPROVAL');

    const results = await Promise.all(
      Array.from({ length: 10 }, async (_, i) =>
        app.gql(APPROVE, { input: { gestureId, idempotencyKey: `approve-${i}` } }, await app.staffToken('SUPERVISOR', `supervisor-${i}`)),
      ),
    );

    const outcome = results.map((r) => r.data?.approveGoodwill.__typename);
    expect(outcome.filter((t) => t === 'ApproveGoodwillPayload')).toHaveLength(1);
    expect(outcome.filter((t) => t === 'GoodwillNotPendingError')).toHaveLength(9);
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'GOODWILL' } })).toBe(1);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(4000);
  });
});
