import { randomUUID } from 'node:crypto';
import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { fingerprint, fingerprintSql } from '../../src/domain/idempotency.js';
import { Prisma } from '../../src/generated/prisma/client.js';
import { processIncidentJob } from '../../workers/incident.processor.js';
import { useTestApp } from '../support/app.js';

/**
 * Whose an idempotency key of `reportServiceIncident` and `decideServiceIncident` is (2026-12-06, stop 52): the
 * caller's own, as every other operation's. A first page's key was shared by every caller, a later page's and a
 * decision's by every caller of that incident: a second caller sending a key another had used got the other's answer
 * (its own report or decision never recorded) or IdempotencyConflictError for a key it never used. Records stored
 * before the change under the shared scope still replay for the caller that stored them.
 */
const { app, prisma } = useTestApp();

const nodeId = (id: string) => encodeGlobalID('ServiceIncident', id);
const REPORT = `mutation($i: ReportServiceIncidentInput!) { reportServiceIncident(input: $i) { __typename
  ... on ReportServiceIncidentPayload { entries named alreadyNamed incident { id description affected } }
  ... on Error { code message } } }`;
const DECIDE = `mutation($i: DecideServiceIncidentInput!) { decideServiceIncident(input: $i) { __typename
  ... on DecideServiceIncidentPayload { decided incident { id awaitingDecision } }
  ... on ValidationError { field }
  ... on Error { code message } } }`;

/** Expands every incident page waiting in the outbox, as the worker would. */
async function expandPages(): Promise<void> {
  for (;;) {
    const events = await prisma.outboxEvent.findMany({ where: { queue: 'incidents', completedAt: null } });
    if (events.length === 0) return;
    for (const event of events) await processIncidentJob(event.payload as never, app.deps);
  }
}

async function carriers() {
  return {
    carrierA: await app.apiKeyToken(['failures:report'], 'carrier A'),
    carrierB: await app.apiKeyToken(['failures:report'], 'carrier B'),
  };
}

/** A first page of `description`'s incident naming `memberIds`, under `idempotencyKey`. */
const firstPage = (description: string, memberIds: string[], idempotencyKey: string) => ({
  type: 'OUTAGE',
  severity: 'MEDIUM',
  description,
  affected: memberIds.map((memberId) => ({ memberId })),
  idempotencyKey,
});

async function report(input: object, token: string) {
  const answer = await app.gql(REPORT, { i: input }, token);
  expect(answer.errors, JSON.stringify(answer)).toBeUndefined();
  return answer.data?.reportServiceIncident as {
    __typename: string;
    named?: number;
    alreadyNamed?: number;
    code?: string;
    incident?: { id: string; description: string; affected: number } | null;
  };
}

const rawId = (globalId: string) => decodeGlobalID(globalId).id;

/** The reporter of each incident, by description. */
async function reporters() {
  const incidents = await prisma.serviceIncident.findMany({ orderBy: { createdAt: 'asc' } });
  return Object.fromEntries(incidents.map((incident) => [incident.description, incident.reporterId]));
}

/**
 * Moves the idempotency record of `key` that the current code stored to the scope every caller shared before stop
 * 52 (`shared`): the row as the old code wrote it — same key, request hash and answer, the scope alone differs.
 */
async function asStoredBeforeStop52(key: string, shared: string): Promise<void> {
  const moved = await prisma.$executeRaw`UPDATE idempotency_records SET operation = ${shared} WHERE key = ${key}`;
  expect(moved).toBe(1);
}

