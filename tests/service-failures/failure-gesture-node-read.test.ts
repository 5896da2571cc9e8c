import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CALLER_KINDS, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { issueGoodwill, readGoodwillGesture } from '../../src/domain/goodwill/goodwill.service.js';
import { readServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { systemCaller } from '../support/matrix-callers.js';

/**
 * A member's service failure and goodwill gesture read through `node(id)` are their services' reads, as a ledger
 * entry, an order, a tier change and a voucher are (tests/members/member-rows-node-read.test.ts): a caller outside
 * the type's visibility rule is refused before anything is read, and for a member token the row is read only where
 * it is theirs, so another member's row never leaves the database. The types' visibility still guards such objects
 * wherever else they enter an answer.
 */
const { prisma, app } = useTestApp();

/**
 * The two node types, each with the caller kinds of the permission matrix its visibility lets in (in the matrix's
 * order): a ServiceFailure is for staff, keys that report failures and the member it happened to (the matrix's
 * `reportServiceFailure` row and the member), a GoodwillGesture for staff and the member it is for (the
 * `goodwillGestures` row and the member). Then the start of a refusal's message, the table each reads, a selection
 * and its answer.
 */
const TYPES = [
  {
    typename: 'ServiceFailure',
    readers: ['memberSelf', 'failures:report', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    refusal: /^Reading any member's service failures is for agents and above, API keys with failures:report only$/,
    table: /\bservice_failures\b/,
    selection: 'type severity orderRef status',
    answer: { type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'order-1', status: 'RECORDED' },
    rowOf: async (owner: string) => (await prisma.serviceFailure.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'GoodwillGesture',
    readers: ['memberSelf', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    refusal: /^readGoodwill is for agents and above only/,
    table: /\bgoodwill_gestures\b/,
    selection: 'kind points reason status',
    answer: { kind: 'POINTS', points: 100, reason: 'DELAYED_DELIVERY', status: 'GRANTED' },
    rowOf: async (owner: string) => (await prisma.goodwillGesture.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const;

const nodeQuery = (typename: string, selection: string) =>
  `query($id: ID!) { node(id: $id) { __typename id ... on ${typename} { ${selection} } } }`;

/** A member with a LOW late delivery of order-1 (RECORDED) and a goodwill gesture of 100 points (GRANTED). */
async function memberWithFailureAndGesture(): Promise<string> {
  const owner = await app.enroll();
  await prisma.serviceFailure.create({
    data: {
      memberId: owner,
      type: 'LATE_DELIVERY',
      severity: 'LOW',
      occurredAt: new Date(Date.now() - 86_400_000),
      orderRef: 'order-1',
      reporterType: 'STAFF',
      reporterId: 'agent',
    },
  });
  await issueGoodwill(
    app.deps,
    { memberId: owner, kind: 'POINTS', points: 100, reason: 'DELAYED_DELIVERY', note: 'late', idempotencyKey: 'gesture-1' },
    staffCaller('AGENT', 'agent-1'),
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
 * The statements node-postgres sends while `run` runs, each with the number of rows it returned: whether a row
 * left the database, not only whether its table was asked.
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

describe('node(id) of a member’s service failure and goodwill gesture is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers its visibility lets in; the service refuses the others before reading`, async () => {
      const owner = await memberWithFailureAndGesture();
      const stranger = await app.enroll();
      const id = encodeGlobalID(type.typename, await type.rowOf(owner));
      const missing = encodeGlobalID(type.typename, randomUUID());
      const query = nodeQuery(type.typename, type.selection);

      for (const kind of CALLER_KINDS) {
        const token = await tokenOf(kind, owner, stranger);
        await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
        const { reads, result } = await readsDuring(() => app.gql(query, { id }, token));
        const unknown = await app.gql(query, { id: missing }, token);
        if (kind === 'anonymous') {
          expect(result.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
          expect(unknown.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
        } else if ((type.readers as readonly string[]).includes(kind)) {
          // The member's own row for their own token; any row for the others let in.
          expect(result.errors, kind).toBeUndefined();
          expect(result.data?.node, kind).toEqual({ __typename: type.typename, id, ...type.answer });
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
          // Refused by the service's own check, before any read, whether the row exists or not.
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
    const owner = await memberWithFailureAndGesture();
    const token = await app.memberToken(owner);
    for (const type of TYPES) {
      const id = encodeGlobalID(type.typename, (await type.rowOf(owner)).toUpperCase());
      const result = await app.gql(nodeQuery(type.typename, type.selection), { id }, token);
      expect(result.errors, type.typename).toBeUndefined();
      expect(result.data?.node, type.typename).toMatchObject(type.answer);
    }
  });

  it('refuses a worker acting on its own (no role, no scopes) before the id is looked at', async () => {
    const owner = await memberWithFailureAndGesture();
    const failureId = await TYPES[0].rowOf(owner);
    const gestureId = await TYPES[1].rowOf(owner);
    for (const id of [failureId, 'nope']) {
      await expect(readServiceFailure(app.deps, id, {}, systemCaller)).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(readGoodwillGesture(app.deps, id === 'nope' ? id : gestureId, {}, systemCaller)).rejects.toMatchObject({
        code: 'FORBIDDEN',
      });
    }
    await expect(readServiceFailure(app.deps, 'nope', {}, staffCaller('AGENT'))).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
  });
});
