import { encodeGlobalID } from '@pothos/plugin-relay';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { currencySwitch } from '../support/currency-switch.js';
import { tableRowCounts } from '../support/db.js';
import { holdMember, whileHolding } from '../support/holding.js';
import { APPROVE, ISSUE } from './goodwill-documents.js';

/**
 * An adversarial audit of goodwill: hostile input writes nothing, decisions race
 * into exactly one outcome, and callers outside the rules reach nothing.
 */
const { prisma, app } = useTestApp();

const REJECT = `mutation($input: RejectGoodwillInput!) { rejectGoodwill(input: $input) {
  __typename ... on RejectGoodwillPayload { status } ... on GoodwillNotPendingError { status } ... on ValidationError { field }
  ... on Error { message code } } }`;
const SET_AUTHORITY = `mutation($input: SetAgentAuthorityInput!) { setAgentAuthority(input: $input) {
  __typename ... on ValidationError { field } ... on Error { message code } } }`;
const AUDIT = `query($id: ID!) { node(id: $id) { ... on GoodwillGesture { status decidedBy audit { action actorId actorRole note } } } }`;

let agent: string;
let supervisor: string;
beforeAll(async () => {
  agent = await app.staffToken('AGENT', 'agent-audit');
  supervisor = await app.staffToken('SUPERVISOR', 'supervisor-audit');
});

/** Rows of every application table: what a refused request must leave as it was. */
const rowCounts = () => tableRowCounts(prisma);

let keys = 0;
const gesture = (memberId: string, extra: Record<string, unknown>) => ({
  memberId,
  kind: 'POINTS',
  points: 100,
  reason: 'LONG_WAIT',
  note: 'waited an hour',
  idempotencyKey: `audit-${++keys}`,
  ...extra,
});

async function held(memberId: string, token = agent): Promise<string> {
  const result = await app.gql(ISSUE, { input: gesture(memberId, { points: 4000 }) }, token);
  expect(result.data?.issueGoodwill.status).toBe('PENDING_APPROVAL');
  return result.data!.issueGoodwill.gesture.id;
}

