import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { EARN_STATEMENTS } from '../../bench/earn-rows.js';
import { earnPoints } from '../../src/domain/points/points.service.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * The bench's raw earn with the service's rows (bench/earn-rows.ts) holds copies of earnPoints' two statements,
 * as PostgreSQL logged them: its figures mean something only while they are still the ones earnPoints sends.
 */
const { prisma, app } = useTestApp();
const shop = apiKeyCaller('bench-shop', STOREFRONT_SCOPES);
const normalised = (text: string) => text.replace(/\s+/g, ' ').trim();

describe("the bench's raw earn with the service's rows", () => {
  it('sends the statements earnPoints sends for an order total (the bench earn)', async () => {
    const memberId = await app.enroll();
    const sent: string[] = [];
    const query = vi.spyOn(pg.Client.prototype, 'query');
    try {
      await earnPoints({ prisma, logger: testLogger }, { memberId, orderRef: 'o-1', orderTotal: '25.00', idempotencyKey: 'k-1' }, shop);
      // Read before the spy is restored: restoring clears what it recorded.
      for (const [config] of query.mock.calls) {
        const text = typeof config === 'string' ? config : (config as { text?: unknown }).text;
        if (typeof text === 'string') sent.push(normalised(text));
      }
    } finally {
      query.mockRestore();
    }
    expect(sent).toContain(normalised(EARN_STATEMENTS.open));
    expect(sent).toContain(normalised(EARN_STATEMENTS.write));
  });
});