describe('reportServiceIncident: a first page’s idempotency key is the caller’s own', () => {
  it('key B sending key A’s idempotency key and input records B’s own incident; A’s retry replays A’s', async () => {
    const { carrierA, carrierB } = await carriers();
    const member = await app.enroll();
    const key = `incident-${randomUUID()}`;
    const ofA = await report(firstPage('the same words', [member], key), carrierA);
    expect(ofA).toMatchObject({ __typename: 'ReportServiceIncidentPayload', named: 1, incident: { affected: 1 } });

    const ofB = await report(firstPage('the same words', [member], key), carrierB);
    // Before: A's answer replayed (incident: null to B) and B's incident never recorded.
    expect(ofB).toMatchObject({ __typename: 'ReportServiceIncidentPayload', named: 1, incident: { description: 'the same words' } });
    expect(ofB.incident!.id).not.toBe(ofA.incident!.id);
    const incidents = await prisma.serviceIncident.findMany({ select: { id: true, reporterId: true } });
    expect(incidents).toHaveLength(2);
    expect(new Set(incidents.map((incident) => incident.reporterId)).size).toBe(2);
    expect(await prisma.serviceIncidentMember.count({ where: { memberId: member } })).toBe(2);

    // Each caller's retry replays its own incident.
    expect((await report(firstPage('the same words', [member], key), carrierA)).incident?.id).toBe(ofA.incident!.id);
    expect((await report(firstPage('the same words', [member], key), carrierB)).incident?.id).toBe(ofB.incident!.id);
    expect(await prisma.serviceIncident.count()).toBe(2);
  });

  it('key B sending key A’s idempotency key with other input records B’s incident, no IdempotencyConflictError', async () => {
    const { carrierA, carrierB } = await carriers();
    const [first, second] = [await app.enroll(), await app.enroll()];
    const key = `incident-${randomUUID()}`;
    const ofA = await report(firstPage('A’s outage', [first], key), carrierA);

    const ofB = await report(firstPage('B’s outage', [second], key), carrierB);
    // Before: IdempotencyConflictError, for a key B had never used.
    expect(ofB).toMatchObject({
      __typename: 'ReportServiceIncidentPayload',
      named: 1,
      incident: { description: 'B’s outage', affected: 1 },
    });
    expect(await reporters()).toEqual({ 'A’s outage': expect.any(String), 'B’s outage': expect.any(String) });
    expect(await prisma.serviceIncidentMember.count({ where: { incidentId: rawId(ofB.incident!.id), memberId: second } })).toBe(1);

    // A's own key still guards A: other input under it is a conflict, nothing written.
    expect(await report(firstPage('A’s other outage', [second], key), carrierA)).toMatchObject({
      __typename: 'IdempotencyConflictError',
    });
    expect((await report(firstPage('A’s outage', [first], key), carrierA)).incident?.id).toBe(ofA.incident!.id);
    expect(await prisma.serviceIncident.count()).toBe(2);
  });

  it('key A and key B sending the same key at once, each several times: one incident each', async () => {
    const { carrierA, carrierB } = await carriers();
    const member = await app.enroll();
    const key = `raced-${randomUUID()}`;
    const senders = [carrierA, carrierB, carrierA, carrierB, carrierA, carrierB];
    const answers = await Promise.all(senders.map((token) => report(firstPage('raced', [member], key), token)));
    for (const answer of answers)
      expect(answer).toMatchObject({ __typename: 'ReportServiceIncidentPayload', incident: { description: 'raced' } });
    const idsOf = (token: string) => new Set(answers.filter((_, index) => senders[index] === token).map((answer) => answer.incident!.id));
    expect([...idsOf(carrierA)]).toHaveLength(1);
    expect([...idsOf(carrierB)]).toHaveLength(1);
    expect([...idsOf(carrierA)][0]).not.toBe([...idsOf(carrierB)][0]);
    expect(await prisma.serviceIncident.count()).toBe(2);
    expect(await prisma.serviceIncidentPage.count()).toBe(2);
  });
});

