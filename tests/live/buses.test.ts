// No useTestApp(): the buses between processes on this worker's Redis only; no database.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ApprovalQueueChange, MemberChange } from '../../src/domain/deps.js';
import { RateLimitedError } from '../../src/domain/errors.js';
import { approvalQueueChannel, createApprovalQueueBus } from '../../src/live/approval-queue-bus.js';
import { createMemberChangeBus, memberChangeChannel } from '../../src/live/member-change-bus.js';
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

/** A Redis as an API process gives the buses (commands only), under a prefix of its own per test. */
function redis() {
  const client = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  closers.push(async () => void client.disconnect());
  return { client, prefix: `${testQueuePrefix()}:bus-${randomUUID()}` };
}

describe('member change bus', () => {
  it('carries a worker’s changes to every listening API process, to that member’s listeners only', async () => {
    const shared = redis();
    const api1 = createMemberChangeBus({ logger, redis: shared, listen: true });
    const api2 = createMemberChangeBus({ logger, redis: { ...redis(), prefix: shared.prefix }, listen: true });
    const worker = createMemberChangeBus({ logger, redis: { ...redis(), prefix: shared.prefix } });
    closers.push(api1.close, api2.close, worker.close);
    await Promise.all([api1.ready, api2.ready, worker.ready]);
    const heard1: MemberChange[] = [];
    const heard2: MemberChange[] = [];
    const other: MemberChange[] = [];
    api1.listen('m-1', (change) => heard1.push(change));
    api2.listen('m-1', (change) => heard2.push(change));
    api2.listen('m-2', (change) => other.push(change));
    worker.events.changed([
      { memberId: 'm-1', kind: 'EARNED', reference: 'order-1' },
      { memberId: 'm-1', kind: 'REDEEMED', reference: null },
    ]);
    await until(() => heard1.length === 2 && heard2.length === 2, 5_000, 20, 'both processes');
    expect(heard1).toEqual([
      { memberId: 'm-1', kind: 'EARNED', reference: 'order-1' },
      { memberId: 'm-1', kind: 'REDEEMED', reference: null },
    ]);
    expect(heard2).toEqual(heard1);
    expect(other).toEqual([]);
  });

  it('splits a large batch into several messages and loses none of it', async () => {
    const shared = redis();
    const api = createMemberChangeBus({ logger, redis: shared, listen: true });
    closers.push(api.close);
    await api.ready;
    const heard: MemberChange[] = [];
    api.listen('m-big', (change) => heard.push(change));
    let messages = 0;
    const counter = admin.duplicate();
    closers.push(async () => void counter.disconnect());
    await counter.subscribe(memberChangeChannel(shared.prefix));
    counter.on('message', () => void messages++);
    api.events.changed(Array.from({ length: 1_200 }, (_, i) => ({ memberId: 'm-big', kind: 'EARNED' as const, reference: `o-${i}` })));
    await until(() => heard.length === 1_200, 10_000, 20, '1 200 changes');
    expect(heard.map((change) => change.reference)).toEqual(Array.from({ length: 1_200 }, (_, i) => `o-${i}`));
    await until(() => messages === 3, 5_000, 20, 'three messages');
  });

  it('tells a caller that publishes for it (the response cache) exactly the messages it publishes itself', async () => {
    const shared = redis();
    const worker = createMemberChangeBus({ logger, redis: shared });
    closers.push(worker.close);
    const published: string[] = [];
    const counter = admin.duplicate();
    closers.push(async () => void counter.disconnect());
    await counter.subscribe(memberChangeChannel(shared.prefix));
    counter.on('message', (_: string, message: string) => void published.push(message));
    const changes = Array.from({ length: 1_200 }, (_, i) => ({ memberId: `m-${i % 7}`, kind: 'EARNED' as const, reference: `o-${i}` }));
    worker.events.changed(changes);
    await until(() => published.length === 3, 5_000, 20, 'three messages');
    expect(worker.events.messagesFor?.(changes)).toEqual({ channel: memberChangeChannel(shared.prefix), messages: published });
    // Without Redis the changes stay in this process: there is nothing to publish.
    expect(createMemberChangeBus({ logger }).events.messagesFor).toBeUndefined();
  });

  it('drops what does not look like a change (unknown kind, wrong types) and keeps the rest', async () => {
    const shared = redis();
    const api = createMemberChangeBus({ logger, redis: shared, listen: true });
    closers.push(api.close);
    await api.ready;
    const heard: MemberChange[] = [];
    api.listen('m-1', (change) => heard.push(change));
    const channel = memberChangeChannel(shared.prefix);
    await admin.publish(channel, 'not json');
    await admin.publish(channel, JSON.stringify({ not: 'a list' }));
    await admin.publish(
      channel,
      JSON.stringify([['m-1', 'STOLEN', null], ['m-1', 'EARNED', 42], [7, 'EARNED', null], 'x', ['m-1', 'EARNED', 'kept']]),
    );
    await until(() => heard.length === 1, 5_000, 20, 'the one good change');
    expect(heard).toEqual([{ memberId: 'm-1', kind: 'EARNED', reference: 'kept' }]);
  });

  it('a listener that throws does not keep the others from hearing; unsubscribe stops a listener', async () => {
    const bus = createMemberChangeBus({ logger });
    const heard: string[] = [];
    bus.listen('m-1', () => {
      throw new Error('broken screen');
    });
    const stop = bus.listen('m-1', (change) => heard.push(change.kind));
    bus.events.changed([{ memberId: 'm-1', kind: 'EARNED', reference: null }]);
    stop();
    bus.events.changed([{ memberId: 'm-1', kind: 'REDEEMED', reference: null }]);
    expect(heard).toEqual(['EARNED']);
  });

  it('publishing while Redis is unreachable neither throws nor waits', async () => {
    const client = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    closers.push(async () => void client.disconnect());
    const worker = createMemberChangeBus({ logger, redis: { client, prefix: 'nowhere' } });
    expect(() => worker.events.changed([{ memberId: 'm-1', kind: 'EARNED', reference: null }])).not.toThrow();
  });
});

