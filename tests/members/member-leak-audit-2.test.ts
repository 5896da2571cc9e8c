import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { issueGoodwill } from '../../src/domain/goodwill/goodwill.service.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { expandIncidentPage } from '../../src/domain/service-failures/incidents.service.js';
import { compensateServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';
import { Seeder } from '../support/permission-probes.js';

/**
 * An audit of the paths between areas that end at a member: from a voucher code, an order, a contract, a renewal,
 * a failure, an incident, a gesture, a case, feedback, a ledger entry, by `node(id)` and through mutation payloads,
 * by storefront keys of one narrow scope and by member tokens aiming at another member. What a caller's rule lets
 * it read of the object it starts from is its own; the member behind it, and what is staff-only, is not.
 */
const { prisma, app } = useTestApp();

const B = { externalId: 'cust-bee', email: 'bee@example.com', name: 'Beatrix Secret' };
const MEMBER = 'id externalId email name balance { available } ledger(first: 2) { totalCount edges { node { id amount note } } }';
const NARROW_SCOPES = ['points:earn', 'points:redeem', 'vouchers:redeem', 'members:write', 'failures:report', 'contracts:write'] as const;

/** Member B with one of everything that leads to them. */
async function memberWithEverything() {
  const seed = new Seeder(prisma);
  const memberId = await app.enroll(B);
  await adjustPoints(app.deps, { memberId, points: 50, reason: 'opening balance', idempotencyKey: 'open-1' }, staffCaller('ADMIN'));
  const order = await seed.earnedOrder(memberId);
  const voucher = await seed.voucher(memberId);
  const contract = await seed.renewedContract(memberId);
  const failure = await seed.failure(memberId);
  await compensateServiceFailure(app.deps, failure.failureId);
  const incident = await seed.incident(memberId);
  await expandIncidentPage(app.deps, incident.pageId);
  const gesture = await seed.pendingGesture(memberId);
  const serviceCase = await seed.openCase(memberId);
  await submitFeedback(app.deps, { memberId, nps: 3, comment: 'the courier was rude', caseId: serviceCase.caseId }, staffCaller('AGENT'));
  const feedbackId = (await prisma.feedback.findFirstOrThrow({ where: { memberId } })).id;
  const orderId = (await prisma.pointOrder.findFirstOrThrow({ where: { memberId } })).id;
  return { memberId, order, orderId, voucher, contract, failure, incident, gesture, serviceCase, feedbackId };
}

/** Everything of B that must not reach a caller who may not read B. */
const secretsOf = (memberId: string) => [B.email, B.externalId, B.name, encodeGlobalID('Member', memberId), 'the courier was rude'];

describe('from another object to its member', () => {
  it('no narrow storefront key and no other member reaches member B from anything of B’s, interpreted or compiled', async () => {
    const b = await memberWithEverything();
    const node = (type: string, id: string, selection: string): [string, string, Record<string, unknown>] => [
      `node ${type}`,
      `query($id: ID!) { node(id: $id) { __typename ... on ${type} { ${selection} } } }`,
      { id: encodeGlobalID(type, id) },
    ];
    const paths: [string, string, Record<string, unknown>][] = [
      ['voucher', `query($c: String!) { voucher(code: $c) { code member { ${MEMBER} } } }`, { c: b.voucher.code }],
      [
        'validateVoucher',
        `query($c: String!) { validateVoucher(code: $c, orderTotal: "100.00") { valid voucher { member { ${MEMBER} } } } }`,
        { c: b.voucher.code },
      ],
      ['contract', `query($r: String!) { contractByExternalRef(externalRef: $r) { member { ${MEMBER} } } }`, { r: b.contract.externalRef }],
      [
        'incident',
        `query($id: ID!) { serviceIncident(id: $id) { failures(first: 3) { edges { node { member { ${MEMBER} } } } } } }`,
        { id: b.incident.incidentId },
      ],
      node('Voucher', b.voucher.voucherId, `member { ${MEMBER} }`),
      node('LedgerEntry', b.order.entryId, `member { ${MEMBER} }`),
      node('Order', b.orderId, `member { ${MEMBER} }`),
      node('Contract', b.contract.contractId, `member { ${MEMBER} }`),
      node('ContractRenewal', b.contract.renewalId, `contract { member { ${MEMBER} } } bonusEntry { member { ${MEMBER} } }`),
      node('ServiceFailure', b.failure.failureId, `voucher { code member { ${MEMBER} } } member { ${MEMBER} }`),
      node('ServiceIncident', b.incident.incidentId, `failures(first: 3) { edges { node { member { ${MEMBER} } } } }`),
      node('GoodwillGesture', b.gesture.gestureId, `member { ${MEMBER} }`),
      node('ServiceCase', b.serviceCase.caseId, `member { ${MEMBER} } feedback { member { ${MEMBER} } }`),
      node('Feedback', b.feedbackId, `member { ${MEMBER} } serviceCase { member { ${MEMBER} } }`),
    ];
    const callers: [string, string][] = [];
    for (const scope of NARROW_SCOPES) callers.push([scope, await app.apiKeyToken([scope], `key ${scope}`)]);
    callers.push(['member A', await app.memberToken(await app.enroll())]);
    const agent = await app.staffToken('AGENT');
    const leaks: string[] = [];
    for (const [path, query, variables] of paths) {
      // Staff may: the path really leads to B.
      expect(JSON.stringify(await app.gql(query, variables, agent)), path).toContain(B.email);
      for (const [who, token] of callers) {
        // The second and third run are compiled (src/graphql/compiled-execution.ts).
        for (let run = 0; run < 3; run++) {
          const text = JSON.stringify(await app.gql(query, variables, token));
          for (const secret of secretsOf(b.memberId)) if (text.includes(secret)) leaks.push(`${who} ${path} #${run}: ${secret}`);
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it('the payloads of narrow keys’ writes show what the write did, never the member', async () => {
    const b = await memberWithEverything();
    const id = encodeGlobalID('Member', b.memberId);
    const writes: [(typeof NARROW_SCOPES)[number], string, Record<string, unknown>][] = [
      [
        'points:earn',
        `mutation($i: EarnPointsInput!) { earnPoints(input: $i) { ... on EarnPointsPayload { points entry { balanceAfter } member { ${MEMBER} } } } }`,
        { i: { memberId: id, orderRef: 'leak-o1', orderTotal: '10.00', idempotencyKey: 'leak-earn-1' } },
      ],
      [
        'points:redeem',
        `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { ... on RedeemPointsPayload { points entry { balanceAfter } member { ${MEMBER} } } } }`,
        { i: { memberId: id, points: 1, idempotencyKey: 'leak-redeem-1' } },
      ],
      [
        'vouchers:redeem',
        `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { ... on RedeemVoucherPayload { discount { amount } voucher { member { ${MEMBER} } } } } }`,
        { i: { code: b.voucher.code, orderRef: 'leak-v1', orderTotal: '100.00', idempotencyKey: 'leak-voucher-1' } },
      ],
      [
        'members:write',
        `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) { ... on RecordServiceCasePayload { serviceCase { member { ${MEMBER} } } } } }`,
        { i: { memberId: id, channel: 'CHAT', category: 'delivery' } },
      ],
      [
        'failures:report',
        `mutation($i: ReportServiceFailureInput!) { reportServiceFailure(input: $i) { ... on ReportServiceFailurePayload { failure { voucher { code } member { ${MEMBER} } } } } }`,
        { i: { memberId: id, type: 'LATE_DELIVERY', severity: 'LOW', orderRef: b.failure.orderRef, idempotencyKey: 'leak-failure-1' } },
      ],
      [
        'contracts:write',
        `mutation($i: RegisterContractInput!) { registerContract(input: $i) { ... on RegisterContractPayload { contract { member { ${MEMBER} } } } } }`,
        { i: { memberId: id, externalRef: 'leak-k1', plan: 'p', startsAt: '2026-01-01T00:00:00Z', termMonths: 12 } },
      ],
    ];
    for (const [scope, query, variables] of writes) {
      const answer = await app.gql(query, variables, await app.apiKeyToken([scope], `key ${scope}`));
      if (scope === 'failures:report') {
        // A duplicate of another caller's failure: not this key's to read at all (failure null, no error).
        expect(answer.data?.reportServiceFailure, scope).toEqual({ failure: null });
      } else {
        expect(
          answer.errors?.map((error) => error.extensions?.code),
          scope,
        ).toContain('FORBIDDEN');
      }
      const text = JSON.stringify(answer);
      for (const secret of secretsOf(b.memberId)) expect(text, scope).not.toContain(secret);
    }
  });

  it('an incident names members by their external id exactly: no case folding, no wildcard', async () => {
    const memberId = await app.enroll(B);
    const key = await app.apiKeyToken(['failures:report']);
    const answer = await app.gql(
      `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) {
        ... on ReportServiceIncidentPayload { named unresolved { index reason } } } }`,
      {
        i: {
          type: 'OUTAGE',
          severity: 'LOW',
          affected: ['CUST-BEE', 'cust-be%', 'cust-be_', 'cust.bee', 'cust\u2010bee', 'ｃｕｓｔ-bee'].map((externalId) => ({ externalId })),
          idempotencyKey: 'leak-incident-1',
        },
      },
      key,
    );
    expect(answer.data?.reportServiceIncident).toEqual({
      named: 0,
      unresolved: [0, 1, 2, 3, 4, 5].map((index) => ({ index, reason: 'UNKNOWN_MEMBER' })),
    });
    expect(await prisma.serviceIncidentMember.count({ where: { memberId } })).toBe(0);
  });
});

describe('staff-only details of a goodwill gesture, reached through the ledger', () => {
  const LEDGER = `query($id: ID!) { member(id: $id) { ledger(first: 5) { edges { node { id kind actorId note } } } } }`;
  const ENTRY = `query($id: ID!) { node(id: $id) { ... on LedgerEntry { kind actorId note } } }`;

  it('a members:read key reads null for the agent’s note and id on a GOODWILL entry, as on the gesture itself', async () => {
    const memberId = await app.enroll(B);
    const agent = { actor: { type: 'STAFF', id: 'agent-7' }, role: 'AGENT' } as const;
    const input = { memberId, kind: 'POINTS', points: 20, reason: 'DELAYED_DELIVERY', note: 'angry on the phone', idempotencyKey: 'gw-1' };
    await issueGoodwill(app.deps, input as Parameters<typeof issueGoodwill>[1], agent);
    const key = await app.apiKeyToken(['members:read']);

    // Three times each: the later runs are compiled (src/graphql/compiled-execution.ts).
    let entryId = '';
    for (let run = 0; run < 3; run++) {
      const page = await app.gql(LEDGER, { id: memberId }, key);
      expect(page.errors).toBeUndefined();
      const [entry] = page.data!.member.ledger.edges.map((edge: { node: Record<string, unknown> }) => edge.node);
      expect(entry).toMatchObject({ kind: 'GOODWILL', actorId: null, note: null });
      entryId = entry.id as string;
    }
    for (let run = 0; run < 3; run++) {
      expect(await app.gql(ENTRY, { id: entryId }, key)).toEqual({ data: { node: { kind: 'GOODWILL', actorId: null, note: null } } });
    }

    // Staff (and an admin key, which acts as an ADMIN) read them, on the entry as on the gesture.
    for (const token of [await app.staffToken('AGENT'), await app.apiKeyToken(['admin'])]) {
      expect((await app.gql(ENTRY, { id: entryId }, token)).data?.node).toEqual({
        kind: 'GOODWILL',
        actorId: 'agent-7',
        note: 'angry on the phone',
      });
    }
  });
});
