import { describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { updateProgram } from '../../src/domain/program/program.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { apiKeyCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * Issue 9, hole 1: an extension is a business event with rules, not a points
 * tap. A contract is extended only when it comes up for renewal (within the
 * program's window before its end), once per term, by the billing system or a
 * supervisor; each bonus entry names the actor who caused it.
 */
const { prisma, app } = useTestApp();

const EXTEND = `mutation($i: ExtendContractInput!) { extendContract(input: $i) {
  __typename
  ... on ExtendContractPayload { renewal { id sequence } }
  ... on ContractNotUpForRenewalError { endsAt renewableFrom }
  ... on Error { message } } }`;

// The API runs on the real clock: the contract started 23 months before the first of this month and
// runs 24 months, so it ends on the first of next month and is up for renewal now.
const today = new Date();
const START = addMonths(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1)), -23);

async function contractUpForRenewal(externalRef: string) {
  const memberId = await app.enroll();
  const billing = apiKeyCaller('registrar', ['contracts:write']);
  const { contractId } = await registerContract(
    app.deps,
    { memberId, externalRef, plan: 'mobile-l', startsAt: START, termMonths: 24 },
    billing,
  );
  return { memberId, contractId };
}

async function writes() {
  const [renewals, events, entries] = await Promise.all([
    prisma.contractRenewal.count(),
    prisma.outboxEvent.count(),
    prisma.ledgerEntry.count(),
  ]);
  return { renewals, events, entries };
}

/** Runs the bonus job of every renewal, as the worker would. */
async function grantAllBonuses() {
  for (const renewal of await prisma.contractRenewal.findMany()) await processRenewalBonus({ renewalId: renewal.id }, app.deps);
}

describe('extending a contract (issue 9, hole 1)', () => {
  it('ten extensions in a row by the billing system give one renewal and one bonus; the other nine get a typed error and write nothing', async () => {
    const { memberId, contractId } = await contractUpForRenewal('C-attack');
    const billing = await app.apiKeyToken(['contracts:write'], 'billing');
    const first = await app.gql(EXTEND, { i: { contractId, termMonths: 24, idempotencyKey: 'ext-0' } }, billing);
    expect(first.data?.extendContract).toMatchObject({ __typename: 'ExtendContractPayload', renewal: { sequence: 1 } });
    const before = await writes();
    const endsAt = (await prisma.contract.findUniqueOrThrow({ where: { id: contractId } })).endsAt;
    for (let i = 1; i < 10; i++) {
      const again = await app.gql(EXTEND, { i: { contractId, termMonths: 24, idempotencyKey: `ext-${i}` } }, billing);
      expect(again.data?.extendContract).toMatchObject({
        __typename: 'ContractNotUpForRenewalError',
        endsAt: endsAt.toISOString(),
        renewableFrom: addDays(endsAt, -90).toISOString(),
      });
    }
    expect(await writes()).toEqual(before);

    await grantAllBonuses();
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' } });
    expect(entries.map((e) => e.amount)).toEqual([1000]);
    const apiKey = await prisma.apiKey.findFirstOrThrow({ where: { name: 'billing' } });
    // The entry names the key that caused the extension, not SYSTEM.
    expect(entries[0]).toMatchObject({ actorType: 'API_KEY', actorId: apiKey.id });
    expect((await prisma.contract.findUniqueOrThrow({ where: { id: contractId } })).endsAt).toEqual(addMonths(START, 48));
  });

  it('an agent cannot extend a contract at all: ten attempts are ten ForbiddenErrors and no renewal', async () => {
    const { memberId, contractId } = await contractUpForRenewal('C-agent');
    const agent = await app.staffToken('AGENT');
    for (let i = 0; i < 10; i++) {
      const result = await app.gql(EXTEND, { i: { contractId, termMonths: 24, idempotencyKey: `agent-${i}` } }, agent);
      expect(result.data?.extendContract.__typename).toBe('ForbiddenError');
    }
    expect(await writes()).toEqual({ renewals: 0, events: 0, entries: 0 });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(0);
  });

  it('a supervisor extends once per term; the bonus entry records the supervisor', async () => {
    const { memberId, contractId } = await contractUpForRenewal('C-sup');
    const supervisor = await app.staffToken('SUPERVISOR', 'sup-7');
    const results = [];
    for (let i = 0; i < 10; i++) {
      results.push(await app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: `sup-${i}` } }, supervisor));
    }
    expect(results.map((r) => r.data?.extendContract.__typename)).toEqual([
      'ExtendContractPayload',
      ...Array(9).fill('ContractNotUpForRenewalError'),
    ]);
    await grantAllBonuses();
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' } });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ amount: 500, actorType: 'STAFF', actorId: 'sup-7' });
  });

  it('ten concurrent extensions of one term with different keys give one renewal and one bonus', async () => {
    const { memberId, contractId } = await contractUpForRenewal('C-race');
    const billing = await app.apiKeyToken(['contracts:write'], 'billing');
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: `race-${i}` } }, billing)),
    );
    const names = results.map((r) => r.data?.extendContract.__typename).sort();
    expect(names).toEqual([...Array(9).fill('ContractNotUpForRenewalError'), 'ExtendContractPayload']);
    expect(await prisma.contractRenewal.count()).toBe(1);
    await grantAllBonuses();
    expect(await prisma.ledgerEntry.count({ where: { memberId, kind: 'RENEWAL_BONUS' } })).toBe(1);
  });
});

