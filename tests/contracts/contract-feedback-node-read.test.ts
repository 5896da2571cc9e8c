import { describe, expect, it } from 'vitest';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { recordServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers } from '../support/matrix-callers.js';
import { expectIdsInAnyCase, expectNodeReadsByCallerKind, type MemberNodeType } from '../support/node-reads.js';

/**
 * A contract, a renewal, a service case and feedback read through `node(id)` are their services' reads, as a ledger
 * entry or a voucher is (tests/members/member-rows-node-read.test.ts): a caller outside the rule of the type's
 * visibility is refused before anything is read, and for a member token the row is read only where it is theirs, so
 * another member's row never leaves the database. The types' visibility still guards such objects wherever else they
 * enter an answer.
 */
const { prisma, app } = useTestApp();

const DAY = 86_400_000;

const allowedKinds = (field: string) =>
  matrixCallers('Query', field, { owner: 'owner', stranger: 'stranger' })
    .filter((c) => c.access !== 'deny')
    .map((c) => c.kind as string);

/** Who reads contracts and their renewals in the permission matrix (`contractByExternalRef`), in its order. */
const CONTRACT_READER_KINDS = ['memberSelf', 'members:read', 'contracts:write', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];

/**
 * Who sees service cases and feedback (their types' `recoveryVisibility`): whoever reads the member (the matrix's
 * `node` row). Keys with `members:write` record them and see only their own write's answer
 * (tests/feedback/feedback-permissions-audit.test.ts). The matrix has no root field that reads them.
 */
const RECOVERY_READER_KINDS = ['memberSelf', 'members:read', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];

/**
 * The node types read through a service: the kinds that may read one (and the matrix's own answer for them), the rule
 * a refusal names, the table each reads, a selection and its answer.
 */
const TYPES = [
  {
    typename: 'Contract',
    readers: CONTRACT_READER_KINDS,
    matrixReaders: () => allowedKinds('contractByExternalRef'),
    refusal: /^readContracts is for /,
    table: /"public"\."contracts"/,
    // Not its member: a key with contracts:write may see the contract, not the member.
    selection: 'externalRef plan termMonths renewals { totalCount }',
    answer: (owner: string) => ({ externalRef: `c-${owner}`, plan: 'mobile-l', termMonths: 12, renewals: { totalCount: 1 } }),
    rowOf: async (owner: string) => (await prisma.contract.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'ContractRenewal',
    readers: CONTRACT_READER_KINDS,
    matrixReaders: () => allowedKinds('contractByExternalRef'),
    refusal: /^readContracts is for /,
    table: /"public"\."contract_renewals"/,
    selection: 'sequence termMonths contract { externalRef }',
    answer: (owner: string) => ({ sequence: 1, termMonths: 12, contract: { externalRef: `c-${owner}` } }),
    rowOf: async (owner: string) => (await prisma.contractRenewal.findFirstOrThrow({ where: { contract: { memberId: owner } } })).id,
  },
  {
    typename: 'ServiceCase',
    readers: RECOVERY_READER_KINDS,
    matrixReaders: () => allowedKinds('node'),
    refusal: /^Reading service cases and feedback is for agents and above, API keys with members:read, members only$/,
    table: /"public"\."service_cases"/,
    selection: 'channel category contacts feedback { nps }',
    answer: () => ({ channel: 'CHAT', category: 'delivery', contacts: 1, feedback: [{ nps: 9 }] }),
    rowOf: async (owner: string) => (await prisma.serviceCase.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Feedback',
    readers: RECOVERY_READER_KINDS,
    matrixReaders: () => allowedKinds('node'),
    refusal: /^Reading service cases and feedback is for agents and above, API keys with members:read, members only$/,
    table: /"public"\."feedback"/,
    selection: 'nps csat comment serviceCase { category }',
    answer: () => ({ nps: 9, csat: 5, comment: 'Quick help', serviceCase: { category: 'delivery' } }),
    rowOf: async (owner: string) => (await prisma.feedback.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const satisfies readonly (MemberNodeType & { matrixReaders: () => string[] })[];

/**
 * A member with a 12-month contract ending in 30 days, extended once, and a chat case about a delivery with the
 * member's feedback on it.
 */
async function memberWithContractAndCase(): Promise<string> {
  const owner = await app.enroll();
  const billing = apiKeyCaller('billing', ['contracts:write']);
  const startsAt = new Date(Date.now() + 30 * DAY);
  startsAt.setUTCFullYear(startsAt.getUTCFullYear() - 1);
  const { contractId } = await registerContract(
    app.deps,
    { memberId: owner, externalRef: `c-${owner}`, plan: 'mobile-l', startsAt, termMonths: 12 },
    billing,
  );
  await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: `renew-${owner}` }, billing);
  const serviceCase = await recordServiceCase(app.deps, { memberId: owner, channel: 'CHAT', category: 'delivery' }, staffCaller('AGENT'));
  await submitFeedback(
    app.deps,
    { nps: 9, csat: 5, comment: 'Quick help', caseId: serviceCase.id, idempotencyKey: `feedback-${owner}` },
    memberCaller(owner),
  );
  return owner;
}

describe('node(id) of a contract, a renewal, a service case and feedback is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers its visibility lets see it; the service refuses the others before reading`, async () => {
      expect(type.matrixReaders()).toEqual(type.readers);
      await expectNodeReadsByCallerKind(app, type, await memberWithContractAndCase(), await app.enroll());
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    await expectIdsInAnyCase(app, TYPES, await memberWithContractAndCase());
  });
});
