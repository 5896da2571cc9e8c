// No useTestApp(): one fixture (two members and all each owns) serves every probe; a reset per test would rebuild it for each.
import { encodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PrismaClient } from '../../src/db/prisma.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { createTestApp, testLogger } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';
import {
  MUTATION_PROBES,
  QUERY_PROBES,
  Seeder,
  missingTargets,
  targetForms,
  type Probe,
  type Subject,
  type Targets,
} from '../support/permission-probes.js';

/**
 * A member token must never reach another member. Every root field of Query and
 * Mutation has probes (tests/support/permission-probes.ts, shared with the
 * permission matrix; the first test fails when a field is added without one);
 * each probe aims at member B — B's own vouchers, contracts, failures, gestures,
 * created fresh for it — with member A's token, and asks for every member field
 * wherever a member appears: B's data must not appear anywhere in the answer,
 * nor may anything of B change.
 */
let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let seed: Seeder;
let a: { id: string; token: string };
let b: Subject['member'] & { entryId: string };

const MEMBER_FIELDS =
  'id externalId email name balance { available pending } ledger { edges { node { id amount member { id email } } } } tierProgress { qualifyingPoints } tierHistory { edges { node { id } } } vouchers { edges { node { id code } } } activeVouchers { id code } atRisk serviceFailures { edges { node { id orderRef } } }';

/** B's vouchers and redemptions, and the catalogue (which a member token must not change either). */
async function vouchersAndRewards() {
  return {
    vouchers: await prisma.voucher.findMany({ where: { memberId: b.id }, orderBy: { id: 'asc' } }),
    voucherRedemptions: await prisma.voucherRedemption.count(),
    rewards: await prisma.reward.findMany({ orderBy: { id: 'asc' } }),
    rewardRedemptions: await prisma.rewardRedemption.count(),
  };
}

async function snapshotOfB() {
  const member = await prisma.member.findUniqueOrThrow({ where: { id: b.id } });
  const entries = await prisma.ledgerEntry.count({ where: { memberId: b.id } });
  const recovery = {
    gestures: await prisma.goodwillGesture.count({ where: { memberId: b.id } }),
    cases: await prisma.serviceCase.count({ where: { memberId: b.id } }),
    feedback: await prisma.feedback.count({ where: { memberId: b.id } }),
    authorities: await prisma.agentAuthority.count(),
    contracts: await prisma.contract.findMany({ where: { memberId: b.id }, include: { renewals: true } }),
    failures: await prisma.serviceFailure.findMany({ where: { memberId: b.id } }),
  };
  return { ...member, entries, keys: await prisma.apiKey.count(), ...(await vouchersAndRewards()), ...recovery };
}

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  seed = new Seeder(prisma);
  await resetDatabase(prisma);
  const aId = await app.enroll({ externalId: 'cust-a', email: 'a@example.com' });
  const bId = await app.enroll({ externalId: 'cust-b', email: 'b@example.com' });
  const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
  const deps = { prisma, logger: testLogger };
  await earnPoints(deps, { memberId: aId, orderRef: 'a-order', orderTotal: '10', idempotencyKey: 'a1' }, storefront);
  const earned = await earnPoints(deps, { memberId: bId, orderRef: 'b-order', orderTotal: '20', idempotencyKey: 'b1' }, storefront);
  a = { id: aId, token: await app.memberToken(aId) };
  b = { id: bId, externalId: 'cust-b', email: 'b@example.com', entryId: earned.entryId! };
});
afterAll(async () => prisma.$disconnect());

/** Runs a probe against member B (fresh targets of B's) with A's token. */
async function probeB(probe: Probe) {
  const targets = await probe.targets(seed, { member: b, agentId: 'staff-agent' });
  const { query, variables } = probe.operation(targets, MEMBER_FIELDS);
  return { targets, send: () => app.gql(query, variables, a.token) };
}

