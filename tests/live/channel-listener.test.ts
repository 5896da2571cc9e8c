// No useTestApp(): pub/sub on this worker's Redis only; no database.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { listenOnChannel } from '../../src/live/channel-listener.js';
import { createLogger } from '../../src/logger.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';
import { until } from '../support/until.js';

const logger = createLogger('silent');
const admin = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
afterAll(() => admin.disconnect());

/** The ids of the Redis connections a listener on `channel` holds (it names them `<channel>:listener`). */
async function listenerConnections(channel: string): Promise<string[]> {
  const list = (await admin.client('LIST')) as string;
  return list
    .split('\n')
    .filter((line) => line.includes(` name=${channel}:listener `))
    .map((line) => /\bid=(\d+)/.exec(line)![1]!);
}

function listener(overrides: { onMessage?: (message: string) => void } = {}) {
  const channel = `${testQueuePrefix()}:listener-test-${randomUUID()}`;
  const client = new Redis(testRedisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  const heard: string[] = [];
  const events: string[] = [];
  const handle = listenOnChannel({
    client,
    channel,
    logger,
    subject: 'test events',
    whileAway: 'tests hear nothing',
    onMessage: overrides.onMessage ?? ((message) => void heard.push(message)),
    onLive: () => void events.push('live'),
    onLost: () => void events.push('lost'),
    onResync: () => void events.push('resync'),
  });
  closers.push(async () => {
    await handle.close();
    client.disconnect();
  });
  return { channel, handle, heard, events };
}

describe('listenOnChannel', () => {
  it('is live once ready resolves: what is published from then on is heard, in order', async () => {
    const { channel, handle, heard, events } = listener();
    await handle.ready;
    expect(events).toEqual(['live']);
    // Published in the same tick as ready resolved: the subscription is already in place.
    for (let i = 0; i < 20; i++) await admin.publish(channel, `m${i}`);
    await until(() => heard.length === 20, 5_000, 20, '20 messages');
    expect(heard).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it('ignores a message its handler throws on and keeps hearing the next ones', async () => {
    const heard: string[] = [];
    const { channel, handle } = listener({
      onMessage: (message) => {
        const parsed = JSON.parse(message) as { n: number };
        heard.push(String(parsed.n));
      },
    });
    await handle.ready;
    await admin.publish(channel, 'not json');
    await admin.publish(channel, JSON.stringify({ n: 2 }));
    await until(() => heard.length === 1, 5_000, 20, 'the good message');
    expect(heard).toEqual(['2']);
  });

  it('hears only its own channel', async () => {
    const a = listener();
    const b = listener();
    await Promise.all([a.handle.ready, b.handle.ready]);
    await admin.publish(a.channel, 'for a');
    await admin.publish(b.channel, 'for b');
    await until(() => a.heard.length === 1 && b.heard.length === 1, 5_000, 20, 'both messages');
    expect(a.heard).toEqual(['for a']);
    expect(b.heard).toEqual(['for b']);
  });

  it('reports not-live when its connection is lost, and live with a resync once it subscribed again', async () => {
    const { channel, handle, heard, events } = listener();
    await handle.ready;
    const [id] = await listenerConnections(channel);
    expect(id).toBeDefined();
    await admin.client('KILL', 'ID', id!);
    await until(() => events.includes('resync'), 10_000, 20, 'the resync');
    expect(events).toEqual(['live', 'lost', 'live', 'resync']);
    // A new connection, heard as before.
    const [again] = await listenerConnections(channel);
    expect(again).not.toBe(id);
    await admin.publish(channel, 'after the reconnect');
    await until(() => heard.length === 1, 5_000, 20, 'the message after the reconnect');
    expect(heard).toEqual(['after the reconnect']);
  });

  it('close() releases its connection and hears nothing more', async () => {
    const { channel, handle, heard, events } = listener();
    await handle.ready;
    expect(await listenerConnections(channel)).toHaveLength(1);
    await handle.close();
    await until(async () => (await listenerConnections(channel)).length === 0, 5_000, 20, 'the connection to close');
    expect(await admin.publish(channel, 'too late')).toBe(0);
    expect(heard).toEqual([]);
    // Closing is not an outage: nothing resubscribes.
    expect(events.filter((event) => event === 'live')).toHaveLength(1);
  });
});
