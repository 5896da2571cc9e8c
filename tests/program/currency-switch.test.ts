import { describe, expect, it } from 'vitest';
import { createEarningRule, retireEarningRule } from '../../src/domain/earning/earning-rules.service.js';
import { ValidationError } from '../../src/domain/errors.js';
import { setAgentAuthority } from '../../src/domain/goodwill/goodwill.service.js';
import { loadProgram, updateProgram, type ProgramPatch } from '../../src/domain/program/program.service.js';
import { DEFAULT_PROGRAM_SETTINGS } from '../../src/domain/program/program-settings.js';
import { useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { currencySwitch, currencySwitchInput, currencySwitchPatch } from '../support/currency-switch.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';

/**
 * A change of the program's currency restates every setting whose figure is in the currency, in the same change
 * (docs/domain-rules.md, "A change of currency restates the money settings"): 50.00 EUR of authority must not
 * become 50.00 JPY because an admin changed the currency and nothing else. A change that leaves one out is a
 * ValidationError naming the first, and writes nothing; so is one while figures outside the settings — an agent's
 * own goodwill limits, an earning rule's minimum order — are still in the old currency.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const supervisor = staffCaller('SUPERVISOR', 'supervisor-1');

const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) { __typename
  ... on UpdateProgramPayload { program { version currency pointsPerCurrencyUnit pointValue { amount currency }
    compensation { baseBySeverity { low { amount currency } critical { amount currency } } capAmount { amount currency } }
    goodwill { perGestureLimit { amount currency } monthlyBudget { amount currency } } } }
  ... on ValidationError { field message }
  ... on Error { message } } }`;
const SET_AUTHORITY = `mutation($i: SetAgentAuthorityInput!) { setAgentAuthority(input: $i) { __typename
  ... on SetAgentAuthorityPayload { authority { perGestureLimit { amount currency } } }
  ... on ValidationError { field message }
  ... on Error { message } } }`;

/** Rows of every application table: what a refused change must leave as it was. */
const rowCounts = () => tableRowCounts(prisma);

/** The program as stored: settings and version. */
const stored = async () => {
  const { settings, version } = await loadProgram(prisma);
  return { settings, version };
};

/** The ValidationError a change is refused with; any other outcome fails the test. */
async function refusal(change: Promise<unknown>): Promise<{ field: string; message: string }> {
  try {
    await change;
  } catch (error) {
    if (error instanceof ValidationError) return { field: error.field, message: error.message };
    throw error;
  }
  throw new Error('the change was not refused');
}

/** `run` after `turns` turns of the event loop. */
async function delayed<T>(turns: number, run: () => Promise<T>): Promise<T> {
  for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
  return run();
}

/** `patch` without the setting at the dotted `path`. */
function without(patch: ProgramPatch, path: string): ProgramPatch {
  const copy = structuredClone(patch) as Record<string, unknown>;
  const keys = path.split('.');
  let at = copy;
  for (const key of keys.slice(0, -1)) at = at[key] as Record<string, unknown>;
  delete at[keys.at(-1)!];
  return copy as ProgramPatch;
}

const CURRENCY_BOUND = [
  'pointsPerCurrencyUnit',
  'pointValue',
  'compensation.baseBySeverity.LOW',
  'compensation.baseBySeverity.MEDIUM',
  'compensation.baseBySeverity.HIGH',
  'compensation.baseBySeverity.CRITICAL',
  'compensation.capAmount',
  'goodwill.perGestureLimit',
  'goodwill.monthlyBudget',
];

describe('updateProgram: a change of currency restates the settings in the currency', () => {
  it('the currency alone is refused, naming the first setting to restate; nothing is written', async () => {
    const before = await stored();
    const counts = await rowCounts();

    const refused = await refusal(updateProgram(app.deps, { patch: { currency: 'JPY' } }, admin));

    // Before: stored as version 2 in JPY, 25.00 EUR of authority read as 25.00 JPY, 1 point per EUR as 1 per yen.
    expect(refused).toMatchObject({ field: 'pointsPerCurrencyUnit', message: expect.stringMatching(/JPY.*EUR|EUR.*JPY/) });
    expect(await stored()).toEqual(before);
    expect(await rowCounts()).toEqual(counts);
  });

  it.each(CURRENCY_BOUND)('a change of currency that leaves out %s is refused, naming it', async (path) => {
    const before = await stored();
    const patch = without(currencySwitchPatch(before.settings, 'JPY'), path);

    expect(await refusal(updateProgram(app.deps, { patch }, admin))).toMatchObject({ field: path });
    expect(await stored()).toEqual(before);
  });

  it('every setting restated — the same figure is a decision too — stores them in the new currency', async () => {
    const patch = currencySwitchPatch(DEFAULT_PROGRAM_SETTINGS, 'JPY');
    const restated: ProgramPatch = {
      ...patch,
      pointsPerCurrencyUnit: 0.01,
      pointValue: '1',
      goodwill: { perGestureLimit: { amount: '3000', currency: 'JPY' }, monthlyBudget: '60000' },
    };

    const view = await updateProgram(app.deps, { patch: restated }, admin);

    expect(view.settings).toMatchObject({
      currency: 'JPY',
      pointsPerCurrencyUnit: 0.01,
      pointValue: '1',
      compensation: { baseBySeverity: { LOW: '5.00', CRITICAL: '50.00' }, capAmount: '100.00' },
      goodwill: { perGestureLimit: '3000', monthlyBudget: '60000' },
    });
    // The same currency again is no change of currency: nothing to restate.
    await expect(updateProgram(app.deps, { patch: { currency: 'JPY', returnWindowDays: 30 } }, admin)).resolves.toMatchObject({
      settings: { currency: 'JPY', returnWindowDays: 30 },
    });
  });

  it('through GraphQL the error names the MoneyInput field to send; nothing is stored', async () => {
    const token = await app.staffToken('ADMIN');
    const input = currencySwitchInput((await loadProgram(prisma)).settings, 'USD');
    const { goodwill } = input as { goodwill: Record<string, unknown> };

    const refused = await app.gql(UPDATE, { i: { ...input, goodwill: { perGestureLimitMoney: goodwill.perGestureLimitMoney } } }, token);
    expect(refused.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'goodwill.monthlyBudgetMoney' });
    const alone = await app.gql(UPDATE, { i: { currency: 'USD' } }, token);
    expect(alone.data?.updateProgram).toMatchObject({ __typename: 'ValidationError', field: 'pointsPerCurrencyUnit' });
    expect((await stored()).version).toBe(1);

    // The deprecated decimal strings restate too: they are in the currency the program has after the change.
    const accepted = await app.gql(UPDATE, { i: { ...input, goodwill: { perGestureLimit: '30.00', monthlyBudget: '550.00' } } }, token);
    expect(accepted.data?.updateProgram).toEqual({
      __typename: 'UpdateProgramPayload',
      program: {
        version: 2,
        currency: 'USD',
        pointsPerCurrencyUnit: 1,
        pointValue: { amount: '0.01', currency: 'USD' },
        compensation: {
          baseBySeverity: { low: { amount: '5.00', currency: 'USD' }, critical: { amount: '50.00', currency: 'USD' } },
          capAmount: { amount: '100.00', currency: 'USD' },
        },
        goodwill: { perGestureLimit: { amount: '30.00', currency: 'USD' }, monthlyBudget: { amount: '550.00', currency: 'USD' } },
      },
    });
  });
});

