import type { PrismaClient } from '../db/prisma.js';
import type { CredentialEvents } from '../domain/deps.js';
import type { Logger } from '../logger.js';
import { listenOnChannel } from '../live/channel-listener.js';
import type { RedisClient } from '../redis/redis-client.js';
import { createApiKeyVerifier, type ApiKeyVerifier } from './api-keys.js';
import { createMemberAccountCheck, type MemberAccountCheck } from './member-accounts.js';

/** What one process tells the others: drop what you cached about this credential. */
export type CredentialEvent = { kind: 'apiKeyRevoked'; apiKeyId: string } | { kind: 'memberStatusChanged'; memberId: string };

/** The Redis pub/sub channel of credential events (under the queue prefix, so a Redis can host several installations). */
export const credentialChannel = (prefix: string): string => `${prefix}:credentials`;

/** Publishes one event; never throws (a lost event is bounded by the caches' TTL). */
export async function publishCredentialEvent(redis: RedisClient, prefix: string, event: CredentialEvent, logger: Logger): Promise<void> {
  try {
    await redis.publish(credentialChannel(prefix), JSON.stringify(event));
  } catch (error) {
    logger.warn(
      { err: error, event: event.kind },
      'could not publish a credential event: other API processes catch up within their cache TTL',
    );
  }
}

/**
 * One API process's credential caches and their invalidation.
 * - `apiKeys`, `memberAccounts`: the caches the authenticator consults.
 * - `events`: what services call after commit (API key revoked, member status changed);
 *   it clears this process's cache at once and publishes to every other process.
 * With Redis, the caches are bypassed (every check reads the database) whenever the
 * subscription is not live — before it is established and while Redis is away — so a
 * message missed during an outage cannot leave a revoked key cached; only a Redis that
 * hangs without closing the connection leaves the caches' TTL (30 s) as the bound.
 */
export interface CredentialSync {
  apiKeys: ApiKeyVerifier;
  memberAccounts: MemberAccountCheck;
  events: CredentialEvents;
  /** Called after this process dropped a credential from its caches (live streams re-check their callers then). */
  onChange(listener: (event: CredentialEvent) => void): void;
  /** Resolves once this process receives credential events (at once without Redis). */
  ready: Promise<void>;
  close(): Promise<void>;
}

export function createCredentialSync(deps: {
  prisma: PrismaClient;
  logger: Logger;
  redis?: { client: RedisClient; prefix: string };
  now?: () => number;
}): CredentialSync {
  const apiKeys = createApiKeyVerifier(deps.prisma, { now: deps.now });
  const memberAccounts = createMemberAccountCheck(deps.prisma, { now: deps.now });
  const listeners: ((event: CredentialEvent) => void)[] = [];
  const onChange = (listener: (event: CredentialEvent) => void) => void listeners.push(listener);
  const apply = (event: CredentialEvent) => {
    if (event.kind === 'apiKeyRevoked') apiKeys.forget(event.apiKeyId);
    else memberAccounts.forget(event.memberId);
    for (const listener of listeners) listener(event);
  };

  if (!deps.redis) {
    const local = async (event: CredentialEvent) => apply(event);
    return {
      apiKeys,
      memberAccounts,
      events: {
        apiKeyRevoked: (apiKeyId) => local({ kind: 'apiKeyRevoked', apiKeyId }),
        memberStatusChanged: (memberId) => local({ kind: 'memberStatusChanged', memberId }),
      },
      onChange,
      ready: Promise.resolve(),
      close: async () => undefined,
    };
  }

  const { client, prefix } = deps.redis;
  const { logger } = deps;
  const channel = credentialChannel(prefix);
  const setBypass = (on: boolean) => {
    apiKeys.setBypass(on);
    memberAccounts.setBypass(on);
  };
  setBypass(true);

  // The caches are trusted only while the subscription is live: bypassed from a lost connection until the next subscribe.
  const listener = listenOnChannel({
    client,
    channel,
    logger,
    subject: 'credential events',
    whileAway: 'every API key and member token is checked against the database',
    onMessage: (message) => apply(JSON.parse(message) as CredentialEvent),
    onLive: () => setBypass(false),
    onLost: () => setBypass(true),
  });

  const publish = async (event: CredentialEvent) => {
    apply(event);
    await publishCredentialEvent(client, prefix, event, logger);
  };
  return {
    apiKeys,
    memberAccounts,
    events: {
      apiKeyRevoked: (apiKeyId) => publish({ kind: 'apiKeyRevoked', apiKeyId }),
      memberStatusChanged: (memberId) => publish({ kind: 'memberStatusChanged', memberId }),
    },
    onChange,
    ready: listener.ready,
    close: listener.close,
  };
}
