import { describe, expect, it } from 'vitest';
import { goodwillGestureWhere, issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { staffCaller } from '../support/callers.js';
import { useTestApp } from '../support/app.js';
import { matrixCallers, systemCaller } from '../support/matrix-callers.js';

/**
 * Who may list goodwill gestures (`goodwillGestures`) is the goodwill service's
 * rule, the same as the permission matrix's row (staff): a worker, the CLI or a
 * new field calling it gets nothing the matrix refuses.
 */
const { prisma, app } = useTestApp();

describe('goodwillGestures: goodwillGestureWhere', () => {
  it('lists for the callers the matrix allows (staff); refuses everyone else (FORBIDDEN), members and workers too', async () => {
    const memberId = await app.enroll();
    const issued = await issueGoodwill(
      app.deps,
      { memberId, kind: 'POINTS', points: 100, reason: 'DELAYED_DELIVERY', note: 'late', idempotencyKey: 'gesture-1' },
      staffCaller('AGENT', 'agent-1'),
    );
    const callers = matrixCallers('Query', 'goodwillGestures', { owner: memberId, stranger: await app.enroll() });
    expect(callers.filter((c) => c.access === 'allow').map((c) => c.kind)).toEqual(['admin', 'AGENT', 'SUPERVISOR', 'ADMIN']);
    for (const { kind, access, caller } of callers) {
      if (access === 'deny') {
        expect(() => goodwillGestureWhere(null, caller), `${kind} is refused`).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
        // The member's own gestures included: the listing is for staff.
        expect(() => goodwillGestureWhere({ memberId }, caller), `${kind} is refused`).toThrow(
          expect.objectContaining({ code: 'FORBIDDEN' }),
        );
      } else {
        const where = goodwillGestureWhere({ memberId, agentId: 'agent-1' }, caller);
        expect(
          (await prisma.goodwillGesture.findMany({ where })).map((g) => g.id),
          kind,
        ).toEqual([issued.gestureId]);
      }
    }
    expect(() => goodwillGestureWhere(null, systemCaller)).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
  });
});
