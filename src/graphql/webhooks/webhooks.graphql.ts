import { callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import {
  createWebhookEndpoint,
  deleteWebhookEndpoint,
  replayWebhookDeliveries,
  replayWebhookDelivery,
  updateWebhookEndpoint,
  webhookDeliveryListArgs,
  webhookEndpointListArgs,
} from '../../domain/webhooks/webhook-endpoints.service.js';
import { WEBHOOK_EVENT_TYPES } from '../../domain/webhooks/webhook-events.js';
import { WebhookDeliveryStatus } from '../../generated/prisma/enums.js';
import { builder } from '../builder.js';
import type { GraphQLContext } from '../context.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const ADMINS = { caller: SERVICE_CALLERS.manageWebhooks };
const EVENT_TYPES = `One or more of ${WEBHOOK_EVENT_TYPES.join(', ')} (docs/webhooks.md).`;

const WebhookDeliveryStatusEnum = builder.enumType(WebhookDeliveryStatus, {
  name: 'WebhookDeliveryStatus',
  description:
    'PENDING: waiting for its first attempt (or replayed); FAILED: the last attempt failed, retried at `nextAttemptAt`; SUCCEEDED: the receiver answered 2xx; DEAD: given up (retries spent, endpoint disabled or deleted), replayable.',
  values: {
    PENDING: { description: 'Waiting for its first attempt, or replayed and waiting for the next.' },
    FAILED: { description: 'The last attempt failed; retried at `nextAttemptAt`.' },
    SUCCEEDED: { description: 'The receiver answered 2xx; final.' },
    DEAD: { description: 'Given up: retries spent, or the endpoint was disabled or deleted. Can be replayed.' },
  },
});

const WebhookEndpointRef = builder.prismaObject('WebhookEndpoint', {
  description: 'A receiver of signed webhooks (Standard Webhooks). Its secret is shown once, at creation or rotation.',
  visibleTo: { staff: 'ADMIN' },
  // Load only the columns a query asks for: the secrets are never read for a listing.
  select: { id: true },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Endpoint id.' }),
    url: t.exposeString('url', { description: 'Where events are POSTed.' }),
    description: t.exposeString('description', { nullable: true, description: 'What the endpoint is for.' }),
    eventTypes: t.exposeStringList('eventTypes', { description: 'The event types it receives.' }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether events are written and sent to it.' }),
    failingSince: t.expose('failingSince', {
      type: 'DateTime',
      nullable: true,
      description: 'First failed attempt since its last success; after a day of failing the endpoint is disabled.',
    }),
    disabledAt: t.expose('disabledAt', { type: 'DateTime', nullable: true, description: 'When it was disabled.' }),
    disabledReason: t.exposeString('disabledReason', {
      nullable: true,
      description: 'Why: by whom, or that it failed for a day (a `webhook_endpoint.disabled` event tells other endpoints).',
    }),
    previousSecretValidUntil: t.expose('previousSecretExpiresAt', {
      type: 'DateTime',
      nullable: true,
      description: 'After a rotation: until then deliveries carry a signature with the previous secret too.',
    }),
    createdBy: t.exposeString('createdBy', { description: 'Who created it (actor type and id).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

builder.prismaObject('WebhookDeliveryAttempt', {
  description: 'One HTTP attempt of a delivery.',
  visibleTo: { staff: 'ADMIN' },
  fields: (t) => ({
    number: t.exposeInt('number', { description: '1 for the first attempt; replays continue the count.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', description: 'When it was sent.' }),
    durationMs: t.exposeInt('durationMs', { description: 'How long until the answer (or the failure), in milliseconds.' }),
    statusCode: t.exposeInt('statusCode', { nullable: true, description: 'The receiver’s HTTP status; null when no answer came.' }),
    error: t.exposeString('error', {
      nullable: true,
      description: 'Why it failed: a non-2xx status, a timeout, a refused address, a redirect (never followed).',
    }),
  }),
});

const WebhookDeliveryRef = builder.prismaObject('WebhookDelivery', {
  description: 'One event to one endpoint. Its id is the `webhook-id` header, the same on every retry and replay.',
  visibleTo: { staff: 'ADMIN' },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Delivery id: the `webhook-id` header.' }),
    eventId: t.exposeString('eventId', { description: 'The event; the same event goes to every subscribed endpoint.' }),
    eventType: t.exposeString('eventType', { description: 'Its type, e.g. `points.earned`.' }),
    endpoint: t.relation('endpoint', { description: 'Where it goes.' }),
    status: t.expose('status', { type: WebhookDeliveryStatusEnum, description: 'Where it stands.' }),
    attempts: t.exposeInt('attempts', { description: 'Attempts made, replays included.' }),
    nextAttemptAt: t.expose('nextAttemptAt', {
      type: 'DateTime',
      nullable: true,
      description:
        'When it is tried next: a FAILED delivery’s retry, or a delivery put back (no attempt spent) while its endpoint is busy or its circuit open.',
    }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true, description: 'When it was last sent.' }),
    lastStatusCode: t.exposeInt('lastStatusCode', { nullable: true, description: 'The last answer’s HTTP status.' }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'Why the last attempt failed (or why it is DEAD).' }),
    lastDurationMs: t.exposeInt('lastDurationMs', { nullable: true, description: 'How long the last attempt took, in milliseconds.' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true, description: 'When the receiver accepted it.' }),
    replayedAt: t.expose('replayedAt', { type: 'DateTime', nullable: true, description: 'When an admin last replayed it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the event happened.' }),
    body: t.string({
      description: 'The JSON body sent (`type`, `timestamp`, `data`), byte for byte as signed.',
      select: { event: { select: { type: true, payload: true, createdAt: true } } },
      resolve: ({ event }) => JSON.stringify({ type: event.type, timestamp: event.createdAt.toISOString(), data: event.payload }),
    }),
    history: t.relation('attemptList', {
      description: 'Every attempt, oldest first.',
      query: { orderBy: { number: 'asc' } },
    }),
  }),
});

const WebhookEndpointFilter = builder.inputType('WebhookEndpointFilter', {
  description: 'Narrows the endpoint list.',
  fields: (t) => ({ enabled: t.boolean({ required: false, description: 'Only enabled (true) or disabled (false) endpoints.' }) }),
});

builder.queryField('webhookEndpoints', (t) =>
  t.prismaConnection(
    {
      type: WebhookEndpointRef,
      cursor: 'id',
      description: 'Webhook endpoints, newest first (admins). Never shows a secret; deleted endpoints are left out.',
      authScopes: ADMINS,
      args: { filter: t.arg({ type: WebhookEndpointFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.webhookEndpoint.findMany({ ...query, ...webhookEndpointListArgs(callerOf(ctx.principal), args.filter) }),
      totalCount: (_root, args, ctx) =>
        ctx.deps.prisma.webhookEndpoint.count({ where: webhookEndpointListArgs(callerOf(ctx.principal), args.filter).where }),
    },
    counted(COUNT_COST.small),
  ),
);

const deliveryListArgs = (
  ctx: GraphQLContext,
  args: { endpoint?: string | number | null; status?: WebhookDeliveryStatus | null; event?: string | null },
) =>
  webhookDeliveryListArgs(callerOf(ctx.principal), {
    endpointId: args.endpoint == null ? null : String(args.endpoint),
    status: args.status,
    eventType: args.event,
  });

builder.queryField('webhookDeliveries', (t) =>
  t.prismaConnection(
    {
      type: WebhookDeliveryRef,
      cursor: 'id',
      description: 'Webhook deliveries, newest first (admins): attempts, response codes and timings.',
      authScopes: ADMINS,
      args: {
        endpoint: t.arg.id({ required: false, description: 'Only this endpoint’s (`WebhookEndpoint.id`).' }),
        status: t.arg({ type: WebhookDeliveryStatusEnum, required: false, description: 'Only deliveries in this status.' }),
        event: t.arg.string({ required: false, description: 'Only events of this type, e.g. `points.earned`.' }),
      },
      resolve: (query, _root, args, ctx) => ctx.deps.prisma.webhookDelivery.findMany({ ...query, ...deliveryListArgs(ctx, args) }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.webhookDelivery.count({ where: deliveryListArgs(ctx, args).where }),
    },
    counted(COUNT_COST.scan),
  ),
);

const CreateWebhookEndpointInput = builder.inputType('CreateWebhookEndpointInput', {
  description: 'A new webhook endpoint.',
  fields: (t) => ({
    url: t.string({
      required: true,
      description:
        'https URL of the receiver, on port 443 or a port the operator allows (WEBHOOK_ALLOWED_PORTS); http (port 80) only where WEBHOOK_ALLOW_HTTP is set.',
    }),
    eventTypes: t.stringList({ required: true, description: EVENT_TYPES }),
    description: t.string({ required: false, description: 'What it is for.' }),
    enabled: t.boolean({ required: false, description: 'Default true.' }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'caller' },
        {
          required: false,
          repeat:
            'Unique per request: a retry with the same key and the same fields answers the endpoint its first call registered, without a second one and without its secret (`secret` is null then); with other fields it is an IdempotencyConflictError. Optional so that existing clients keep working; without it every call registers an endpoint.',
        },
      ),
    ),
  }),
});

const CreateWebhookEndpointPayload = builder
  .objectRef<{ endpointId: string; secret: string | null }>('CreateWebhookEndpointPayload')
  .implement({
    description:
      'The new endpoint (for a retry with the same idempotencyKey: the one its first call registered) and its signing secret. Store the secret now: it is never shown again.',
    fields: (t) => ({
      secret: t.exposeString('secret', {
        nullable: true,
        description:
          'The signing secret, `whsec_` + base64 (Standard Webhooks), shown in this answer only. Null when the answer repeats an earlier call with the same idempotencyKey: the secret is not kept for a retry, so it cannot be shown again. Whoever lost the first answer rotates it (`updateWebhookEndpoint` with `rotateSecret: true` and `rotationOverlapHours: 0`). Never null without an idempotencyKey.',
      }),
      endpoint: t.prismaField({
        type: WebhookEndpointRef,
        description: 'The stored endpoint (without its secret).',
        resolve: (query, parent, _args, ctx) =>
          ctx.deps.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: parent.endpointId } }),
      }),
    }),
  });

builder.mutationField('createWebhookEndpoint', (t) =>
  t.field({
    type: CreateWebhookEndpointPayload,
    description: 'Creates a webhook endpoint (admins), once per idempotencyKey; its secret is generated and shown once.',
    authScopes: ADMINS,
    errors: {
      types: [...COMMON_ERRORS, IdempotencyConflictError],
      directResult: true,
      union: { name: 'CreateWebhookEndpointResult' },
    },
    args: { input: t.arg({ type: CreateWebhookEndpointInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { endpoint, secret } = await createWebhookEndpoint(ctx.deps, input, callerOf(ctx.principal));
      return { endpointId: endpoint.id, secret };
    },
  }),
);

const UpdateWebhookEndpointInput = builder.inputType('UpdateWebhookEndpointInput', {
  description: 'Changes to an endpoint; omitted fields stay as they are.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The endpoint (`WebhookEndpoint.id`).' }),
    url: t.string({ required: false, description: 'A new receiver URL, under the same rules as when creating one.' }),
    eventTypes: t.stringList({ required: false, description: EVENT_TYPES }),
    description: t.string({ required: false, description: 'A new description.' }),
    enabled: t.boolean({ required: false, description: 'false stops it; true starts it again (and clears its failure streak).' }),
    rotateSecret: t.boolean({ required: false, description: 'A new secret, returned once in the payload.' }),
    rotationOverlapHours: t.int({
      required: false,
      description:
        'Hours the old secret keeps signing too after a rotation (default 24, 0–168): every delivery then carries both signatures.',
    }),
  }),
});

