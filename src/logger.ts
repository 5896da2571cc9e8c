import { pino, type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; `LOG_LEVEL=silent` in tests keeps output clean. */
export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { service: 'treue', ...bindings }, timestamp: pino.stdTimeFunctions.isoTime });
}
