// No useTestApp(): one fixture serves every operation, as in the permission matrix test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KINDS, PERMISSION_MATRIX, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { createTestApp, expectLedgerConsistent } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';
import { PROBES, Seeder, type Subject } from '../support/permission-probes.js';

/**
 * PostgreSQL's text cannot hold U+0000: a string with it that reaches a statement fails there, and the client
 * would get a masked INTERNAL error. Every input is checked first, so each must be a typed answer instead. For
 * every query and mutation, the permission matrix's probe (tests/support/permission-probes.ts) is sent by a caller
 * it allows, once per string in its variables with a NUL appended: no answer may be an INTERNAL error (or any
 * error but the typed ones), and the ledger stays consistent.
 */

let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let seed: Seeder;
let subject: Subject;
const tokens = new Map<CallerKind, string>();

const isScope = (kind: CallerKind): kind is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(kind);

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  seed = new Seeder(prisma);
  await resetDatabase(prisma);
  const externalId = 'nul-member';
  const email = `${externalId}@example.com`;
  subject = { member: { id: await app.enroll({ externalId, email }), externalId, email }, agentId: 'staff-admin' };
  const admin = { actor: { type: 'STAFF' as const, id: 'nul-admin' }, role: 'ADMIN' as const };
  await adjustPoints(app.deps, { memberId: subject.member.id, points: 100_000, reason: 'nul', idempotencyKey: 'nul-seed' }, admin);
  tokens.set('ADMIN', await app.staffToken('ADMIN', 'staff-admin'));
  tokens.set('memberSelf', await app.memberToken(subject.member.id));
  for (const scope of API_KEY_SCOPES) tokens.set(scope, await app.apiKeyToken([scope], `nul ${scope}`));
});

afterAll(async () => {
  if (prisma) {
    await expectLedgerConsistent(prisma);
    await prisma.$disconnect();
  }
});

/** A caller the matrix allows: an admin, else a key with the one scope, else the member themselves. */
function allowedCaller(access: Record<CallerKind, string>): CallerKind | undefined {
  const order: CallerKind[] = ['ADMIN', ...CALLER_KINDS.filter(isScope), 'memberSelf'];
  return order.find((kind) => access[kind] === 'allow' || access[kind] === 'own');
}

/** The paths of every string in a value (object keys and list indexes). */
function stringPaths(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (typeof value === 'string') return [path];
  if (Array.isArray(value)) return value.flatMap((item, index) => stringPaths(item, [...path, index]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([key, item]) => stringPaths(item, [...path, key]));
  return [];
}

/** A deep copy of `value` with a NUL appended to the string at `path`. */
function withNul(value: unknown, path: (string | number)[]): unknown {
  if (path.length === 0) return `${value as string}\u0000`;
  const [head, ...rest] = path;
  if (Array.isArray(value)) return value.map((item, index) => (index === head ? withNul(item, rest) : item));
  return { ...(value as Record<string, unknown>), [head!]: withNul((value as Record<string, unknown>)[head!], rest) };
}

/** Typed refusals a NUL may meet (its own ValidationError, or what an id that cannot exist answers). */
const TYPED_CODES = new Set(['BAD_USER_INPUT', 'VALIDATION', 'NOT_FOUND', 'FORBIDDEN', 'UNAUTHENTICATED']);

describe('a NUL character in any string input', () => {
  for (const type of ['Query', 'Mutation'] as const) {
    for (const [field, row] of Object.entries(PERMISSION_MATRIX[type])) {
      const probe = PROBES[type][field]?.[0];
      const caller = allowedCaller(row.access);
      if (!probe || !caller) continue;
      it(`${type}.${field} answers with a typed error, never INTERNAL`, async () => {
        const problems: string[] = [];
        const sample = probe.operation(await probe.targets(seed, subject));
        for (const path of stringPaths(sample.variables ?? {})) {
          const operation = probe.operation(await probe.targets(seed, subject));
          const variables = withNul(operation.variables ?? {}, path) as Record<string, unknown>;
          const query = operation.query.replace('__typename', '__typename ... on Error { code message }');
          const response = await app.gql(query, variables, tokens.get(caller));
          for (const error of response.errors ?? []) {
            const code = String(error.extensions?.code);
            if (!TYPED_CODES.has(code)) problems.push(`${path.join('.')}: ${code} ${error.message}`);
          }
        }
        expect(problems).toEqual([]);
      });
    }
  }
});

describe('the refusal of a NUL', () => {
  const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { __typename } }`;

  it('names the variable that holds it, answers 400 and writes nothing', async () => {
    const shop = tokens.get('points:earn');
    const entries = await prisma.ledgerEntry.count();
    const input = { memberId: subject.member.id, orderRef: 'order\u0000', orderTotal: '10.00', idempotencyKey: 'nul-earn' };
    const { status, body } = await app.request(EARN, { i: input }, { token: shop });
    expect(status).toBe(400);
    expect(body.data ?? null).toBeNull();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: 'Variable $i.orderRef holds the NUL character (U+0000), which no text may contain.',
        extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }),
      }),
    ]);
    expect(await prisma.ledgerEntry.count()).toBe(entries);
  });

  it('refuses one written in the document the same way', async () => {
    const { status, body } = await app.request(
      '{ memberByExternalId(externalId: "nul-member\\u0000") { id } }',
      {},
      { token: tokens.get('ADMIN') },
    );
    expect(status).toBe(400);
    expect(body.errors?.[0]).toMatchObject({
      message: 'A string in the document holds the NUL character (U+0000), which no text may contain.',
      extensions: { code: 'BAD_USER_INPUT' },
    });
  });

  it('refuses one in a subscription before its stream opens', async () => {
    const stream = await app.subscribe(
      'subscription($id: ID!) { memberStatusChanged(memberId: $id) { change { kind } } }',
      { id: `${subject.member.id}\u0000` },
      tokens.get('ADMIN'),
    );
    try {
      const first = await stream.result(0);
      expect(first.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    } finally {
      await stream.close();
    }
  });
});