describe('reportServiceIncident: a later page’s idempotency key is the caller’s own', () => {
  it('two agents adding pages to one incident under the same key each record their page', async () => {
    const agentX = await app.staffToken('AGENT', 'agent-x');
    const agentY = await app.staffToken('AGENT', 'agent-y');
    const [first, ofX, ofY] = [await app.enroll(), await app.enroll(), await app.enroll()];
    const incident = (await report(firstPage('depot', [first], `first-${randomUUID()}`), agentX)).incident!;
    const key = `page-2-${randomUUID()}`;

    expect(await report({ incidentId: incident.id, affected: [{ memberId: ofX }], idempotencyKey: key }, agentX)).toMatchObject({
      named: 1,
    });
    const byY = await report({ incidentId: incident.id, affected: [{ memberId: ofY }], idempotencyKey: key }, agentY);
    // Before: IdempotencyConflictError, and Y's member never named.
    expect(byY).toMatchObject({ __typename: 'ReportServiceIncidentPayload', named: 1, incident: { affected: 3 } });
    // The same page again from Y under the same key: its own page, its member already named.
    const again = await report(
      { incidentId: incident.id, affected: [{ memberId: ofX }], idempotencyKey: `page-3-${randomUUID()}` },
      agentY,
    );
    expect(again).toMatchObject({ named: 0, alreadyNamed: 1 });
    expect(await report({ incidentId: incident.id, affected: [{ memberId: ofY }], idempotencyKey: key }, agentY)).toMatchObject({
      named: 1,
    });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId: rawId(incident.id) } })).toBe(4);
  });

  it('the same later page sent by two agents at once under one key: one page each', async () => {
    const agentX = await app.staffToken('AGENT', 'agent-x');
    const agentY = await app.staffToken('AGENT', 'agent-y');
    const [first, later] = [await app.enroll(), await app.enroll()];
    const incident = (await report(firstPage('depot', [first], `first-${randomUUID()}`), agentX)).incident!;
    const page = { incidentId: incident.id, affected: [{ memberId: later }], idempotencyKey: `page-${randomUUID()}` };
    const answers = await Promise.all([agentX, agentY, agentX, agentY].map((token) => report(page, token)));
    for (const answer of answers) expect(answer.__typename).toBe('ReportServiceIncidentPayload');
    // Before: one page for both agents (the second replayed the first's answer).
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId: rawId(incident.id) } })).toBe(3);
    expect(answers.reduce((named, answer) => named + answer.named!, 0)).toBe(2);
    expect(await prisma.serviceIncidentMember.count({ where: { incidentId: rawId(incident.id) } })).toBe(2);
  });
});

/** An incident of `members` with a budget of one compensation (MEDIUM, BRONZE: 10.00), expanded: the rest waits. */
async function overBudget(token: string, members: string[]) {
  const incident = (await report({ ...firstPage('over budget', members, `first-${randomUUID()}`), budget: '10.00' }, token)).incident!;
  await expandPages();
  return rawId(incident.id);
}

async function decide(incidentId: string, idempotencyKey: string, token: string, note = 'our outage', decision = 'GRANT') {
  const answer = await app.gql(DECIDE, { i: { incidentId: nodeId(incidentId), decision, note, idempotencyKey } }, token);
  expect(answer.errors, JSON.stringify(answer)).toBeUndefined();
  return answer.data?.decideServiceIncident as { __typename: string; decided?: number; code?: string; field?: string };
}

/**
 * An incident of three members over its budget, whose remainder (two failures) supervisor-2 decided under a key stored
 * as before stop 52 (the scope every supervisor shared): the tokens of its agent and both supervisors, and the key.
 */
async function decidedBySecondBeforeUpgrade(note?: string, decision?: string) {
  const agent = await app.staffToken('AGENT', 'agent-x');
  const first = await app.staffToken('SUPERVISOR', 'supervisor-1');
  const second = await app.staffToken('SUPERVISOR', 'supervisor-2');
  const incidentId = await overBudget(agent, [await app.enroll(), await app.enroll(), await app.enroll()]);
  const key = `decide-${randomUUID()}`;
  expect(await decide(incidentId, key, second, note, decision)).toMatchObject({ decided: 2 });
  await asStoredBeforeStop52(key, `decideServiceIncident:${incidentId}`);
  return { agent, first, second, incidentId, key };
}

/** A later page of one new member to the incident, expanded: over the budget, it waits for a decision. Its member. */
async function laterRemainder(incidentId: string, token: string): Promise<string> {
  const late = await app.enroll();
  await report({ incidentId: nodeId(incidentId), affected: [{ memberId: late }], idempotencyKey: `late-${randomUUID()}` }, token);
  await expandPages();
  return late;
}

