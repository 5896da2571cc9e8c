import { generateApiKeyToken } from '../../auth/api-keys.js';
import { API_KEY_SCOPES, callerText, type ApiKeyScope, type Caller } from '../../auth/principal.js';
import type { ApiKey, Prisma } from '../../generated/prisma/client.js';
import { assertMayCall, assertRole } from '../authorization.js';
import { nowOf, type ServiceDeps } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import { once, optionalIdempotencyKey, scopeOf } from '../idempotency.js';
import * as check from '../validation.js';

export interface CreateApiKeyInput {
  name: string;
  scopes: string[];
  /** Optional (clients of before keep working), but always send one: a retry with it creates no second key. */
  idempotencyKey?: string | null;
}

/** A key as its creation answers it: never its secret's hash. */
export type ApiKeyView = Omit<ApiKey, 'secretHash'>;

/** A new key and its token, shown in this answer only. */
export interface CreatedApiKey {
  apiKey: ApiKeyView;
  token: string;
  replayed: false;
}

/**
 * The key a retry with the same idempotency key is answered: its token exists nowhere after the first answer (only
 * its hash is stored, and the stored answer holds the key's id only), so it is not shown again: whoever lost it
 * revokes the key and creates another.
 */
export interface ReplayedApiKey {
  apiKey: ApiKeyView;
  token: null;
  replayed: true;
}

/**
 * Creates a storefront API key (admins). The token is returned here once and
 * never again: only its hash is stored. One key per (caller, idempotency key),
 * by `once()`: a retry after a lost answer — the same name and scopes — answers
 * the key its first call created, as it is now, without its token (null), and
 * writes nothing; the same key with another name or scopes is an
 * IdempotencyConflictError. Without a key every call creates a key.
 */
export async function createApiKey(
  deps: ServiceDeps,
  input: CreateApiKeyInput & { idempotencyKey?: null },
  caller: Caller,
): Promise<CreatedApiKey>;
export async function createApiKey(deps: ServiceDeps, input: CreateApiKeyInput, caller: Caller): Promise<CreatedApiKey | ReplayedApiKey>;
export async function createApiKey(deps: ServiceDeps, input: CreateApiKeyInput, caller: Caller): Promise<CreatedApiKey | ReplayedApiKey> {
  assertMayCall(caller, 'createApiKey');
  const name = check.plainText('name', input.name, { max: 100 });
  if (input.scopes.length === 0) throw new ValidationError('scopes', 'at least one scope is required');
  const unknown = input.scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
  if (unknown.length > 0) {
    throw new ValidationError('scopes', `unknown scopes: ${unknown.join(', ')} (known: ${API_KEY_SCOPES.join(', ')})`);
  }
  const scopes = [...new Set(input.scopes)] as ApiKeyScope[];
  const key = optionalIdempotencyKey(input.idempotencyKey);
  // The scopes are a set: a retry that lists them in another order is the same request.
  const request = { name, scopes: [...scopes].sort() };
  const { token, prefix, secretHash } = generateApiKeyToken();
  return deps.prisma.$transaction(async (tx): Promise<CreatedApiKey | ReplayedApiKey> => {
    const created = await once(tx, scopeOf('createApiKey', caller), key, request, async () => {
      const { id } = await tx.apiKey.create({
        data: { name, prefix, secretHash, scopes, createdBy: callerText(caller) },
        select: { id: true },
      });
      // The answer a retry replays: the key's id, never its token or the token's hash.
      return { apiKeyId: id };
    });
    const apiKey = await tx.apiKey.findUniqueOrThrow({ where: { id: created.apiKeyId }, omit: { secretHash: true } });
    return created.replayed ? { apiKey, token: null, replayed: true } : { apiKey, token, replayed: false };
  });
}

export interface ApiKeyFilter {
  /** true: only revoked keys; false: only usable ones; absent: all. */
  revoked?: boolean | null;
}

/**
 * The `findMany` arguments of the admins' key list, newest first (admins only).
 * The list shows names, prefixes, scopes and dates; the secret exists nowhere and
 * its hash is never exposed by the API type.
 */
export function apiKeyListArgs(caller: Caller, filter?: ApiKeyFilter | null) {
  assertRole(caller, 'ADMIN', 'list API keys');
  const where: Prisma.ApiKeyWhereInput = {};
  if (filter?.revoked === true) where.revokedAt = { not: null };
  if (filter?.revoked === false) where.revokedAt = null;
  return { where, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }] satisfies Prisma.ApiKeyOrderByWithRelationInput[] };
}

/** What a read loads of the key: plugin-prisma's plan of a GraphQL selection, say (never the secret's hash). */
export type ApiKeyReadShape = { select?: Prisma.ApiKeySelect | null };

/**
 * An API key by its id (`node(id)`), revoked or not, with the columns `shape` selects (its id always, its secret's
 * hash never, whatever `shape` asks), or null when there is none. Who may read one is SERVICE_CALLERS.readApiKeys
 * (admins; the ApiKey type's visibility): anyone else is refused before the id is looked at, nothing read. The id
 * must be a UUID (ValidationError).
 */
export async function readApiKey(deps: Pick<ServiceDeps, 'prisma'>, id: string, shape: ApiKeyReadShape, caller: Caller) {
  assertMayCall(caller, 'readApiKeys');
  const select = { ...shape.select, id: true, secretHash: false } satisfies Prisma.ApiKeySelect;
  return deps.prisma.apiKey.findUnique({ select, where: { id: check.uuid('id', id) } });
}

const PREFIX = /^[a-z2-7]{8}$/;

/**
 * Revokes an API key, named by id or by its public prefix (admins only). Idempotent:
 * revoking a revoked key changes nothing and returns it with its first revocation time
 * and revoker. After commit every API process is told to forget the key
 * (`deps.credentials`), so it is refused everywhere within a moment, not after the
 * verifiers' cache TTL.
 */
export async function revokeApiKey(deps: ServiceDeps, caller: Caller, input: { id?: string | null; prefix?: string | null }) {
  assertRole(caller, 'ADMIN', 'revoke API keys');
  if ((input.id == null) === (input.prefix == null)) throw new ValidationError('id', 'name the key by id or by prefix');
  const where: Prisma.ApiKeyWhereUniqueInput = input.id != null ? { id: check.uuid('id', input.id) } : { prefix: prefixOf(input.prefix!) };
  const found = await deps.prisma.apiKey.findUnique({ where, select: { id: true } });
  if (!found) throw new NotFoundError('ApiKey', input.id ?? input.prefix!);
  // The guard on revoked_at keeps the first revocation's time and actor.
  await deps.prisma.apiKey.updateMany({
    where: { id: found.id, revokedAt: null },
    data: { revokedAt: nowOf(deps), revokedBy: callerText(caller) },
  });
  // Also when it was revoked already: a process that missed the first message hears it now.
  await deps.credentials?.apiKeyRevoked(found.id);
  return deps.prisma.apiKey.findUniqueOrThrow({ where: { id: found.id } });
}

function prefixOf(value: string): string {
  // Accept the prefix alone or a whole token / its start (`trk_<prefix>_…`), as operators copy it from logs.
  const candidate = value.startsWith('trk_') ? value.slice(4, 12) : value;
  if (!PREFIX.test(candidate)) throw new ValidationError('prefix', 'must be the 8-character prefix of a key');
  return candidate;
}
