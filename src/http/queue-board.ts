import { hkdfSync } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queue } from 'bullmq';
import { jwtVerify, SignJWT } from 'jose';
import { currentApiKey } from '../auth/api-keys.js';
import type { Authenticator } from '../auth/authenticate.js';
import { AuthenticationError } from '../auth/jwt.js';
import { callerOf, type Caller } from '../auth/principal.js';
import type { Config } from '../config/env.js';
import type { PrismaClient } from '../db/prisma.js';
import { mayCall, SERVICE_CALLERS } from '../domain/authorization.js';
import { RateLimitedError } from '../domain/errors.js';
import type { OutboxQueue } from '../domain/outbox/outbox.service.js';
import type { Logger } from '../logger.js';
import { createProducerConnection } from '../queues/outbox-queues.js';
import type { RedisClient } from '../redis/redis-client.js';
import { clientAddress } from './rate-limit.js';

export const QUEUE_BOARD_PATH = '/admin/queues';
export const QUEUE_BOARD_SESSION_PATH = `${QUEUE_BOARD_PATH}/session`;
export const QUEUE_BOARD_COOKIE = 'treue_queue_board';
/** How long a board session lasts; a staff token's session keeps the board at most this long after the token stops working. */
export const QUEUE_BOARD_SESSION_SECONDS = 15 * 60;

// A Record over every outbox queue: a queue added to the outbox without a row here does not compile.
const OUTBOX_QUEUES: Record<OutboxQueue, true> = { compensation: true, 'renewal-bonus': true, incidents: true, webhooks: true };
/** Every BullMQ queue the workers consume: the outbox queues (workers/registry.ts) and maintenance (workers/maintenance.processor.ts). */
export const BOARD_QUEUES: readonly string[] = [...Object.keys(OUTBOX_QUEUES), 'maintenance'];

const SESSION_AUDIENCE = 'treue:queue-board';
/** The answer to a request without a session or credentials, and to one whose session no longer holds. */
const NO_SESSION = 'Sign in: open the queues from the console (Queues), or send Authorization: Bearer <admin token>.';

export interface QueueBoardOptions {
  config: Config;
  logger: Logger;
  redisUrl: string;
  /** The API's one authenticator (the same caches and revocations as /graphql). */
  authenticate: Authenticator;
  /**
   * Spends a failed authentication from the client address's budget, the one /graphql spends (src/app.ts): the
   * RateLimitedError to answer with 429, or null to answer 401. Without it bad credentials are answered 401 unlimited.
   */
  failedAuthentication?: (error: AuthenticationError | RateLimitedError, address: string) => Promise<RateLimitedError | null>;
  /** Where a session started by an API key finds the key as it is now (revoked, scopes changed). */
  prisma: PrismaClient;
  /** The clock in milliseconds (tests move it). */
  now?: () => number;
}

type Router = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

export interface QueueBoard {
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  close(): Promise<void>;
}

/**
 * The queue dashboard (bull-board) at /admin/queues, for admins only (a staff token with role ADMIN or an API
 * key with the `admin` scope), read-only: retrying, removing or cleaning a compensation job from a web page
 * could lose a compensation or grant it twice, so every queue is shown with `readOnlyMode` and any request
 * other than GET/HEAD under the board is refused before bull-board sees it.
 *
 * Credentials: `Authorization: Bearer …` (checked by the API's authenticator; a header that does not verify spends
 * the client address's budget of failed authentications, the one /graphql spends, and beyond it is answered 429 with
 * Retry-After, while credentials this process verified before, and any JWT that verifies, still get in), or the
 * session cookie that `POST /admin/queues/session` sets for a browser, which cannot send a header on navigation (a
 * cookie that holds no session — forged, expired, its key revoked — spends the same budget, and its answer, 401
 * or 429, clears it so that a board tab left open stops spending it on each reload): a 15-minute
 * token signed with a key derived from the admin session secret (never valid as an API token, and no API
 * token is valid as a session), HttpOnly, SameSite=Strict, Path=/admin/queues, Secure outside development.
 * A session started by an API key holds only while the key does (checked in the database on each request);
 * a staff token cannot be revoked, and its session lasts its 15 minutes unless the browser ends it:
 * `DELETE /admin/queues/session` (the console's sign-out) clears the cookie, for anyone and without
 * credentials, since it only ends a session. Another site cannot make a browser send it: a DELETE needs a
 * CORS preflight, which the board never grants.
 */
