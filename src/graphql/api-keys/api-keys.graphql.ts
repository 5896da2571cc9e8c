import { callerOf } from '../../auth/principal.js';
import { apiKeyListArgs, createApiKey, readApiKey, revokeApiKey, type ApiKeyReadShape } from '../../domain/api-keys/api-keys.service.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import { IdempotencyConflictError, NotFoundError } from '../../domain/errors.js';
import { builder } from '../builder.js';
import { COMMON_ERRORS } from '../errors.type.js';
import { decodeId } from '../ids.js';
import { loadThroughService } from '../node-loader.js';
import { COUNT_COST, counted } from '../total-count.js';
import { idempotencyKeyArg } from '../idempotency-key.js';

const ApiKeyRef = builder.prismaNode('ApiKey', {
  id: { field: 'id' },
  description:
    'A storefront credential. Its secret is shown once, at creation; neither it nor its hash is ever readable. Refetchable through `node(id)` (admins only).',
  visibleTo: { caller: SERVICE_CALLERS.readApiKeys },
  // Load only the columns a query asks for: the secret's hash is never read for a listing.
  select: { id: true },
  // The API keys' read (`readApiKey`), by the rule this visibility names: refused before reading
  // (tests/graphql/unowned-node-read.test.ts); an unknown id is null.
  ...loadThroughService<ApiKeyReadShape>('ApiKey', readApiKey),
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What the key is for.' }),
    prefix: t.exposeString('prefix', { description: 'Public part of the token, to recognise it in logs.' }),
    scopes: t.exposeStringList('scopes', { description: 'What the key may do.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the key was created.' }),
    createdBy: t.exposeString('createdBy', { description: 'Who created it (actor type and id).' }),
    lastUsedAt: t.expose('lastUsedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it was last used, to within a minute or so (recorded when a process checks it against the database).',
    }),
    revokedAt: t.expose('revokedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it was revoked; a revoked key is refused (HTTP 401).',
    }),
    revokedBy: t.exposeString('revokedBy', { nullable: true, description: 'Who revoked it (actor type and id).' }),
  }),
});

const ApiKeyFilter = builder.inputType('ApiKeyFilter', {
  description: 'Narrows the API key list.',
  fields: (t) => ({
    revoked: t.boolean({ required: false, description: 'true: only revoked keys; false: only usable ones.' }),
  }),
});

builder.queryField('apiKeys', (t) =>
  t.prismaConnection(
    {
      type: ApiKeyRef,
      cursor: 'id',
      description: 'API keys, newest first (admins). Never shows a secret.',
      authScopes: { staff: 'ADMIN' },
      args: { filter: t.arg({ type: ApiKeyFilter, required: false, description: 'Conditions to match.' }) },
      resolve: (query, _root, args, ctx) =>
        ctx.deps.prisma.apiKey.findMany({ ...query, ...apiKeyListArgs(callerOf(ctx.principal), args.filter) }),
      totalCount: (_root, args, ctx) => ctx.deps.prisma.apiKey.count({ where: apiKeyListArgs(callerOf(ctx.principal), args.filter).where }),
    },
    counted(COUNT_COST.small),
  ),
);

const RevokeApiKeyPayload = builder.objectRef<{ apiKeyId: string }>('RevokeApiKeyPayload').implement({
  description: 'The revoked key.',
  fields: (t) => ({
    apiKey: t.prismaField({
      type: ApiKeyRef,
      description: 'The key, with the time and actor of its (first) revocation.',
      resolve: (query, parent, _args, ctx) => ctx.deps.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: parent.apiKeyId } }),
    }),
  }),
});

const RevokeApiKeyInput = builder.inputType('RevokeApiKeyInput', {
  description: 'The key to revoke.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The key id (`ApiKey.id`; the raw UUID of earlier releases is accepted too).' }),
  }),
});

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: RevokeApiKeyPayload,
    description:
      'Revokes an API key (admins): every API process refuses it within a second. Idempotent: revoking it again returns it unchanged.',
    authScopes: { staff: 'ADMIN' },
    errors: { types: [...COMMON_ERRORS, NotFoundError], directResult: true, union: { name: 'RevokeApiKeyResult' } },
    args: { input: t.arg({ type: RevokeApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const apiKey = await revokeApiKey(ctx.deps, callerOf(ctx.principal), { id: decodeId('ApiKey', 'id', String(input.id)) });
      return { apiKeyId: apiKey.id };
    },
  }),
);

const CreateApiKeyPayload = builder.objectRef<{ apiKeyId: string; token: string | null }>('CreateApiKeyPayload').implement({
  description:
    'The new key (for a retry with the same idempotencyKey: the one its first call created) and its token. Store the token now: it is never shown again.',
  fields: (t) => ({
    token: t.exposeString('token', {
      nullable: true,
      description:
        'Bearer token for `Authorization: Bearer <token>`, shown in this answer only. Null when the answer repeats an earlier call with the same idempotencyKey: only the token’s hash is stored, so it cannot be shown again. Whoever lost the first answer revokes that key (`revokeApiKey`) and creates another. Never null without an idempotencyKey.',
    }),
    apiKey: t.prismaField({
      type: ApiKeyRef,
      description: 'The stored key (without its secret).',
      resolve: (query, parent, _args, ctx) => ctx.deps.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: parent.apiKeyId } }),
    }),
  }),
});

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  description: 'A new storefront API key.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the key is for.' }),
    scopes: t.stringList({
      required: true,
      description:
        'Any of members:read, members:write, points:earn, points:redeem, vouchers:redeem, failures:report, contracts:write, admin.',
    }),
    idempotencyKey: t.string(
      idempotencyKeyArg(
        { of: 'caller' },
        {
          required: false,
          repeat:
            'Unique per request: a retry with the same key, name and scopes answers the key its first call created, without a second one and without its token (`token` is null then); with another name or scopes it is an IdempotencyConflictError. Optional so that existing clients keep working; without it every call creates a key.',
        },
      ),
    ),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    description: 'Creates a storefront API key (admins), once per idempotencyKey; its token is shown once.',
    authScopes: { caller: SERVICE_CALLERS.createApiKey },
    errors: { types: [...COMMON_ERRORS, IdempotencyConflictError], directResult: true, union: { name: 'CreateApiKeyResult' } },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { apiKey, token } = await createApiKey(ctx.deps, input, callerOf(ctx.principal));
      return { apiKeyId: apiKey.id, token };
    },
  }),
);
