import { TEST_JWT_SECRET } from './app.js';
import { testDatabaseUrl, testQueuePrefix, testRedisUrl } from './db.js';

/**
 * The environment a service process (API, workers or both) runs with in a test: this worker's
 * database, Redis and queue prefix, the tests' JWT secret; `extra` adds or overrides
 * (`TREUE_ROLE`, `WEB_CONCURRENCY`, `DATABASE_POOL_SIZE`, …).
 */
export function serviceEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    DATABASE_URL: testDatabaseUrl(),
    REDIS_URL: testRedisUrl(),
    QUEUE_PREFIX: testQueuePrefix(),
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'info',
    DATABASE_POOL_SIZE: '3',
    ...extra,
  };
}

/** `serviceEnv` for a process that serves HTTP on 127.0.0.1:`port`. */
export function builtServiceEnv(port: number, extra: Record<string, string> = {}): Record<string, string> {
  return serviceEnv({ PORT: String(port), HOST: '127.0.0.1', ...extra });
}
