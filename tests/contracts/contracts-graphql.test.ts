import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeEach, describe, expect, it } from 'vitest';
import { addMonths } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { useTestApp } from '../support/app.js';

const REGISTER = `mutation($i: RegisterContractInput!) { registerContract(input: $i) {
  __typename
  ... on RegisterContractPayload { created contract { id externalRef plan termMonths startsAt endsAt status } }
  ... on ValidationError { field } ... on NotFoundError { entity } ... on AlreadyExistsError { field }
  ... on Error { message } } }`;
const EXTEND = `mutation($i: ExtendContractInput!) { extendContract(input: $i) {
  __typename
  ... on ExtendContractPayload { contract { id endsAt } renewal { id sequence termMonths previousEndsAt newEndsAt bonusStatus bonusPoints } }
  ... on ValidationError { field } ... on NotFoundError { entity } ... on ContractNotActiveError { status }
  ... on IdempotencyConflictError { idempotencyKey } ... on Error { message } } }`;
const CANCEL = `mutation($i: CancelContractInput!) { cancelContract(input: $i) {
  __typename
  ... on CancelContractPayload { pointsClawedBack pointsUnrecovered renewalsClawedBack bonusesForfeited contract { status cancelledAt } }
  ... on ValidationError { field } ... on NotFoundError { entity } ... on ContractNotActiveError { status }
  ... on Error { message } } }`;
const CONTRACT_FIELDS = `id externalRef status member { id }
  renewals(first: 5) { edges { node { id sequence bonusStatus bonusPoints bonusEntry { amount kind } clawedBackAt clawbackEntry { amount kind } } } }`;

const { prisma, app } = useTestApp();
let billing: string;

beforeEach(async () => {
  billing = await app.apiKeyToken(['contracts:write'], 'billing');
});

// The API runs on the real clock: 24-month contracts start 23 months before the first of this month, so
// they are active and end on the first of next month: up for renewal.
const today = new Date();
const START = addMonths(new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1)), -23);
const STARTS = START.toISOString();
const after = (months: number) => addMonths(START, months).toISOString();

async function register(memberId: string, externalRef: string, token = billing) {
  const result = await app.gql(REGISTER, { i: { memberId, externalRef, plan: 'mobile-l', startsAt: STARTS, termMonths: 24 } }, token);
  expect(result.data?.registerContract.__typename).toBe('RegisterContractPayload');
  return result.data!.registerContract.contract.id as string;
}

async function writes() {
  const [contracts, renewals, events, entries, records] = await Promise.all([
    prisma.contract.count(),
    prisma.contractRenewal.count(),
    prisma.outboxEvent.count(),
    prisma.ledgerEntry.count(),
    prisma.idempotencyRecord.count(),
  ]);
  return { contracts, renewals, events, entries, records };
}

