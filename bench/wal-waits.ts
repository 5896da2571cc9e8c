import pg from 'pg';
import { sleep } from './support.js';

/**
 * What the bench database's statements waited for on the WAL in a window, sampled: the longest a statement had been
 * running while it waited on the WAL's write or flush (wait events `WALWrite`, `WALSync` in pg_stat_activity;
 * `WalWrite`, `WalSync` from PostgreSQL 17), and in how many samples one had been running over 50 ms so. A COMMIT
 * returns once its WAL is on the disk; while one backend waits for the disk's flush, every other COMMIT waits behind
 * it (WALWrite), and so do the requests queued for their connections.
 */
export interface WalWaits {
  longestMs: number;
  samples: number;
  samplesOver50Ms: number;
}

/** One sample every this many ms (a query of pg_stat_activity each: ~50 a second). */
const SAMPLE_MS = 20;

const SAMPLE_SQL = `
  SELECT coalesce(max(extract(epoch FROM clock_timestamp() - query_start) * 1000), 0)::float8 AS longest
  FROM pg_stat_activity
  WHERE datname = current_database() AND state = 'active' AND lower(wait_event) IN ('walwrite', 'walsync')
    AND pid <> pg_backend_pid()`;

/**
 * Samples the database at `url` from `start()` until `stop()`, on a connection of its own: a wait is seen at the
 * length it had at its last sample, so the figure is a lower bound. `stop()` is null unless every sample of the window
 * could be taken (the connection refused, lost or failing a query leaves no partial figure).
 */
export function watchWalWaits(url: string): { start(): Promise<void>; stop(): Promise<WalWaits | null> } {
  const client = new pg.Client({ connectionString: url, application_name: 'treue-bench-wal-waits' });
  const waits: WalWaits = { longestMs: 0, samples: 0, samplesOver50Ms: 0 };
  let running = false;
  let broken = false;
  // A connection that ends under it (a restarted server, a dropped database) is an 'error' event: without a
  // listener it would end the bench run.
  client.on('error', () => {
    broken = true;
    running = false;
  });
  let loop: Promise<void> = Promise.resolve();
  const sample = async () => {
    while (running) {
      const { rows } = await client.query<{ longest: number }>(SAMPLE_SQL);
      const longest = rows[0]?.longest ?? 0;
      waits.samples += 1;
      waits.longestMs = Math.max(waits.longestMs, longest);
      if (longest > 50) waits.samplesOver50Ms += 1;
      await sleep(SAMPLE_MS);
    }
  };
  return {
    async start() {
      const connected = await client.connect().then(
        () => true,
        () => false,
      );
      if (!connected) {
        broken = true;
        return;
      }
      running = true;
      loop = sample().catch(() => {
        broken = true;
      });
    },
    async stop() {
      running = false;
      await loop;
      await client.end().catch(() => undefined);
      return broken || waits.samples === 0 ? null : waits;
    },
  };
}
