import { connect } from 'node:net';
import type { Redis } from 'ioredis';

/** One command Redis ran: its arguments, and who sent it — a client's address, or "lua" for a command a script ran. */
export interface MonitoredCommand {
  args: string[];
  source: string;
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b', '"': '"', '\\': '\\' };

/** The arguments of a MONITOR line, each quoted and escaped as Redis writes them (sdscatrepr). */
function argumentsOf(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    if (text[i] !== '"') {
      i += 1;
      continue;
    }
    let arg = '';
    for (i += 1; i < text.length && text[i] !== '"'; i += 1) {
      if (text[i] !== '\\') {
        arg += text[i];
      } else if (text[i + 1] === 'x') {
        arg += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
        i += 3;
      } else {
        arg += ESCAPES[text[i + 1]!] ?? text[i + 1];
        i += 1;
      }
    }
    args.push(arg);
    i += 1;
  }
  return args;
}

/**
 * Every command the Redis at `url` runs from when this resolves until `stop` (every database, every client), as
 * MONITOR reports it. On a socket of its own rather than ioredis's `monitor()`, whose reply queue breaks when
 * commands of other clients arrive together with MONITOR's OK (as they do while other test files run).
 */
export async function monitorRedis(url: string): Promise<{ seen: MonitoredCommand[]; stop(): void }> {
  const { hostname, port, username, password } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port || 6379) });
  const command = (...args: string[]) => `*${args.length}\r\n${args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`;
  if (password) socket.write(command('AUTH', ...(username ? [decodeURIComponent(username)] : []), decodeURIComponent(password)));
  socket.write(command('MONITOR'));
  const seen: MonitoredCommand[] = [];
  let buffered = '';
  // MONITOR's OK comes last (after AUTH's): from then on every command is seen.
  let oks = password ? 2 : 1;
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n')) >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        if (line.startsWith('-')) reject(new Error(`MONITOR refused: ${line.slice(1)}`));
        const entry = /^\+[\d.]+ \[\d+ ([^\]]+)\] (.*)$/.exec(line);
        if (entry) seen.push({ source: entry[1]!, args: argumentsOf(entry[2]!) });
        else if (line === '+OK' && --oks === 0) resolve();
      }
    });
  });
  return { seen, stop: () => void socket.destroy() };
}

/** A connection of its own subscribed to `channel`, and every message it has heard since, in order. */
export async function subscribedListener(redis: Redis, channel: string): Promise<{ heard: string[]; stop(): void }> {
  const listener = redis.duplicate();
  const heard: string[] = [];
  listener.on('message', (_: string, message: string) => heard.push(message));
  await listener.subscribe(channel);
  return { heard, stop: () => listener.disconnect() };
}
