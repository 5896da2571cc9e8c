import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; `LOG_LEVEL=silent` in tests keeps output clean. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'treue', ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}

/**
 * A connection URL (DATABASE_URL, REDIS_URL) as logs and messages show it: the password of its user part and every
 * query parameter that holds a secret — `?password=`, `sslpassword=`, … which node-postgres and ioredis both read as
 * the password — replaced by `***`. Hosts, ports and the database stay: they are what an operator looks for.
 */
export function withoutSecrets(url: string): string {
  return url.replace(/(\/\/[^/@]*?:)[^/@]*@/, '$1***@').replace(/([?&][^=&#]*(?:pass|secret|token|key)[^=&#]*=)[^&#]*/gi, '$1***');
}
