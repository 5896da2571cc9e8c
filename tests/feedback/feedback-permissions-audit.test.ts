import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { readServiceCase, recordServiceCase, resolveServiceCase } from '../../src/domain/feedback/service-cases.service.js';
import { compensateServiceFailure } from '../../src/domain/service-failures/service-failures.service.js';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/webhook-events.js';
import { readFeedback, submitFeedback } from '../../src/domain/feedback/feedback.service.js';
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
    // The case is resolved all the same; the retry with the same key, not asking for the feedback, answers it.
    const again = await app.gql(RESOLVE.replace('SELECT', ''), { i: { externalRef, idempotencyKey: 'resolve-1' } }, helpdesk);
    expect(again.errors).toBeUndefined();
    expect(again.data?.resolveServiceCase).toMatchObject({
      __typename: 'ResolveServiceCasePayload',
      serviceCase: { externalRef, channel: 'CHAT', category: CATEGORY, contacts: 1, resolvedOnFirstContact: true },
    });
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