function expectNoTraceOfB(response: unknown, targets: Targets) {
  const text = JSON.stringify(response);
  const secrets = [b.id, encodeGlobalID('Member', b.id), b.email, b.externalId, b.entryId];
  for (const secret of [...secrets, ...Object.values(targets).flatMap(targetForms)]) {
    expect(text).not.toContain(secret);
  }
}

describe('a member token cannot reach another member', () => {
  it('every root field of Query and Mutation has a probe', () => {
    const schema = getSchema();
    expect(Object.keys(schema.getQueryType()!.getFields()).sort()).toEqual(Object.keys(QUERY_PROBES).sort());
    expect(Object.keys(schema.getMutationType()!.getFields()).sort()).toEqual(Object.keys(MUTATION_PROBES).sort());
  });

  it('no query field returns anything of member B', async () => {
    for (const [field, probes] of Object.entries(QUERY_PROBES)) {
      for (const probe of probes) {
        const { targets, send } = await probeB(probe);
        const response = await send();
        expectNoTraceOfB(response, targets);
        if (field === 'me') expect(response.data?.me.id).toBe(encodeGlobalID('Member', a.id));
      }
    }
  });

  it('no mutation changes or returns member B', async () => {
    for (const probes of Object.values(MUTATION_PROBES)) {
      for (const probe of probes) {
        const { targets, send } = await probeB(probe);
        const before = await snapshotOfB();
        const response = await send();
        expectNoTraceOfB(response, targets);
        const typename = Object.values(response.data ?? {})[0] as { __typename?: string } | null | undefined;
        if (typename) expect(['ForbiddenError', 'NotFoundError']).toContain(typename.__typename);
        expect(await snapshotOfB()).toEqual(before);
      }
    }
  });

  it('a member sees their own ledger and balance through `me`', async () => {
    const response = await app.gql(`{ me { balance { pending } ledger { edges { node { amount member { email } } } } } }`, {}, a.token);
    expect(response.errors).toBeUndefined();
    expect(response.data?.me.balance.pending).toBe(10);
    expect(response.data?.me.ledger.edges[0].node.member.email).toBe('a@example.com');
  });
});

/** The HTTP status and body of an operation sent with A's token. */
async function sendAsA(query: string, variables: Record<string, unknown> | undefined) {
  const response = await app.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

/** The answer with each target (in every form) replaced by its name, so that answers about different targets compare. */
function withTargetsNamed(answer: unknown, targets: Targets): string {
  let text = JSON.stringify(answer);
  for (const [name, value] of Object.entries(targets)) {
    for (const form of targetForms(value)) text = text.split(form).join(`<${name}>`);
  }
  return text;
}

describe('a member token cannot tell whether another member’s data exists (issue 9, hole 11)', () => {
  // Every probe aimed at B's data is sent again at the same kind of target that does not exist
  // (missingTargets): status, typename, code and message must be the same.
  for (const [root, probesByField] of [
    ['Query', QUERY_PROBES],
    ['Mutation', MUTATION_PROBES],
  ] as const) {
    it(`every ${root} field answers the same for B's data as for data that does not exist`, async () => {
      const oracles: string[] = [];
      for (const [field, probes] of Object.entries(probesByField)) {
        for (const [index, probe] of probes.entries()) {
          const targets = await probe.targets(seed, { member: b, agentId: 'staff-agent' });
          const missing = missingTargets(targets);
          const existing = probe.operation(targets);
          const absent = probe.operation(missing);
          const [ofB, ofNobody] = [await sendAsA(existing.query, existing.variables), await sendAsA(absent.query, absent.variables)];
          const seen = withTargetsNamed(ofB, targets);
          const unseen = withTargetsNamed(ofNobody, missing);
          if (seen !== unseen) oracles.push(`${field}#${index}: ${seen} ≠ ${unseen}`);
        }
      }
      expect(oracles).toEqual([]);
    });
  }
});
