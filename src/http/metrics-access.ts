import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Who may read /metrics (the API's and the worker process's): with METRICS_TOKEN, only a scrape that sends
 * `Authorization: Bearer <METRICS_TOKEN>` (Prometheus: `authorization: { credentials: … }`); without it, anyone, as
 * the start's warning says in production. The figures are the business's own (points granted, vouchers issued and
 * redeemed, compensations, webhook endpoints failing) and the runtime's version. Returns whether the request may
 * go on; a refused one is answered 401 here. The token is compared as a SHA-256 digest in constant time.
 */
export function metricsAccess(token: string | undefined): (req: IncomingMessage, res: ServerResponse) => boolean {
  if (token === undefined) return () => true;
  const expected = digest(`Bearer ${token}`);
  return (req, res) => {
    const sent = req.headers.authorization;
    if (sent !== undefined && timingSafeEqual(digest(sent), expected)) return true;
    res
      .writeHead(401, {
        'content-type': 'text/plain; charset=utf-8',
        'www-authenticate': 'Bearer realm="metrics"',
        'cache-control': 'no-store',
      })
      .end('Send Authorization: Bearer <METRICS_TOKEN>.\n');
    return false;
  };
}

/** The start's warning when /metrics answers anyone in production (METRICS_TOKEN unset). */
export const OPEN_METRICS_WARNING =
  'METRICS_TOKEN is not set: /metrics answers anyone who reaches this port (business figures and the runtime version); set it, or keep the port from the public';
