import type { Logger } from '../logger.js';
import { duplicateRedis, type RedisClient } from '../redis/redis-client.js';

/** What a bus hears on its channel, and what it calls things in its log lines. */
export interface ChannelListenerOptions {
  client: RedisClient;
  channel: string;
  logger: Logger;
  /** The bus's subject in log lines, e.g. "member changes". */
  subject: string;
  /** What is lost while Redis is away, for the warning, e.g. "live member status streams get no updates". */
  whileAway: string;
  /** Handles one message; a throw is logged as a malformed message and ignored. */
  onMessage: (message: string) => void;
  /** Called when the channel is heard again after it was lost (what was published meanwhile is lost). */
  onResync?: () => void;
  /** Called each time the subscription is established (the first time too), before `ready` resolves. */
  onLive?: () => void;
  /** Called each time the connection closes (messages published until the next `onLive` are not heard). */
  onLost?: () => void;
}

/**
 * Listens to one Redis pub/sub channel on a connection of its own, re-subscribing
 * after every reconnect (and calling `onResync` then), for the buses that fan
 * changes out to every API process. Changes made here come back through Redis like
 * everyone else's: one path, no double delivery.
 */
export function listenOnChannel(options: ChannelListenerOptions): { ready: Promise<void>; close: () => Promise<void> } {
  const { client, channel, logger, subject } = options;
  const subscriber = duplicateRedis(client, {
    lazyConnect: true,
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    connectionName: `${channel}:listener`,
  });
  let subscribedBefore = false;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let closing = false;
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    try {
      options.onMessage(message);
    } catch (error) {
      logger.warn({ err: error }, `ignoring a malformed message of ${subject}`);
    }
  });
  subscriber.on('ready', () => {
    subscriber.subscribe(channel).then(
      () => {
        options.onLive?.();
        markReady();
        if (subscribedBefore) options.onResync?.();
        subscribedBefore = true;
      },
      (error: unknown) => logger.warn({ err: error }, `could not subscribe to ${subject}`),
    );
  });
  subscriber.on('close', () => {
    if (!closing) logger.warn(`${subject} unavailable: ${options.whileAway} until Redis is back`);
    options.onLost?.();
  });
  subscriber.on('error', (error: Error) => logger.debug({ err: error }, `${subject} subscriber error`));
  void subscriber.connect().catch(() => undefined);
  return {
    ready,
    close: async () => {
      closing = true;
      subscriber.disconnect();
    },
  };
}