describe('decideServiceIncident: a decision’s idempotency key is the caller’s own', () => {
  it('a second supervisor deciding a later remainder under a key the first used decides it', async () => {
    const agent = await app.staffToken('AGENT', 'agent-x');
    const first = await app.staffToken('SUPERVISOR', 'supervisor-1');
    const second = await app.staffToken('SUPERVISOR', 'supervisor-2');
    const incidentId = await overBudget(agent, [await app.enroll(), await app.enroll()]);
    const key = `decide-${randomUUID()}`;
    expect(await decide(incidentId, key, first)).toMatchObject({ __typename: 'DecideServiceIncidentPayload', decided: 1 });
    await expandPages();

    // A later page over the budget waits for a decision of its own.
    const late = await app.enroll();
    await report({ incidentId: nodeId(incidentId), affected: [{ memberId: late }], idempotencyKey: `late-${randomUUID()}` }, agent);
    await expandPages();
    const bySecond = await decide(incidentId, key, second);
    // Before: the first supervisor's answer replayed, and the late member's compensation left waiting.
    expect(bySecond).toMatchObject({ __typename: 'DecideServiceIncidentPayload', decided: 1 });
    const lateFailure = await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } });
    expect(lateFailure).toMatchObject({ decidedBy: 'supervisor-2', status: 'RECORDED' });
    // The first supervisor's retry still replays its own decision.
    expect(await decide(incidentId, key, first)).toMatchObject({ __typename: 'DecideServiceIncidentPayload', decided: 1 });
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(2);
  });
});

