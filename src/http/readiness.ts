import type { Logger } from '../logger.js';

export type DependencyState = 'ok' | 'unavailable';

export interface Readiness {
  ok: boolean;
  checks: Record<string, DependencyState>;
}

/**
 * /readyz: each dependency's check, each given `timeoutMs`. A check that fails
 * or does not answer in time is "unavailable"; why is logged, never answered
 * (driver messages name hosts and ports, and the probe is anonymous). While a
 * check is still running, later probes wait for that one instead of starting
 * another, so a hung dependency does not collect stuck probes.
 */
export function createReadinessProbe(
  checks: Record<string, () => Promise<unknown>>,
  timeoutMs: number,
  logger: Logger,
): () => Promise<Readiness> {
  const running = new Map<string, Promise<unknown>>();
  const check = async (name: string, run: () => Promise<unknown>): Promise<DependencyState> => {
    let pending = running.get(name);
    if (!pending) {
      pending = run().finally(() => running.delete(name));
      running.set(name, pending);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([pending, deadline]);
      return 'ok';
    } catch (error) {
      logger.warn({ err: error, dependency: name }, `readiness: ${name} unavailable`);
      return 'unavailable';
    } finally {
      clearTimeout(timer);
    }
  };
  return async () => {
    const names = Object.keys(checks);
    const states = await Promise.all(names.map((name) => check(name, checks[name]!)));
    const result = Object.fromEntries(names.map((name, index) => [name, states[index]!]));
    return { ok: states.every((state) => state === 'ok'), checks: result };
  };
}
