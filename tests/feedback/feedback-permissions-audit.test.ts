import { encodeGlobalID } from '@pothos/plugin-relay';
import type { GraphQLObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import {
  answerServiceCase,
  mayReadServiceCaseField,
  readServiceCase,
  recordServiceCase,
  RECOVERY_WRITERS,
  resolveServiceCase,
  SERVICE_CASE_RECORDING,
  SERVICE_CASE_RESOLUTION,
  serviceCaseRule,
  type WrittenServiceCase,
} from '../../src/domain/feedback/service-cases.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { compensateServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/webhook-events.js';
import { answerFeedback, feedbackRule, readFeedback, submitFeedback } from '../../src/domain/feedback/feedback.service.js';
import { ForbiddenError } from '../../src/domain/errors.js';
import { apiKeyCaller, memberCaller, staffCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * Who reads what a customer told service (2026-12-06, stop 51): a service case and feedback hold the member's own
 * words (`Feedback.comment`) and what service did about them. They show to whoever may read the member (staff, keys
 * with `members:read`, the member themself). A key that only writes them (`members:write`: a helpdesk, a shop's
 * feedback form) gets back the case or feedback its own call wrote — its id and what it sent — and nothing reached
 * from there: not another answer's comment, not the case a feedback is about, not any row by `node(id)`.
 */
const { app, prisma } = useTestApp();

/** What a member told support, which only readers of the member may see. */
const SECRET_COMMENT = 'Ich bin krank, bitte nicht anrufen — Tel. 0170 1234567';
const CATEGORY = 'delivery-damaged';

const nodeId = (type: string, id: string) => encodeGlobalID(type, id);

/** A member with an open chat case about a damaged delivery and the member's own feedback on it (with a comment). */
async function caseWithComment(): Promise<{ memberId: string; caseId: string; feedbackId: string; externalRef: string }> {
  const memberId = await app.enroll();
  const externalRef = `ticket-${memberId.slice(0, 8)}`;
  const serviceCase = await recordServiceCase(
    app.deps,
    { memberId, channel: 'CHAT', category: CATEGORY, externalRef, idempotencyKey: `case-${memberId}` },
    staffCaller('AGENT', 'agent-anna'),
  );
  const feedback = await submitFeedback(
    app.deps,
    { nps: 2, csat: 1, comment: SECRET_COMMENT, caseId: serviceCase.id, idempotencyKey: `fb-${memberId}` },
    memberCaller(memberId),
  );
  return { memberId, caseId: serviceCase.id, feedbackId: feedback.id, externalRef };
}

const NODE_FEEDBACK = `query($id: ID!) { node(id: $id) { __typename id ... on Feedback { nps comment serviceCase { category } } } }`;
const NODE_CASE = `query($id: ID!) { node(id: $id) { __typename id ... on ServiceCase { category externalRef feedback { comment } } } }`;

const codes = (answer: { errors?: { extensions?: Record<string, unknown> }[] }) => (answer.errors ?? []).map((e) => e.extensions?.code);

describe('node(id) of a service case and of feedback, caller by caller', () => {
  /** Each kind of caller (single scopes, combined scopes, staff, the member and another member), and whether it reads. */
  const KINDS: {
    name: string;
    token: (owner: string, stranger: string) => Promise<string | undefined> | string | undefined;
    reads: 'all' | 'none' | 'nothing-found';
  }[] = [
    { name: 'anonymous', token: () => undefined, reads: 'none' },
    { name: 'the member', token: (owner) => app.memberToken(owner), reads: 'all' },
    { name: 'another member', token: (_owner, stranger) => app.memberToken(stranger), reads: 'nothing-found' },
    ...API_KEY_SCOPES.map((scope) => ({
      name: `key ${scope}`,
      token: () => app.apiKeyToken([scope], `key ${scope}`),
      reads: (scope === 'members:read' || scope === 'admin' ? 'all' : 'none') as 'all' | 'none',
    })),
    { name: 'key members:write + members:read', token: () => app.apiKeyToken(['members:write', 'members:read']), reads: 'all' },
    {
      name: 'key with every storefront scope but members:read',
      token: () => app.apiKeyToken(STOREFRONT_SCOPES.filter((scope) => scope !== 'members:read') as ApiKeyScope[]),
      reads: 'none',
    },
    { name: 'AGENT', token: () => app.staffToken('AGENT'), reads: 'all' },
    { name: 'SUPERVISOR', token: () => app.staffToken('SUPERVISOR'), reads: 'all' },
    { name: 'ADMIN', token: () => app.staffToken('ADMIN'), reads: 'all' },
  ];

  it('only those who may read the member read the case and the feedback; the others get FORBIDDEN (or, another member, nothing)', async () => {
    const { memberId, caseId, feedbackId, externalRef } = await caseWithComment();
    const stranger = await app.enroll();
    for (const kind of KINDS) {
      const token = await kind.token(memberId, stranger);
      const feedback = await app.gql(NODE_FEEDBACK, { id: nodeId('Feedback', feedbackId) }, token);
      const serviceCase = await app.gql(NODE_CASE, { id: nodeId('ServiceCase', caseId) }, token);
      if (kind.reads === 'all') {
        expect(feedback.errors, kind.name).toBeUndefined();
        expect(feedback.data?.node, kind.name).toMatchObject({ nps: 2, comment: SECRET_COMMENT, serviceCase: { category: CATEGORY } });
        expect(serviceCase.errors, kind.name).toBeUndefined();
        expect(serviceCase.data?.node, kind.name).toMatchObject({
          category: CATEGORY,
          externalRef,
          feedback: [{ comment: SECRET_COMMENT }],
        });
        continue;
      }
      for (const answer of [feedback, serviceCase]) {
        expect(answer.data?.node ?? null, kind.name).toBeNull();
        if (kind.reads === 'none') expect(codes(answer), kind.name).toContain(kind.name === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
        else expect(answer.errors, kind.name).toBeUndefined();
        const text = JSON.stringify(answer);
        expect(text, kind.name).not.toContain(SECRET_COMMENT);
        expect(text, kind.name).not.toContain(CATEGORY);
      }
    }
  });

  it('the services refuse a members:write key before reading: readFeedback and readServiceCase', async () => {
    const { caseId, feedbackId } = await caseWithComment();
    const helpdesk = apiKeyCaller('helpdesk', ['members:write']);
    await expect(readFeedback(app.deps, feedbackId, {}, helpdesk)).rejects.toBeInstanceOf(ForbiddenError);
    await expect(readServiceCase(app.deps, caseId, {}, helpdesk)).rejects.toBeInstanceOf(ForbiddenError);
    // With members:read besides, it reads them (a key may do what each of its scopes allows).
    const both = apiKeyCaller('helpdesk', ['members:write', 'members:read']);
    expect((await readFeedback(app.deps, feedbackId, {}, both))?.comment).toBe(SECRET_COMMENT);
    expect((await readServiceCase(app.deps, caseId, {}, both))?.category).toBe(CATEGORY);
  });
});

describe('what a members:write key gets back from its own writes', () => {
  const SUBMIT = `mutation($i: SubmitFeedbackInput!) { submitFeedback(input: $i) { __typename
    ... on SubmitFeedbackPayload { feedback { id nps csat npsCategory satisfied comment channel createdAt SELECT } } ... on Error { code } } }`;
  const RESOLVE = `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename
    ... on ResolveServiceCasePayload { serviceCase { id externalRef channel category resolvedAt contacts resolvedOnFirstContact
      firstResponseDueAt resolutionDueAt SELECT } } ... on Error { code } } }`;
  const RECORD = `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) { __typename
    ... on RecordServiceCasePayload { serviceCase { id externalRef channel category openedAt contacts SELECT } } ... on Error { code } } }`;

  it('submitFeedback: the feedback it sent, with its id; the case it is about (and the comments on it) is FORBIDDEN', async () => {
    const { memberId, caseId } = await caseWithComment();
    const shop = await app.apiKeyToken(['members:write'], 'feedback form');
    const input = {
      memberId: nodeId('Member', memberId),
      caseId: nodeId('ServiceCase', caseId),
      nps: 9,
      comment: 'Thanks',
      channel: 'SELF_SERVICE',
    };

    const plain = await app.gql(SUBMIT.replace('SELECT', ''), { i: { ...input, idempotencyKey: 'form-1' } }, shop);
    expect(plain.errors).toBeUndefined();
    expect(plain.data?.submitFeedback).toMatchObject({
      __typename: 'SubmitFeedbackPayload',
      feedback: { nps: 9, csat: null, npsCategory: 'PROMOTER', comment: 'Thanks', channel: 'SELF_SERVICE' },
    });

    const through = await app.gql(
      SUBMIT.replace('SELECT', 'serviceCase { category feedback { comment } }'),
      { i: { ...input, idempotencyKey: 'form-2' } },
      shop,
    );
    const text = JSON.stringify(through);
    expect(text).not.toContain(SECRET_COMMENT);
    expect(text).not.toContain(CATEGORY);
    expect(codes(through)).toContain('FORBIDDEN');
    expect(through.data?.submitFeedback).toMatchObject({ feedback: { nps: 9, comment: 'Thanks', serviceCase: null } });
    // The feedback is recorded all the same (as enrollMember's member: refused to see, not refused to write).
    expect(await prisma.feedback.count({ where: { memberId, comment: 'Thanks' } })).toBe(2);
  });

  it('resolveServiceCase: the case it resolved; the feedback on it is FORBIDDEN, its comments never in the answer', async () => {
    const { externalRef } = await caseWithComment();
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');

    const through = await app.gql(
      RESOLVE.replace('SELECT', 'feedback { nps comment }'),
      { i: { externalRef, idempotencyKey: 'resolve-1' } },
      helpdesk,
    );
    expect(JSON.stringify(through)).not.toContain(SECRET_COMMENT);
    expect(codes(through)).toContain('FORBIDDEN');
    // The case is resolved all the same; the retry with the same key, not asking for the feedback, answers it — an agent
    // recorded it, so the helpdesk sees its id and its own resolution, not the recording (its category, channel, …, and
    // resolvedOnFirstContact, which this call derived from the recorded contacts).
    const again = await app.gql(
      `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename
        ... on ResolveServiceCasePayload { serviceCase { id resolvedAt } } } }`,
      { i: { externalRef, idempotencyKey: 'resolve-1' } },
      helpdesk,
    );
    expect(again.errors).toBeUndefined();
    expect(again.data?.resolveServiceCase).toMatchObject({ __typename: 'ResolveServiceCasePayload' });
    expect(again.data?.resolveServiceCase.serviceCase.resolvedAt).not.toBeNull();
  });

  it('recordServiceCase: the case it recorded; its member and its feedback are FORBIDDEN even while there is none', async () => {
    const memberId = await app.enroll();
    const helpdesk = await app.apiKeyToken(['members:write'], 'helpdesk');
    const input = { memberId: nodeId('Member', memberId), channel: 'EMAIL', category: 'billing', externalRef: `t-${memberId}` };

    const plain = await app.gql(RECORD.replace('SELECT', ''), { i: { ...input, idempotencyKey: 'record-1' } }, helpdesk);
    expect(plain.errors).toBeUndefined();
    expect(plain.data?.recordServiceCase).toMatchObject({
      serviceCase: { externalRef: `t-${memberId}`, channel: 'EMAIL', category: 'billing', contacts: 1 },
    });

    // Whether a case has feedback is not the writer's business either: refused whatever the list would hold.
    for (const selection of ['feedback { id }', 'member { id }']) {
      const answer = await app.gql(RECORD.replace('SELECT', selection), { i: { ...input, idempotencyKey: 'record-1' } }, helpdesk);
      expect(codes(answer), selection).toContain('FORBIDDEN');
    }
  });

  it('a key with members:read besides reads the whole answer, comments included; so do staff', async () => {
    for (const token of [await app.apiKeyToken(['members:write', 'members:read'], 'helpdesk+read'), await app.staffToken('AGENT')]) {
      const { externalRef } = await caseWithComment();
      const answer = await app.gql(
        RESOLVE.replace('SELECT', 'feedback { comment } member { id }'),
        { i: { externalRef, idempotencyKey: 'resolve-1' } },
        token,
      );
      expect(answer.errors).toBeUndefined();
      expect(answer.data?.resolveServiceCase.serviceCase.feedback).toEqual([{ comment: SECRET_COMMENT }]);
    }
  });

  it('a member submitting feedback sees the case it is about and its own comments on it', async () => {
    const { memberId, caseId } = await caseWithComment();
    const answer = await app.gql(
      SUBMIT.replace('SELECT', 'serviceCase { category feedback { comment } }'),
      { i: { caseId: nodeId('ServiceCase', caseId), csat: 5, comment: 'Sorted now', idempotencyKey: 'self-1' } },
      await app.memberToken(memberId),
    );
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.submitFeedback.feedback.serviceCase).toEqual({
      category: CATEGORY,
      feedback: expect.arrayContaining([{ comment: SECRET_COMMENT }, { comment: 'Sorted now' }]),
    });
  });
});

describe('a members:write key resolving a case by its externalRef: its own case, or another caller’s', () => {
  /** The fields the recording of a case wrote (what its recorder sent, and the due times Treue derived from it). */
  const RECORDING_FIELDS = [
    'externalRef',
    'channel',
    'category',
    'openedAt',
    'firstResponseAt',
    'firstResponseDueAt',
    'resolutionDueAt',
    'contacts',
    'createdAt',
  ] as const;
  const ALL_FIELDS = `id ${RECORDING_FIELDS.join(' ')} resolvedAt resolvedOnFirstContact`;
  const RECORD = `mutation($i: RecordServiceCaseInput!) { recordServiceCase(input: $i) { __typename
    ... on RecordServiceCasePayload { serviceCase { SELECT } } ... on Error { code message } } }`;
  const RESOLVE = `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename
    ... on ResolveServiceCasePayload { serviceCase { SELECT } } ... on Error { code message } } }`;

  /** A phone case about a damaged delivery that took three contacts, recorded through GraphQL by `token`. */
  async function recordedBy(token: string) {
    const openedAt = new Date(Date.now() - 2 * 86_400_000);
    const memberId = await app.enroll({ enrolledAt: new Date(openedAt.getTime() - 86_400_000) });
    const externalRef = `HD-${memberId.slice(0, 8)}`;
    const input = {
      memberId: nodeId('Member', memberId),
      channel: 'PHONE',
      category: CATEGORY,
      openedAt: openedAt.toISOString(),
      firstResponseAt: new Date(openedAt.getTime() + 60_000).toISOString(),
      contacts: 3,
      externalRef,
      idempotencyKey: `record-${externalRef}`,
    };
    const answer = await app.gql(RECORD.replace('SELECT', ALL_FIELDS), { i: input }, token);
    expect(answer.errors).toBeUndefined();
    const recorded = answer.data?.recordServiceCase.serviceCase as Record<string, unknown>;
    expect(recorded).toMatchObject({ externalRef, channel: 'PHONE', category: CATEGORY, contacts: 3 });
    return { memberId, externalRef, input, recorded };
  }

  it('another caller’s case: the id and the resolution it wrote; the recording (category, channel, contacts, …) is FORBIDDEN', async () => {
    const recorder = await app.apiKeyToken(['members:write'], 'helpdesk A');
    const other = await app.apiKeyToken(['members:write'], 'helpdesk B');
    const { externalRef, recorded } = await recordedBy(recorder);
    const resolve = { externalRef, idempotencyKey: 'resolve-by-B' };

    const plain = await app.gql(RESOLVE.replace('SELECT', 'id resolvedAt'), { i: resolve }, other);
    expect(plain.errors).toBeUndefined();
    expect(plain.data?.resolveServiceCase).toMatchObject({ __typename: 'ResolveServiceCasePayload', serviceCase: { id: recorded['id'] } });
    expect(plain.data?.resolveServiceCase.serviceCase.resolvedAt).not.toBeNull();
    // Whether it was resolved on first contact, derived from the recorded contacts (it sent none), tells those: FORBIDDEN.
    const derived = await app.gql(RESOLVE.replace('SELECT', 'id resolvedAt resolvedOnFirstContact'), { i: resolve }, other);
    expect(codes(derived)).toEqual(['FORBIDDEN']);
    expect(derived.data?.resolveServiceCase.serviceCase).toEqual({
      id: recorded['id'],
      resolvedAt: plain.data?.resolveServiceCase.serviceCase.resolvedAt,
      resolvedOnFirstContact: null,
    });
    // A field of the recording that is never null, asked besides: FORBIDDEN, and the null reaches the answer's root
    // (`serviceCase` and the mutation's result are non-null): data is null, the id and resolvedAt asked with it too.
    const withChannel = await app.gql(RESOLVE.replace('SELECT', 'id resolvedAt channel'), { i: resolve }, other);
    expect(codes(withChannel)).toEqual(['FORBIDDEN']);
    expect(withChannel.errors?.[0]?.path).toEqual(['resolveServiceCase', 'serviceCase', 'channel']);
    expect(withChannel.data).toBeNull();

    // Each field of the recording, asked on its own (a replay of the same resolution): refused, its value not in the answer.
    const leaked: string[] = [];
    const refused: string[] = [];
    for (const field of RECORDING_FIELDS) {
      const answer = await app.gql(RESOLVE.replace('SELECT', `id ${field}`), { i: resolve }, other);
      const value = answer.data?.resolveServiceCase?.serviceCase?.[field] ?? null;
      const text = typeof recorded[field] === 'string' && JSON.stringify(answer).includes(recorded[field]);
      if (value !== null || text) leaked.push(`${field}=${JSON.stringify(value)}`);
      if (codes(answer).includes('FORBIDDEN')) refused.push(field);
    }
    expect(leaked).toEqual([]);
    expect(refused).toEqual(RECORDING_FIELDS);
    // The resolution is written all the same, once.
    const stored = await prisma.serviceCase.findUniqueOrThrow({ where: { externalRef } });
    expect(stored.resolvedAt).not.toBeNull();
    expect(stored.contacts).toBe(3);
  });

  it('its own case: all of what it recorded and the resolution; member and feedback stay FORBIDDEN', async () => {
    const recorder = await app.apiKeyToken(['members:write'], 'helpdesk A');
    const { externalRef, recorded } = await recordedBy(recorder);
    const resolve = { externalRef, idempotencyKey: 'resolve-own' };

    const answer = await app.gql(RESOLVE.replace('SELECT', ALL_FIELDS), { i: resolve }, recorder);
    expect(answer.errors).toBeUndefined();
    const { resolvedAt: _open, resolvedOnFirstContact: _none, ...recording } = recorded;
    expect(answer.data?.resolveServiceCase.serviceCase).toMatchObject({ ...recording, resolvedOnFirstContact: false });
    expect(answer.data?.resolveServiceCase.serviceCase.resolvedAt).not.toBeNull();
    for (const selection of ['member { id }', 'feedback { id }']) {
      const through = await app.gql(RESOLVE.replace('SELECT', `id ${selection}`), { i: resolve }, recorder);
      expect(codes(through), selection).toContain('FORBIDDEN');
    }
  });

  it('recording the same ticket again: another key gets AlreadyExistsError and nothing of the case; the recorder’s retry its whole case', async () => {
    const recorder = await app.apiKeyToken(['members:write'], 'helpdesk A');
    const other = await app.apiKeyToken(['members:write'], 'helpdesk B');
    const { input, recorded } = await recordedBy(recorder);

    // Another key, even with the recorder's idempotency key (its answers are the recorder's own), learns only that the ticket is taken.
    const again = await app.gql(RECORD.replace('SELECT', ALL_FIELDS), { i: input }, other);
    expect(again.data?.recordServiceCase).toMatchObject({ __typename: 'AlreadyExistsError' });
    expect(JSON.stringify(again)).not.toContain(recorded['id'] as string);
    expect(JSON.stringify(again)).not.toContain(CATEGORY);

    const retry = await app.gql(RECORD.replace('SELECT', ALL_FIELDS), { i: input }, recorder);
    expect(retry.errors).toBeUndefined();
    expect(retry.data?.recordServiceCase.serviceCase).toEqual(recorded);
    expect(await prisma.serviceCase.count()).toBe(1);
  });

  it('every field of ServiceCase is either the recording (refused to another’s resolver), the resolution, or readers-only', () => {
    const type = getSchema().getType('ServiceCase') as GraphQLObjectType;
    const recording = new Set<string>(SERVICE_CASE_RECORDING);
    expect([...recording].sort()).toEqual([...RECORDING_FIELDS].sort());
    const unclassified = Object.keys(type.getFields()).filter(
      (field) => !recording.has(field) && !(SERVICE_CASE_RESOLUTION as readonly string[]).includes(field),
    );
    // id; member and feedback keep the readers' rule on every case.
    expect(unclassified.sort()).toEqual(['feedback', 'id', 'member']);
  });

  it('the service says what the writer sees: its own case whole, another’s resolution only; a reader the whole case', async () => {
    const memberId = await app.enroll();
    const recorder = apiKeyCaller('helpdesk-a', ['members:write']);
    const other = apiKeyCaller('helpdesk-b', ['members:write']);
    const reader = apiKeyCaller('helpdesk-c', ['members:write', 'members:read']);
    const ticket = (n: number) => ({ memberId, channel: 'CHAT' as const, category: CATEGORY, externalRef: `S-${n}-${memberId}` });

    const own = await recordServiceCase(app.deps, ticket(1), recorder);
    expect(own.shows).toBe('CASE');
    expect((await resolveServiceCase(app.deps, { externalRef: own.externalRef, idempotencyKey: 'r1' }, recorder)).shows).toBe('CASE');

    const others = await recordServiceCase(app.deps, ticket(2), recorder);
    const resolved = await resolveServiceCase(app.deps, { externalRef: others.externalRef, idempotencyKey: 'r2' }, other);
    expect(resolved.shows).toBe('RESOLUTION');
    // The replay answers as the first call did.
    expect((await resolveServiceCase(app.deps, { caseId: others.id, idempotencyKey: 'r2' }, other)).shows).toBe('RESOLUTION');

    const readers = await recordServiceCase(app.deps, ticket(3), recorder);
    expect((await resolveServiceCase(app.deps, { caseId: readers.id }, reader)).shows).toBe('CASE');
    const agents = await recordServiceCase(app.deps, ticket(4), recorder);
    expect((await resolveServiceCase(app.deps, { caseId: agents.id }, staffCaller('AGENT'))).shows).toBe('CASE');
  });

  it('another caller’s case: a resolution the recording contradicts is a ValidationError on the same field that tells neither the count nor the dates; nothing is written', async () => {
    const recorder = await app.apiKeyToken(['members:write'], 'helpdesk A');
    const other = await app.apiKeyToken(['members:write'], 'helpdesk B');
    const reader = await app.apiKeyToken(['members:write', 'members:read'], 'helpdesk C');
    const { externalRef, input } = await recordedBy(recorder);
    const openedAt = new Date(input.openedAt);
    const ERROR = `mutation($i: ResolveServiceCaseInput!) { resolveServiceCase(input: $i) { __typename
      ... on ValidationError { field message } } }`;
    // Case 3 contacts, opened at T, first response at T + 1 min. Each probe, failing, would be free: nothing is written.
    const probes = [
      { i: { contacts: 1 }, field: 'contacts', precise: 'the case already has 3 contacts' },
      { i: { contacts: 2 }, field: 'contacts', precise: 'the case already has 3 contacts' },
      {
        i: { resolvedAt: new Date(openedAt.getTime() - 3_600_000).toISOString() },
        field: 'resolvedAt',
        precise: 'must not be before the case was opened',
      },
      {
        i: { resolvedAt: new Date(openedAt.getTime() + 30_000).toISOString() },
        field: 'resolvedAt',
        precise: 'must not be before the first response',
      },
      { i: { resolvedOnFirstContact: true }, field: 'resolvedOnFirstContact', precise: 'the case took 3 contacts' },
    ];

    const messages = new Set<string>();
    for (const probe of probes) {
      const answer = await app.gql(ERROR, { i: { externalRef, ...probe.i } }, other);
      expect(answer.errors, probe.precise).toBeUndefined();
      const error = answer.data?.resolveServiceCase as { __typename: string; field: string; message: string };
      expect(error, probe.precise).toMatchObject({ __typename: 'ValidationError', field: probe.field });
      // Neither the count nor a date, nor which bound (the opening or the first response) was crossed.
      expect(error.message, probe.precise).not.toMatch(/\d|open|first response|contacts/i);
      messages.add(error.message);
    }
    expect([...messages]).toEqual(['is not consistent with the case as recorded']);
    const stored = await prisma.serviceCase.findUniqueOrThrow({ where: { externalRef } });
    expect(stored).toMatchObject({ resolvedAt: null, contacts: 3, resolvedOnFirstContact: null });

    // Its own numbers it is told: the contacts it sent, which a first-contact resolution contradicts.
    const own = await app.gql(ERROR, { i: { externalRef, contacts: 4, resolvedOnFirstContact: true } }, other);
    expect(own.data?.resolveServiceCase).toEqual({
      __typename: 'ValidationError',
      field: 'resolvedOnFirstContact',
      message: 'the case took 4 contacts',
    });

    // The recorder, staff and a key that may read the member are told precisely.
    for (const token of [recorder, await app.staffToken('AGENT'), reader]) {
      for (const probe of probes) {
        const answer = await app.gql(ERROR, { i: { externalRef, ...probe.i } }, token);
        expect(answer.data?.resolveServiceCase, probe.precise).toEqual({
          __typename: 'ValidationError',
          field: probe.field,
          message: probe.precise,
        });
      }
    }
    expect(await prisma.serviceCase.findUniqueOrThrow({ where: { externalRef } })).toEqual(stored);
  });

  it('another caller’s case: resolvedOnFirstContact shows when the call gave it or the contacts, not when derived from the recorded contacts', async () => {
    const recorder = await app.apiKeyToken(['members:write'], 'helpdesk A');
    const other = await app.apiKeyToken(['members:write'], 'helpdesk B');
    const SELECT = 'id resolvedAt resolvedOnFirstContact';
    for (const [given, shown] of [
      [{ contacts: 4 }, false],
      [{ resolvedOnFirstContact: false }, false],
      [{ contacts: 3, resolvedOnFirstContact: false }, false],
    ] as const) {
      const { externalRef } = await recordedBy(recorder);
      const answer = await app.gql(RESOLVE.replace('SELECT', SELECT), { i: { externalRef, ...given } }, other);
      expect(answer.errors, JSON.stringify(given)).toBeUndefined();
      expect(answer.data?.resolveServiceCase.serviceCase.resolvedOnFirstContact, JSON.stringify(given)).toBe(shown);
    }
    // Derived from the recorded contacts: FORBIDDEN to another caller, shown to the recorder.
    const { externalRef } = await recordedBy(recorder);
    const derived = await app.gql(RESOLVE.replace('SELECT', SELECT), { i: { externalRef, idempotencyKey: 'derived' } }, other);
    expect(codes(derived)).toEqual(['FORBIDDEN']);
    expect(derived.data?.resolveServiceCase.serviceCase).toMatchObject({ resolvedOnFirstContact: null });
    const { externalRef: ownRef } = await recordedBy(recorder);
    const own = await app.gql(RESOLVE.replace('SELECT', SELECT), { i: { externalRef: ownRef } }, recorder);
    expect(own.errors).toBeUndefined();
    expect(own.data?.resolveServiceCase.serviceCase.resolvedOnFirstContact).toBe(false);

    // The service says so: what the answer hides.
    const memberId = await app.enroll();
    const keyA = apiKeyCaller('helpdesk-a', ['members:write']);
    const keyB = apiKeyCaller('helpdesk-b', ['members:write']);
    const ticket = (n: number) => ({ memberId, channel: 'CHAT' as const, category: CATEGORY, externalRef: `H-${n}-${memberId}` });
    expect((await recordServiceCase(app.deps, ticket(1), keyA)).hides).toEqual([]);
    expect((await resolveServiceCase(app.deps, { externalRef: ticket(1).externalRef }, keyB)).hides).toEqual([
      ...SERVICE_CASE_RECORDING,
      'resolvedOnFirstContact',
    ]);
    await recordServiceCase(app.deps, ticket(2), keyA);
    expect((await resolveServiceCase(app.deps, { externalRef: ticket(2).externalRef, contacts: 2 }, keyB)).hides).toEqual([
      ...SERVICE_CASE_RECORDING,
    ]);
  });

  it('answerServiceCase answers only with what recordServiceCase or resolveServiceCase returned; answerFeedback only with what submitFeedback returned', async () => {
    const memberId = await app.enroll();
    const recorder = apiKeyCaller('helpdesk-a', ['members:write']);
    const other = apiKeyCaller('helpdesk-b', ['members:write']);
    const recorded = await recordServiceCase(
      app.deps,
      { memberId, channel: 'CHAT', category: CATEGORY, externalRef: `U-${memberId}` },
      recorder,
    );
    const resolved = await resolveServiceCase(app.deps, { externalRef: recorded.externalRef! }, other);
    expect(resolved.shows).toBe('RESOLUTION');

    // What a GraphQL field could build or copy is no answer: refused, whatever it claims to show.
    const forged = [{ id: resolved.id, shows: 'CASE' }, { ...resolved, shows: 'CASE' }, { ...resolved }, { ...recorded }];
    for (const object of forged) {
      await expect(answerServiceCase(app.deps, object as unknown as WrittenServiceCase, {})).rejects.toThrow(/not an answer/);
    }
    // The service's answer cannot be talked up either.
    expect(() => Object.assign(resolved, { shows: 'CASE' })).toThrow(TypeError);

    const answer = await answerServiceCase(app.deps, resolved, {});
    expect(serviceCaseRule(answer)).toBe(RECOVERY_WRITERS);
    expect(mayReadServiceCaseField(other, answer, 'resolvedAt')).toBe(true);
    expect(mayReadServiceCaseField(other, answer, 'category')).toBe(false);
    expect(mayReadServiceCaseField(other, answer, 'resolvedOnFirstContact')).toBe(false);
    const recordersAnswer = await answerServiceCase(app.deps, recorded, {});
    expect(mayReadServiceCaseField(recorder, recordersAnswer, 'category')).toBe(true);

    const feedback = await submitFeedback(app.deps, { memberId, nps: 9, caseId: recorded.id }, recorder);
    for (const object of [{ id: feedback.id }, { ...feedback }]) {
      await expect(answerFeedback(app.deps, object as typeof feedback, {})).rejects.toThrow(/not an answer/);
    }
    expect(feedbackRule(await answerFeedback(app.deps, feedback, {}))).toBe(RECOVERY_WRITERS);
  });
});

describe('another member’s case', () => {
  it('a member naming another member’s case in feedback gets a ValidationError that tells nothing about it, and nothing is written', async () => {
    const { caseId } = await caseWithComment();
    const stranger = await app.enroll();
    const before = await prisma.feedback.count();
    const answer = await app.gql(
      `mutation($i: SubmitFeedbackInput!) { submitFeedback(input: $i) { __typename ... on ValidationError { field message } } }`,
      { i: { caseId: nodeId('ServiceCase', caseId), nps: 0, comment: 'x', idempotencyKey: 'other-1' } },
      await app.memberToken(stranger),
    );
    expect(answer.data?.submitFeedback).toEqual({
      __typename: 'ValidationError',
      field: 'caseId',
      message: 'must be a case of this member',
    });
    expect(JSON.stringify(answer)).not.toContain(CATEGORY);
    expect(await prisma.feedback.count()).toBe(before);
  });
});

describe('what receivers of webhooks learn of a case and feedback', () => {
  it('a case whose missed target is compensated announces the compensation; no event carries the comment, category or ticket', async () => {
    await prisma.webhookEndpoint.create({
      data: { url: 'https://hooks.example.com/all', eventTypes: [...WEBHOOK_EVENT_TYPES], secret: 'whsec_dGVzdA==', createdBy: 'test' },
    });
    const memberId = await app.enroll({ enrolledAt: new Date(Date.now() - 10 * 86_400_000) });
    const helpdesk = apiKeyCaller('helpdesk', ['members:write']);
    const openedAt = new Date(Date.now() - 3 * 86_400_000);
    // A chat answered an hour after it opened (target: 2 minutes) files its LONG_WAIT failure at once.
    const serviceCase = await recordServiceCase(
      app.deps,
      {
        memberId,
        channel: 'CHAT',
        category: CATEGORY,
        openedAt,
        firstResponseAt: new Date(openedAt.getTime() + 3_600_000),
        externalRef: 'T-SECRET-1',
      },
      helpdesk,
    );
    await resolveServiceCase(app.deps, { caseId: serviceCase.id }, helpdesk);
    await submitFeedback(app.deps, { nps: 0, comment: SECRET_COMMENT, caseId: serviceCase.id }, memberCaller(memberId));
    const failures = await prisma.serviceFailure.findMany({ where: { memberId } });
    expect(failures.map((failure) => failure.type).sort()).toEqual(['LONG_WAIT', 'UNRESOLVED_CONTACT']);
    for (const failure of failures) await compensateServiceFailure(app.deps, failure.id);

    const events = await prisma.webhookEvent.findMany();
    expect(events.filter((event) => event.type === 'service_failure.compensated')).toHaveLength(2);
    const payloads = JSON.stringify(events.map((event) => event.payload));
    for (const secret of [SECRET_COMMENT, CATEGORY, 'T-SECRET-1']) expect(payloads).not.toContain(secret);
  });
});