describe('updateProgram: figures outside the settings in the old currency', () => {
  it('an agent’s own money limit refuses the change of currency until it is set back; a limit of 0.00 does not', async () => {
    await setAgentAuthority(app.deps, { agentId: 'agent-1', perGestureLimit: '50.00' }, supervisor);
    await setAgentAuthority(app.deps, { agentId: 'agent-2', perGestureLimit: '0.00', monthlyBudget: '0.00' }, supervisor);
    const before = await stored();
    const patch = await currencySwitch(prisma, 'JPY');
    const counts = await rowCounts();

    const refused = await refusal(updateProgram(app.deps, { patch }, admin));

    // Before: agent-1's 50.00 EUR per gesture became 50.00 JPY.
    expect(refused).toMatchObject({ field: 'currency', message: expect.stringContaining('agent-1') });
    expect(await stored()).toEqual(before);
    expect(await rowCounts()).toEqual(counts);

    // Back to the program default (0.00 means the same in every currency): the change goes through.
    await setAgentAuthority(app.deps, { agentId: 'agent-1', perGestureLimit: null }, supervisor);
    await expect(updateProgram(app.deps, { patch }, admin)).resolves.toMatchObject({ settings: { currency: 'JPY' } });
  });

  it('an earning rule’s minimum order refuses the change of currency until the rule is retired', async () => {
    const rule = await createEarningRule(
      app.deps,
      { name: 'Big orders', conditions: { minOrderTotal: { amount: '50.00', currency: 'EUR' } }, effect: { orderBonus: { points: 100 } } },
      admin,
    );
    const before = await stored();
    const patch = await currencySwitch(prisma, 'JPY');

    // Before: the rule's minimum of 50.00 EUR became 50.00 JPY, and almost every order earned its bonus.
    expect(await refusal(updateProgram(app.deps, { patch }, admin))).toMatchObject({
      field: 'currency',
      message: expect.stringContaining('Big orders'),
    });
    expect(await stored()).toEqual(before);

    await retireEarningRule(app.deps, { id: rule.id }, admin);
    await expect(updateProgram(app.deps, { patch }, admin)).resolves.toMatchObject({ settings: { currency: 'JPY' } });
  });
});