const UpdateWebhookEndpointPayload = builder
  .objectRef<{ endpointId: string; secret: string | null }>('UpdateWebhookEndpointPayload')
  .implement({
    description: 'The changed endpoint, and after a rotation its new secret (shown this once).',
    fields: (t) => ({
      secret: t.exposeString('secret', { nullable: true, description: 'The new signing secret after `rotateSecret`; else null.' }),
      endpoint: t.prismaField({
        type: WebhookEndpointRef,
        description: 'The endpoint as it is now.',
        resolve: (query, parent, _args, ctx) =>
          ctx.deps.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: parent.endpointId } }),
      }),
    }),
  });

builder.mutationField('updateWebhookEndpoint', (t) =>
  t.field({
    type: UpdateWebhookEndpointPayload,
    description: 'Changes a webhook endpoint (admins): URL, event types, enabled, or a new secret with an overlap.',
    authScopes: ADMINS,
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'UpdateWebhookEndpointResult' } },
    args: { input: t.arg({ type: UpdateWebhookEndpointInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { endpoint, secret } = await updateWebhookEndpoint(ctx.deps, { ...input, id: String(input.id) }, callerOf(ctx.principal));
      return { endpointId: endpoint.id, secret };
    },
  }),
);

const EndpointIdInput = builder.inputType('DeleteWebhookEndpointInput', {
  description: 'The endpoint to delete.',
  fields: (t) => ({ id: t.id({ required: true, description: 'The endpoint (`WebhookEndpoint.id`).' }) }),
});

