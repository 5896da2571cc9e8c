import { describe, expect, it } from 'vitest';
import { issueGoodwill, readGoodwillGesture } from '../../src/domain/goodwill/goodwill.service.js';
import { readServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { systemCaller } from '../support/matrix-callers.js';
import { expectIdsInAnyCase, expectNodeReadsByCallerKind, type MemberNodeType } from '../support/node-reads.js';

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
    // A failures:report key reads only the failures it reported (tests/service-failures/failure-permissions-audit.test.ts).
    readers: ['memberSelf', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    ownRowsOnly: ['failures:report'],
    refusal: /^Reading service failures is for agents and above, API keys with failures:report, members only$/,
    table: /\bservice_failures\b/,
    selection: 'type severity orderRef status',
    answer: () => ({ type: 'LATE_DELIVERY', severity: 'LOW', orderRef: 'order-1', status: 'RECORDED' }),
    rowOf: async (owner: string) => (await prisma.serviceFailure.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
  {
    typename: 'GoodwillGesture',
    readers: ['memberSelf', 'admin', 'AGENT', 'SUPERVISOR', 'ADMIN'],
    refusal: /^Reading goodwill gestures is for agents and above, members only$/,
    table: /\bgoodwill_gestures\b/,
    selection: 'kind points reason status',
    answer: () => ({ kind: 'POINTS', points: 100, reason: 'DELAYED_DELIVERY', status: 'GRANTED' }),
    rowOf: async (owner: string) => (await prisma.goodwillGesture.findFirstOrThrow({ where: { memberId: owner } })).id,
  },
] as const satisfies readonly MemberNodeType[];

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

describe('node(id) of a member’s service failure and goodwill gesture is its service’s read', () => {
  for (const type of TYPES) {
    it(`${type.typename}: answers the callers its visibility lets in; the service refuses the others before reading`, async () => {
      await expectNodeReadsByCallerKind(app, type, await memberWithFailureAndGesture(), await app.enroll());
    });
  }

  it('reads a row by its id in any case, as the Member node does', async () => {
    await expectIdsInAnyCase(app, TYPES, await memberWithFailureAndGesture());
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