describe('setAgentAuthority: a limit keeps its currency', () => {
  it('a limit given in EUR is refused when the program switched to JPY while it waited for the agent’s row', async () => {
    const token = await app.staffToken('SUPERVISOR', 'supervisor-1');
    const patch = await currencySwitch(prisma, 'JPY');
    await setAgentAuthority(app.deps, { agentId: 'agent-1', perGesturePointsLimit: 100 }, supervisor);
    const row = await prisma.agentAuthority.findUniqueOrThrow({ where: { agentId: 'agent-1' } });

    // A gesture of the agent holds their authority row; the new limit waits for it, and meanwhile an admin switches.
    const answer = await whileHolding(
      prisma,
      (holder) => holder.query(`SELECT 1 FROM agent_authorities WHERE agent_id = 'agent-1' FOR UPDATE`),
      () => app.gql(SET_AUTHORITY, { i: { agentId: 'agent-1', perGestureLimitMoney: { amount: '50.00', currency: 'EUR' } } }, token),
      { meanwhile: () => updateProgram(app.deps, { patch }, admin) },
    );

    // Before: checked against EUR before the lock, stored after it as a bare 50.00, which the program reads as JPY.
    expect(answer.data?.setAgentAuthority, JSON.stringify(answer)).toMatchObject({
      __typename: 'ValidationError',
      field: 'perGestureLimitMoney.currency',
    });
    expect(await prisma.agentAuthority.findUniqueOrThrow({ where: { agentId: 'agent-1' } })).toEqual(row);
  });

  it('a limit set and a change of currency at once: one of the two, never a limit of the old currency in the new one', async () => {
    const outcomes = new Set<string>();
    const outcome = (run: Promise<unknown>) =>
      run.then(
        () => 'DONE',
        (error: unknown) => (error instanceof ValidationError ? 'REFUSED' : Promise.reject(error)),
      );
    for (let round = 0; round < 12; round++) {
      const from = (await loadProgram(prisma)).settings.currency;
      const patch = await currencySwitch(prisma, from === 'JPY' ? 'EUR' : 'JPY');
      const agentId = `agent-${round}`;
      const setLimit = () =>
        outcome(setAgentAuthority(app.deps, { agentId, perGestureLimit: '50.00', perGestureLimitCurrency: from }, supervisor));
      const change = () => outcome(updateProgram(app.deps, { patch }, admin));

      // Either one starts first, the other a few event-loop turns later.
      const [limit, changed] =
        round % 2 === 0
          ? await Promise.all([setLimit(), delayed(round, change)])
          : (await Promise.all([change(), delayed(round, setLimit)])).reverse();

      outcomes.add(`${limit}/${changed}`);
      expect({ round, limit, changed }).toSatisfy(
        (both: { limit: string; changed: string }) => (both.limit === 'DONE') !== (both.changed === 'DONE'),
      );
      // Whichever won, the agent's own limit is gone again before the next round's change.
      if (limit === 'DONE') await setAgentAuthority(app.deps, { agentId, perGestureLimit: null }, supervisor);
    }
    // Both orders happened: the limit first (the change refused) and the change first (the limit refused).
    expect([...outcomes].sort()).toEqual(['DONE/REFUSED', 'REFUSED/DONE']);
  });
});
