import type { MemberChange, MemberChangeEvents } from '../domain/deps.js';
import type { MemberChangeBusEvents } from '../live/member-change-bus.js';
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
 *
 * When the bus publishes on Redis (`messagesFor`), its messages go out from the invalidation's own script, after the
 * bump, instead of by the bus: one command per change rather than two, and whoever reads the member again on a
 * message (an app refreshing its status screen on a live event) never gets the answer cached before the change. The
 * store and the bus are on the same Redis (the API's and the workers' one command connection).
 */
export function invalidatingChanges(
  bus: MemberChangeBusEvents,
  store: ResponseCacheStore | undefined,
  logger: Logger,
): InvalidatingChanges {
  if (!store) return { events: bus, settled: () => Promise.resolve() };
  const pending = new Set<Promise<void>>();
  const track = (invalidation: Promise<void>) => {
    pending.add(invalidation);
    void invalidation.finally(() => pending.delete(invalidation));
  };
  return {
    events: {
      changed: (changes: readonly MemberChange[]) => {
        if (changes.length === 0) return;
        // With Redis the bus does not publish these itself: the invalidation script does, once the members are stale.
        const messages = bus.messagesFor?.(changes);
        if (!messages) bus.changed(changes);
        const memberIds = changes.map((change) => change.memberId);
        track(
          store.invalidateMembers(memberIds, messages).catch((error: unknown) => {
            logger.warn(
              { err: error, members: changes.length },
              messages
                ? 'could not make cached answers stale nor publish member changes: they expire with their TTL, live screens catch up with the next change'
                : 'could not make cached answers stale: they expire with their TTL',
            );
          }),
        );
      },
      programChanged: () => {
        // The member change bus publishes no program change (live screens are not told of one): nothing rides on this bump.
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