export function createQueueBoard(options: QueueBoardOptions): QueueBoard {
  const { config, logger, authenticate } = options;
  const now = options.now ?? Date.now;
  // bull-board (with express) and the board's queues are made on the first request that gets past the checks
  // below: ~6 MB of heap and a Redis connection that most API processes never need.
  let opened: Promise<{ router: Router; queues: Queue[]; connection: RedisClient }> | undefined;
  const openBoard = () =>
    (opened ??= (async () => {
      const [{ createBullBoard }, { BullMQAdapter }, { ExpressAdapter }, { Queue }] = await Promise.all([
        import('@bull-board/api'),
        import('@bull-board/api/bullMQAdapter'),
        import('@bull-board/express'),
        import('bullmq'),
      ]);
      const connection = createProducerConnection(options.redisUrl, logger);
      // The connection queues no commands while it connects: the board's first answer waits for it (bounded as the connection is).
      await Promise.race([once(connection, 'ready'), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]).catch(() => undefined);
      const queues = BOARD_QUEUES.map((name) => {
        const queue = new Queue(name, { connection, prefix: config.queuePrefix });
        queue.on('error', (error) => logger.debug({ err: error, queue: name }, 'queue board connection error'));
        return queue;
      });
      const serverAdapter = new ExpressAdapter();
      serverAdapter.setBasePath(QUEUE_BOARD_PATH);
      createBullBoard({
        queues: queues.map((queue) => new BullMQAdapter(queue, { readOnlyMode: true })),
        serverAdapter,
        options: { uiConfig: { boardTitle: 'Treue queues' } },
      });
      return { router: serverAdapter.getRouter() as Router, queues, connection };
    })().catch((error: unknown) => {
      opened = undefined;
      throw error;
    }));
  const sessionKey = config.adminSessionSecret ? queueBoardSessionKey(config.adminSessionSecret) : undefined;
  const secure = config.isProduction;
  const headers = {
    'cache-control': 'no-store',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    // Only the board's own files: its page also links a Google Fonts stylesheet, which would tell a third
    // party who opens the operators' board and when; blocked, the browser's own fonts are used.
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      "font-src 'self' data:",
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'self'",
      "form-action 'self'",
    ].join('; '),
  };

  /** `extra`: more headers for this answer (the cookie that clears a session cookie which holds none). */
  const refuse = (
    res: ServerResponse,
    status: 401 | 403 | 404 | 405 | 503,
    message: string,
    allow = 'GET, HEAD',
    extra: Record<string, string> = {},
  ) => {
    res.writeHead(status, {
      'content-type': 'text/plain; charset=utf-8',
      ...headers,
      ...extra,
      ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
      ...(status === 405 ? { allow } : {}),
    });
    res.end(message);
  };

  const tooManyFailures = (res: ServerResponse, refused: RateLimitedError, extra: Record<string, string> = {}) => {
    res.writeHead(429, {
      'content-type': 'text/plain; charset=utf-8',
      ...headers,
      ...extra,
      'retry-after': String(refused.retryAfterSeconds),
    });
    res.end(refused.message);
  };

  /** The client's address by the same rules as /graphql (TRUST_PROXY, X-Forwarded-For): the key of its budget. */
  const addressOf = (req: IncomingMessage): string => clientAddress(undefined, req, config.trustProxy);

  /** The session cookie with its one set of attributes: the value and lifetime of a new session, or cleared. */
  const sessionCookie = (value: string, maxAgeSeconds: number) =>
    [
      `${QUEUE_BOARD_COOKIE}=${value}`,
      `Path=${QUEUE_BOARD_PATH}`,
      `Max-Age=${maxAgeSeconds}`,
      'HttpOnly',
      'SameSite=Strict',
      ...(secure ? ['Secure'] : []),
    ].join('; ');

  /**
   * The caller of a header, or undefined when there is none; throws AuthenticationError for a bad one, and with the
   * address's budget of failed authentications spent RateLimitedError for one this process has not verified before.
   */
  const callerOfHeader = async (req: IncomingMessage): Promise<Caller | undefined> => {
    const principal = await authenticate(req.headers.authorization, () => addressOf(req));
    return principal.kind === 'anonymous' ? undefined : callerOf(principal);
  };

  /**
   * The caller of the session cookie, or undefined when there is none (or no session key, so none could have been
   * issued); throws AuthenticationError for a cookie that does not hold a session: forged, expired, or its key gone.
   * Verified whatever the address's budget (an HMAC, as cheap as reading the budget): a session the service issued
   * opens the board from any address, and one that fails spends the budget like bad credentials in the header;
   * its answer (401, or 429 beyond the budget) clears the cookie.
   */
  const callerOfCookie = async (req: IncomingMessage): Promise<Caller | undefined> => {
    const token = cookieValue(req.headers.cookie, QUEUE_BOARD_COOKIE);
    if (!token || !sessionKey) return undefined;
    const payload = await jwtVerify(token, sessionKey, {
      algorithms: ['HS256'],
      audience: SESSION_AUDIENCE,
      currentDate: new Date(now()),
    }).then(
      (verified) => verified.payload,
      () => undefined,
    );
    // Counted, expired ones too (unlike an expired API token): a browser drops the cookie when its session ends.
    if (!payload || typeof payload.sub !== 'string' || (payload.act !== 'STAFF' && payload.act !== 'API_KEY')) {
      throw new AuthenticationError(NO_SESSION, 'ERR_BOARD_SESSION');
    }
    if (payload.act === 'STAFF') return { actor: { type: 'STAFF', id: payload.sub }, role: 'ADMIN' };
    // A key's session ends with the key: revoked (or its admin scope gone), its very next request is refused.
    const key = await currentApiKey(options.prisma, payload.sub);
    if (!key) throw new AuthenticationError(NO_SESSION, 'ERR_BOARD_SESSION_KEY');
    return callerOf(key);
  };

  const startSession = async (req: IncomingMessage, res: ServerResponse, caller: Caller) => {
    if (!sessionKey) {
      refuse(res, 503, 'No admin session secret (ADMIN_SESSION_SECRET or JWT_SECRET): send the Authorization header instead.');
      return;
    }
    const token = await signQueueBoardSession(sessionKey, caller, now());
    logger.info({ actor: caller.actor }, 'queue board session started');
    res.writeHead(204, { ...headers, 'set-cookie': sessionCookie(token, QUEUE_BOARD_SESSION_SECONDS) }).end();
  };

  return {
    handle: async (req, res) => {
      const route = (req.url ?? '/').split('?')[0] ?? '/';
      const session = route === QUEUE_BOARD_SESSION_PATH;
      if (session && req.method === 'DELETE') {
        // Ending a session needs no credentials (the cookie may have expired already) and is idempotent.
        res.writeHead(204, { ...headers, 'set-cookie': sessionCookie('', 0) }).end();
        return;
      }
      if (session ? req.method !== 'POST' : req.method !== 'GET' && req.method !== 'HEAD') {
        if (session) refuse(res, 405, 'POST with the Authorization header to start a session, DELETE to end it.', 'POST, DELETE');
        else refuse(res, 405, 'The queue board is read-only.');
        return;
      }
      let caller: Caller | undefined;
      let cookieRead = false;
      try {
        // The header wins over the cookie; a session is started only from the header.
        caller = await callerOfHeader(req);
        if (!caller && !session) {
          cookieRead = true;
          caller = await callerOfCookie(req);
        }
      } catch (error) {
        if (!(error instanceof AuthenticationError) && !(error instanceof RateLimitedError)) throw error;
        // The address's budget of failed authentications, shared with /graphql: spent, a plain 429.
        const refused = options.failedAuthentication
          ? await options.failedAuthentication(error, addressOf(req))
          : error instanceof RateLimitedError
            ? error
            : null;
        // A cookie that holds no session is cleared with the answer: an open board tab reloading would otherwise
        // spend the budget of everyone behind the address on every reload.
        const clear: Record<string, string> = cookieRead ? { 'set-cookie': sessionCookie('', 0) } : {};
        if (refused) tooManyFailures(res, refused, clear);
        else refuse(res, 401, error.message, undefined, clear);
        return;
      }
      if (!caller) {
        refuse(res, 401, NO_SESSION);
        return;
      }
      if (!mayCall(caller, SERVICE_CALLERS.viewQueueBoard)) {
        refuse(res, 403, 'The queue board is for admins only.');
        return;
      }
      if (session) {
        await startSession(req, res, caller);
        return;
      }
      for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
      // bull-board's routes are relative to where it is mounted.
      req.url = (req.url ?? '/').slice(QUEUE_BOARD_PATH.length) || '/';
      const board = await openBoard().catch((error: unknown) => {
        logger.warn({ err: error }, 'queue board could not start');
        return undefined;
      });
      if (!board) {
        refuse(res, 503, 'The queue board could not start; see the log.');
        return;
      }
      const { router } = board;
      await new Promise<void>((resolve) => {
        res.on('close', resolve);
        router(req, res, (error) => {
          if (error) logger.warn({ err: error }, 'queue board error');
          if (!res.headersSent) refuse(res, 404, 'Not found');
          resolve();
        });
      });
    },
    close: async () => {
      const board = await opened?.catch(() => undefined);
      if (!board) return;
      await Promise.all(board.queues.map((queue) => queue.close()));
      board.connection.disconnect();
    },
  };
}

/** The session's own key, derived from the secret: a session token is never an API token, nor the reverse. */
export function queueBoardSessionKey(secret: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, '', 'treue queue board session', 32));
}

/** A board session for an admin caller, valid QUEUE_BOARD_SESSION_SECONDS from `nowMs`. */
export async function signQueueBoardSession(key: Uint8Array, caller: Caller, nowMs: number): Promise<string> {
  const issuedAt = Math.floor(nowMs / 1000);
  return new SignJWT({ act: caller.actor.type })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(caller.actor.id)
    .setAudience(SESSION_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + QUEUE_BOARD_SESSION_SECONDS)
    .sign(key);
}

/** One cookie's value from a Cookie header (RFC 6265 pairs separated by `;`). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of (header ?? '').split(';')) {
    const at = pair.indexOf('=');
    if (at > 0 && pair.slice(0, at).trim() === name) return pair.slice(at + 1).trim();
  }
  return undefined;
}
