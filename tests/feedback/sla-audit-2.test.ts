import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileOverdueSlaBreaches } from '../../src/domain/feedback/sla.service.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * A case's service-level breach when its resolution is reported later than it happened (`resolvedAt` given), through
 * real requests on a clock the test sets: what a helpdesk that syncs its tickets afterwards sees.
 */
const { prisma } = useTestApp();
let now = new Date();
const app = createTestApp(prisma, { now: () => now });
afterAll(() => app.close());

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const T0 = new Date('2026-06-01T08:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const sweepAt = (moment: Date) => fileOverdueSlaBreaches({ prisma, logger: testLogger, now: () => moment });

const RECORD = `mutation($input: RecordServiceCaseInput!) { recordServiceCase(input: $input) {
  __typename
  ... on RecordServiceCasePayload { serviceCase { id } }
  ... on ValidationError { field message }
  ... on Error { message code } } }`;
const RESOLVE = `mutation($input: ResolveServiceCaseInput!) { resolveServiceCase(input: $input) {
  __typename
  ... on ResolveServiceCasePayload { serviceCase { id openedAt resolvedAt resolutionDueAt firstResponseDueAt } }
  ... on ValidationError { field message }
  ... on Error { message code } } }`;

// A staff token (an API key's row would not outlive the reset before each test).
let helpdesk: string;
beforeAll(async () => {
  helpdesk = await app.staffToken('AGENT', 'agent-sla-2');
});

async function call(document: string, input: Record<string, unknown>) {
  const result = await app.gql(document, { input }, helpdesk);
  expect(result.errors).toBeUndefined();
  return Object.values(result.data!)[0];
}

/** Records a case at `moment`; its global id (what the API takes) and its row id. */
async function recordAt(moment: Date, input: Record<string, unknown>): Promise<{ caseId: string; rowId: string }> {
  now = moment;
  const recorded = await call(RECORD, { channel: 'PHONE', category: 'delivery', ...input });
  expect(recorded.__typename).toBe('RecordServiceCasePayload');
  return { caseId: recorded.serviceCase.id, rowId: decodeGlobalID(recorded.serviceCase.id).id };
}

function resolveAt(moment: Date, input: Record<string, unknown>) {
  now = moment;
  return call(RESOLVE, input);
}

/** What the case's breaches filed: failure types, breach rows, compensation jobs waiting in the outbox. */
async function filedFor(caseId: string) {
  const failures = await prisma.serviceFailure.findMany({ where: { caseRef: caseId }, orderBy: { occurredAt: 'asc' } });
  return {
    failures: failures.map((failure) => [failure.type, failure.occurredAt.toISOString()]),
    breaches: await prisma.slaBreach.count({ where: { caseId } }),
    compensationJobs: await prisma.outboxEvent.count({ where: { queue: 'compensation', id: { in: failures.map((f) => f.id) } } }),
  };
}
const NOTHING = { failures: [], breaches: 0, compensationJobs: 0 };

describe('a ticket synced after it was closed: recorded, then its resolution dated when it happened', () => {
  it('resolved within both targets, it is judged by its dates: nothing is filed, then or later', async () => {
    // A PHONE ticket (first response 5 minutes, resolution 1 day) opened at T0, answered after 2 minutes, resolved
    // after an hour — and sent to Treue three days later, as two calls a moment apart.
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { caseId, rowId } = await recordAt(at(3 * DAY), {
      memberId,
      openedAt: T0.toISOString(),
      firstResponseAt: at(2 * MINUTE).toISOString(),
    });
    const resolved = await resolveAt(at(3 * DAY + 1000), { caseId, resolvedAt: at(HOUR).toISOString() });
    expect(resolved).toMatchObject({ serviceCase: { resolvedAt: at(HOUR).toISOString(), resolutionDueAt: at(DAY).toISOString() } });

    expect(await filedFor(rowId)).toEqual(NOTHING);
    expect((await sweepAt(at(10 * DAY))).failuresFiled).toBe(0);
    expect(await filedFor(rowId)).toEqual(NOTHING);
  });

  it('without a first response, a resolution in time for it counts as the response: nothing is filed', async () => {
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { caseId, rowId } = await recordAt(at(2 * DAY), { memberId, openedAt: T0.toISOString() });
    await resolveAt(at(2 * DAY + 1000), { caseId, resolvedAt: at(3 * MINUTE).toISOString() });
    expect(await filedFor(rowId)).toEqual(NOTHING);
  });

  it('resolved late, it files what it missed, once, when the resolution arrives', async () => {
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { caseId, rowId } = await recordAt(at(3 * DAY), { memberId, openedAt: T0.toISOString() });
    await resolveAt(at(3 * DAY + 1000), { caseId, resolvedAt: at(2 * DAY).toISOString() });
    const late = {
      failures: [
        ['LONG_WAIT', at(5 * MINUTE).toISOString()],
        ['UNRESOLVED_CONTACT', at(DAY).toISOString()],
      ],
      breaches: 2,
      compensationJobs: 2,
    };
    expect(await filedFor(rowId)).toEqual(late);
    expect((await sweepAt(at(10 * DAY))).failuresFiled).toBe(0);
    expect(await filedFor(rowId)).toEqual(late);
  });

  it('a first response recorded late still files LONG_WAIT with the case, at once', async () => {
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { rowId } = await recordAt(at(3 * DAY), {
      memberId,
      openedAt: T0.toISOString(),
      firstResponseAt: at(HOUR).toISOString(),
    });
    expect(await filedFor(rowId)).toEqual({ failures: [['LONG_WAIT', at(5 * MINUTE).toISOString()]], breaches: 1, compensationJobs: 1 });
  });

  it('left open, the next maintenance pass files both breaches; a resolution dated in time after that pass leaves them', async () => {
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { caseId, rowId } = await recordAt(at(3 * DAY), { memberId, openedAt: T0.toISOString() });
    // The case is due for the next pass, which finds it open past both due times.
    expect(await prisma.serviceCase.findUniqueOrThrow({ where: { id: rowId } })).toMatchObject({ slaCheckAt: at(5 * MINUTE) });
    expect(await sweepAt(at(3 * DAY + 5 * MINUTE))).toEqual({ casesChecked: 1, failuresFiled: 2 });
    expect((await sweepAt(at(3 * DAY + 10 * MINUTE))).failuresFiled).toBe(0);
    const filed = {
      failures: [
        ['LONG_WAIT', at(5 * MINUTE).toISOString()],
        ['UNRESOLVED_CONTACT', at(DAY).toISOString()],
      ],
      breaches: 2,
      compensationJobs: 2,
    };
    expect(await filedFor(rowId)).toEqual(filed);
    // Treue's records had the case open past its due times: a filed failure is not withdrawn (docs/domain-rules.md).
    await resolveAt(at(3 * DAY + 15 * MINUTE), { caseId, resolvedAt: at(HOUR).toISOString() });
    expect(await filedFor(rowId)).toEqual(filed);
  });
});

describe('the bounds of a given resolvedAt', () => {
  it.each([
    ['before the case opened', at(-1), 'must not be before the case was opened'],
    ['before its first response', at(2 * MINUTE - 1), 'must not be before the first response'],
    ['more than 5 minutes in the future', at(DAY + 5 * MINUTE + 1), 'must not be in the future'],
    ['in the year 0000', new Date('0000-01-01T00:00:00.000Z'), undefined],
  ])('a resolution %s is a ValidationError on resolvedAt and writes nothing', async (_, resolvedAt, message) => {
    const memberId = await app.enroll({ enrolledAt: at(-30 * DAY) });
    const { caseId, rowId } = await recordAt(at(DAY), {
      memberId,
      openedAt: T0.toISOString(),
      firstResponseAt: at(2 * MINUTE).toISOString(),
    });
    const before = await tableRowCounts(prisma);
    const refused = await resolveAt(at(DAY), { caseId, resolvedAt: resolvedAt.toISOString() });
    expect(refused).toMatchObject({ __typename: 'ValidationError', field: 'resolvedAt', ...(message && { message }) });
    expect(await tableRowCounts(prisma)).toEqual(before);
    expect((await prisma.serviceCase.findUniqueOrThrow({ where: { id: rowId } })).resolvedAt).toBeNull();
  });
});