describe('records stored before stop 52 under the scope every caller shared', () => {
  it('a first page’s record replays for its own reporter (no second incident) and is ignored for another caller', async () => {
    const { carrierA, carrierB } = await carriers();
    const member = await app.enroll();
    const key = `incident-${randomUUID()}`;
    const ofA = await report(firstPage('before the upgrade', [member], key), carrierA);
    await asStoredBeforeStop52(key, 'reportServiceIncident');

    // A retry across the upgrade: A's incident again, nothing written.
    const retried = await report(firstPage('before the upgrade', [member], key), carrierA);
    expect(retried).toMatchObject({ named: 1, incident: { id: ofA.incident!.id } });
    expect(await prisma.serviceIncident.count()).toBe(1);
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(1);
    // Other input from A under its old key is still a conflict.
    expect(await report(firstPage('something else', [member], key), carrierA)).toMatchObject({ __typename: 'IdempotencyConflictError' });

    // B's first pages under that key are B's own, same input or other.
    const ofB = await report(firstPage('before the upgrade', [member], key), carrierB);
    expect(ofB).toMatchObject({ named: 1, incident: { description: 'before the upgrade' } });
    expect(ofB.incident!.id).not.toBe(ofA.incident!.id);
    expect(await prisma.serviceIncident.count()).toBe(2);
    const staff = await app.staffToken('AGENT', 'agent-x');
    expect(await report(firstPage('the agent’s', [member], key), staff)).toMatchObject({
      named: 1,
      incident: { description: 'the agent’s' },
    });
    expect(await prisma.serviceIncident.count()).toBe(3);
  });

  it('a later page’s record replays the same page for the incident’s reporter and is ignored for another caller', async () => {
    const { carrierA } = await carriers();
    const agent = await app.staffToken('AGENT', 'agent-x');
    const [first, later] = [await app.enroll(), await app.enroll()];
    const incident = (await report(firstPage('depot', [first], `first-${randomUUID()}`), carrierA)).incident!;
    const incidentId = rawId(incident.id);
    const page = { incidentId: incident.id, affected: [{ memberId: later }], idempotencyKey: `page-${randomUUID()}` };
    expect(await report(page, carrierA)).toMatchObject({ named: 1 });
    await asStoredBeforeStop52(page.idempotencyKey, `reportServiceIncident:${incidentId}`);

    expect(await report(page, carrierA)).toMatchObject({ named: 1, alreadyNamed: 0 });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId } })).toBe(2);
    // The agent's page under that key is its own (its member already named: nothing is compensated twice).
    expect(await report(page, agent)).toMatchObject({ named: 0, alreadyNamed: 1 });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId } })).toBe(3);
    // A later page records no sender: other input from the reporter under that key is a page of its own (until stop
    // 53 an IdempotencyConflictError, the record taken for the reporter's though another agent may have sent it).
    expect(await report({ ...page, affected: [{ memberId: first }] }, carrierA)).toMatchObject({ named: 0, alreadyNamed: 1 });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId } })).toBe(4);
    // Once that page is its own, the key answers as the reporter's own: the first page again is a conflict.
    expect(await report(page, carrierA)).toMatchObject({ __typename: 'IdempotencyConflictError' });
  });

  it('a decision’s record replays for the supervisor who took it and is ignored for another', async () => {
    const agent = await app.staffToken('AGENT', 'agent-x');
    const first = await app.staffToken('SUPERVISOR', 'supervisor-1');
    const second = await app.staffToken('SUPERVISOR', 'supervisor-2');
    const incidentId = await overBudget(agent, [await app.enroll(), await app.enroll()]);
    const key = `decide-${randomUUID()}`;
    expect(await decide(incidentId, key, first)).toMatchObject({ decided: 1 });
    await asStoredBeforeStop52(key, `decideServiceIncident:${incidentId}`);
    await expandPages();
    const late = await app.enroll();
    await report({ incidentId: nodeId(incidentId), affected: [{ memberId: late }], idempotencyKey: `late-${randomUUID()}` }, agent);
    await expandPages();

    // The first supervisor's retry across the upgrade replays its decision: it does not decide the late remainder.
    expect(await decide(incidentId, key, first)).toMatchObject({ decided: 1 });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      status: 'NEEDS_REVIEW',
      decidedBy: null,
    });
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(1);
    // The second supervisor's decision under that key is its own.
    expect(await decide(incidentId, key, second)).toMatchObject({ decided: 1 });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      decidedBy: 'supervisor-2',
    });
  });

  it('a later page another caller added is not the reporter’s: the reporter’s own page under that key is recorded', async () => {
    const { carrierA } = await carriers();
    const agent = await app.staffToken('AGENT', 'agent-x');
    const [first, byAgent, byReporter] = [await app.enroll(), await app.enroll(), await app.enroll()];
    const incident = (await report(firstPage('depot', [first], `first-${randomUUID()}`), carrierA)).incident!;
    const incidentId = rawId(incident.id);
    const key = `page-2-${randomUUID()}`;
    // The agent's later page, before the upgrade: neither its record nor the page names who sent it.
    expect(await report({ incidentId: incident.id, affected: [{ memberId: byAgent }], idempotencyKey: key }, agent)).toMatchObject({
      named: 1,
    });
    await asStoredBeforeStop52(key, `reportServiceIncident:${incidentId}`);

    // The reporter's own page under that key: before, IdempotencyConflictError, and its member never named.
    const ofReporter = await report({ incidentId: incident.id, affected: [{ memberId: byReporter }], idempotencyKey: key }, carrierA);
    expect(ofReporter).toMatchObject({ __typename: 'ReportServiceIncidentPayload', named: 1, incident: { affected: 3 } });
    expect(await prisma.serviceIncidentMember.count({ where: { incidentId, memberId: byReporter } })).toBe(1);
    // Its retry replays its own page; the agent's page sent again under the key is recorded again, naming nobody new.
    expect(await report({ incidentId: incident.id, affected: [{ memberId: byReporter }], idempotencyKey: key }, carrierA)).toMatchObject({
      named: 1,
    });
    expect(await report({ incidentId: incident.id, affected: [{ memberId: byAgent }], idempotencyKey: key }, carrierA)).toMatchObject({
      __typename: 'IdempotencyConflictError',
    });
    expect(await report({ incidentId: incident.id, affected: [{ memberId: byAgent }], idempotencyKey: key }, agent)).toMatchObject({
      named: 0,
      alreadyNamed: 1,
    });
    expect(await prisma.serviceIncidentPage.count({ where: { incidentId } })).toBe(4);
  });

  it('a decision’s record is not a supervisor’s whom only a decision of another remainder names', async () => {
    // The second supervisor decides the first remainder (two failures) under the key, before the upgrade.
    const { agent, first, second, incidentId, key } = await decidedBySecondBeforeUpgrade('the depot flooded');
    await expandPages();
    // The first supervisor decides the next remainder under a key of their own: a failure names them as decider.
    await laterRemainder(incidentId, agent);
    expect(await decide(incidentId, `decide-${randomUUID()}`, first)).toMatchObject({ decided: 1 });
    await expandPages();

    // Another remainder waits; the first supervisor sends the key the second one used.
    const late = await laterRemainder(incidentId, agent);
    const byFirst = await decide(incidentId, key, first);
    // Before: the second supervisor's record taken for the first one's, IdempotencyConflictError for a key they never
    // used (with the second one's note: its answer, decided: 2), and the remainder left waiting.
    expect(byFirst).toMatchObject({ __typename: 'DecideServiceIncidentPayload', decided: 1, incident: { awaitingDecision: 0 } });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      status: 'RECORDED',
      decidedBy: 'supervisor-1',
    });
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(2);
    // The second supervisor's retry across the upgrade still replays theirs; other input under it is a conflict.
    expect(await decide(incidentId, key, second, 'the depot flooded')).toMatchObject({ decided: 2 });
    expect(await decide(incidentId, key, second, 'the depot burned')).toMatchObject({ __typename: 'IdempotencyConflictError' });
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(2);
  });

  it('two supervisors’ decisions word for word alike: the record is neither’s, and a waiting remainder is decided', async () => {
    const { agent, first, second, incidentId, key } = await decidedBySecondBeforeUpgrade();
    await expandPages();
    await laterRemainder(incidentId, agent);
    expect(await decide(incidentId, `decide-${randomUUID()}`, first)).toMatchObject({ decided: 1 });
    await expandPages();

    // The failures the record's request decided name both supervisors: it is not the first one's answer (before: the
    // second one's, decided: 2, replayed as theirs, and the remainder left waiting).
    const late = await laterRemainder(incidentId, agent);
    expect(await decide(incidentId, key, first)).toMatchObject({ __typename: 'DecideServiceIncidentPayload', decided: 1 });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      decidedBy: 'supervisor-1',
    });
    // Nor the second one's: their retry is a request of their own, and nothing waits for a decision now.
    expect(await decide(incidentId, key, second)).toMatchObject({ __typename: 'ValidationError', field: 'incidentId' });
    expect(await prisma.idempotencyRecord.count({ where: { key } })).toBe(2);
  });

  it('a declined remainder’s record replays for the supervisor who declined it, the note and decision as sent', async () => {
    const note = 'not ours: the carrier’s "strike" \\ see\nticket 7';
    const { agent, first, second, incidentId, key } = await decidedBySecondBeforeUpgrade(note, 'DECLINE');
    const late = await laterRemainder(incidentId, agent);

    expect(await decide(incidentId, key, second, note, 'DECLINE')).toMatchObject({ decided: 2 });
    expect(await decide(incidentId, key, second, note)).toMatchObject({ __typename: 'IdempotencyConflictError' });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      status: 'NEEDS_REVIEW',
    });
    // The first supervisor's decision under that key, the same request word for word, is their own.
    expect(await decide(incidentId, key, first, note, 'DECLINE')).toMatchObject({ decided: 1 });
    expect(await prisma.serviceFailure.findFirstOrThrow({ where: { incidentId, memberId: late } })).toMatchObject({
      status: 'NOT_ELIGIBLE',
      decidedBy: 'supervisor-1',
    });
  });
});

describe('fingerprintSql: the request hash of stored rows, as fingerprint() computes it', () => {
  it('agrees with fingerprint() for text JSON escapes, non-ASCII text and null', async () => {
    const notes = [
      'our outage',
      '',
      'quote " backslash \\ slash /',
      'line\nbreak\ttab\rreturn\bback\fform',
      '\u0001\u001f\u007f\u0080\u009f',
      'é ü ß 日本 Ｂｏｏｋｓ',
      '😀 \u2028\u2029 \u00a0',
      null,
    ];
    for (const note of notes) {
      const [row] = await prisma.$queryRaw<{ hash: string }[]>`
        SELECT ${fingerprintSql({ note: Prisma.sql`${note}::text`, decision: Prisma.sql`'DECLINE'` })} AS hash`;
      expect(row!.hash, JSON.stringify(note)).toBe(fingerprint({ decision: 'DECLINE', note }));
    }
  });
});
