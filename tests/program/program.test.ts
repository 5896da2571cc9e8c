import { beforeEach, describe, expect, it } from 'vitest';
import { ForbiddenError } from '../../src/domain/errors.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();
let admin: string;

beforeEach(async () => {
  admin = await app.staffToken('ADMIN', 'admin-ada');
});

const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
  __typename
  ... on UpdateProgramPayload { program { version pointsPerCurrencyUnit tiers { key threshold multiplier } } }
  ... on ValidationError { field message }
  ... on Error { message }
} }`;

const PROGRAM = `{ program {
  version currency pointsPerCurrencyUnit returnWindowDays tierQualifyingMonths tierProtectionDays
  pointValue { amount currency }
  tiers { key name position threshold multiplier compensationFactor benefits }
  compensation {
    baseBySeverity { low { amount currency } medium { amount } high { amount } critical { amount } }
    repeatWindowDays secondFailureFactor laterFailureFactor capWindowDays capAmount { amount currency }
  }
  renewal { pointsPer12Months consecutiveBonusPercent consecutiveBonusCapPercent clawbackDays }
  goodwill { perGestureLimit { amount currency } perGesturePointsLimit monthlyBudget { amount } }
} }`;

const CHANGES = `{ program { version changes(first: 10) { edges { node {
  version actorType actorId before after changedSettings createdAt
} } } } }`;

async function update(input: Record<string, unknown>, token = admin) {
  return app.gql(UPDATE, { i: input }, token);
}

async function programVersion(): Promise<number> {
  const response = await app.gql('{ program { version } }', {}, admin);
  return response.data?.program.version;
}

describe('program query', () => {
  it('exposes every setting, money as Money in the program currency', async () => {
    const response = await app.gql(PROGRAM, {}, admin);
    expect(response.errors).toBeUndefined();
    expect(response.data?.program).toMatchObject({
      version: 1,
      currency: 'EUR',
      tierQualifyingMonths: 12,
      tierProtectionDays: 90,
      pointValue: { amount: '0.01', currency: 'EUR' },
      tiers: [
        { key: 'BRONZE', name: 'Bronze', position: 1, threshold: 0, multiplier: 1, compensationFactor: 1 },
        { key: 'SILVER', name: 'Silver', position: 2, threshold: 1000, multiplier: 1.25, compensationFactor: 1.2 },
        { key: 'GOLD', name: 'Gold', position: 3, threshold: 5000, multiplier: 1.5, compensationFactor: 1.5 },
        { key: 'PLATINUM', name: 'Platinum', position: 4, threshold: 15000, multiplier: 2, compensationFactor: 2 },
      ],
      compensation: {
        baseBySeverity: { low: { amount: '5.00', currency: 'EUR' }, critical: { amount: '50.00' } },
        repeatWindowDays: 90,
        secondFailureFactor: 1.5,
        capAmount: { amount: '100.00', currency: 'EUR' },
      },
      renewal: { pointsPer12Months: 500, consecutiveBonusPercent: 10, consecutiveBonusCapPercent: 50 },
      goodwill: { perGestureLimit: { amount: '25.00' }, perGesturePointsLimit: 2500, monthlyBudget: { amount: '500.00' } },
    });
  });

  it('tiers lists the tier rules for any authenticated caller, and no one else', async () => {
    const memberId = await app.enroll();
    for (const token of [await app.memberToken(memberId), await app.apiKeyToken(['points:earn']), admin]) {
      const response = await app.gql('{ tiers { key name position threshold multiplier } }', {}, token);
      expect(response.data?.tiers.map((t: any) => [t.position, t.key, t.name])).toEqual([
        [1, 'BRONZE', 'Bronze'],
        [2, 'SILVER', 'Silver'],
        [3, 'GOLD', 'Gold'],
        [4, 'PLATINUM', 'Platinum'],
      ]);
    }
    const anonymous = await app.gql('{ tiers { key } }');
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('updateProgram', () => {
  /** For a new member: `earn(orderRef)` sends earnPoints for an order of 100.00 with a storefront key. */
  async function earnerOf100() {
    const key = await app.apiKeyToken(['points:earn']);
    const memberId = await app.enroll();
    const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename ... on EarnPointsPayload { points } } }`;
    return (orderRef: string) => app.gql(EARN, { i: { memberId, orderRef, orderTotal: '100.00', idempotencyKey: orderRef } }, key);
  }

  it('changes the earn rate, and the next earn uses it without restart', async () => {
    const earn = await earnerOf100();

    expect((await earn('o-1')).data?.earnPoints.points).toBe(100);
    const updated = await update({ pointsPerCurrencyUnit: 2.5, expectedVersion: 1 });
    expect(updated.data?.updateProgram).toMatchObject({
      __typename: 'UpdateProgramPayload',
      program: { version: 2, pointsPerCurrencyUnit: 2.5 },
    });
    expect((await earn('o-2')).data?.earnPoints.points).toBe(250);
  });

  it('settings written behind the service (SQL) apply on the next earn too: their cached version is generated from them', async () => {
    const earn = await earnerOf100();

    expect((await earn('o-1')).data?.earnPoints.points).toBe(100);
    const [before] = await prisma.$queryRaw<{ hash: string }[]>`SELECT settings_hash AS hash FROM program WHERE id = 1`;
    await prisma.$executeRaw`UPDATE program SET settings = jsonb_set(settings, '{pointsPerCurrencyUnit}', '3') WHERE id = 1`;
    const [after] = await prisma.$queryRaw<{ hash: string; same: boolean }[]>`
      SELECT settings_hash AS hash, settings_hash = md5(settings::text) AS same FROM program WHERE id = 1`;
    expect(after).toMatchObject({ same: true });
    expect(after!.hash).not.toBe(before!.hash);
    expect((await earn('o-2')).data?.earnPoints.points).toBe(300);
  });

  it('takes the whole tier list; a known key keeps the values it does not give', async () => {
    const result = await update({
      tiers: [{ key: 'BRONZE' }, { key: 'SILVER', threshold: 2000 }, { key: 'GOLD', multiplier: 1.75 }, { key: 'PLATINUM' }],
    });
    expect(result.data?.updateProgram.program.tiers).toEqual([
      { key: 'BRONZE', threshold: 0, multiplier: 1 },
      { key: 'SILVER', threshold: 2000, multiplier: 1.25 },
      { key: 'GOLD', threshold: 5000, multiplier: 1.75 },
      { key: 'PLATINUM', threshold: 15000, multiplier: 2 },
    ]);
    const policies = await update({
      compensation: { baseBySeverity: { high: '30.00' }, capAmount: '150.00' },
      renewal: { pointsPer12Months: 600 },
      goodwill: { monthlyBudget: '750.50' },
    });
    expect(policies.data?.updateProgram.__typename).toBe('UpdateProgramPayload');
    const program = (await app.gql(PROGRAM, {}, admin)).data?.program;
    expect(program.compensation.baseBySeverity).toMatchObject({ high: { amount: '30.00' }, low: { amount: '5.00' } });
    expect(program.compensation.capAmount.amount).toBe('150.00');
    expect(program.renewal.pointsPer12Months).toBe(600);
    expect(program.renewal.consecutiveBonusPercent).toBe(10);
    expect(program.goodwill.monthlyBudget.amount).toBe('750.50');
  });

  it('invalid settings are a ValidationError with the field path, and nothing is stored', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', threshold: 6000 }, { key: 'GOLD' }, { key: 'PLATINUM' }] }, 'tiers.2.threshold'],
      [{ tiers: [{ key: 'BRONZE', threshold: 10 }, { key: 'SILVER' }] }, 'tiers.0.threshold'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'GOLD', threshold: 1.5 }] }, 'tiers.1.threshold'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'GOLD', multiplier: -1 }] }, 'tiers.1.multiplier'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'GOLD' }, { key: 'GOLD', threshold: 7000 }] }, 'tiers.2.key'],
      [{ tiers: [{ key: 'BRONZE' }] }, 'tiers'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'gold', name: 'Gold', threshold: 10, multiplier: 1, compensationFactor: 1 }] }, 'tiers.1.key'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'DIAMOND', threshold: 50000, multiplier: 3 }] }, 'tiers.1.name'],
      [{ tiers: [{ key: 'BRONZE' }, { key: 'SILVER', name: '  ' }] }, 'tiers.1.name'],
      [{ returnWindowDays: -1 }, 'returnWindowDays'],
      [{ pointsPerCurrencyUnit: -0.5 }, 'pointsPerCurrencyUnit'],
      [{ pointValue: '-0.01' }, 'pointValue'],
      [{ currency: 'euro' }, 'currency'],
      [{ compensation: { baseBySeverity: { low: '5.001' } } }, 'compensation.baseBySeverity.LOW'],
      [{ goodwill: { perGesturePointsLimit: -5 } }, 'goodwill.perGesturePointsLimit'],
      [{ renewal: { consecutiveBonusPercent: 101 } }, 'renewal.consecutiveBonusPercent'],
      [{ pointsPerCurrencyUnit: 2, expectedVersion: 7 }, 'expectedVersion'],
    ];
    for (const [input, field] of cases) {
      const result = await update(input);
      expect(result.data?.updateProgram, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await programVersion()).toBe(1);
    expect(await prisma.programChange.count()).toBe(0);
    const settings = (await prisma.program.findUniqueOrThrow({ where: { id: 1 } })).settings;
    expect(settings).toEqual(DEFAULT_PROGRAM_SETTINGS);
  });

  it('the audit trail records before, after and the actor, newest first', async () => {
    await update({ pointsPerCurrencyUnit: 2 });
    await update({
      tiers: [{ key: 'BRONZE' }, { key: 'SILVER' }, { key: 'GOLD' }, { key: 'PLATINUM', threshold: 20000 }],
      tierProtectionDays: 60,
    });
    const response = await app.gql(CHANGES, {}, admin);
    expect(response.errors).toBeUndefined();
    const changes = response.data?.program.changes.edges.map((e: any) => e.node);
    expect(changes.map((c: any) => c.version)).toEqual([3, 2]);
    expect(changes[0]).toMatchObject({
      actorType: 'STAFF',
      actorId: 'admin-ada',
      changedSettings: ['tierProtectionDays', 'tiers.3.threshold'],
    });
    const [latest, first] = changes;
    expect(JSON.parse(first.before).pointsPerCurrencyUnit).toBe(1);
    expect(JSON.parse(first.after).pointsPerCurrencyUnit).toBe(2);
    expect(JSON.parse(latest.before).tiers[3]).toMatchObject({ key: 'PLATINUM', threshold: 15000 });
    expect(JSON.parse(latest.after).tiers[3]).toMatchObject({ key: 'PLATINUM', threshold: 20000 });
    expect(JSON.parse(latest.before).pointsPerCurrencyUnit).toBe(2);
  });

  it('a non-admin gets ForbiddenError (and anonymous UnauthenticatedError); nothing changes', async () => {
    const memberId = await app.enroll();
    const callers = [
      await app.staffToken('AGENT'),
      await app.staffToken('SUPERVISOR'),
      await app.memberToken(memberId),
      await app.apiKeyToken(['points:earn', 'members:read', 'members:write']),
    ];
    for (const token of callers) {
      const result = await update({ pointsPerCurrencyUnit: 50 }, token);
      expect(result.data?.updateProgram.__typename).toBe('ForbiddenError');
    }
    const anonymous = await app.gql(UPDATE, { i: { pointsPerCurrencyUnit: 50 } });
    expect(anonymous.data?.updateProgram.__typename).toBe('UnauthenticatedError');
    expect(await programVersion()).toBe(1);

    const adminKey = await app.apiKeyToken(['admin']);
    expect((await update({ pointsPerCurrencyUnit: 3 }, adminKey)).data?.updateProgram.__typename).toBe('UpdateProgramPayload');
  });

  it('the service itself refuses a non-admin caller, whoever calls it; nothing changes', async () => {
    const agent = { actor: { type: 'STAFF' as const, id: 'agent-1' }, role: 'AGENT' as const };
    await expect(updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 50 } }, agent)).rejects.toBeInstanceOf(ForbiddenError);
    expect(await programVersion()).toBe(1);
    const ada = { actor: { type: 'STAFF' as const, id: 'admin-ada' }, role: 'ADMIN' as const };
    expect((await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 50 } }, ada)).version).toBe(2);
  });

  it('only admins see the audit trail; others still read the settings', async () => {
    await update({ pointsPerCurrencyUnit: 2 });
    const agent = await app.gql(CHANGES, {}, await app.staffToken('AGENT'));
    expect(agent.data?.program).toMatchObject({ version: 2, changes: null });
    expect(agent.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
  });
});