describe('contracts over GraphQL', () => {
  it('the billing system registers and extends; five identical extensions give one renewal and five identical answers', async () => {
    const memberId = await app.enroll();
    const first = await app.gql(
      REGISTER,
      { i: { memberId, externalRef: 'C-1', plan: 'mobile-l', startsAt: STARTS, termMonths: 24 } },
      billing,
    );
    expect(first.data?.registerContract).toMatchObject({
      __typename: 'RegisterContractPayload',
      created: true,
      contract: { externalRef: 'C-1', plan: 'mobile-l', termMonths: 24, startsAt: STARTS, endsAt: after(24), status: 'ACTIVE' },
    });
    const again = await app.gql(
      REGISTER,
      { i: { memberId, externalRef: 'C-1', plan: 'mobile-l', startsAt: STARTS, termMonths: 24 } },
      billing,
    );
    expect(again.data?.registerContract).toMatchObject({ created: false, contract: { id: first.data!.registerContract.contract.id } });

    const input = { externalRef: 'C-1', termMonths: 12, idempotencyKey: 'renew-1' };
    const results = await Promise.all(Array.from({ length: 5 }, () => app.gql(EXTEND, { i: input }, billing)));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(results[0]!.data?.extendContract).toMatchObject({
      __typename: 'ExtendContractPayload',
      contract: { endsAt: after(36) },
      renewal: { sequence: 1, termMonths: 12, previousEndsAt: after(24), newEndsAt: after(36), bonusStatus: 'PENDING', bonusPoints: null },
    });
    expect(await prisma.contractRenewal.count()).toBe(1);

    const conflict = await app.gql(EXTEND, { i: { ...input, termMonths: 24 } }, billing);
    expect(conflict.data?.extendContract).toMatchObject({ __typename: 'IdempotencyConflictError', idempotencyKey: 'renew-1' });
    expect(await prisma.contractRenewal.count()).toBe(1);
  });

  it('a member sees their contracts, renewals and bonus entries, and nobody else’s', async () => {
    const memberId = await app.enroll();
    const other = await app.enroll();
    const contractId = await register(memberId, 'C-mine');
    const otherContract = await register(other, 'C-theirs');
    const extended = await app.gql(EXTEND, { i: { contractId, termMonths: 24, idempotencyKey: 'e1' } }, billing);
    const renewalId = extended.data!.extendContract.renewal.id as string;
    await processRenewalBonus({ renewalId: (await prisma.contractRenewal.findFirstOrThrow()).id }, app.deps);

    const token = await app.memberToken(memberId);
    const me = await app.gql(`{ me { contracts(first: 5) { edges { node { ${CONTRACT_FIELDS} } } } } }`, {}, token);
    expect(me.errors).toBeUndefined();
    expect(me.data?.me.contracts.edges).toHaveLength(1);
    expect(me.data?.me.contracts.edges[0].node).toMatchObject({
      id: contractId,
      externalRef: 'C-mine',
      status: 'ACTIVE',
      renewals: {
        edges: [
          {
            node: {
              id: renewalId,
              sequence: 1,
              bonusStatus: 'GRANTED',
              bonusPoints: 1000,
              bonusEntry: { amount: 1000, kind: 'RENEWAL_BONUS' },
              clawbackEntry: null,
            },
          },
        ],
      },
    });

    const own = await app.gql(`query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`, { r: 'C-mine' }, token);
    expect(own.data?.contractByExternalRef.id).toBe(contractId);
    const theirs = await app.gql(`query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`, { r: 'C-theirs' }, token);
    expect(theirs.data?.contractByExternalRef).toBeNull();
    const byNode = await app.gql(`query($id: ID!) { node(id: $id) { id ... on Contract { externalRef } } }`, { id: otherContract }, token);
    expect(JSON.stringify(byNode)).not.toContain('C-theirs');
    expect(byNode.data?.node ?? null).toBeNull();

    // A storefront key without contract or member scopes sees no contracts either.
    const shop = await app.apiKeyToken(['points:earn']);
    const denied = await app.gql(`query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`, { r: 'C-mine' }, shop);
    expect(denied.data?.contractByExternalRef ?? null).toBeNull();
    expect(JSON.stringify(denied)).not.toContain(contractId);
    // A members:read key and an agent see it, with its renewal.
    for (const reader of [await app.apiKeyToken(['members:read']), await app.staffToken('AGENT')]) {
      const seen = await app.gql(
        `query($id: ID!) { node(id: $id) { ... on Contract { ${CONTRACT_FIELDS} } } }`,
        { id: contractId },
        reader,
      );
      expect(seen.errors).toBeUndefined();
      expect(seen.data?.node.renewals.edges[0].node.bonusPoints).toBe(1000);
    }
  });

  it('a member token can neither extend nor cancel a contract, their own or another’s: ForbiddenError, nothing written', async () => {
    const memberId = await app.enroll();
    const victim = await app.enroll();
    const own = await register(memberId, 'C-own');
    const theirs = await register(victim, 'C-victim');
    const token = await app.memberToken(memberId);
    const before = await writes();
    for (const contractId of [own, theirs]) {
      const extended = await app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: 'm-1' } }, token);
      expect(extended.data?.extendContract.__typename).toBe('ForbiddenError');
      const cancelled = await app.gql(CANCEL, { i: { contractId, idempotencyKey: 'm-2' } }, token);
      expect(cancelled.data?.cancelContract.__typename).toBe('ForbiddenError');
      const registered = await app.gql(
        REGISTER,
        { i: { memberId, externalRef: 'C-new', plan: 'p', startsAt: STARTS, termMonths: 12 } },
        token,
      );
      expect(registered.data?.registerContract.__typename).toBe('ForbiddenError');
    }
    const anonymous = await app.gql(EXTEND, { i: { contractId: theirs, termMonths: 12, idempotencyKey: 'a-1' } });
    expect(anonymous.data?.extendContract.__typename).toBe('UnauthenticatedError');
    expect(await writes()).toEqual(before);
    expect((await prisma.contract.findUniqueOrThrow({ where: { externalRef: 'C-victim' } })).status).toBe('ACTIVE');
  });

  it('agents can neither extend nor cancel; supervisors (or the billing system) can', async () => {
    const memberId = await app.enroll();
    const contractId = await register(memberId, 'C-1');
    const agent = await app.staffToken('AGENT');
    const byAgent = await app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: 'agent-1' } }, agent);
    expect(byAgent.data?.extendContract.__typename).toBe('ForbiddenError');
    expect(await prisma.contractRenewal.count()).toBe(0);
    const supervisor = await app.staffToken('SUPERVISOR');
    const extended = await app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: 'sup-1' } }, supervisor);
    expect(extended.data?.extendContract.__typename).toBe('ExtendContractPayload');
    expect(await prisma.contractRenewal.findFirstOrThrow()).toMatchObject({ requestedType: 'STAFF', requestedBy: 'staff-supervisor' });
    await processRenewalBonus({ renewalId: (await prisma.contractRenewal.findFirstOrThrow()).id }, app.deps);

    const refused = await app.gql(CANCEL, { i: { contractId, idempotencyKey: 'agent-c' } }, agent);
    expect(refused.data?.cancelContract.__typename).toBe('ForbiddenError');
    const cancelled = await app.gql(CANCEL, { i: { contractId, idempotencyKey: 'sup-c' } }, supervisor);
    expect(cancelled.data?.cancelContract).toMatchObject({
      __typename: 'CancelContractPayload',
      pointsClawedBack: 500,
      pointsUnrecovered: 0,
      renewalsClawedBack: 1,
      bonusesForfeited: 0,
      contract: { status: 'CANCELLED' },
    });
    const again = await app.gql(CANCEL, { i: { contractId, idempotencyKey: 'billing-c' } }, billing);
    expect(again.data?.cancelContract).toMatchObject({ __typename: 'ContractNotActiveError', status: 'CANCELLED' });
    const extendCancelled = await app.gql(EXTEND, { i: { contractId, termMonths: 12, idempotencyKey: 'late' } }, billing);
    expect(extendCancelled.data?.extendContract).toMatchObject({ __typename: 'ContractNotActiveError', status: 'CANCELLED' });

    const seen = await app.gql(`query($id: ID!) { node(id: $id) { ... on Contract { ${CONTRACT_FIELDS} } } }`, { id: contractId }, agent);
    expect(seen.data?.node.renewals.edges[0].node).toMatchObject({
      bonusStatus: 'CLAWED_BACK',
      bonusEntry: { amount: 500 },
      clawbackEntry: { amount: -500, kind: 'REVERSAL' },
    });
  });

  it('bad input gets a typed error and writes nothing', async () => {
    const memberId = await app.enroll();
    const contractId = await register(memberId, 'C-1');
    const before = await writes();
    const cases: [string, string, Record<string, unknown>, string, Record<string, unknown>][] = [
      [
        'extend 18 months',
        EXTEND,
        { contractId, termMonths: 18, idempotencyKey: 'b1' },
        'extendContract',
        { __typename: 'ValidationError', field: 'termMonths' },
      ],
      [
        'extend a malformed id',
        EXTEND,
        { contractId: 'nope', termMonths: 12, idempotencyKey: 'b2' },
        'extendContract',
        { __typename: 'ValidationError', field: 'contractId' },
      ],
      [
        'extend a member id',
        EXTEND,
        { contractId: encodeGlobalID('Member', memberId), termMonths: 12, idempotencyKey: 'b3' },
        'extendContract',
        { __typename: 'ValidationError', field: 'contractId' },
      ],
      [
        'extend an unknown contract',
        EXTEND,
        { contractId: encodeGlobalID('Contract', '00000000-0000-4000-8000-000000000000'), termMonths: 12, idempotencyKey: 'b4' },
        'extendContract',
        { __typename: 'NotFoundError', entity: 'Contract' },
      ],
      [
        'extend an unknown reference',
        EXTEND,
        { externalRef: 'C-404', termMonths: 12, idempotencyKey: 'b5' },
        'extendContract',
        { __typename: 'NotFoundError', entity: 'Contract' },
      ],
      [
        'extend without a contract',
        EXTEND,
        { termMonths: 12, idempotencyKey: 'b6' },
        'extendContract',
        { __typename: 'ValidationError', field: 'contractId' },
      ],
      [
        'extend with a bad key',
        EXTEND,
        { contractId, termMonths: 12, idempotencyKey: '' },
        'extendContract',
        { __typename: 'ValidationError', field: 'idempotencyKey' },
      ],
      [
        'cancel an unknown contract',
        CANCEL,
        { externalRef: 'C-404', idempotencyKey: 'b7' },
        'cancelContract',
        { __typename: 'NotFoundError' },
      ],
      [
        'cancel a malformed id',
        CANCEL,
        { contractId: '123', idempotencyKey: 'b8' },
        'cancelContract',
        { __typename: 'ValidationError', field: 'contractId' },
      ],
      [
        'register 18 months',
        REGISTER,
        { memberId, externalRef: 'C-2', plan: 'p', startsAt: STARTS, termMonths: 18 },
        'registerContract',
        { __typename: 'ValidationError', field: 'termMonths' },
      ],
      [
        'register for a malformed member',
        REGISTER,
        { memberId: 'x', externalRef: 'C-2', plan: 'p', startsAt: STARTS, termMonths: 12 },
        'registerContract',
        { __typename: 'ValidationError', field: 'memberId' },
      ],
      [
        'register for an unknown member',
        REGISTER,
        { memberId: '00000000-0000-4000-8000-000000000000', externalRef: 'C-2', plan: 'p', startsAt: STARTS, termMonths: 12 },
        'registerContract',
        { __typename: 'NotFoundError', entity: 'Member' },
      ],
      [
        'register a taken reference',
        REGISTER,
        { memberId, externalRef: 'C-1', plan: 'other', startsAt: STARTS, termMonths: 12 },
        'registerContract',
        { __typename: 'AlreadyExistsError', field: 'externalRef' },
      ],
    ];
    for (const [label, query, input, field, expected] of cases) {
      const result = await app.gql(query, { i: input }, billing);
      expect(result.data?.[field], label).toMatchObject(expected);
    }
    expect(await writes()).toEqual(before);
  });

  it('contractByExternalRef refuses a reference registerContract refuses for its length with the same VALIDATION error, for every reader', async () => {
    const memberId = await app.enroll();
    const contractId = await register(memberId, 'C-1');
    const readers = [billing, await app.staffToken('AGENT'), await app.apiKeyToken(['members:read']), await app.memberToken(memberId)];
    const LOOKUP = `query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`;
    const bad: [string, string][] = [
      ['121 characters', 'C'.repeat(121)],
      ['60 000 characters', 'C'.repeat(60_000)],
      ['blank', '   '],
    ];
    for (const [label, externalRef] of bad) {
      const registered = await app.gql(REGISTER, { i: { memberId, externalRef, plan: 'p', startsAt: STARTS, termMonths: 12 } }, billing);
      expect(registered.data?.registerContract, label).toMatchObject({ __typename: 'ValidationError', field: 'externalRef' });
      for (const reader of readers) {
        const found = await app.gql(LOOKUP, { r: externalRef }, reader);
        expect(found.data, label).toEqual({ contractByExternalRef: null });
        expect(found.errors, label).toHaveLength(1);
        expect(found.errors?.[0], label).toMatchObject({
          message: registered.data!.registerContract.message,
          path: ['contractByExternalRef'],
          extensions: { code: 'VALIDATION' },
        });
      }
    }
    // A reference registerContract refuses for its characters, but a contract stored before the rule may hold: not found.
    for (const externalRef of ['C-\u00071', 'C-\n1', 'C-\u202E1']) {
      for (const reader of readers)
        expect(await app.gql(LOOKUP, { r: externalRef }, reader)).toEqual({ data: { contractByExternalRef: null } });
    }
    // What registerContract (and extendContract) accept, the lookup finds: the reference without the spaces around it.
    for (const reader of readers) {
      const found = await app.gql(LOOKUP, { r: '  C-1 ' }, reader);
      expect(found).toEqual({ data: { contractByExternalRef: { id: contractId } } });
    }
  });
});
