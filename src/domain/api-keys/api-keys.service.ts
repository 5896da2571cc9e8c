import { generateApiKeyToken } from '../../auth/api-keys.js';
import { API_KEY_SCOPES, type Actor, type ApiKeyScope } from '../../auth/principal.js';
import type { ServiceDeps } from '../deps.js';
import { ValidationError } from '../errors.js';
import * as check from '../validation.js';

export interface CreateApiKeyInput {
  name: string;
  scopes: string[];
}

/**
 * Creates a storefront API key. The token is returned here once and never
 * again: only its hash is stored.
 */
export async function createApiKey(deps: ServiceDeps, input: CreateApiKeyInput, actor: Actor) {
  const name = check.text('name', input.name, { max: 100 });
  if (input.scopes.length === 0) throw new ValidationError('scopes', 'at least one scope is required');
  const unknown = input.scopes.filter((scope) => !(API_KEY_SCOPES as readonly string[]).includes(scope));
  if (unknown.length > 0) {
    throw new ValidationError('scopes', `unknown scopes: ${unknown.join(', ')} (known: ${API_KEY_SCOPES.join(', ')})`);
  }
  const scopes = [...new Set(input.scopes)] as ApiKeyScope[];
  const { token, prefix, secretHash } = generateApiKeyToken();
  const apiKey = await deps.prisma.apiKey.create({
    data: { name, prefix, secretHash, scopes, createdBy: `${actor.type}:${actor.id}` },
  });
  return { apiKey, token };
}