describe('the renewal window', () => {
  const ENDS = new Date('2027-06-01T00:00:00.000Z');
  const billing = apiKeyCaller('billing', ['contracts:write']);
  const admin = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
  const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

  async function contractEnding() {
    const memberId = await app.enroll();
    const { contractId } = await registerContract(
      at(addMonths(ENDS, -12)),
      { memberId, externalRef: 'C-w', plan: 'p', startsAt: addMonths(ENDS, -12), termMonths: 12 },
      billing,
    );
    return contractId;
  }

  it('opens 90 days before the end by default: 91 days before is refused, 90 days before is accepted', async () => {
    const contractId = await contractEnding();
    await expect(
      extendContract(at(addDays(ENDS, -91)), { contractId, termMonths: 12, idempotencyKey: 'early' }, billing),
    ).rejects.toMatchObject({ code: 'CONTRACT_NOT_UP_FOR_RENEWAL', endsAt: ENDS, renewableFrom: addDays(ENDS, -90) });
    expect(await prisma.idempotencyRecord.count()).toBe(0);
    const accepted = await extendContract(at(addDays(ENDS, -90)), { contractId, termMonths: 12, idempotencyKey: 'early' }, billing);
    expect(accepted.replayed).toBe(false);
    // The next term is up for renewal 90 days before its own end, not before.
    const next = addMonths(ENDS, 12);
    await expect(
      extendContract(at(addDays(next, -91)), { contractId, termMonths: 12, idempotencyKey: 'next' }, billing),
    ).rejects.toMatchObject({ code: 'CONTRACT_NOT_UP_FOR_RENEWAL', endsAt: next });
    await extendContract(at(addDays(next, -1)), { contractId, termMonths: 12, idempotencyKey: 'next' }, billing);
    expect(await prisma.contractRenewal.count()).toBe(2);
  });

  it('is a program setting an admin changes without restart', async () => {
    const contractId = await contractEnding();
    const when = addDays(ENDS, -120);
    await expect(extendContract(at(when), { contractId, termMonths: 12, idempotencyKey: 'k' }, billing)).rejects.toMatchObject({
      code: 'CONTRACT_NOT_UP_FOR_RENEWAL',
    });
    await updateProgram(app.deps, { patch: { renewal: { windowDays: 150 } } }, admin);
    await extendContract(at(when), { contractId, termMonths: 12, idempotencyKey: 'k' }, billing);
    expect(await prisma.contractRenewal.count()).toBe(1);
    await expect(updateProgram(app.deps, { patch: { renewal: { windowDays: 400 } } }, admin)).rejects.toMatchObject({
      code: 'VALIDATION',
      field: 'renewal.windowDays',
    });
  });
});

describe('the database refuses what the rules refuse', () => {
  it('a second renewal of the same term, or one ending beyond the horizon, cannot be stored', async () => {
    const { contractId } = await contractUpForRenewal('C-db');
    const contract = await prisma.contract.findUniqueOrThrow({ where: { id: contractId } });
    const row = (sequence: number, previousEndsAt: Date, newEndsAt: Date) =>
      prisma.$executeRaw`
        INSERT INTO contract_renewals (contract_id, sequence, term_months, previous_ends_at, new_ends_at, requested_type, requested_by)
        VALUES (${contractId}::uuid, ${sequence}, 12, ${previousEndsAt}, ${newEndsAt}, 'API_KEY', 'x')`;
    await row(1, contract.endsAt, addMonths(contract.endsAt, 12));
    await expect(row(2, contract.endsAt, addMonths(contract.endsAt, 12))).rejects.toThrow(
      /contract_renewals_contract_id_previous_ends_at_key/,
    );
    await expect(row(3, addMonths(contract.endsAt, 60), addMonths(contract.endsAt, 72))).rejects.toThrow(/contract_renewals_horizon/);
  });
});
