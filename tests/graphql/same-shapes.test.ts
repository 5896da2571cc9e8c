import { encodeGlobalID } from '@pothos/plugin-relay';
import { getNamedType, isInputObjectType, isInterfaceType, isObjectType, type GraphQLType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';
import { useTestApp } from '../support/app.js';

/**
 * An edit form sends back what it read: points are the Points scalar both ways.
 * Every output field that holds an amount of points is Points, not Int.
 */
const schema = getSchema();

/** Output fields that hold points (a few pinned by name; the walk below finds any other). */
const POINT_OUTPUTS = [
  'AdjustPointsPayload.points',
  'AgentAuthority.perGesturePointsLimit',
  'Balance.available',
  'Balance.lifetime',
  'Balance.pending',
  'CancelContractPayload.pointsClawedBack',
  'CancelContractPayload.pointsUnrecovered',
  'ContractRenewal.bonusPoints',
  'EarnPointsPayload.points',
  'GoodwillAuthority.perGesturePointsLimit',
  'GoodwillGesture.points',
  'InsufficientPointsError.available',
  'InsufficientPointsError.requested',
  'LedgerEntry.amount',
  'LedgerEntry.balanceAfter',
  'PointsExpiry.points',
  'RedeemPointsPayload.points',
  'RedeemRewardPayload.pointsSpent',
  'RefundOrderPayload.points',
  'RefundOrderPayload.pointsUnrecovered',
  'RenewalPolicy.pointsPer12Months',
  'Reward.pointsCost',
  'Order.pointsEarned',
  'CancelOrderPayload.pointsRestored',
  'TierProgress.qualifyingPoints',
  'TierProgress.pointsToNext',
  'TierChange.qualifyingPoints',
  'Tier.threshold',
];

describe('the same shapes in and out: points', () => {
  it('every output amount of points is the Points scalar', () => {
    const wrong = POINT_OUTPUTS.filter((path) => {
      const [typeName, fieldName] = path.split('.') as [string, string];
      const type = schema.getType(typeName);
      if (!isObjectType(type)) return true;
      const field = type.getFields()[fieldName];
      return !field || getNamedType(field.type).name !== 'Points';
    });
    expect(wrong).toEqual([]);
  });

  it('no amount of points is left as Int, in or out (save-desk score weights are not loyalty points)', () => {
    const ints: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || type.name === 'AtRiskReason') continue;
      if (!(isInputObjectType(type) || isInterfaceType(type) || isObjectType(type))) continue;
      for (const field of Object.values(type.getFields())) {
        const named = getNamedType(field.type as GraphQLType).name;
        const pointsLike =
          /points|threshold|pointsCost/i.test(field.name) &&
          !/^(failure|repeatFailure|detractor|openCase|contractEnding|drift)Points$/.test(field.name);
        if (pointsLike && named === 'Int') ints.push(`${type.name}.${field.name}`);
      }
    }
    expect(ints).toEqual([]);
  });
});

const { app } = useTestApp();

const MONEY = '{ amount currency }';
const REWARD = `query($id: ID!) { node(id: $id) { ... on Reward { name pointsCost voucherValue ${MONEY} } } }`;
const CREATE_REWARD = `mutation($i: CreateRewardInput!) { createReward(input: $i) { __typename
  ... on CreateRewardPayload { reward { id } } ... on ValidationError { field message } } }`;
const UPDATE_REWARD = `mutation($i: UpdateRewardInput!) { updateReward(input: $i) { __typename
  ... on UpdateRewardPayload { reward { name pointsCost voucherValue ${MONEY} } } ... on ValidationError { field } } }`;
const PROGRAM = `{ program { version pointValue ${MONEY}
  goodwill { perGestureLimit ${MONEY} perGesturePointsLimit monthlyBudget ${MONEY} }
  compensation { capAmount ${MONEY} baseBySeverity { low ${MONEY} medium ${MONEY} high ${MONEY} critical ${MONEY} } } } }`;
