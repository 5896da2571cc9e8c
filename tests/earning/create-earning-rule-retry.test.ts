import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * createEarningRule's optional idempotency key: an admin (or a script) that retries a creation whose answer was lost
 * is answered the rule its first call created — one rule, one version 1 in its history, one change of the rules
 * stamp. Without a key every call creates a rule, as before: two rules would both grant their bonus on one order.
 */

const CREATE = `mutation($input: CreateEarningRuleInput!) { createEarningRule(input: $input) {
  __typename
  ... on CreateEarningRulePayload { earningRule { id name kind version startsAt endsAt } }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field }
  ... on Error { message code } } }`;

// A pool above the six concurrent creations below.
const { prisma, app } = useTestApp(10);

const RULE = {
  name: 'Welcome bonus',
  startsAt: '2026-12-01T00:00:00.000Z',
  conditions: { firstOrderOnly: true, channels: ['web'] },
  effect: { orderBonus: { points: 250 } },
};

const create = async (input: Record<string, unknown>) =>
  app.gql(CREATE, { input }, await app.staffToken('ADMIN', 'rules-admin')).then((r) => r.data?.createEarningRule ?? r.errors);

/** The rules stamp the earn path caches by: every rule change renews it. */
const rulesStamp = async () => (await prisma.program.findUniqueOrThrow({ where: { id: 1 } })).earningRulesStamp;

describe('createEarningRule with an idempotency key', () => {
  it('the same key and input again answers the first rule; one rule, one version, one stamp change', async () => {
    const input = { ...RULE, idempotencyKey: 'rule-once' };
    const first = await create(input);
    expect(first).toMatchObject({
      __typename: 'CreateEarningRulePayload',
      earningRule: { name: 'Welcome bonus', kind: 'ORDER_BONUS', version: 1, startsAt: RULE.startsAt, endsAt: null },
    });
    const afterFirst = await tableRowCounts(prisma);
    expect([afterFirst.earning_rules, afterFirst.earning_rule_versions, afterFirst.idempotency_records]).toEqual([1, 1, 1]);
    const stamp = await rulesStamp();

    expect(await create(input)).toEqual(first);
    expect(await create(input)).toEqual(first);
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
    expect(await rulesStamp()).toBe(stamp);
  });

  it('an omitted start is "now" for the retry too: a later retry is the same request', async () => {
    const input = {
      name: 'Signup',
      effect: { eventPoints: { eventType: 'signup', points: 100, limit: { count: 1, period: 'LIFETIME' } } },
    };
    const first = await create({ ...input, idempotencyKey: 'rule-now' });
    expect(first).toMatchObject({ __typename: 'CreateEarningRulePayload', earningRule: { kind: 'EVENT_POINTS' } });
    expect(await create({ ...input, idempotencyKey: 'rule-now' })).toEqual(first);
    expect(await prisma.earningRule.count()).toBe(1);
  });

  it('six concurrent creations with one key create one rule, and all six answer it', async () => {
    const input = { ...RULE, name: 'Launch week', idempotencyKey: 'rule-race' };
    const answers = await Promise.all(Array.from({ length: 6 }, () => create(input)));

    for (const answer of answers)
      expect(answer).toMatchObject({ __typename: 'CreateEarningRulePayload', earningRule: { name: 'Launch week' } });
    expect(new Set(answers.map((answer) => JSON.stringify(answer))).size).toBe(1);
    expect(await prisma.earningRule.count()).toBe(1);
    expect(await prisma.earningRuleVersion.count()).toBe(1);
    expect(await prisma.idempotencyRecord.count()).toBe(1);
  });

  it('the same key with another input is an IdempotencyConflictError and writes nothing', async () => {
    const first = await create({ ...RULE, idempotencyKey: 'rule-conflict' });
    expect(first).toMatchObject({ __typename: 'CreateEarningRulePayload' });
    const afterFirst = await tableRowCounts(prisma);
    const stamp = await rulesStamp();

    for (const other of [
      { effect: { orderBonus: { points: 300 } } },
      { name: 'Welcome bonus!' },
      { conditions: { firstOrderOnly: true, channels: ['app'] } },
      { endsAt: '2027-01-01T00:00:00.000Z' },
    ]) {
      expect(await create({ ...RULE, ...other, idempotencyKey: 'rule-conflict' })).toEqual({
        __typename: 'IdempotencyConflictError',
        idempotencyKey: 'rule-conflict',
        message: expect.any(String),
        code: 'IDEMPOTENCY_CONFLICT',
      });
    }
    expect(await tableRowCounts(prisma)).toEqual(afterFirst);
    expect(await rulesStamp()).toBe(stamp);
  });

  it('a malformed key is a ValidationError and writes nothing', async () => {
    await create({ ...RULE, name: 'First' }); // the program row exists, as it does after any use
    const before = await tableRowCounts(prisma);
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await create({ ...RULE, idempotencyKey })).toMatchObject({ __typename: 'ValidationError', field: 'idempotencyKey' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('a refused rule leaves the key free: the corrected retry with it creates the rule', async () => {
    const refused = await create({ ...RULE, effect: { orderBonus: { points: 0 } }, idempotencyKey: 'rule-fixed' });
    expect(refused).toMatchObject({ __typename: 'ValidationError', field: 'effect.orderBonus.points' });
    expect(await prisma.idempotencyRecord.count()).toBe(0);
    expect(await create({ ...RULE, idempotencyKey: 'rule-fixed' })).toMatchObject({ __typename: 'CreateEarningRulePayload' });
    expect(await prisma.earningRule.count()).toBe(1);
  });
});

describe('createEarningRule without an idempotency key', () => {
  it('creates a rule per call, as before: a retry without a key makes a second one, and no answer is stored', async () => {
    const first = await create(RULE);
    const second = await create({ ...RULE, idempotencyKey: null });
    expect([first.__typename, second.__typename]).toEqual(['CreateEarningRulePayload', 'CreateEarningRulePayload']);
    expect(second.earningRule.id).not.toBe(first.earningRule.id);
    expect(await prisma.earningRule.count()).toBe(2);
    expect(await prisma.idempotencyRecord.count()).toBe(0);
  });
});
