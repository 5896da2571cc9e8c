import { describe, expect, it } from 'vitest';
import { createEarningRule, earningRuleListWhere } from '../../src/domain/earning/earning-rules.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may list earning rules (`earningRules`) is the earning service's rule
 * (SERVICE_CALLERS.readEarningRules), the same as the permission matrix's row:
 * a worker, the CLI or a new field calling it gets nothing the matrix refuses.
 */
const { prisma, app } = useTestApp();

describe('earningRules: earningRuleListWhere', () => {
  it('lists for the callers the matrix allows (staff); refuses everyone else (FORBIDDEN), members and workers too', async () => {
    const memberId = await app.enroll();
    const rule = await createEarningRule(
      app.deps,
      { name: 'Birthday', effect: { eventPoints: { eventType: 'birthday', points: 500, limit: { count: 1, period: 'CALENDAR_YEAR' } } } },
      staffCaller('ADMIN'),
    );
    const callers = matrixCallers('Query', 'earningRules', { owner: memberId, stranger: await app.enroll() });
    expect(callers.filter((c) => c.access === 'allow').map((c) => c.kind)).toEqual(['admin', 'AGENT', 'SUPERVISOR', 'ADMIN']);
    for (const { kind, access, caller } of callers) {
      if (access === 'deny') {
        expect(() => earningRuleListWhere({}, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
        expect(() => earningRuleListWhere({ includeRetired: true }, caller), `${kind} is refused`).toThrow(
          expect.objectContaining({ code: 'FORBIDDEN' }),
        );
      } else {
        const where = earningRuleListWhere({ kind: 'EVENT_POINTS' }, caller);
        expect(
          (await prisma.earningRule.findMany({ where })).map((r) => r.id),
          kind,
        ).toEqual([rule.id]);
      }
    }
    expect(() => earningRuleListWhere({}, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