const UPDATE_PROGRAM = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) { __typename
  ... on UpdateProgramPayload { program { version } } ... on ValidationError { field message } } }`;

describe('the same shapes in and out: an edit form sends back what it read', () => {
  it('a reward: read pointsCost and voucherValue, send them back unchanged, read the same', async () => {
    const admin = await app.staffToken('ADMIN');
    const created = await app.gql(
      CREATE_REWARD,
      { i: { name: 'Coffee', pointsCost: 250, voucherValueMoney: { amount: '2.50', currency: 'EUR' } } },
      admin,
    );
    expect(created.data!.createReward.__typename).toBe('CreateRewardPayload');
    const id = created.data!.createReward.reward.id;
    const read = (await app.gql(REWARD, { id }, admin)).data!.node;
    expect(read).toEqual({ name: 'Coffee', pointsCost: 250, voucherValue: { amount: '2.50', currency: 'EUR' } });

    // The form's state is what it read; it sends it back as is.
    const saved = await app.gql(
      UPDATE_REWARD,
      { i: { id, name: read.name, pointsCost: read.pointsCost, voucherValueMoney: read.voucherValue } },
      admin,
    );
    expect(saved.data!.updateReward).toEqual({ __typename: 'UpdateRewardPayload', reward: read });
    expect((await app.gql(REWARD, { id }, admin)).data!.node).toEqual(read);
  });

  it('the program: goodwill limits, compensation values and the point value round-trip through updateProgram', async () => {
    const admin = await app.staffToken('ADMIN');
    const before = (await app.gql(PROGRAM, {}, admin)).data!.program;
    const { version, pointValue, goodwill, compensation } = before;
    const sent = await app.gql(
      UPDATE_PROGRAM,
      {
        i: {
          expectedVersion: version,
          pointValueMoney: pointValue,
          goodwill: {
            perGestureLimitMoney: goodwill.perGestureLimit,
            perGesturePointsLimit: goodwill.perGesturePointsLimit,
            monthlyBudgetMoney: goodwill.monthlyBudget,
          },
          compensation: { capAmountMoney: compensation.capAmount, baseBySeverityMoney: compensation.baseBySeverity },
        },
      },
      admin,
    );
    expect(sent.data!.updateProgram).toEqual({ __typename: 'UpdateProgramPayload', program: { version } });
    const after = (await app.gql(PROGRAM, {}, admin)).data!.program;
    expect({ ...after, version }).toEqual(before);

    // A changed value goes in the same way and reads back as sent.
    const raised = await app.gql(UPDATE_PROGRAM, { i: { goodwill: { monthlyBudgetMoney: { amount: '750.00', currency: 'EUR' } } } }, admin);
    expect(raised.data!.updateProgram.__typename).toBe('UpdateProgramPayload');
    expect((await app.gql(PROGRAM, {}, admin)).data!.program.goodwill.monthlyBudget).toEqual({ amount: '750.00', currency: 'EUR' });
  });

  it('goodwill: an agent’s authority and a VOUCHER gesture take MoneyInput and read back the same', async () => {
    const supervisor = await app.staffToken('SUPERVISOR');
    const set = await app.gql(
      `mutation($i: SetAgentAuthorityInput!) { setAgentAuthority(input: $i) { __typename
        ... on SetAgentAuthorityPayload { authority { perGestureLimit ${MONEY} monthlyBudget ${MONEY} } } } }`,
      {
        i: {
          agentId: 'agent-7',
          perGestureLimitMoney: { amount: '40.00', currency: 'EUR' },
          monthlyBudgetMoney: { amount: '300.00', currency: 'EUR' },
        },
      },
      supervisor,
    );
    expect(set.data!.setAgentAuthority.authority).toEqual({
      perGestureLimit: { amount: '40.00', currency: 'EUR' },
      monthlyBudget: { amount: '300.00', currency: 'EUR' },
    });
    const member = await app.enroll();
    const agent = await app.staffToken('AGENT', 'agent-7');
    const gesture = await app.gql(
      `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) { __typename
        ... on IssueGoodwillPayload { status gesture { amount ${MONEY} } } ... on ValidationError { field } } }`,
      {
        i: {
          memberId: encodeGlobalID('Member', member),
          kind: 'VOUCHER',
          amountMoney: { amount: '12.50', currency: 'EUR' },
          reason: 'LONG_WAIT',
          note: 'waited an hour',
          idempotencyKey: 'gesture-money-1',
        },
      },
      agent,
    );
    expect(gesture.data!.issueGoodwill).toEqual({
      __typename: 'IssueGoodwillPayload',
      status: 'GRANTED',
      gesture: { amount: { amount: '12.50', currency: 'EUR' } },
    });
  });
});

describe('Decimal and MoneyInput coercion', () => {
  const create = async (reward: Record<string, unknown>) =>
    app.gql(CREATE_REWARD, { i: { name: 'Tea', pointsCost: 100, ...reward } }, await app.staffToken('ADMIN'));

  it('a JSON number or "1e3" is refused before execution as BAD_USER_INPUT naming the argument; nothing is written', async () => {
    for (const amount of [5, '1e3', '12,50', '']) {
      const answer = await create({ voucherValueMoney: { amount, currency: 'EUR' } });
      expect(answer.data?.createReward ?? null).toBeNull();
      expect(answer.errors?.[0]?.extensions?.code, String(amount)).toBe('BAD_USER_INPUT');
      expect(answer.errors?.[0]?.message).toMatch(/\$i.*voucherValueMoney.*amount|voucherValueMoney\.amount/);
    }
    const inline = await app.gql(
      'mutation { createReward(input: { name: "Tea", pointsCost: 100, voucherValueMoney: { amount: 1e3, currency: "EUR" } }) { __typename } }',
      {},
      await app.staffToken('ADMIN'),
    );
    // Written into the document, it fails the document's validation, before execution too.
    expect(inline.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(inline.errors?.[0]?.message).toMatch(/Decimal/);
    expect(await app.deps.prisma.reward.count()).toBe(0);
  });

  it('too many places, a foreign currency, both fields or neither: a typed ValidationError naming the field; nothing is written', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ voucherValueMoney: { amount: '12.345', currency: 'EUR' } }, 'voucherValueMoney.amount'],
      [{ voucherValueMoney: { amount: '0.00', currency: 'EUR' } }, 'voucherValueMoney.amount'],
      [{ voucherValueMoney: { amount: '5.00', currency: 'USD' } }, 'voucherValueMoney.currency'],
      [{ voucherValueMoney: { amount: '5.00', currency: 'EUR' }, voucherValue: '5.00' }, 'voucherValueMoney'],
      [{}, 'voucherValueMoney'],
      [{ voucherValue: '12.345' }, 'voucherValue'],
    ];
    for (const [fields, field] of cases) {
      const answer = await create(fields);
      expect(answer.errors, JSON.stringify(fields)).toBeUndefined();
      expect(answer.data!.createReward, JSON.stringify(fields)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await app.deps.prisma.reward.count()).toBe(0);
  });

  it('the deprecated decimal-string fields keep working', async () => {
    const answer = await create({ voucherValue: '3.00' });
    expect(answer.data!.createReward.__typename).toBe('CreateRewardPayload');
    const read = (await app.gql(REWARD, { id: answer.data!.createReward.reward.id }, await app.staffToken('ADMIN'))).data!.node;
    expect(read.voucherValue).toEqual({ amount: '3.00', currency: 'EUR' });
  });

  it('validateVoucher answers the same for orderTotalMoney as for the deprecated orderTotal', async () => {
    const member = await app.enroll();
    await app.deps.prisma.voucher.create({
      data: {
        code: 'SHAPES-ROUND-TRIP-1',
        memberId: member,
        kind: 'GOODWILL',
        valueType: 'FIXED',
        amount: '5.00',
        currency: 'EUR',
        minimumOrderValue: '20.00',
        causeType: 'GESTURE',
        causeRef: 'shapes-1',
        expiresAt: new Date(Date.now() + 86_400_000),
      },
    });
    const key = await app.apiKeyToken(['vouchers:redeem']);
    const query = `query($t: String, $m: MoneyInput) { validateVoucher(code: "SHAPES-ROUND-TRIP-1", orderTotal: $t, orderTotalMoney: $m) {
      valid reason discount ${MONEY} } }`;
    const legacy = await app.gql(query, { t: '19.99' }, key);
    const money = await app.gql(query, { m: { amount: '19.99', currency: 'EUR' } }, key);
    expect(money).toEqual(legacy);
    expect(money.data!.validateVoucher.reason).toBe('MINIMUM_NOT_MET');
    const enough = await app.gql(query, { m: { amount: '20.00', currency: 'EUR' } }, key);
    expect(enough.data!.validateVoucher).toMatchObject({ valid: true, discount: { amount: '5.00', currency: 'EUR' } });
  });
});
