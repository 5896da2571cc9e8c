import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/auth/principal.js';
import { signMemberToken, signStaffToken } from '../../src/auth/tokens.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { TEST_JWT_SECRET, useTestApp } from '../support/app.js';
import type { SseSubscription } from '../support/sse.js';
import { until } from '../support/until.js';

/**
 * Adversarial audit of authentication and the HTTP edge (2026-12-06): what the other tests of src/auth and src/http
 * do not already prove.
 */
const { app } = useTestApp();

const SHOP: Caller = { actor: { type: 'API_KEY', id: 'shop' }, scopes: new Set(['points:earn']) };
const STATUS = `subscription($m: ID) { memberStatusChanged(memberId: $m) { change { kind reference } member { balance { pending } } } }`;

/** Waits (real time: the authenticator's clock is the system's) until a request with this token would be refused. */
async function untilRefused(token: string): Promise<void> {
  const { exp } = decodeJwt(token);
  await until(
    async () => (await app.request('{ tiers { key } }', {}, { token })).status === 401,
    (exp! + 10) * 1000 - Date.now(),
    100,
    'the token to be refused',
  );
}

describe('a live stream ends when its token expires, not at the next periodic re-check', () => {
  const open: SseSubscription[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((stream) => stream.close()));
  });

  it("a member token's stream sends nothing after the token expired (LIVE_AUTH_RECHECK_MS is a minute)", async () => {
    const memberId = await app.enroll();
    const token = await signMemberToken(TEST_JWT_SECRET, { memberId, expiresIn: 1 });
    const stream = await app.subscribe(STATUS, {}, token);
    open.push(stream);
    expect((await stream.result(0)).errors).toBeUndefined();

    await untilRefused(token);
    await earnPoints(app.deps, { memberId, orderRef: 'after-expiry', orderTotal: '10.00', idempotencyKey: 'after-expiry' }, SHOP);
    // Before the fix: an EARNED event with the new balance, and the stream open until its periodic re-check.
    await stream.ended(5_000);
    expect(stream.results.map((result) => result.data?.memberStatusChanged)).toEqual([
      { change: { kind: 'CURRENT', reference: null }, member: { balance: { pending: 0 } } },
    ]);
  });

  it("an agent's stream of a member sends nothing of the member after the agent's token expired", async () => {
    const memberId = await app.enroll();
    const token = await signStaffToken(TEST_JWT_SECRET, { staffId: 'agent-expiring', role: 'AGENT', expiresIn: 1 });
    const stream = await app.subscribe(STATUS, { m: memberId }, token);
    open.push(stream);
    expect((await stream.result(0)).errors).toBeUndefined();

    await untilRefused(token);
    await stream.ended(5_000);
    await earnPoints(app.deps, { memberId, orderRef: 'after-expiry', orderTotal: '10.00', idempotencyKey: 'after-expiry' }, SHOP);
    expect(stream.results).toHaveLength(1);
  });

  it("a supervisor's approval queue ends when the supervisor's token expires", async () => {
    const token = await signStaffToken(TEST_JWT_SECRET, { staffId: 'supervisor-expiring', role: 'SUPERVISOR', expiresIn: 1 });
    const stream = await app.subscribe('subscription { approvalQueueChanged { change { kind } } }', {}, token);
    open.push(stream);
    expect((await stream.result(0)).errors).toBeUndefined();
    await untilRefused(token);
    await stream.ended(5_000);
  });
});
