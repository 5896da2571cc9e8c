import { describe, expect, it } from 'vitest';
import {
  approveGoodwill,
  getAgentAuthority,
  issueGoodwill,
  setAgentAuthority,
  type IssueGoodwillInput,
} from '../../src/domain/goodwill/goodwill.service.js';
import { staffCaller } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';

/**
 * An approval counts against the issuing agent's monthly budget ("approvals
 * included", AgentAuthority.spentThisMonth), and docs/metrics.md counts a
 * gesture as granted "at once (createdAt) or on approval (decidedAt)". A
 * gesture approved in February is February's spending.
 */
const { prisma, app } = useTestApp();
const at = (date: Date) => ({ prisma, logger: testLogger, now: () => date });

const agent = staffCaller('AGENT', 'agent-month');
const supervisor = staffCaller('SUPERVISOR', 'supervisor-month');

const JAN_31 = new Date('2026-01-31T22:00:00.000Z');
const FEB_1 = new Date('2026-02-01T09:00:00.000Z');

const voucher = (memberId: string, amount: string, idempotencyKey: string): IssueGoodwillInput => ({
  memberId,
  kind: 'VOUCHER',
  amount,
  reason: 'DEFECTIVE_PRODUCT',
  note: 'broken on arrival',
  idempotencyKey,
});

describe('goodwill budget: an approval is spending of the month it is granted in', () => {
  it('a gesture held on 31 January and approved on 1 February counts against February’s budget', async () => {
    const memberId = await app.enroll();
    await setAgentAuthority(at(JAN_31), { agentId: 'agent-month', monthlyBudget: '50.00' }, supervisor);

    const held = await issueGoodwill(at(JAN_31), voucher(memberId, '40.00', 'g-1'), agent);
    expect(held.status).toBe('PENDING_APPROVAL'); // above the per-gesture limit of 25.00
    const approved = await approveGoodwill(at(FEB_1), { gestureId: held.gestureId, idempotencyKey: 'a-1' }, supervisor);
    expect(approved.status).toBe('GRANTED');

    // February: 40.00 granted (on approval) of a 50.00 budget.
    const february = await getAgentAuthority(at(FEB_1), 'agent-month', supervisor);
    expect({ spent: february.spentThisMonth, remaining: february.remainingThisMonth }).toEqual({ spent: '40.00', remaining: '10.00' });

    // So 20.00 more in February is beyond the budget and waits for a supervisor.
    const next = await issueGoodwill(at(FEB_1), voucher(memberId, '20.00', 'g-2'), agent);
    expect(next.status).toBe('PENDING_APPROVAL');
  });
});
