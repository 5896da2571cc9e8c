import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import {
  countAtRiskMembers,
  listAtRiskMembers,
  type AtRiskCursor,
  type AtRiskMember,
} from '../../src/domain/save-desk/save-desk.service.js';
import type { MemberStatus } from '../../src/generated/prisma/client.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { apiKeyCaller, memberCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

const { prisma, app } = useTestApp();

const N = new Date('2026-06-01T12:00:00.000Z');
const HOUR = 3_600_000;
const atN = { prisma, logger: testLogger, now: () => N };
const agent = staffCaller('AGENT', 'agent-save');

let sequence = 0;

/** The rows of a member, written directly: the data set is the score's input, not what the services do with it. */
async function member(status: MemberStatus, lastActivityAt: Date) {
  sequence += 1;
  const { id } = await prisma.member.create({
    data: { externalId: `desk-${sequence}`, email: `desk-${sequence}@example.com`, name: `Desk ${sequence}`, status, lastActivityAt },
  });
  return id;
}
const failure = (memberId: string, occurredAt: Date) =>
  prisma.serviceFailure.create({
    data: {
      memberId,
      type: 'LATE_DELIVERY',
      severity: 'LOW',
      occurredAt,
      orderRef: `order-${++sequence}`,
      reporterType: 'STAFF',
      reporterId: 'agent',
    },
  });
const answer = (memberId: string, nps: number, createdAt: Date) => prisma.feedback.create({ data: { memberId, nps, createdAt } });
const serviceCase = (memberId: string, resolvedAt: Date | null) =>
  prisma.serviceCase.create({
    data: { memberId, channel: 'PHONE', category: 'billing', openedAt: addDays(N, -3), resolvedAt, createdBy: 'test' },
  });
const contract = (memberId: string, endsAt: Date, status: 'ACTIVE' | 'CANCELLED' = 'ACTIVE') =>
  prisma.contract.create({
    data: {
      memberId,
      externalRef: `contract-${++sequence}`,
      plan: 'mobile',
      startsAt: addMonths(endsAt, -12),
      endsAt,
      termMonths: 12,
      status,
    },
  });

/**
 * The fixed data set, at N with the default weights (failure 10, repeat 10, detractor 15, open case 10,
 * contract ending within 60 days 20, no activity for 6 months 15; window 90 days). Scores by hand:
 *   A 50  three failures in the window (30) of which two repeats (20); one older failure does not count
 *   C 35  a contract ends in 30 days (20), no activity for 7 months (15); a contract in 200 days and a
 *         cancelled one do not count
 *   B 25  a detractor answer 5 days ago (15), one open case (10); a detractor answer 200 days ago, a
 *         promoter answer and a resolved case do not count
 *   I 15  no activity for 6 months and an hour (15): drifting, nothing else
 *   K 15  a detractor answer (15): ties with I, the two ordered by id
 *   D 10  PASSIVE, one failure yesterday (10); passive members are not "drifting"
 *   H 10  one open case (10)
 *   J 10  a failure exactly 90 days old (10); activity exactly 6 months ago is not drifting; a detractor
 *         answer one millisecond older than the window does not count
 * Not listed: E (CLOSED, 5 failures), F (SUSPENDED, 2 failures, open case), G (ACTIVE, nothing that
 * scores: promoter, resolved case, contract ending in 100 days).
 */
async function seedDataSet() {
  const recent = addDays(N, -2);
  const A = await member('ACTIVE', recent);
  for (const days of [10, 20, 30, 100]) await failure(A, addDays(N, -days));

  const B = await member('ACTIVE', recent);
  await answer(B, 3, addDays(N, -5));
  await answer(B, 5, addDays(N, -200));
  await answer(B, 10, addDays(N, -1));
  await serviceCase(B, null);
  await serviceCase(B, addDays(N, -1));

  const C = await member('ACTIVE', addMonths(N, -7));
  await contract(C, addDays(N, 30));
  await contract(C, addDays(N, 200));
  await contract(C, addDays(N, 10), 'CANCELLED');

  const D = await member('PASSIVE', addMonths(N, -13));
  await failure(D, addDays(N, -1));

  const E = await member('CLOSED', recent);
  for (const days of [1, 2, 3, 4, 5]) await failure(E, addDays(N, -days));

  const F = await member('SUSPENDED', recent);
  await failure(F, addDays(N, -3));
  await failure(F, addDays(N, -4));
  await serviceCase(F, null);

  const G = await member('ACTIVE', recent);
  await answer(G, 9, addDays(N, -3));
  await serviceCase(G, addDays(N, -2));
  await contract(G, addDays(N, 100));

  const H = await member('ACTIVE', recent);
  await serviceCase(H, null);

  const I = await member('ACTIVE', new Date(addMonths(N, -6).getTime() - HOUR));

  const J = await member('ACTIVE', addMonths(N, -6));
  await failure(J, addDays(N, -90));
  await answer(J, 0, new Date(addDays(N, -90).getTime() - 1));

  const K = await member('ACTIVE', recent);
  await answer(K, 6, addDays(N, -60));

  return { A, B, C, D, E, F, G, H, I, J, K };
}

