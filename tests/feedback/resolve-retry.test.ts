import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * resolveServiceCase's optional idempotency key: a helpdesk that retries a resolution whose answer was lost is told
 * the case was resolved (its first answer), not "already resolved"; the breach the late resolution filed, its
 * compensation job and the stored answer are written once. Without a key it answers as before.
 */

const RECORD = `mutation($input: RecordServiceCaseInput!) { recordServiceCase(input: $input) {
  __typename ... on RecordServiceCasePayload { serviceCase { id } } ... on Error { message code } } }`;
const RESOLVE = `mutation($input: ResolveServiceCaseInput!) { resolveServiceCase(input: $input) {
  __typename
  ... on ResolveServiceCasePayload { serviceCase { id externalRef resolvedAt contacts resolvedOnFirstContact } }
  ... on IdempotencyConflictError { idempotencyKey }
  ... on ValidationError { field message }
  ... on Error { message code } } }`;

// A pool above the concurrent resolutions below.
const { prisma, app } = useTestApp(10);

const DAY = 24 * 60 * 60_000;

let tickets = 0;
/**
 * A CHAT case of the helpdesk (key `members:write`), opened three days ago and answered a minute later: resolving
 * it two days ago misses its one-day resolution target, which files one UNRESOLVED_CONTACT.
 */
async function openCase(helpdesk: string) {
  const openedAt = new Date(Date.now() - 3 * DAY);
  const memberId = await app.enroll({ enrolledAt: new Date(openedAt.getTime() - DAY) });
  const externalRef = `T-${++tickets}`;
  const input = {
    memberId: encodeGlobalID('Member', memberId),
    channel: 'CHAT',
    category: 'delivery',
    openedAt: openedAt.toISOString(),
    firstResponseAt: new Date(openedAt.getTime() + 60_000).toISOString(),
    externalRef,
    idempotencyKey: `record-${externalRef}`,
  };
  const recorded = await app.gql(RECORD, { input }, helpdesk);
  expect(recorded.data?.recordServiceCase.__typename).toBe('RecordServiceCasePayload');
  const caseId = recorded.data!.recordServiceCase.serviceCase.id as string;
  return { caseId, externalRef, resolvedAt: new Date(openedAt.getTime() + DAY + 60_000).toISOString() };
}

const resolve = (input: Record<string, unknown>, token: string) =>
  app.gql(RESOLVE, { input }, token).then((r) => r.data?.resolveServiceCase ?? r.errors);

/** The rows a resolution could write, counted: the breach and its failure, their jobs and events, stored answers. */
async function rowCounts() {
  return {
    failures: await prisma.serviceFailure.count(),
    breaches: await prisma.slaBreach.count(),
    outbox: await prisma.outboxEvent.count(),
    webhookEvents: await prisma.webhookEvent.count(),
    answers: await prisma.idempotencyRecord.count(),
    cases: await prisma.serviceCase.count(),
  };
}

const storedCase = (externalRef: string) => prisma.serviceCase.findUniqueOrThrow({ where: { externalRef } });

