import { describe, expect, it } from 'vitest';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { ValidationError } from '../../src/domain/errors.js';
import { updateProgram, type ProgramPatch } from '../../src/domain/program/program.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * An `updateProgram` that changes nothing — no field, or every value as stored — writes nothing: no version, no
 * history row, no tier rows, no report of a program change (which drops every member's cached status).
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN', 'admin-audit-2');

const UPDATE = `mutation($i: UpdateProgramInput!) { updateProgram(input: $i) {
  __typename
  ... on UpdateProgramPayload { program { version updatedAt pointsPerCurrencyUnit } }
  ... on ValidationError { field message }
  ... on Error { message }
} }`;

async function update(input: Record<string, unknown>) {
  return app.gql(UPDATE, { i: input }, await app.staffToken('ADMIN', 'admin-audit-2'));
}

/** What must not move when nothing is written: the stored row (with its tuple version) and every tier row's. */
async function storedState() {
  const [program] = await prisma.$queryRaw<{ xmin: string; version: number; updated_at: Date; settings: unknown }[]>`
    SELECT xmin::text, version, updated_at, settings FROM program WHERE id = 1`;
  const tiers = await prisma.$queryRaw<{ key: string; xmin: string }[]>`SELECT key, xmin::text FROM tiers ORDER BY key`;
  return { program, tiers, counts: await tableRowCounts(prisma) };
}

/** Deps whose program-change reports (the members' response cache's invalidation) are counted. */
function countingDeps(): { deps: ServiceDeps; reports: () => number } {
  let reports = 0;
  const deps: ServiceDeps = { ...app.deps, memberChanges: { changed: () => undefined, programChanged: () => (reports += 1) } };
  return { deps, reports: () => reports };
}

describe('updateProgram: a change that changes nothing writes nothing', () => {
  it('no fields given answers the current program: same version, no history row, nothing written, no report', async () => {
    const first = await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 2 } }, admin); // version 2
    const before = await storedState();
    const { deps, reports } = countingDeps();
    const answer = await updateProgram(deps, { patch: {} }, admin);
    expect(answer.version).toBe(first.version);
    expect(answer.updatedAt).toEqual(first.updatedAt);
    expect(answer.settings).toEqual(first.settings);
    expect(await storedState()).toEqual(before);
    expect(await prisma.programChange.count()).toBe(1);
    expect(reports()).toBe(0);
  });

  it('every given value equal to the stored one — tiers, money settings, policies — writes nothing', async () => {
    const current = await updateProgram(app.deps, { patch: { returnWindowDays: 7 } }, admin); // version 2
    const before = await storedState();
    const { settings } = current;
    const patches: ProgramPatch[] = [
      { returnWindowDays: 7, currency: settings.currency, pointsPerCurrencyUnit: settings.pointsPerCurrencyUnit },
      { tiers: settings.tiers.map((tier) => ({ key: tier.key })) },
      { tiers: settings.tiers.map((tier) => ({ ...tier })) },
      { pointValue: { amount: settings.pointValue, currency: settings.currency }, compensation: { ...settings.compensation } },
      { goodwill: { ...settings.goodwill }, renewal: { ...settings.renewal }, sla: { ...settings.sla } },
      { ...settings },
    ];
    const { deps, reports } = countingDeps();
    for (const patch of patches) {
      const answer = await updateProgram(deps, { patch, expectedVersion: current.version }, admin);
      expect(answer.version, JSON.stringify(patch)).toBe(current.version);
      expect(answer.settings, JSON.stringify(patch)).toEqual(current.settings);
    }
    expect(await storedState()).toEqual(before);
    expect(reports()).toBe(0);
  });

  it('through GraphQL: an empty input and a repeated change answer the version they found; history has one row', async () => {
    const changed = await update({ pointsPerCurrencyUnit: 3 });
    expect(changed.data?.updateProgram).toMatchObject({ __typename: 'UpdateProgramPayload', program: { version: 2 } });
    const before = await storedState();
    const retried = await update({ pointsPerCurrencyUnit: 3 });
    const empty = await update({});
    for (const answer of [retried, empty]) {
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.updateProgram).toEqual(changed.data?.updateProgram);
    }
    expect(await storedState()).toEqual(before);
    expect(await prisma.programChange.count()).toBe(1);
    // A real change afterwards is the next version, not one further.
    const next = await update({ pointsPerCurrencyUnit: 4 });
    expect(next.data?.updateProgram).toMatchObject({ program: { version: 3, pointsPerCurrencyUnit: 4 } });
  });

  it('a stale expectedVersion is still refused, though the change would change nothing', async () => {
    await updateProgram(app.deps, { patch: { pointsPerCurrencyUnit: 2 } }, admin); // version 2
    const before = await storedState();
    const refused = await updateProgram(app.deps, { patch: {}, expectedVersion: 1 }, admin).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(refused).toMatchObject({ field: 'expectedVersion' });
    expect(await storedState()).toEqual(before);
  });
});
