import { Redis } from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import { loadConfig, type Config } from '../../src/config/env.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { startWorkers, type WorkersHandle } from '../../workers/index.js';
import { TEST_JWT_SECRET, testLogger } from './app.js';
import { resetRedis, testQueuePrefix, testRedisUrl } from './db.js';
import { WebhookReceiver } from './webhook-receiver.js';

/** What a webhook test file runs against: the worker's settings, a receiver on 127.0.0.1, the workers once started. */
export interface WebhookWorkers {
  env: Record<string, string>;
  config: Config;
  receiver: WebhookReceiver;
  /** The running workers (after beforeAll). */
  workers(): WorkersHandle;
}

/**
 * For a test file: the `webhooks` worker and the outbox relay (real BullMQ on the test Redis, its prefix
 * emptied before and after) with `env` over lenient test settings (plain http and 127.0.0.1 allowed), and a
 * receiver, started before the file's tests and stopped after them.
 */
export function useWebhookWorkers(
  prisma: PrismaClient,
  env: Record<string, string>,
  options: Pick<NonNullable<Parameters<typeof startWorkers>[1]>, 'webhookGate'> = {},
): WebhookWorkers {
  const settings = {
    NODE_ENV: 'test',
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    QUEUE_PREFIX: testQueuePrefix(),
    WEBHOOK_ALLOW_HTTP: 'true',
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    ...env,
  };
  const config = loadConfig(settings);
  const receiver = new WebhookReceiver();
  let workers: WorkersHandle | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetRedis(redis);
    await receiver.start();
    workers = await startWorkers(
      { config, logger: testLogger, prisma, redisUrl: testRedisUrl() },
      { maintenance: false, queues: ['webhooks'], relay: { intervalMs: 20 }, ...options },
    );
  });
  afterAll(async () => {
    await workers?.close();
    await receiver.stop();
    if (redis) {
      await resetRedis(redis);
      redis.disconnect();
    }
  });
  return {
    env: settings,
    config,
    receiver,
    workers: () => {
      if (!workers) throw new Error('the webhook workers start in beforeAll');
      return workers;
    },
  };
}
