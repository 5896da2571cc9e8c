import { actorOf } from '../../auth/principal.js';
import { createApiKey } from '../../domain/api-keys/api-keys.service.js';
import { builder } from '../builder.js';
import { COMMON_ERRORS } from '../errors.type.js';

const ApiKeyRef = builder.prismaObject('ApiKey', {
  description: 'A storefront credential. Its secret is shown once, at creation.',
  authScopes: { staff: 'ADMIN' },
  fields: (t) => ({
    id: t.exposeID('id', { description: 'Key id.' }),
    name: t.exposeString('name', { description: 'What the key is for.' }),
    prefix: t.exposeString('prefix', { description: 'Public part of the token, to recognise it in logs.' }),
    scopes: t.exposeStringList('scopes', { description: 'What the key may do.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the key was created.' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true, description: 'When it was revoked.' }),
  }),
});

const CreateApiKeyPayload = builder.objectRef<{ apiKeyId: string; token: string }>('CreateApiKeyPayload').implement({
  description: 'The new key and its token. Store the token now: it is never shown again.',
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Bearer token for `Authorization: Bearer <token>`.' }),
    apiKey: t.prismaField({
      type: ApiKeyRef,
      description: 'The stored key (without its secret).',
      resolve: (query, parent, _args, ctx) =>
        ctx.deps.prisma.apiKey.findUniqueOrThrow({ ...query, where: { id: parent.apiKeyId } }),
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
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    description: 'Creates a storefront API key (admins).',
    authScopes: { staff: 'ADMIN' },
    errors: { types: [...COMMON_ERRORS], directResult: true, union: { name: 'CreateApiKeyResult' } },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { apiKey, token } = await createApiKey(ctx.deps, input, actorOf(ctx.principal));
      return { apiKeyId: apiKey.id, token };
    },
  }),
);
