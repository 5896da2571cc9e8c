import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { SERVICE_CALLERS, type CallerRule } from '../../src/domain/authorization.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { apiKeyCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, MEMBER_READER_KINDS } from '../support/matrix-callers.js';

/**
 * A member's ledger entry, order, tier change and voucher read through `node(id)` are their services' reads, as a
 * Member is the members service's (tests/members/member-node-read.test.ts): a caller outside the service's rule
 * (SERVICE_CALLERS.readMembers; readVouchers for a voucher, as `voucher(code)`) is refused before anything is read,
 * and for a member token the row is read only where it is theirs, so another member's row never leaves the database.
 * The types' visibility still guards such objects wherever else they enter an answer.
 */
const { prisma, app } = useTestApp();

/** Who reads vouchers in the permission matrix (`voucher`): the kinds the matrix lets in, in its order. */
const VOUCHER_READER_KINDS = ['memberSelf', 'members:read', 'vouchers:redeem', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'];

/**
 * The member-owned node types read through a service: the matrix row of the field that reads the type by the same rule
 * (`node`'s is the member-read rule), the kinds it lets in, the rule a refusal names, the table each reads, a selection
 * and its answer.
 */
const TYPES = [
  {
    typename: 'LedgerEntry',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    rule: 'readMembers',
    table: /\bledger_entries\b/,
    selection: 'kind amount causeRef member { id }',
    answer: (owner: string) => ({ kind: 'EARN', amount: 1000, causeRef: 'o-1', member: { id: encodeGlobalID('Member', owner) } }),
    rowOf: async (owner: string) => (await prisma.ledgerEntry.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Order',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    rule: 'readMembers',
    table: /\bpoint_orders\b/,
    selection: 'reference total { amount } member { id }',
    answer: (owner: string) => ({ reference: 'o-1', total: { amount: '1000.00' }, member: { id: encodeGlobalID('Member', owner) } }),
    rowOf: async (owner: string) => (await prisma.pointOrder.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'TierChange',
    field: 'node',
    readers: MEMBER_READER_KINDS,
    rule: 'readMembers',
    table: /\btier_changes\b/,
    selection: 'fromTierKey reason toTier { key }',
    answer: () => ({ fromTierKey: 'BRONZE', reason: 'UPGRADE', toTier: { key: 'SILVER' } }),
    rowOf: async (owner: string) => (await prisma.tierChange.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'Voucher',
    field: 'voucher',
    readers: VOUCHER_READER_KINDS,
    rule: 'readVouchers',
    table: /\bvouchers\b/,
    selection: 'kind value { amount } causeRef',
    answer: () => ({ kind: 'GOODWILL', value: { amount: '5.00' }, causeRef: 'gesture-1' }),
    rowOf: async (owner: string) => (await prisma.voucher.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const;

const nodeQuery = (typename: string, selection: string) =>
  `query($id: ID!) { node(id: $id) { __typename id ... on ${typename} { ${selection} } } }`;

/**
 * A member with one order of 1000.00 (its EARN entry, the order, and the tier change it brought: BRONZE to SILVER)
 * and a goodwill voucher of 5.00.
 */
async function memberWithOrder(): Promise<string> {
  const owner = await app.enroll();
  const shop = apiKeyCaller('shop', ['points:earn']);
  await earnPoints(app.deps, { memberId: owner, orderRef: 'o-1', orderTotal: '1000.00', idempotencyKey: 'earn-o-1' }, shop);
  await issueVoucher(prisma, {
    memberId: owner,
    kind: 'GOODWILL',
    value: { type: 'FIXED', amount: '5.00' },
    causeType: 'GESTURE',
    causeRef: 'gesture-1',
    now: new Date(),
  });
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
 * The statements node-postgres sends while `run` runs, each with the number of rows it returned (as
 * tests/support/statements.ts observes them, plus what came back): whether a row left the database, not only
 * whether its table was asked.
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

/** Runs `run` with SERVICE_CALLERS.readMembers replaced by `rule`, then puts the rule back. */
async function withReadMembersRule<T>(rule: CallerRule, run: () => Promise<T>): Promise<T> {
  const callers = SERVICE_CALLERS as unknown as Record<string, CallerRule>;
  const original = callers.readMembers!;
  callers.readMembers = rule;
  try {
    return await run();
  } finally {
    callers.readMembers = original;
  }
}

describe('node(id) of a member’s ledger entry, order, tier change and voucher is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers the matrix lets read it; the service refuses the others before reading`, async () => {
      const owner = await memberWithOrder();
      const stranger = await app.enroll();
      const id = encodeGlobalID(type.typename, await type.rowOf(owner));
      const missing = encodeGlobalID(type.typename, randomUUID());
      const query = nodeQuery(type.typename, type.selection);
      const callers = matrixCallers('Query', type.field, { owner, stranger });
      expect(callers.filter((c) => c.access !== 'deny').map((c) => c.kind)).toEqual(type.readers);

      for (const { kind, access } of callers) {
        const token = await tokenOf(kind, owner, stranger);
        await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
        const { reads, result } = await readsDuring(() => app.gql(query, { id }, token));
        const unknown = await app.gql(query, { id: missing }, token);
        if (kind === 'anonymous') {
          expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
          expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
        } else if (access !== 'deny') {
          // The member's own row for their own token; any row for staff and keys that read members.
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
            ).toEqual([['FORBIDDEN', expect.stringMatching(new RegExp(`^${type.rule} is for `))]]);
          }
          expect(reads, kind).toEqual([]);
        }
      }
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    const owner = await memberWithOrder();
    const token = await app.memberToken(owner);
    for (const type of TYPES) {
      const id = encodeGlobalID(type.typename, (await type.rowOf(owner)).toUpperCase());
      const result = await app.gql(nodeQuery(type.typename, type.selection), { id }, token);
      expect(result.errors, type.typename).toBeUndefined();
      expect(result.data?.node, type.typename).toMatchObject(type.answer(owner));
    }
  });
});

describe('AtRiskMember.member is the members service read', () => {
  const DESK = '{ atRiskMembers(first: 5) { edges { node { score member { id name } } } } }';

  /** A member on the save desk: two service failures in the last days. */
  async function atRisk(): Promise<string> {
    const memberId = await app.enroll({ name: 'At Risk' });
    for (const days of [2, 4]) {
      await prisma.serviceFailure.create({
        data: {
          memberId,
          type: 'LATE_DELIVERY',
          severity: 'LOW',
          occurredAt: new Date(Date.now() - days * 86_400_000),
          orderRef: `order-${days}`,
          reporterType: 'STAFF',
          reporterId: 'agent',
        },
      });
    }
    return memberId;
  }

  it('answers an agent with the member', async () => {
    const memberId = await atRisk();
    const result = await app.gql(DESK, {}, await app.staffToken('AGENT'));
    expect(result.errors).toBeUndefined();
    expect(result.data?.atRiskMembers.edges).toEqual([
      { node: { score: 30, member: { id: encodeGlobalID('Member', memberId), name: 'At Risk' } } },
    ]);
  });

  it('asks the members service, whose rule refuses before the member is read', async () => {
    await atRisk();
    const token = await app.staffToken('AGENT');
    await app.gql(DESK, {}, token);
    const { reads, result } = await withReadMembersRule({ staff: 'SUPERVISOR', apiKeys: ['members:read'], members: true }, () =>
      readsDuring(() => app.gql(DESK, {}, token)),
    );
    expect(result.errors?.map((e) => [e.extensions?.code, e.message, e.path?.join('.')])).toEqual([
      ['FORBIDDEN', expect.stringMatching(/^readMembers is for /), 'atRiskMembers.edges.0.node.member'],
    ]);
    // The ranking is read; the member row is not.
    expect(reads.filter((read) => /FROM "public"\."members"/.test(read.sql))).toEqual([]);
  });
});
