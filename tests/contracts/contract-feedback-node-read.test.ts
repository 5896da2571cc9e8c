import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CALLER_KINDS, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { recordServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { apiKeyCaller, memberCaller, staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers } from '../support/matrix-callers.js';

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
 * `node` row) and keys with `members:write`, which record them. The matrix has no root field that reads them.
 */
const RECOVERY_READER_KINDS = ['memberSelf', 'members:read', 'members:write', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];

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
    matrixReaders: () => [...allowedKinds('node'), 'members:write'].sort((a, b) => kindOrder(a) - kindOrder(b)),
    refusal: /^Reading service cases and feedback is for agents and above, API keys with members:read or members:write, members only$/,
    table: /"public"\."service_cases"/,
    // Not its member: a key with members:write may see the case, not the member.
    selection: 'channel category contacts feedback { nps }',
    answer: () => ({ channel: 'CHAT', category: 'delivery', contacts: 1, feedback: [{ nps: 9 }] }),
    rowOf: async (owner: string) => (await prisma.serviceCase.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Feedback',
    readers: RECOVERY_READER_KINDS,
    matrixReaders: () => [...allowedKinds('node'), 'members:write'].sort((a, b) => kindOrder(a) - kindOrder(b)),
    refusal: /^Reading service cases and feedback is for agents and above, API keys with members:read or members:write, members only$/,
    table: /"public"\."feedback"/,
    selection: 'nps csat comment serviceCase { category }',
    answer: () => ({ nps: 9, csat: 5, comment: 'Quick help', serviceCase: { category: 'delivery' } }),
    rowOf: async (owner: string) => (await prisma.feedback.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const;

function kindOrder(kind: string): number {
  return (CALLER_KINDS as readonly string[]).indexOf(kind);
}

const nodeQuery = (typename: string, selection: string) =>
  `query($id: ID!) { node(id: $id) { __typename id ... on ${typename} { ${selection} } } }`;

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

/** A token of each kind of the permission matrix; the member kinds are `owner`'s and `stranger`'s. */
async function tokenOf(kind: CallerKind, owner: string, stranger: string): Promise<string | undefined> {
  if (kind === 'anonymous') return undefined;
  if (kind === 'memberSelf') return app.memberToken(owner);
  if (kind === 'memberOther') return app.memberToken(stranger);
  if ((API_KEY_SCOPES as readonly string[]).includes(kind)) return app.apiKeyToken([kind as ApiKeyScope], `key ${kind}`);
  return app.staffToken(kind as 'AGENT' | 'SUPERVISOR' | 'ADMIN');
}

interface Read {
  sql: string;
  /** Rows the database returned for it. */
  rows: number;
}

/**
 * The statements node-postgres sends while `run` runs, each with the number of rows it returned: whether a row left
 * the database, not only whether its table was asked (as tests/members/member-rows-node-read.test.ts observes them).
 */
async function readsDuring<T>(run: () => Promise<T>): Promise<{ reads: Read[]; result: T }> {
  const reads: Read[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    const read: Read = { sql: (typeof first === 'string' ? first : (first?.text ?? '?')).trim(), rows: 0 };
    reads.push(read);
    const count = (result: unknown) => {
      read.rows = (result as { rows?: unknown[] } | undefined)?.rows?.length ?? 0;
    };
    // The pool passes a callback; a client used directly answers with a promise.
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (error: unknown, result: unknown) => {
        count(result);
        return (callback as (error: unknown, result: unknown) => unknown)(error, result);
      };
    }
    const answer = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (answer instanceof Promise) answer.then(count, () => undefined);
    return answer;
  } as typeof original;
  try {
    return { reads, result: await run() };
  } finally {
    pg.Client.prototype.query = original;
  }
}

describe('node(id) of a contract, a renewal, a service case and feedback is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers its visibility lets see it; the service refuses the others before reading`, async () => {
      const owner = await memberWithContractAndCase();
      const stranger = await app.enroll();
      const id = encodeGlobalID(type.typename, await type.rowOf(owner));
      const missing = encodeGlobalID(type.typename, randomUUID());
      const query = nodeQuery(type.typename, type.selection);
      expect(type.matrixReaders()).toEqual(type.readers);

      for (const kind of CALLER_KINDS) {
        const token = await tokenOf(kind, owner, stranger);
        await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
        const { reads, result } = await readsDuring(() => app.gql(query, { id }, token));
        const unknown = await app.gql(query, { id: missing }, token);
        if (kind === 'anonymous') {
          expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
          expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
        } else if ((type.readers as readonly string[]).includes(kind)) {
          // The member's own row for their own token; any row for the staff and keys the type's visibility admits.
          expect(result.errors, kind).toBeUndefined();
          expect(result.data?.node, kind).toEqual({ __typename: type.typename, id, ...type.answer(owner) });
          // An id nobody has: null, as for every node type.
          expect(unknown, kind).toEqual({ data: { node: null } });
        } else if (kind === 'memberOther') {
          // Null, as for an id nobody has: the row is asked for as theirs, and the database returns none.
          expect(result, kind).toEqual({ data: { node: null } });
          expect(unknown, kind).toEqual({ data: { node: null } });
          expect(
            reads.filter((read) => type.table.test(read.sql)).map((read) => read.rows),
            kind,
          ).toEqual([0]);
        } else {
          // Refused by the service's own check (its message names the rule), before any read, whether the row
          // exists or not.
          for (const answer of [result, unknown]) {
            expect(answer.data?.node ?? null, kind).toBeNull();
            expect(
              answer.errors?.map((e) => [e.extensions?.code, e.message]),
              kind,
            ).toEqual([['FORBIDDEN', expect.stringMatching(type.refusal)]]);
          }
          expect(reads, kind).toEqual([]);
        }
      }
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    const owner = await memberWithContractAndCase();
    const token = await app.memberToken(owner);
    for (const type of TYPES) {
      const id = encodeGlobalID(type.typename, (await type.rowOf(owner)).toUpperCase());
      const result = await app.gql(nodeQuery(type.typename, type.selection), { id }, token);
      expect(result.errors, type.typename).toBeUndefined();
      expect(result.data?.node, type.typename).toMatchObject(type.answer(owner));
    }
  });
});
