import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { goodwillDefaultsFor, saveDeskWeightsFor } from '../../src/domain/program/program-policies.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { readProgram } from '../../src/domain/program/program.service.js';
import type { GraphQLResponse } from '../support/app.js';
import { useTestApp } from '../support/app.js';
import { staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * The program's internal policies — the agents' default goodwill authority (`Program.goodwill`) and the save desk's
 * weights (`Program.saveDesk`) — are staff business (SERVICE_CALLERS.readProgramPolicies): a member or a storefront
 * key reading them would learn exactly how large a gesture an agent grants without asking and how the business ranks
 * members at risk. Everyone who reads the program still reads its public part in the same query.
 */
const { app } = useTestApp();

const PROGRAM = `{ program {
  currency
  pointValue { amount currency }
  tiers { key threshold }
  goodwill { perGestureLimit { amount currency } perGesturePointsLimit monthlyBudget { amount currency } }
  saveDesk { windowDays failurePoints repeatFailurePoints detractorPoints openCasePoints
    contractEndingDays contractEndingPoints driftAfterMonths driftPoints }
} }`;

const PUBLIC_PART = {
  currency: 'EUR',
  pointValue: { amount: '0.01', currency: 'EUR' },
  tiers: DEFAULT_PROGRAM_SETTINGS.tiers.map((tier) => ({ key: tier.key, threshold: tier.threshold })),
};

type Response = GraphQLResponse<{ program: Record<string, unknown> | null }>;

/** Callers who read the program but not its policies, each with a token of its own. */
const refused: [string, () => Promise<string>][] = [
  ['a member token', async () => app.memberToken(await app.enroll())],
  // The program is nobody's own: a second member fares as the first.
  ['another member’s token', async () => app.memberToken(await app.enroll())],
  ['a storefront key with members:read', () => app.apiKeyToken(['members:read'])],
  ['a storefront key with every scope but admin', () => app.apiKeyToken([...STOREFRONT_SCOPES])],
];

const allowed: [string, () => Promise<string>][] = [
  ['an AGENT', () => app.staffToken('AGENT')],
  ['a SUPERVISOR', () => app.staffToken('SUPERVISOR')],
  ['an ADMIN', () => app.staffToken('ADMIN')],
  ['an admin key', () => app.apiKeyToken(['admin'])],
];

const sortedErrors = (response: Response) =>
  response.errors?.map((e) => [e.path?.join('.'), e.extensions?.code]).sort(([a], [b]) => String(a).localeCompare(String(b)));

describe('Program.goodwill and Program.saveDesk: staff only', () => {
  it.each(refused)('%s gets null with a FORBIDDEN error for each, and still reads currency, point value and tiers', async (_who, token) => {
    const response: Response = await app.gql(PROGRAM, {}, await token());
    expect(response.data?.program).toEqual({ ...PUBLIC_PART, goodwill: null, saveDesk: null });
    expect(sortedErrors(response)).toEqual([
      ['program.goodwill', 'FORBIDDEN'],
      ['program.saveDesk', 'FORBIDDEN'],
    ]);
  });

  it('a key without members:read reads no part of the program, its policies neither', async () => {
    const response: Response = await app.gql(PROGRAM, {}, await app.apiKeyToken(['points:earn']));
    expect(response.data?.program ?? null).toBeNull();
    expect(sortedErrors(response)).toEqual([['program', 'FORBIDDEN']]);
  });

  it.each(allowed)('%s reads both with the public part', async (_who, token) => {
    const response: Response = await app.gql(PROGRAM, {}, await token());
    expect(response.errors).toBeUndefined();
    const { goodwill, saveDesk } = DEFAULT_PROGRAM_SETTINGS;
    expect(response.data?.program).toEqual({
      ...PUBLIC_PART,
      goodwill: {
        perGestureLimit: { amount: goodwill.perGestureLimit, currency: 'EUR' },
        perGesturePointsLimit: goodwill.perGesturePointsLimit,
        monthlyBudget: { amount: goodwill.monthlyBudget, currency: 'EUR' },
      },
      saveDesk,
    });
  });
});

describe('goodwillDefaultsFor and saveDeskWeightsFor: the rule is the service’s', () => {
  it('hand the policies to staff and admin keys; refuse (FORBIDDEN) every other reader of the program, a worker too', async () => {
    const program = await readProgram(app.deps, staffCaller('ADMIN'));
    const readers = matrixCallers('Query', 'program', { owner: randomUUID(), stranger: randomUUID() }).filter((c) => c.access !== 'deny');
    const staff = ['admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];
    expect(readers.map((c) => c.kind).filter((kind) => !staff.includes(kind))).toEqual(['memberSelf', 'memberOther', 'members:read']);
    for (const { kind, caller } of readers) {
      if (staff.includes(kind)) {
        expect(goodwillDefaultsFor(program, caller), kind).toEqual(DEFAULT_PROGRAM_SETTINGS.goodwill);
        expect(saveDeskWeightsFor(program, caller), kind).toEqual(DEFAULT_PROGRAM_SETTINGS.saveDesk);
      } else {
        expect(() => goodwillDefaultsFor(program, caller), kind).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
        expect(() => saveDeskWeightsFor(program, caller), kind).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
      }
    }
    expect(() => goodwillDefaultsFor(program, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(() => saveDeskWeightsFor(program, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