const DeleteWebhookEndpointPayload = builder.objectRef<{ endpointId: string }>('DeleteWebhookEndpointPayload').implement({
  description: 'The deleted endpoint: disabled, its waiting deliveries dead-lettered.',
  fields: (t) => ({
    endpoint: t.prismaField({
      type: WebhookEndpointRef,
      description: 'The endpoint as it was left.',
      resolve: (query, parent, _args, ctx) =>
        ctx.deps.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: parent.endpointId } }),
    }),
  }),
});

builder.mutationField('deleteWebhookEndpoint', (t) =>
  t.field({
    type: DeleteWebhookEndpointPayload,
    description: 'Deletes a webhook endpoint (admins): nothing more is sent to it; its delivery history stays readable.',
    authScopes: ADMINS,
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'DeleteWebhookEndpointResult' } },
    args: { input: t.arg({ type: EndpointIdInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const endpoint = await deleteWebhookEndpoint(ctx.deps, { id: String(input.id) }, callerOf(ctx.principal));
      return { endpointId: endpoint.id };
    },
  }),
);

const ReplayWebhookDeliveryInput = builder.inputType('ReplayWebhookDeliveryInput', {
  description: 'The delivery to send again.',
  fields: (t) => ({ deliveryId: t.id({ required: true, description: 'The delivery (`WebhookDelivery.id`).' }) }),
});

