import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got. */
export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** How a path answers a request: a status, or `hang` (never answers: the sender's timeout ends it). */
export type Answer = number | 'hang' | { status: number; headers: Record<string, string> };

/**
 * A webhook receiver on 127.0.0.1 (node:http, a free port): records every
 * request per path and answers as told — by default 200; `answers(path, …)`
 * queues answers that are used up one by one before the default applies again.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  private readonly queued = new Map<string, Answer[]>();
  private readonly fallback = new Map<string, Answer>();
  private readonly hanging = new Set<ServerResponse>();
  private server: Server | undefined;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        this.received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
        const answer = this.queued.get(path)?.shift() ?? this.fallback.get(path) ?? 200;
        if (answer === 'hang') {
          this.hanging.add(response);
          response.on('close', () => this.hanging.delete(response));
          return;
        }
        if (typeof answer === 'number') response.writeHead(answer).end('ok');
        else response.writeHead(answer.status, answer.headers).end();
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers for the next requests to `path`, in order. */
  answers(path: string, ...answers: Answer[]): void {
    this.queued.set(path, [...(this.queued.get(path) ?? []), ...answers]);
  }

  /** The answer to `path` once queued answers are used up. */
  always(path: string, answer: Answer): void {
    this.fallback.set(path, answer);
  }

  at(path: string): Received[] {
    return this.received.filter((request) => request.path === path);
  }

  async stop(): Promise<void> {
    for (const response of this.hanging) response.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