describe('approval queue bus', () => {
  it('carries changes from any process to every listening process; a resync after a lost connection', async () => {
    const shared = redis();
    const api = createApprovalQueueBus({ logger, redis: shared, listen: true });
    const worker = createApprovalQueueBus({ logger, redis: { ...redis(), prefix: shared.prefix } });
    closers.push(api.close, worker.close);
    await api.ready;
    const heard: ApprovalQueueChange[][] = [];
    let resyncs = 0;
    api.listen((changes) => heard.push([...changes]));
    api.onResync(() => void resyncs++);
    worker.events.changed([{ kind: 'GESTURE_PENDING', reference: 'g-1' }]);
    worker.events.changed([]);
    await until(() => heard.length === 1, 5_000, 20, 'the change');
    expect(heard).toEqual([[{ kind: 'GESTURE_PENDING', reference: 'g-1' }]]);

    const list = (await admin.client('LIST')) as string;
    const line = list.split('\n').find((entry) => entry.includes(` name=${approvalQueueChannel(shared.prefix)}:listener `))!;
    await admin.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
    await until(() => resyncs === 1, 10_000, 20, 'the resync');
    worker.events.changed([{ kind: 'GESTURE_DECIDED', reference: 'g-1' }]);
    await until(() => heard.length === 2, 5_000, 20, 'the change after the reconnect');
    expect(heard[1]).toEqual([{ kind: 'GESTURE_DECIDED', reference: 'g-1' }]);
  });

  it('drops unknown kinds and non-string references from the wire', async () => {
    const shared = redis();
    const api = createApprovalQueueBus({ logger, redis: shared, listen: true });
    closers.push(api.close);
    await api.ready;
    const heard: ApprovalQueueChange[][] = [];
    api.listen((changes) => heard.push([...changes]));
    await admin.publish(
      approvalQueueChannel(shared.prefix),
      JSON.stringify([
        ['DROP_TABLE', 'x'],
        ['GESTURE_PENDING', 5],
        ['GESTURE_PENDING', 'g-2'],
      ]),
    );
    await until(() => heard.length === 1, 5_000, 20, 'the good change');
    expect(heard).toEqual([[{ kind: 'GESTURE_PENDING', reference: 'g-2' }]]);
  });

  it('admits at most maxStreamsPerWatcher open streams per watcher; a release frees one slot, once', async () => {
    const bus = createApprovalQueueBus({ logger, maxStreamsPerWatcher: 2 });
    const end = () => undefined;
    const first = (await bus.admit('supervisor-1', end))!;
    await bus.admit('supervisor-1', end);
    await expect(bus.admit('supervisor-1', end)).rejects.toThrow(RateLimitedError);
    // Another watcher has slots of its own.
    await bus.admit('supervisor-2', end);
    first();
    first();
    await bus.admit('supervisor-1', end);
    await expect(bus.admit('supervisor-1', end)).rejects.toThrow(RateLimitedError);
  });

  it('endStreams ends every stream still admitted, once each, and admits none after', async () => {
    const bus = createApprovalQueueBus({ logger });
    const ended: string[] = [];
    const released = (await bus.admit('supervisor-1', () => ended.push('released')))!;
    await bus.admit('supervisor-1', () => ended.push('a'));
    await bus.admit('supervisor-2', () => ended.push('b'));
    released();
    bus.endStreams();
    bus.endStreams();
    expect(ended).toEqual(['a', 'b']);
    expect(await bus.admit('supervisor-3', () => ended.push('late'))).toBeUndefined();
  });
});