describe('resolveServiceCase with an idempotency key', () => {
  it('the same key again answers the first resolution; the breach is filed once', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, externalRef, resolvedAt } = await openCase(helpdesk);
    const before = await rowCounts();
    const input = { caseId, resolvedAt, contacts: 2, idempotencyKey: 'resolve-once' };

    const first = await resolve(input, helpdesk);
    expect(first).toEqual({
      __typename: 'ResolveServiceCasePayload',
      serviceCase: { id: caseId, externalRef, resolvedAt, contacts: 2, resolvedOnFirstContact: false },
    });
    const afterFirst = await rowCounts();
    expect(afterFirst).toEqual({
      ...before,
      failures: before.failures + 1,
      breaches: before.breaches + 1,
      outbox: before.outbox + 1,
      answers: before.answers + 1,
    });
    const stored = await storedCase(externalRef);

    expect(await resolve(input, helpdesk)).toEqual(first);
    // The case named by its ticket instead of its id is the same request.
    const { caseId: _byId, ...byTicket } = input;
    expect(await resolve({ ...byTicket, externalRef }, helpdesk)).toEqual(first);
    expect(await rowCounts()).toEqual(afterFirst);
    expect(await storedCase(externalRef)).toEqual(stored);
  });

  it('a resolution dated now by omission replays too: the retry is the same request', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { externalRef } = await openCase(helpdesk);
    const input = { externalRef, idempotencyKey: 'resolve-now' };
    const first = await resolve(input, helpdesk);
    expect(first).toMatchObject({ __typename: 'ResolveServiceCasePayload', serviceCase: { externalRef, contacts: 1 } });
    const afterFirst = await rowCounts();
    expect(await resolve(input, helpdesk)).toEqual(first);
    expect(await rowCounts()).toEqual(afterFirst);
  });

  it('concurrent retries with one key all answer the same resolution; it is written once', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, externalRef, resolvedAt } = await openCase(helpdesk);
    const before = await rowCounts();
    const input = { caseId, resolvedAt, idempotencyKey: 'resolve-race' };

    const answers = await Promise.all(Array.from({ length: 6 }, () => resolve(input, helpdesk)));

    for (const answer of answers) {
      expect(answer).toEqual({
        __typename: 'ResolveServiceCasePayload',
        serviceCase: { id: caseId, externalRef, resolvedAt, contacts: 1, resolvedOnFirstContact: true },
      });
    }
    expect(await rowCounts()).toEqual({
      ...before,
      failures: before.failures + 1,
      breaches: before.breaches + 1,
      outbox: before.outbox + 1,
      answers: before.answers + 1,
    });
    expect(await prisma.serviceFailure.findMany({ select: { type: true, caseRef: true } })).toEqual([
      { type: 'UNRESOLVED_CONTACT', caseRef: (await storedCase(externalRef)).id },
    ]);
  });

  it('the same key with another resolution, or for another case, is an IdempotencyConflictError and writes nothing', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, externalRef, resolvedAt } = await openCase(helpdesk);
    const other = await openCase(helpdesk);
    const key = 'resolve-conflict';
    expect(await resolve({ caseId, resolvedAt, contacts: 2, idempotencyKey: key }, helpdesk)).toMatchObject({
      __typename: 'ResolveServiceCasePayload',
    });
    const afterFirst = await rowCounts();
    const stored = await storedCase(externalRef);
    const otherStored = await storedCase(other.externalRef);

    const later = new Date(Date.parse(resolvedAt) + 60_000).toISOString();
    for (const input of [
      { caseId, resolvedAt: later, contacts: 2 },
      { caseId, resolvedAt, contacts: 3 },
      { caseId, resolvedAt, contacts: 2, resolvedOnFirstContact: false },
      { caseId, contacts: 2 },
      { caseId: other.caseId, resolvedAt: other.resolvedAt, contacts: 2 },
    ]) {
      expect(await resolve({ ...input, idempotencyKey: key }, helpdesk)).toMatchObject({
        __typename: 'IdempotencyConflictError',
        idempotencyKey: key,
      });
    }
    expect(await rowCounts()).toEqual(afterFirst);
    expect(await storedCase(externalRef)).toEqual(stored);
    expect(await storedCase(other.externalRef)).toEqual(otherStored);
  });

  it('a malformed key is a ValidationError and the case stays open', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, externalRef } = await openCase(helpdesk);
    const before = await rowCounts();
    for (const idempotencyKey of ['', 'has space', 'x'.repeat(121)]) {
      expect(await resolve({ caseId, idempotencyKey }, helpdesk)).toMatchObject({
        __typename: 'ValidationError',
        field: 'idempotencyKey',
      });
    }
    expect(await rowCounts()).toEqual(before);
    expect((await storedCase(externalRef)).resolvedAt).toBeNull();
  });

  it('another key, no key or another caller after the resolution is "already resolved": a key replays only its own request', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, resolvedAt } = await openCase(helpdesk);
    const input = { caseId, resolvedAt, idempotencyKey: 'resolve-first' };
    await resolve(input, helpdesk);
    const afterFirst = await rowCounts();
    const alreadyResolved = {
      __typename: 'ValidationError',
      field: 'caseId',
      message: 'this case is already resolved',
      code: 'VALIDATION',
    };
    expect(await resolve({ ...input, idempotencyKey: 'resolve-second' }, helpdesk)).toEqual(alreadyResolved);
    expect(await resolve({ caseId, resolvedAt }, helpdesk)).toEqual(alreadyResolved);
    // Keys are the caller's own (as recordServiceCase's): an agent sending the helpdesk's key resolves nothing again.
    expect(await resolve(input, await app.staffToken('AGENT', 'agent-rr'))).toEqual(alreadyResolved);
    expect(await rowCounts()).toEqual(afterFirst);
  });
});

describe('resolveServiceCase without an idempotency key', () => {
  it('answers as before: the second resolution is a ValidationError, and no answer is stored', async () => {
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const { caseId, resolvedAt } = await openCase(helpdesk);
    const before = await rowCounts();
    expect(await resolve({ caseId, resolvedAt }, helpdesk)).toMatchObject({ __typename: 'ResolveServiceCasePayload' });
    const afterFirst = await rowCounts();
    expect(afterFirst).toEqual({
      ...before,
      failures: before.failures + 1,
      breaches: before.breaches + 1,
      outbox: before.outbox + 1,
    });
    expect(await resolve({ caseId, resolvedAt }, helpdesk)).toMatchObject({ __typename: 'ValidationError', field: 'caseId' });
    expect(await resolve({ caseId, resolvedAt, idempotencyKey: null }, helpdesk)).toMatchObject({ __typename: 'ValidationError' });
    expect(await rowCounts()).toEqual(afterFirst);
  });
});
