import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { BENCH_REDIS, lowerMedian } from './support.js';

/**
 * What the API's Redis client costs in CPU per request, with and without ioredis's auto-pipelining,
 * in the shape an earn sends: one script call awaited before the work (the rate limit), then, after
 * it, a script call and a publish not awaited by the request (the invalidation and the change). Runs
 * `--concurrency` requests at a time, both settings in turns, and prints the client process's CPU
 * (user + system) per request: the syscalls a write and a read cost are in it, Redis's own work is not.
 *
 *   npx tsx bench/redis-pipelining.ts [--requests 20000] [--concurrency 25] [--rounds 4]
 */
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '25' },
    rounds: { type: 'string', default: '4' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const SCRIPT = `redis.call('INCR', KEYS[1]) return redis.call('PEXPIRE', KEYS[1], ARGV[1])`;

async function round(pipelined: boolean): Promise<number> {
  const redis = new Redis(BENCH_REDIS, { enableAutoPipelining: pipelined, lazyConnect: true });
  await redis.connect();
  redis.defineCommand('bump', { numberOfKeys: 1, lua: SCRIPT });
  const bump = (key: string) => (redis as unknown as { bump(key: string, ttl: number): Promise<unknown> }).bump(key, 60_000);
  const prefix = `treue-bench-pipelining-${process.pid}`;
  let next = 0;
  const pending = new Set<Promise<unknown>>();
  const worker = async () => {
    while (next < requests) {
      const n = next++;
      await bump(`${prefix}:limit:${n % 100}`);
      // The request's own work (a database transaction) lets other requests run meanwhile.
      await new Promise((resolve) => setImmediate(resolve));
      const after = Promise.all([bump(`${prefix}:member:${n % 1000}`), redis.publish(`${prefix}:changes`, `["m${n}","EARNED",null]`)]);
      pending.add(after);
      void after.finally(() => pending.delete(after));
    }
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, worker));
  await Promise.all([...pending]);
  const used = process.cpuUsage(before);
  await redis.quit();
  return (used.user + used.system) / 1000 / requests;
}

async function main(): Promise<void> {
  const plain: number[] = [];
  const pipelined: number[] = [];
  await round(false); // warm-up
  for (let i = 0; i < Number(values.rounds); i++) {
    // In turns, the other first every other round: a drift in the machine's speed falls on both.
    for (const pipelining of i % 2 === 0 ? [false, true] : [true, false]) {
      const ms = await round(pipelining);
      (pipelining ? pipelined : plain).push(ms);
      console.log(`${pipelining ? 'auto-pipelined' : 'one write per command'}: ${(ms * 1000).toFixed(1)} µs of CPU per request`);
    }
  }
  const [a, b] = [lowerMedian(plain), lowerMedian(pipelined)];
  console.log(`medians: ${(a * 1000).toFixed(1)} → ${(b * 1000).toFixed(1)} µs per request (× ${(b / a).toFixed(2)})`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