describe('hostile input to issueGoodwill: a typed error and nothing written', () => {
  it('refuses every malformed gesture, writing no row anywhere', async () => {
    const memberId = await app.enroll();
    await loadProgram(prisma); // the program row, written on first read by whatever reads it
    const before = await rowCounts();
    const cases: Record<string, unknown>[] = [
      gesture(memberId, { points: -5 }),
      gesture(memberId, { points: 0 }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '-1.00' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '0' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '1.001' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '99999999999.00' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '1e3' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: 'NaN' }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amountMoney: { amount: '5.00', currency: 'USD' } }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amountMoney: { amount: '5.001', currency: 'EUR' } }),
      gesture(memberId, { kind: 'VOUCHER', points: null, amount: '5.00', amountMoney: { amount: '5.00', currency: 'EUR' } }),
      gesture(memberId, { note: 'nul\u0000byte' }),
      gesture(memberId, { note: 'x'.repeat(1001) }),
      gesture(memberId, { note: 'x'.repeat(200_000) }),
      gesture(memberId, { note: 'refund \u202E001 stniop' }),
      gesture(memberId, { caseRef: 'c'.repeat(201) }),
      gesture(memberId, { caseRef: 'case\u00007' }),
      gesture(memberId, { idempotencyKey: 'k'.repeat(10_000) }),
      gesture(memberId, { idempotencyKey: 'nul\u0000' }),
      gesture('00000000-0000-4000-8000-000000000000', {}),
      gesture(encodeGlobalID('GoodwillGesture', memberId), {}),
    ];
    for (const input of cases) {
      const result = await app.gql(ISSUE, { input }, agent);
      const typed = result.data?.issueGoodwill?.__typename;
      const topLevel = result.errors?.[0]?.extensions?.code;
      expect(
        ['ValidationError', 'NotFoundError'].includes(typed) ||
          ['BAD_USER_INPUT', 'VALIDATION', 'REQUEST_ENTITY_TOO_LARGE'].includes(topLevel as string),
        `${JSON.stringify(input).slice(0, 160)} → ${JSON.stringify(result).slice(0, 300)}`,
      ).toBe(true);
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses hostile decisions and authority changes, writing nothing', async () => {
    const memberId = await app.enroll();
    const gestureId = await held(memberId);
    const before = await rowCounts();
    for (const input of [
      { gestureId, note: 'nul\u0000', idempotencyKey: 'a-1' },
      { gestureId, note: 'x'.repeat(1001), idempotencyKey: 'a-2' },
      { gestureId, idempotencyKey: '' },
      { gestureId, idempotencyKey: 'k'.repeat(10_000) },
      { gestureId: encodeGlobalID('Member', memberId), idempotencyKey: 'a-3' },
    ]) {
      const result = await app.gql(APPROVE, { input }, supervisor);
      const outcome = result.data?.approveGoodwill?.__typename ?? result.errors?.[0]?.extensions?.code;
      expect(['ValidationError', 'NotFoundError', 'BAD_USER_INPUT', 'VALIDATION'], JSON.stringify(result).slice(0, 300)).toContain(outcome);
    }
    for (const note of ['', '   ', 'nul\u0000', 'x'.repeat(1001)]) {
      const result = await app.gql(REJECT, { input: { gestureId, note } }, supervisor);
      // NUL is refused for every variable before the service (BAD_USER_INPUT); the rest by the service.
      if (note.includes('\u0000')) expect(result.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
      else expect(result.data?.rejectGoodwill, JSON.stringify(result)).toMatchObject({ __typename: 'ValidationError', field: 'note' });
    }
    for (const input of [
      { agentId: 'agent-x', monthlyBudget: '-1' },
      { agentId: 'agent-x', monthlyBudget: '99999999999.00' },
      { agentId: 'agent-x', perGestureLimit: '1.001' },
      { agentId: 'agent-x', perGesturePointsLimit: -1 },
      { agentId: 'agent-x', monthlyBudgetMoney: { amount: '5.00', currency: 'USD' } },
      { agentId: 'agent\u0000x', monthlyBudget: '5.00' },
      { agentId: 'a'.repeat(201), monthlyBudget: '5.00' },
    ]) {
      const result = await app.gql(SET_AUTHORITY, { input }, supervisor);
      const outcome = result.data?.setAgentAuthority?.__typename ?? result.errors?.[0]?.extensions?.code;
      expect(['ValidationError', 'BAD_USER_INPUT', 'VALIDATION'], JSON.stringify(result).slice(0, 300)).toContain(outcome);
    }
    expect(await rowCounts()).toEqual(before);
  });
});

