import type { MemberChange, MemberChangeEvents } from '../domain/deps.js';
import type { Logger } from '../logger.js';
import type { ResponseCacheStore } from './response-cache-store.js';

export interface InvalidatingChanges {
  /** Hand these to the services (ServiceDeps.memberChanges). */
  events: MemberChangeEvents;
  /**
   * Resolves once every member reported so far has had its cached answers made stale (or Redis
   * refused it). A request awaits it before its answer goes out and a job before it completes, so
   * the next read anywhere never sees an answer from before the change.
   */
  settled(): Promise<void>;
}

/**
 * Member change reports that also make the changed members' cached answers stale
 * (src/cache/response-cache-store.ts), and program change reports every cached answer.
 * One per request or per job: `settled` waits for its own invalidations only. Reporting
 * stays fire and forget for the services.
 */
export function invalidatingChanges(bus: MemberChangeEvents, store: ResponseCacheStore | undefined, logger: Logger): InvalidatingChanges {
  if (!store) return { events: bus, settled: () => Promise.resolve() };
  const pending = new Set<Promise<void>>();
  const track = (invalidation: Promise<void>) => {
    pending.add(invalidation);
    void invalidation.finally(() => pending.delete(invalidation));
  };
  return {
    events: {
      changed: (changes: readonly MemberChange[]) => {
        bus.changed(changes);
        if (changes.length === 0) return;
        track(
          store.invalidateMembers(changes.map((change) => change.memberId)).catch((error: unknown) => {
            logger.warn({ err: error, members: changes.length }, 'could not make cached answers stale: they expire with their TTL');
          }),
        );
      },
      programChanged: () => {
        bus.programChanged?.();
        track(
          store.invalidateAll().catch((error: unknown) => {
            logger.warn({ err: error }, 'could not make cached answers stale after a program change: they expire with their TTL');
          }),
        );
      },
    },
    settled: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
