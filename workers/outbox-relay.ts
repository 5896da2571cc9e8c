import type { ServiceDeps } from '../src/domain/deps.js';
import { claimOutboxEvents, releaseOutboxEvents, type PendingOutboxEvent } from '../src/domain/outbox/outbox.service.js';
import type { OutboxQueues, RedriveAction } from '../src/queues/outbox-queues.js';

/**
 * The outbox relay of the worker process: nothing the API accepted is lost.
 *
 * - Fresh events (never handed to BullMQ: Redis was down when the API
 *   committed, or the API died right after) are added to their queues.
 * - Stale events (handed over `staleAfterMs` ago and still not done) are
 *   re-driven: a job that failed for good is retried, a job that is gone is
 *   added again, a job that is still waiting or running is left alone.
 *
 * Job id = event id, and the job's effect completes the event in the same
 * transaction, so a second hand-over is at worst a duplicate no-op.
 */
export interface RelayOptions {
  /** Events per pass. */
  batchSize: number;
  /** Re-drive events handed over this long ago and still not done. */
  staleAfterMs: number;
  /** Leave fresh events this young to the API's immediate enqueue. */
  freshGraceMs: number;
  /** Pause between passes that found less than a full batch. */
  intervalMs: number;
}

export const DEFAULT_RELAY_OPTIONS: RelayOptions = {
  batchSize: 200,
  staleAfterMs: 60_000,
  freshGraceMs: 5_000,
  intervalMs: 500,
};

export interface RelayReport {
  claimed: number;
  enqueued: number;
  redriven: Partial<Record<RedriveAction, number>>;
  /** Events whose hand-over failed (Redis down): released for the next pass. */
  failed: number;
}

/** One pass of the relay: claim due events, hand them to BullMQ, release what could not be handed over. */
export async function relayOutboxOnce(deps: ServiceDeps, queues: OutboxQueues, options: Partial<RelayOptions> = {}): Promise<RelayReport> {
  const { batchSize, staleAfterMs, freshGraceMs } = { ...DEFAULT_RELAY_OPTIONS, ...options };
  const events = await claimOutboxEvents(deps, { limit: batchSize, staleAfterMs, freshGraceMs });
  const report: RelayReport = { claimed: events.length, enqueued: 0, redriven: {}, failed: 0 };
  if (events.length === 0) return report;

  const unhanded: PendingOutboxEvent[] = [];
  const fresh = events.filter((event) => event.enqueues === 0);
  if (fresh.length > 0) {
    try {
      await queues.enqueue(fresh);
      report.enqueued = fresh.length;
    } catch (error) {
      deps.logger.warn({ err: error, events: fresh.length }, 'outbox relay: enqueue failed');
      unhanded.push(...fresh);
    }
  }
  for (const event of events.filter((candidate) => candidate.enqueues > 0)) {
    try {
      const action = await queues.redrive(event);
      report.redriven[action] = (report.redriven[action] ?? 0) + 1;
      if (action !== 'alive') {
        deps.logger.warn(
          { eventId: event.id, queue: event.queue, action, handOvers: event.enqueues + 1 },
          'outbox relay: re-drove an event',
        );
      }
    } catch (error) {
      deps.logger.warn({ err: error, eventId: event.id }, 'outbox relay: re-drive failed');
      unhanded.push(event);
    }
  }
  if (unhanded.length > 0) {
    report.failed = unhanded.length;
    await releaseOutboxEvents(
      deps,
      unhanded.map((event) => event.id),
    );
  }
  return report;
}

/**
 * Runs relay passes until stopped: back to back while there is a backlog,
 * otherwise every `intervalMs`; after an error (database down) it waits longer,
 * up to 10 s. `stop()` lets a pass in progress finish.
 */
export function startOutboxRelay(deps: ServiceDeps, queues: OutboxQueues, options: Partial<RelayOptions> = {}): { stop(): Promise<void> } {
  const settings = { ...DEFAULT_RELAY_OPTIONS, ...options };
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  const loop = (async () => {
    let errors = 0;
    while (!stopped) {
      let pause = settings.intervalMs;
      try {
        const report = await relayOutboxOnce(deps, queues, settings);
        errors = 0;
        if (report.enqueued > 0 || report.failed > 0) deps.logger.debug(report, 'outbox relay pass');
        if (report.claimed === settings.batchSize && report.failed === 0) pause = 0;
      } catch (error) {
        errors += 1;
        pause = Math.min(settings.intervalMs * 2 ** errors, 10_000);
        deps.logger.error({ err: error }, 'outbox relay pass failed');
      }
      if (!stopped && pause > 0) await sleep(pause);
    }
  })();

  return {
    stop: async () => {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