describe('decisions under races', () => {
  it('approve racing reject: exactly one decision, one audit entry, granted only when approved', async () => {
    const memberId = await app.enroll();
    const ids = await Promise.all(Array.from({ length: 8 }, () => held(memberId)));
    const other = await app.staffToken('SUPERVISOR', 'supervisor-other');
    const outcomes = await Promise.all(
      ids.map(async (gestureId, i) => {
        const [approved, rejected] = await Promise.all([
          app.gql(APPROVE, { input: { gestureId, idempotencyKey: `race-${i}` } }, supervisor),
          app.gql(REJECT, { input: { gestureId, note: 'no' } }, other),
        ]);
        return [approved.data?.approveGoodwill.__typename, rejected.data?.rejectGoodwill.__typename];
      }),
    );
    for (const pair of outcomes) {
      expect(
        pair.filter((t) => t === 'ApproveGoodwillPayload' || t === 'RejectGoodwillPayload'),
        JSON.stringify(pair),
      ).toHaveLength(1);
      expect(
        pair.filter((t) => t === 'GoodwillNotPendingError'),
        JSON.stringify(pair),
      ).toHaveLength(1);
    }
    const approvedCount = outcomes.filter(([a]) => a === 'ApproveGoodwillPayload').length;
    expect(await prisma.goodwillGesture.count({ where: { status: 'GRANTED' } })).toBe(approvedCount);
    expect(await prisma.goodwillGesture.count({ where: { status: 'REJECTED' } })).toBe(8 - approvedCount);
    expect(await prisma.ledgerEntry.count({ where: { kind: 'GOODWILL' } })).toBe(approvedCount);
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).availablePoints).toBe(4000 * approvedCount);
    expect(await prisma.goodwillAuditEntry.count({ where: { action: { in: ['APPROVED', 'REJECTED'] } } })).toBe(8);
  });

  it('the same approval sent 10 times at once grants once; the same key with another note is a conflict', async () => {
    const memberId = await app.enroll();
    const gestureId = await held(memberId);
    const input = { gestureId, note: 'fine', idempotencyKey: 'same' };
    const results = await Promise.all(Array.from({ length: 10 }, () => app.gql(APPROVE, { input }, supervisor)));
    expect(new Set(results.map((r) => JSON.stringify(r))).size).toBe(1);
    expect(results[0]!.data?.approveGoodwill.__typename).toBe('ApproveGoodwillPayload');
    const conflict = await app.gql(APPROVE, { input: { ...input, note: 'other' } }, supervisor);
    expect(conflict.data?.approveGoodwill.__typename).toBe('IdempotencyConflictError');
    expect(await prisma.ledgerEntry.count({ where: { kind: 'GOODWILL' } })).toBe(1);
    expect(await prisma.goodwillAuditEntry.count({ where: { action: 'APPROVED' } })).toBe(1);
  });

  it('approvals of many held gestures of one agent at once count each exactly once in spentThisMonth', async () => {
    const members = await Promise.all(Array.from({ length: 4 }, () => app.enroll()));
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => held(members[i % 4]!)));
    const results = await Promise.all(
      ids.map(async (gestureId, i) =>
        app.gql(APPROVE, { input: { gestureId, idempotencyKey: `many-${i}` } }, await app.staffToken('SUPERVISOR', `sup-${i % 3}`)),
      ),
    );
    expect(results.every((r) => r.data?.approveGoodwill.__typename === 'ApproveGoodwillPayload')).toBe(true);
    const authority = await app.gql('{ agentAuthority { spentThisMonth { amount } remainingThisMonth { amount } } }', {}, agent);
    expect(authority.data?.agentAuthority).toEqual({ spentThisMonth: { amount: '480.00' }, remainingThisMonth: { amount: '20.00' } });
    // 20.00 left: a 25.00 gesture waits, a 20.00 one is granted.
    const m = members[0]!;
    expect((await app.gql(ISSUE, { input: gesture(m, { points: 2500 }) }, agent)).data?.issueGoodwill.status).toBe('PENDING_APPROVAL');
    expect((await app.gql(ISSUE, { input: gesture(m, { points: 2000 }) }, agent)).data?.issueGoodwill.status).toBe('GRANTED');
  });
});

describe('decisions on a member that can no longer receive', () => {
  it('a held gesture of a member closed since cannot be approved (nothing written); it can be rejected', async () => {
    const memberId = await app.enroll();
    const gestureId = await held(memberId);
    await prisma.member.update({ where: { id: memberId }, data: { status: 'CLOSED' } });
    const before = await rowCounts();
    const approved = await app.gql(APPROVE, { input: { gestureId, idempotencyKey: 'closed' } }, supervisor);
    expect(approved.data?.approveGoodwill).toMatchObject({ __typename: 'ValidationError' });
    expect(await rowCounts()).toEqual(before);
    const rejected = await app.gql(REJECT, { input: { gestureId, note: 'account closed' } }, supervisor);
    expect(rejected.data?.rejectGoodwill.__typename).toBe('RejectGoodwillPayload');
  });
});

