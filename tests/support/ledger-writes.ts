import type { PrismaClient } from '../../src/db/prisma.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { MAX_POINTS } from '../../src/domain/validation.js';
import { adjustPoints, earnPoints } from '../../src/domain/points/points.service.js';
import { testLogger } from './app.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from './callers.js';

export const ADMIN = { actor: { type: 'STAFF' as const, id: 'admin-1' }, role: 'ADMIN' as const };
export const STOREFRONT = apiKeyCaller('shop', STOREFRONT_SCOPES);

/**
 * Points written at chosen instants, each with a key of its own: a storefront's earns and an admin's grants, for
 * tests that move one member's points through time and race them (tests/points/lifecycle-audit.test.ts,
 * ledger-races-audit.test.ts). `at(date)`: service deps whose clock reads `date`; `key(prefix)`: a fresh key.
 */
export function ledgerWrites(prisma: PrismaClient) {
  let keys = 0;
  const key = (prefix: string) => `${prefix}-${++keys}`;
  const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });
  return {
    at,
    key,
    earn: (memberId: string, when: Date, orderTotal: string, orderRef = key('o')) =>
      earnPoints(at(when), { memberId, orderRef, orderTotal, idempotencyKey: key('e') }, STOREFRONT),
    grant: (memberId: string, when: Date, points: number) =>
      adjustPoints(at(when), { memberId, points, reason: 'grant', idempotencyKey: key('g') }, ADMIN),
  };
}

/** A member enrolled through `app` and given MAX_POINTS − `room` available points by an admin's adjustment. */
export async function memberNearTheLimit(app: { enroll(): Promise<string>; deps: ServiceDeps }, room: number): Promise<string> {
  const memberId = await app.enroll();
  await adjustPoints(app.deps, { memberId, points: MAX_POINTS - room, reason: 'near the limit', idempotencyKey: 'fill' }, ADMIN);
  return memberId;
}
