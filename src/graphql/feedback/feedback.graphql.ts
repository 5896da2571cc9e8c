import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { AlreadyExistsError, IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import { answerFeedback, submitFeedback, type WrittenFeedback } from '../../domain/feedback/feedback.service.js';
import {
  answerServiceCase,
  recordServiceCase,
  resolveServiceCase,
  type WrittenServiceCase,
} from '../../domain/feedback/service-cases.service.js';
import { builder } from '../builder.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { FeedbackRef, ServiceCaseRef, ServiceChannelEnum } from './feedback.type.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const IDEMPOTENCY_KEY = idempotencyKeyArg(
  { of: 'caller' },
  {
    required: false,
    repeat:
      'Unique per request: a retry with the same key replays the first answer without a second effect (the same key with ' +
      'another input → IdempotencyConflictError). Optional so that existing integrations keep working; always send one.',
  },
);

const ServiceCasePayload = (name: string, description: string, caseDescription: string) =>
  // The service's answer itself, passed through unchanged: answerServiceCase takes no other object.
  builder.objectRef<WrittenServiceCase>(name).implement({
    description,
    fields: (t) => ({
      serviceCase: t.prismaField({
        type: ServiceCaseRef,
        description: caseDescription,
        // What the service answered the caller with: the whole case, or its resolution only (`answerServiceCase`).
        resolve: (query, written, _args, ctx) => answerServiceCase(ctx.deps, written, query),
      }),
    }),
  });

const RecordServiceCasePayload = ServiceCasePayload('RecordServiceCasePayload', 'The recorded case.', 'The case, as stored.');
const ResolveServiceCasePayload = ServiceCasePayload(
  'ResolveServiceCasePayload',
  'The resolved case.',
  'The case, as stored. A caller that may not read the member (a `members:write` key) sees of a case another caller ' +
    'recorded only its id and the resolution its own call wrote (`resolvedAt`; `resolvedOnFirstContact` when the call ' +
    'gave it or the contacts, not when derived from the recorded contacts).',
);

// The service's answer itself, passed through unchanged: answerFeedback takes no other object.
const SubmitFeedbackPayload = builder.objectRef<WrittenFeedback>('SubmitFeedbackPayload').implement({
  description: 'The recorded feedback.',
  fields: (t) => ({
    feedback: t.prismaField({
      type: FeedbackRef,
      description: 'The feedback, as stored.',
      resolve: (query, written, _args, ctx) => answerFeedback(ctx.deps, written, query),
    }),
  }),
});

const RecordServiceCaseInput = builder.inputType('RecordServiceCaseInput', {
  description: 'A customer-service case of a member.',
  fields: (t) => ({
    memberId: t.id({ required: true, description: 'Member id.' }),
    channel: t.field({ type: ServiceChannelEnum, required: true, description: 'Where the customer got in touch.' }),
    category: t.string({ required: true, description: 'What it is about, e.g. "delivery" (1–100 characters).' }),
    openedAt: t.field({
      type: 'DateTime',
      required: false,
      description: 'When it was opened; now when omitted. Not before the member enrolled, not in the future.',
    }),
    firstResponseAt: t.field({
      type: 'DateTime',
      required: false,
      description: 'When service first answered; not before openedAt.',
    }),
    contacts: t.int({ required: false, description: 'Contacts so far, at least 1 (the default).' }),
    externalRef: t.string({ required: false, description: 'The helpdesk’s ticket id; unique.' }),
    idempotencyKey: t.string(IDEMPOTENCY_KEY),
  }),
});

const ResolveServiceCaseInput = builder.inputType('ResolveServiceCaseInput', {
  description: 'The resolution of an open case, given by its id or its external reference.',
  fields: (t) => ({
    caseId: t.id({ required: false, description: 'The case id (or give externalRef).' }),
    externalRef: t.string({ required: false, description: 'The helpdesk’s ticket id (or give caseId).' }),
    resolvedAt: t.field({ type: 'DateTime', required: false, description: 'When it was resolved; now when omitted.' }),
    contacts: t.int({ required: false, description: 'Contacts in total, when more happened since it was recorded.' }),
    resolvedOnFirstContact: t.boolean({
      required: false,
      description: 'Whether the first contact resolved it; derived from contacts = 1 when omitted.',
    }),
    idempotencyKey: t.string(IDEMPOTENCY_KEY),
  }),
});

const SubmitFeedbackInput = builder.inputType('SubmitFeedbackInput', {
  description: 'An NPS answer (0–10) and/or a CSAT score (1–5); at least one of them.',
  fields: (t) => ({
    memberId: t.id({ required: false, description: 'The member; a member token may omit it (their own).' }),
    nps: t.int({ required: false, description: 'How likely to recommend us, 0–10.' }),
    csat: t.int({ required: false, description: 'Satisfaction, 1–5.' }),
    caseId: t.id({ required: false, description: 'The service case it is about; must be the same member’s.' }),
    comment: t.string({ required: false, description: 'Free text, up to 2 000 characters.' }),
    channel: t.field({ type: ServiceChannelEnum, required: false, description: 'Where it was given.' }),
    idempotencyKey: t.string(IDEMPOTENCY_KEY),
  }),
});

builder.mutationFields((t) => ({
  recordServiceCase: t.field({
    type: RecordServiceCasePayload,
    description: 'Records a service case (helpdesk or agent). A taken external reference → AlreadyExistsError.',
    authScopes: { caller: SERVICE_CALLERS.recordServiceCase },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, AlreadyExistsError, IdempotencyConflictError],
      directResult: true,
      union: { name: 'RecordServiceCaseResult' },
    },
    args: { input: t.arg({ type: RecordServiceCaseInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      recordServiceCase(ctx.deps, { ...input, memberId: decodeId('Member', 'memberId', String(input.memberId)) }, callerOf(ctx.principal)),
  }),
  resolveServiceCase: t.field({
    type: ResolveServiceCasePayload,
    description:
      'Resolves an open case, once; a resolved case → ValidationError, except for a retry with the same idempotencyKey, ' +
      'which answers the case as its first call resolved it.',
    authScopes: { caller: SERVICE_CALLERS.resolveServiceCase },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError],
      directResult: true,
      union: { name: 'ResolveServiceCaseResult' },
    },
    args: { input: t.arg({ type: ResolveServiceCaseInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      resolveServiceCase(
        ctx.deps,
        { ...input, caseId: input.caseId == null ? null : decodeId('ServiceCase', 'caseId', String(input.caseId)) },
        callerOf(ctx.principal),
      ),
  }),
  submitFeedback: t.field({
    type: SubmitFeedbackPayload,
    description: 'Records feedback. Members submit their own only; staff and storefront keys on a member’s behalf.',
    authScopes: { caller: SERVICE_CALLERS.submitFeedback },
    errors: {
      types: [...COMMON_ERRORS, NotFoundError, IdempotencyConflictError],
      directResult: true,
      union: { name: 'SubmitFeedbackResult' },
    },
    args: { input: t.arg({ type: SubmitFeedbackInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      submitFeedback(
        ctx.deps,
        {
          ...input,
          memberId: input.memberId == null ? null : decodeId('Member', 'memberId', String(input.memberId)),
          caseId: input.caseId == null ? null : decodeId('ServiceCase', 'caseId', String(input.caseId)),
        },
        callerOf(ctx.principal),
      ),
  }),
}));
