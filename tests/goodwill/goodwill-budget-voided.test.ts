import { decodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { type GraphQLResponse, useTestApp } from '../support/app.js';
import { whileHolding } from '../support/holding.js';
import { ISSUE } from './goodwill-documents.js';

/**
 * The agent's monthly goodwill budget and voided vouchers (stop 53). A gesture whose voucher was voided gave the
 * member nothing, but the budget is a limit on the agent's own discretion, and agents may void vouchers: were their
 * own void to give the budget back, an agent at their budget could take an unused gesture back from one member and
 * give it to another, or void and grant again, without a supervisor ever seeing it. So the budget gets a gesture's
 * value back only when a supervisor or admin other than the gesture's agent voided its voucher: the oversight the
 * budget stands for. The void is a step of the gesture's audit trail (VOUCHER_VOIDED: who, in which role, why).
 * Everything over GraphQL; budget 50.00, per-gesture limit 25.00 (the default).
 */
const { prisma, app } = useTestApp();

const VOID = `mutation($i: VoidVoucherInput!) { voidVoucher(input: $i) { __typename
  ... on VoidVoucherPayload { voucher { status } } ... on Error { code message } } }`;
const AUTHORITY = `query($agentId: String) { agentAuthority(agentId: $agentId) {
  spentThisMonth { amount } remainingThisMonth { amount } } }`;
const AUDIT = `query($id: ID!) { node(id: $id) { ... on GoodwillGesture { status audit { action actorId actorRole note } } } }`;

let keys = 0;

async function setBudget(agentId: string, monthlyBudget: string): Promise<void> {
  const result = await app.gql(
    `mutation($input: SetAgentAuthorityInput!) { setAgentAuthority(input: $input) { __typename } }`,
    { input: { agentId, monthlyBudget } },
    await app.staffToken('SUPERVISOR', 'supervisor-budget'),
  );
  expect(result.data?.setAgentAuthority.__typename).toBe('SetAgentAuthorityPayload');
}

/** A VOUCHER gesture of `amount` by the agent of `token`: its status, id and voucher code. */
async function gesture(token: string, memberId: string, amount = '25.00') {
  const answer: GraphQLResponse = await app.gql(
    ISSUE,
    {
      input: { memberId, kind: 'VOUCHER', amount, reason: 'BILLING_ERROR', note: 'double charge', idempotencyKey: `g-${++keys}` },
    },
    token,
  );
  const issued = answer.data?.issueGoodwill;
  expect(issued?.__typename, JSON.stringify(answer)).toBe('IssueGoodwillPayload');
  const voucher = issued.gesture.voucher?.id as string | undefined;
  const code = voucher ? (await prisma.voucher.findUniqueOrThrow({ where: { id: decodeGlobalID(voucher).id } })).code : null;
  const node = issued.gesture.id as string;
  return { status: issued.status as string, node, id: decodeGlobalID(node).id, code };
}

async function voidCode(token: string, code: string, reason = 'issued to the wrong member') {
  const answer = await app.gql(VOID, { i: { code, reason, idempotencyKey: `void-${++keys}` } }, token);
  expect(answer.data?.voidVoucher, JSON.stringify(answer)).toEqual({ __typename: 'VoidVoucherPayload', voucher: { status: 'VOIDED' } });
}

async function authority(agentId: string) {
  const answer = await app.gql(AUTHORITY, { agentId }, await app.staffToken('SUPERVISOR', 'supervisor-budget'));
  expect(answer.errors).toBeUndefined();
  const { spentThisMonth, remainingThisMonth } = answer.data!.agentAuthority;
  return { spent: spentThisMonth.amount as string, remaining: remainingThisMonth.amount as string };
}

/** What the agent's gestures gave that stands: GRANTED gestures whose voucher is not voided, their count and value. */
async function standing(agentId: string): Promise<{ count: number; value: string }> {
  const gestures = await prisma.goodwillGesture.findMany({ where: { agentId, status: 'GRANTED' } });
  const voided = new Set(
    (await prisma.voucher.findMany({ where: { status: 'VOIDED', kind: 'GOODWILL' }, select: { id: true } })).map((v) => v.id),
  );
  const live = gestures.filter((g) => g.voucherId === null || !voided.has(g.voucherId));
  return { count: live.length, value: live.reduce((sum, g) => sum + Number(g.moneyValue), 0).toFixed(2) };
}

describe("the agent's goodwill budget and voided vouchers", () => {
  it("a supervisor's void gives the gesture's value back: the agent grants again within authority", async () => {
    await setBudget('agent-v', '50.00');
    const agent = await app.staffToken('AGENT', 'agent-v');
    const [a, b, c] = [await app.enroll(), await app.enroll(), await app.enroll()];
    const wrong = await gesture(agent, a);
    expect((await gesture(agent, b)).status).toBe('GRANTED');
    expect(wrong.status).toBe('GRANTED');
    expect(await authority('agent-v')).toEqual({ spent: '50.00', remaining: '0.00' });

    await voidCode(await app.staffToken('SUPERVISOR', 'supervisor-v'), wrong.code!);
    expect(await authority('agent-v')).toEqual({ spent: '25.00', remaining: '25.00' });
    const again = await gesture(agent, c);
    expect(again.status).toBe('GRANTED');
    expect(await authority('agent-v')).toEqual({ spent: '50.00', remaining: '0.00' });
    expect(await standing('agent-v')).toEqual({ count: 2, value: '50.00' });

    // The void is a step of the gesture: who voided it, in which role, and why.
    const trail = await app.gql(AUDIT, { id: wrong.node }, await app.staffToken('SUPERVISOR', 'supervisor-v'));
    expect(trail.data?.node).toEqual({
      status: 'GRANTED',
      audit: [
        { action: 'ISSUED', actorId: 'agent-v', actorRole: 'AGENT', note: 'double charge' },
        { action: 'GRANTED', actorId: 'agent-v', actorRole: 'AGENT', note: 'within the agent’s authority' },
        { action: 'VOUCHER_VOIDED', actorId: 'supervisor-v', actorRole: 'SUPERVISOR', note: 'issued to the wrong member' },
      ],
    });
  });

  it("an admin key's void gives it back too", async () => {
    await setBudget('agent-k', '25.00');
    const agent = await app.staffToken('AGENT', 'agent-k');
    const [a, b] = [await app.enroll(), await app.enroll()];
    const first = await gesture(agent, a);
    expect(first.status).toBe('GRANTED');
    await voidCode(await app.apiKeyToken(['admin'], 'helpdesk'), first.code!);
    const keyId = (await prisma.apiKey.findFirstOrThrow({ where: { name: 'helpdesk' } })).id;
    expect(await prisma.goodwillAuditEntry.findFirst({ where: { gestureId: first.id, action: 'VOUCHER_VOIDED' } })).toMatchObject({
      actorId: `api-key:${keyId}`,
      actorRole: 'ADMIN',
    });
    expect((await gesture(agent, b)).status).toBe('GRANTED');
  });

  it('the agent voiding their own gesture, or another agent voiding it, gives nothing back: the next gesture waits', async () => {
    await setBudget('agent-w', '50.00');
    const agent = await app.staffToken('AGENT', 'agent-w');
    const [a, b, c] = [await app.enroll(), await app.enroll(), await app.enroll()];
    const own = await gesture(agent, a);
    const other = await gesture(agent, b);
    expect([own.status, other.status]).toEqual(['GRANTED', 'GRANTED']);

    await voidCode(agent, own.code!, 'taken back');
    await voidCode(await app.staffToken('AGENT', 'agent-colleague'), other.code!, 'taken back for a colleague');
    expect(await authority('agent-w')).toEqual({ spent: '50.00', remaining: '0.00' });
    // Void and grant again: the gesture waits for a supervisor, it is not granted on the agent's say-so.
    const again = await gesture(agent, c);
    expect(again).toMatchObject({ status: 'PENDING_APPROVAL', code: null });
    expect(await standing('agent-w')).toEqual({ count: 0, value: '0.00' });
    expect(await prisma.voucher.count({ where: { kind: 'GOODWILL', status: { not: 'VOIDED' } } })).toBe(0);
    const trail = await prisma.goodwillAuditEntry.findMany({ where: { action: 'VOUCHER_VOIDED' }, orderBy: { createdAt: 'asc' } });
    expect(trail.map((entry) => [entry.gestureId, entry.actorId, entry.actorRole])).toEqual([
      [own.id, 'agent-w', 'AGENT'],
      [other.id, 'agent-colleague', 'AGENT'],
    ]);
  });

  it('a supervisor voiding the gesture they issued themselves keeps it in their own budget', async () => {
    await setBudget('supervisor-own', '25.00');
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-own');
    const [a, b] = [await app.enroll(), await app.enroll()];
    const own = await gesture(supervisor, a);
    expect(own.status).toBe('GRANTED');
    await voidCode(supervisor, own.code!);
    expect((await gesture(supervisor, b)).status).toBe('PENDING_APPROVAL');
  });

  it('a void repeated, or of a voucher voided already, writes one audit step', async () => {
    await setBudget('agent-r', '25.00');
    const agent = await app.staffToken('AGENT', 'agent-r');
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-r');
    const first = await gesture(agent, await app.enroll());
    const input = { code: first.code, reason: 'issued in error', idempotencyKey: 'void-once' };
    const answers = await Promise.all([
      app.gql(VOID, { i: input }, supervisor),
      app.gql(VOID, { i: input }, supervisor),
      app.gql(VOID, { i: { ...input, idempotencyKey: 'void-twice' } }, supervisor),
    ]);
    expect(answers.map((answer) => answer.data?.voidVoucher.__typename)).toEqual(Array(3).fill('VoidVoucherPayload'));
    expect(await prisma.goodwillAuditEntry.count({ where: { gestureId: first.id, action: 'VOUCHER_VOIDED' } })).toBe(1);
    expect(await authority('agent-r')).toEqual({ spent: '0.00', remaining: '25.00' });
  });

  it("a supervisor's void and the agent's new gesture at once: one of the two serial outcomes, never over the budget", async () => {
    const agents = ['agent-race-1', 'agent-race-2', 'agent-race-3', 'agent-race-4', 'agent-race-5'];
    for (const agentId of agents) await setBudget(agentId, '50.00');
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-race');
    const setups = await Promise.all(
      agents.map(async (agentId) => {
        const token = await app.staffToken('AGENT', agentId);
        const granted = [await gesture(token, await app.enroll()), await gesture(token, await app.enroll())];
        expect(granted.map((g) => g.status)).toEqual(['GRANTED', 'GRANTED']);
        return { agentId, token, voided: granted[0]!, member: await app.enroll() };
      }),
    );

    const outcomes = await Promise.all(
      setups.map(async ({ token, voided, member }) => {
        const [, next] = await Promise.all([voidCode(supervisor, voided.code!), gesture(token, member)]);
        return next;
      }),
    );

    for (const [i, { agentId }] of setups.entries()) {
      const next = outcomes[i]!;
      // The void first: granted (25.00 + 25.00 stand); the gesture first: waits (25.00 stands), then the void.
      expect(['GRANTED', 'PENDING_APPROVAL']).toContain(next.status);
      const stands = await standing(agentId);
      expect(stands).toEqual(next.status === 'GRANTED' ? { count: 2, value: '50.00' } : { count: 1, value: '25.00' });
      expect(await authority(agentId)).toEqual(
        next.status === 'GRANTED' ? { spent: '50.00', remaining: '0.00' } : { spent: '25.00', remaining: '25.00' },
      );
      expect(await prisma.goodwillGesture.count({ where: { agentId } })).toBe(3);
      const vouchers = await prisma.voucher.count({ where: { kind: 'GOODWILL', member: { goodwillGestures: { some: { agentId } } } } });
      expect(vouchers).toBe(next.status === 'GRANTED' ? 3 : 2);
    }
    expect(await prisma.goodwillAuditEntry.count({ where: { action: 'VOUCHER_VOIDED' } })).toBe(agents.length);
  });

  it("both serial orders, made deterministic: a supervisor's void committed while the gesture waits for the agent's lock counts; one after does not", async () => {
    await setBudget('agent-order', '50.00');
    const agent = await app.staffToken('AGENT', 'agent-order');
    const supervisor = await app.staffToken('SUPERVISOR', 'supervisor-order');
    const granted = [await gesture(agent, await app.enroll()), await gesture(agent, await app.enroll())];
    expect(granted.map((g) => g.status)).toEqual(['GRANTED', 'GRANTED']);
    const holdAgent = (holder: { query: (sql: string, values: unknown[]) => Promise<unknown> }) =>
      holder.query('SELECT 1 FROM agent_authorities WHERE agent_id = $1 FOR UPDATE', ['agent-order']);

    // The gesture waits for the agent's authority row; the void (which needs no such lock) commits meanwhile: the
    // gesture sums the month after its lock and finds the voided one out.
    const member = await app.enroll();
    const next = await whileHolding(prisma, holdAgent, () => gesture(agent, member), {
      meanwhile: () => voidCode(supervisor, granted[0]!.code!),
    });
    expect(next.status).toBe('GRANTED');
    expect(await standing('agent-order')).toEqual({ count: 2, value: '50.00' });

    // The void waits for the voucher's row; the gesture is decided meanwhile with the budget spent: it waits.
    let held: Awaited<ReturnType<typeof gesture>> | undefined;
    await whileHolding(
      prisma,
      (holder) => holder.query('SELECT 1 FROM vouchers WHERE code = $1 FOR UPDATE', [granted[1]!.code]),
      () => voidCode(supervisor, granted[1]!.code!),
      { meanwhile: async () => (held = await gesture(agent, await app.enroll())) },
    );
    expect(held?.status).toBe('PENDING_APPROVAL');
    expect(await standing('agent-order')).toEqual({ count: 1, value: '25.00' });
    expect(await authority('agent-order')).toEqual({ spent: '25.00', remaining: '25.00' });
  });
});