const byId = (ids: string[]) => [...ids].sort();

async function allPages(first: number, caller = agent, deps = atN) {
  const members: AtRiskMember[] = [];
  let after: AtRiskCursor | null = null;
  for (let pages = 0; pages < 50; pages++) {
    const page = await listAtRiskMembers(deps, { first, after }, caller);
    members.push(...page.members);
    if (!page.hasNextPage) return members;
    const last = page.members.at(-1)!;
    after = { score: last.score, memberId: last.memberId };
  }
  throw new Error('no last page');
}

describe('the save desk ranking', () => {
  it('ranks a fixed data set by the score computed by hand, with the reasons behind each score', async () => {
    const m = await seedDataSet();
    const page = await listAtRiskMembers(atN, { first: 100 }, agent);
    expect(page.hasNextPage).toBe(false);
    const tens = byId([m.D, m.H, m.J]);
    expect(page.members.map((entry) => [entry.memberId, entry.score])).toEqual([
      [m.A, 50],
      [m.C, 35],
      [m.B, 25],
      ...byId([m.I, m.K]).map((id) => [id, 15]),
      ...tens.map((id) => [id, 10]),
    ]);

    const reasons = Object.fromEntries(page.members.map((entry) => [entry.memberId, entry.reasons]));
    expect(reasons[m.A]).toEqual([
      { kind: 'SERVICE_FAILURES', count: 3, points: 30, detail: '3 service failures in the last 90 days' },
      { kind: 'REPEATED_FAILURES', count: 2, points: 20, detail: '2 repeats after the first failure in the last 90 days' },
    ]);
    expect(reasons[m.C]).toEqual([
      { kind: 'CONTRACT_ENDING', count: 1, points: 20, detail: 'a contract ends on 2026-07-01, within 60 days' },
      {
        kind: 'DRIFTING',
        count: 1,
        points: 15,
        detail: 'no activity since 2025-11-01 (6 months or more): drifting towards PASSIVE',
      },
    ]);
    expect(reasons[m.B]).toEqual([
      { kind: 'DETRACTOR_ANSWERS', count: 1, points: 15, detail: '1 NPS answer of 0–6 in the last 90 days' },
      { kind: 'OPEN_CASES', count: 1, points: 10, detail: '1 service case still open' },
    ]);
    expect(reasons[m.I]).toEqual([
      expect.objectContaining({ kind: 'DRIFTING', points: 15, detail: expect.stringContaining('2025-12-01') }),
    ]);
    expect(reasons[m.D]).toEqual([{ kind: 'SERVICE_FAILURES', count: 1, points: 10, detail: '1 service failure in the last 90 days' }]);
    expect(reasons[m.H]).toEqual([{ kind: 'OPEN_CASES', count: 1, points: 10, detail: '1 service case still open' }]);
    expect(reasons[m.K]).toEqual([{ kind: 'DETRACTOR_ANSWERS', count: 1, points: 15, detail: '1 NPS answer of 0–6 in the last 90 days' }]);
    expect(reasons[m.J]).toEqual([{ kind: 'SERVICE_FAILURES', count: 1, points: 10, detail: '1 service failure in the last 90 days' }]);
    // Every score is the sum of its reasons.
    for (const entry of page.members) expect(entry.reasons.reduce((sum, r) => sum + r.points, 0)).toBe(entry.score);
  });

  it('the weights are program settings: a change reorders the desk at once', async () => {
    const m = await seedDataSet();
    await updateProgram(app.deps, { patch: { saveDesk: { detractorPoints: 40, driftPoints: 0 } } }, staffCaller('ADMIN'));
    const page = await listAtRiskMembers(atN, { first: 100 }, agent);
    expect(page.members.map((entry) => [entry.memberId, entry.score])).toEqual([
      ...byId([m.A, m.B]).map((id) => [id, 50]),
      [m.K, 40],
      [m.C, 20],
      ...byId([m.D, m.H, m.J]).map((id) => [id, 10]),
    ]);
    // A reason worth nothing is not shown; I had nothing else and left the desk.
    expect(page.members.find((entry) => entry.memberId === m.C)!.reasons.map((r) => r.kind)).toEqual(['CONTRACT_ENDING']);
    await expect(updateProgram(app.deps, { patch: { saveDesk: { failurePoints: 1001 } } }, staffCaller('ADMIN'))).rejects.toMatchObject({
      field: 'saveDesk.failurePoints',
    });
  });

  it('pages by (score, member id): every page size walks the same ranking, without gaps or repeats', async () => {
    await seedDataSet();
    const whole = (await listAtRiskMembers(atN, { first: 100 }, agent)).members.map((entry) => entry.memberId);
    expect(whole).toHaveLength(8);
    for (const size of [1, 2, 3, 4, 5, 7, 8]) {
      expect((await allPages(size)).map((entry) => entry.memberId)).toEqual(whole);
    }
    const firstPage = await listAtRiskMembers(atN, { first: 3 }, agent);
    expect(firstPage.hasNextPage).toBe(true);
    const last = firstPage.members.at(-1)!;
    const next = await listAtRiskMembers(atN, { first: 3, after: { score: last.score, memberId: last.memberId } }, agent);
    expect(next.members.map((entry) => entry.memberId)).toEqual(whole.slice(3, 6));
    // A cursor inside the tie at 15, between the drifting-only member and the one with an answer.
    const tie = await listAtRiskMembers(atN, { first: 2, after: { score: 15, memberId: whole[3]! } }, agent);
    expect(tie.members.map((entry) => entry.memberId)).toEqual(whole.slice(4, 6));
  });

  it('each page carries the calling agent’s remaining goodwill authority', async () => {
    const m = await seedDataSet();
    await issueGoodwill(
      atN,
      { memberId: m.A, kind: 'VOUCHER', amount: '20.00', reason: 'LONG_WAIT', note: 'sorry for the wait', idempotencyKey: 'save-1' },
      agent,
    );
    const mine = await listAtRiskMembers(atN, { first: 1 }, agent);
    expect(mine.goodwillAuthority).toMatchObject({
      agentId: 'agent-save',
      currency: 'EUR',
      perGestureLimit: '25.00',
      perGesturePointsLimit: 2500,
      monthlyBudget: '500.00',
      spentThisMonth: '20.00',
      remainingThisMonth: '480.00',
    });
    const colleague = await listAtRiskMembers(atN, { first: 1 }, staffCaller('AGENT', 'agent-other'));
    expect(colleague.goodwillAuthority).toMatchObject({ agentId: 'agent-other', remainingThisMonth: '500.00' });
  });

  it('counts the members the ranking lists (totalCount), with the weights in force', async () => {
    await seedDataSet();
    const ranked = await allPages(100);
    expect(ranked).toHaveLength(8);
    expect(await countAtRiskMembers(atN, agent)).toBe(8);
    // Without drifting points, I (only drifting) leaves the desk; C keeps its ending contract.
    await updateProgram(app.deps, { patch: { saveDesk: { driftPoints: 0 } } }, staffCaller('ADMIN'));
    expect(await allPages(100)).toHaveLength(7);
    expect(await countAtRiskMembers(atN, agent)).toBe(7);
    await expect(countAtRiskMembers(atN, apiKeyCaller('key', STOREFRONT_SCOPES))).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('the service refuses members, storefront keys and bad page arguments; agents and up may read', async () => {
    const m = await seedDataSet();
    for (const caller of [memberCaller(m.A), apiKeyCaller('shop', STOREFRONT_SCOPES)]) {
      await expect(listAtRiskMembers(atN, { first: 5 }, caller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
    }
    for (const role of ['AGENT', 'SUPERVISOR', 'ADMIN'] as const) {
      expect((await listAtRiskMembers(atN, { first: 5 }, staffCaller(role))).members).toHaveLength(5);
    }
    for (const first of [0, 101, 1.5]) {
      await expect(listAtRiskMembers(atN, { first }, agent)).rejects.toMatchObject({ field: 'first' });
    }
    await expect(listAtRiskMembers(atN, { first: 5, after: { score: -1, memberId: m.A } }, agent)).rejects.toMatchObject({
      field: 'after',
    });
  });
});

describe('atRiskMembers over GraphQL', () => {
  const DESK = `query($first: Int, $after: String) { atRiskMembers(first: $first, after: $after) {
    edges { cursor node { score member { id name } reasons { kind count detail points }
      goodwillAuthority { agentId monthlyBudget { amount currency } remainingThisMonth { amount } } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }`;

  /** Members relative to the real clock (GraphQL has none to set), far from every boundary. */
  async function seedNow() {
    const now = new Date();
    const repeat = await member('ACTIVE', now);
    for (const days of [3, 6]) await failure(repeat, addDays(now, -days));
    const open = await member('ACTIVE', now);
    await serviceCase(open, null);
    const detractor = await member('ACTIVE', now);
    await answer(detractor, 2, addDays(now, -1));
    return { repeat, open, detractor };
  }

  it('pages through the ranking with cursors, each member with reasons and the agent’s authority', async () => {
    const m = await seedNow();
    const token = await app.staffToken('AGENT', 'agent-gql');
    const first = await app.gql(DESK, { first: 2 }, token);
    expect(first.errors).toBeUndefined();
    const page1 = first.data!.atRiskMembers;
    expect(page1.edges.map((e: any) => [e.node.member.id, e.node.score])).toEqual([
      [encodeGlobalID('Member', m.repeat), 30],
      [encodeGlobalID('Member', m.detractor), 15],
    ]);
    expect(page1.edges[0].node.reasons).toEqual([
      { kind: 'SERVICE_FAILURES', count: 2, points: 20, detail: '2 service failures in the last 90 days' },
      { kind: 'REPEATED_FAILURES', count: 1, points: 10, detail: '1 repeat after the first failure in the last 90 days' },
    ]);
    expect(page1.edges[0].node.goodwillAuthority).toEqual({
      agentId: 'agent-gql',
      monthlyBudget: { amount: '500.00', currency: 'EUR' },
      remainingThisMonth: { amount: '500.00' },
    });
    expect(page1.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false, endCursor: page1.edges[1].cursor });

    const second = await app.gql(DESK, { first: 2, after: page1.pageInfo.endCursor }, token);
    expect(second.data!.atRiskMembers.edges.map((e: any) => [e.node.member.id, e.node.score])).toEqual([
      [encodeGlobalID('Member', m.open), 10],
    ]);
    expect(second.data!.atRiskMembers.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
  });

  it('answers totalCount for the whole ranking, not the page, and only when it is selected', async () => {
    await seedNow();
    const token = await app.staffToken('AGENT', 'agent-gql');
    const counted = await app.gql('{ atRiskMembers(first: 1) { totalCount edges { node { score } } } }', {}, token);
    expect(counted.errors).toBeUndefined();
    expect(counted.data!.atRiskMembers).toEqual({ totalCount: 3, edges: [{ node: { score: 30 } }] });
    const plain = await statementsDuring(() => app.gql('{ atRiskMembers(first: 1) { edges { node { score } } } }', {}, token));
    const withCount = await statementsDuring(() =>
      app.gql('{ atRiskMembers(first: 1) { totalCount edges { node { score } } } }', {}, token),
    );
    const rankings = (statements: string[]) => statements.filter((sql) => sql.startsWith('WITH signals')).length;
    expect(rankings(plain.statements)).toBe(1);
    expect(rankings(withCount.statements)).toBe(2);
  });

  it('loads the page’s members in a fixed number of statements, whatever the page size', async () => {
    await seedNow();
    const token = await app.staffToken('AGENT', 'agent-gql');
    await app.gql(DESK, { first: 1 }, token); // the program row and caches, once
    const small = await statementsDuring(() => app.gql(DESK, { first: 1 }, token));
    const large = await statementsDuring(() => app.gql(DESK, { first: 3 }, token));
    expect(large.result.data!.atRiskMembers.edges).toHaveLength(3);
    expect(large.statements.length).toBe(small.statements.length);
  });

  it('refuses members and storefront keys, and cursors or page sizes it did not hand out', async () => {
    const m = await seedNow();
    for (const token of [await app.memberToken(m.repeat), await app.apiKeyToken([...STOREFRONT_SCOPES])]) {
      const refused = await app.gql(DESK, { first: 2 }, token);
      expect(refused.data?.atRiskMembers ?? null).toBeNull();
      expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    const token = await app.staffToken('SUPERVISOR');
    const listCursor = Buffer.from(`GPC:S:${m.repeat}`).toString('base64');
    for (const after of ['nonsense', listCursor, Buffer.from(`AtRisk:x:${m.repeat}`).toString('base64')]) {
      const refused = await app.gql(DESK, { first: 2, after }, token);
      expect(refused.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
    const tooMany = await app.gql(DESK, { first: 101 }, token);
    expect(tooMany.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION' } });
  });
});