describe('who reaches goodwill', () => {
  it('member tokens and storefront keys reach no goodwill mutation, authority or audit trail', async () => {
    const memberId = await app.enroll();
    const gestureId = await held(memberId);
    const callers = {
      member: await app.memberToken(memberId),
      storefront: await app.apiKeyToken([
        'members:read',
        'members:write',
        'points:earn',
        'points:redeem',
        'vouchers:redeem',
        'failures:report',
      ]),
    };
    const before = await rowCounts();
    for (const [name, token] of Object.entries(callers)) {
      const issue = await app.gql(ISSUE, { input: gesture(memberId, {}) }, token);
      expect(issue.data?.issueGoodwill.__typename, name).toBe('ForbiddenError');
      const approve = await app.gql(APPROVE, { input: { gestureId, idempotencyKey: `by-${name}` } }, token);
      expect(approve.data?.approveGoodwill.__typename, name).toBe('ForbiddenError');
      const reject = await app.gql(REJECT, { input: { gestureId, note: 'x' } }, token);
      expect(reject.data?.rejectGoodwill.__typename, name).toBe('ForbiddenError');
      const set = await app.gql(SET_AUTHORITY, { input: { agentId: 'agent-audit', monthlyBudget: '1.00' } }, token);
      expect(set.data?.setAgentAuthority.__typename, name).toBe('ForbiddenError');
      for (const query of [
        '{ agentAuthority { spentThisMonth { amount } } }',
        '{ agentAuthority(agentId: "agent-audit") { spentThisMonth { amount } } }',
      ]) {
        const read = await app.gql(query, {}, token);
        expect(read.data?.agentAuthority ?? null, name).toBeNull();
        expect(read.errors?.[0]?.extensions?.code, name).toBe('FORBIDDEN');
      }
      const trail = await app.gql(AUDIT, { id: gestureId }, token);
      expect(JSON.stringify(trail.data ?? null), name).not.toContain('agent-audit');
    }
    expect(await rowCounts()).toEqual(before);
  });

  it('an admin key issues and decides as `api-key:<id>`, never on its own gesture, and the audit names it', async () => {
    const memberId = await app.enroll();
    const key = await app.apiKeyToken(['admin'], 'helpdesk');
    const keyId = (await prisma.apiKey.findFirstOrThrow({ where: { name: 'helpdesk' } })).id;
    const own = await held(memberId, key);
    const ownApproval = await app.gql(APPROVE, { input: { gestureId: own, idempotencyKey: 'own' } }, key);
    expect(ownApproval.data?.approveGoodwill.__typename).toBe('ForbiddenError');

    const gestureId = await held(memberId);
    const approved = await app.gql(APPROVE, { input: { gestureId, note: 'via helpdesk', idempotencyKey: 'k' } }, key);
    expect(approved.data?.approveGoodwill).toMatchObject({ status: 'GRANTED', gesture: { decidedBy: `api-key:${keyId}` } });
    const trail = await app.gql(AUDIT, { id: gestureId }, supervisor);
    expect(trail.data?.node.audit.at(-1)).toEqual({
      action: 'APPROVED',
      actorId: `api-key:${keyId}`,
      actorRole: 'ADMIN',
      note: 'via helpdesk',
    });
    const entries = await prisma.goodwillAuditEntry.findMany();
    expect(entries.every((e) => e.actorId && e.actorRole && e.createdAt)).toBe(true);
  });

  it('a supervisor above their own authority waits for another supervisor', async () => {
    const memberId = await app.enroll();
    const gestureId = await held(memberId, supervisor);
    const own = await app.gql(APPROVE, { input: { gestureId, idempotencyKey: 'self' } }, supervisor);
    expect(own.data?.approveGoodwill.__typename).toBe('ForbiddenError');
    const other = await app.gql(APPROVE, { input: { gestureId, idempotencyKey: 'other' } }, await app.staffToken('SUPERVISOR', 's-2'));
    expect(other.data?.approveGoodwill.__typename).toBe('ApproveGoodwillPayload');
  });
});

describe('the currency of a voucher gesture', () => {
  it('an amount given in EUR is not issued as JPY when the program switched while the gesture waited for its locks', async () => {
    const memberId = await app.enroll();
    await loadProgram(prisma);
    const before = await rowCounts();
    // Another gesture of the same member holds its row; this one waits for it, and meanwhile an admin switches to yen.
    const issuing = whileHolding(
      prisma,
      holdMember(memberId),
      () =>
        app.gql(
          ISSUE,
          { input: gesture(memberId, { kind: 'VOUCHER', points: null, amountMoney: { amount: '20.00', currency: 'EUR' } }) },
          agent,
        ),
      { meanwhile: async () => updateProgram(app.deps, { patch: await currencySwitch(prisma, 'JPY') }, staffCaller('ADMIN')) },
    );

    // Before: checked against EUR before the locks, then issued under them in the program's JPY: a voucher of 20 yen.
    expect((await issuing).data?.issueGoodwill).toMatchObject({ __typename: 'ValidationError', field: 'amountMoney.currency' });
    expect(await prisma.voucher.count()).toBe(0);
    const after = await rowCounts();
    expect({ ...after, program_changes: before.program_changes }).toEqual(before);
  });
});