const ReplayWebhookDeliveryPayload = builder.objectRef<{ deliveryId: string }>('ReplayWebhookDeliveryPayload').implement({
  description: 'The replayed delivery, PENDING again.',
  fields: (t) => ({
    delivery: t.prismaField({
      type: WebhookDeliveryRef,
      description: 'The delivery as it is now.',
      resolve: (query, parent, _args, ctx) =>
        ctx.deps.prisma.webhookDelivery.findUniqueOrThrow({ ...query, where: { id: parent.deliveryId } }),
    }),
  }),
});

builder.mutationField('replayWebhookDelivery', (t) =>
  t.field({
    type: ReplayWebhookDeliveryPayload,
    description:
      'Sends a finished delivery (DEAD, or SUCCEEDED but lost by the receiver) again, same `webhook-id`, with a fresh retry budget (admins). Its endpoint must be enabled.',
    authScopes: ADMINS,
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'ReplayWebhookDeliveryResult' } },
    args: { input: t.arg({ type: ReplayWebhookDeliveryInput, required: true }) },
    resolve: (_root, { input }, ctx) => replayWebhookDelivery(ctx.deps, { deliveryId: String(input.deliveryId) }, callerOf(ctx.principal)),
  }),
);

const ReplayWebhookDeliveriesInput = builder.inputType('ReplayWebhookDeliveriesInput', {
  description: 'Which dead-lettered deliveries to send again.',
  fields: (t) => ({
    endpointId: t.id({ required: true, description: 'The endpoint (`WebhookEndpoint.id`).' }),
    since: t.field({ type: 'DateTime', required: true, description: 'Deliveries of events from this time on (the year 0001 or later).' }),
  }),
});

const ReplayWebhookDeliveriesPayload = builder
  .objectRef<{ endpointId: string; replayed: number }>('ReplayWebhookDeliveriesPayload')
  .implement({
    description: 'How many dead-lettered deliveries were put back.',
    fields: (t) => ({
      replayed: t.exposeInt('replayed', { description: 'Deliveries replayed (PENDING again).' }),
      endpoint: t.prismaField({
        type: WebhookEndpointRef,
        description: 'The endpoint.',
        resolve: (query, parent, _args, ctx) =>
          ctx.deps.prisma.webhookEndpoint.findUniqueOrThrow({ ...query, where: { id: parent.endpointId } }),
      }),
    }),
  });

builder.mutationField('replayWebhookDeliveries', (t) =>
  t.field({
    type: ReplayWebhookDeliveriesPayload,
    description: 'Replays every DEAD delivery of an endpoint since a time, as `replayWebhookDelivery` does one (admins).',
    authScopes: ADMINS,
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'ReplayWebhookDeliveriesResult' } },
    args: { input: t.arg({ type: ReplayWebhookDeliveriesInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      replayWebhookDeliveries(ctx.deps, { endpointId: String(input.endpointId), since: input.since }, callerOf(ctx.principal)),
  }),
);
