import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { signStaffToken } from '../auth/tokens.js';
import type { Config } from '../config/env.js';
import type { Logger } from '../logger.js';
import { blockedAddressReason } from '../domain/webhooks/private-addresses.js';

const gzipAsync = promisify(gzip);

/**
 * Where `npm run build` put the console: beside the built server (dist/console for dist/src/…), or
 * dist/console of the repository when the server runs from TypeScript (tsx, tests).
 */
export function builtConsoleDir(): string {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  return import.meta.url.endsWith('.js') ? path.join(root, 'console') : path.join(root, 'dist', 'console');
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/** Compressed only above this size (a gzip header costs more than it saves on tiny files). */
const GZIP_MIN_BYTES = 1_024;
/** Staff names a development token may carry: what the API accepts as `sub`, kept short and plain. */
const DEV_NAME = /^[\p{L}\p{N} ._'-]{1,64}$/u;
const DEV_ROLES = ['AGENT', 'SUPERVISOR', 'ADMIN'] as const;

export interface ConsoleHandlerOptions {
  config: Config;
  logger: Logger;
  /** The built console (default: dist/console). */
  dir?: string;
}

/**
 * The agent console at /console (docs/console.md): the static files Vite built, on the same origin as
 * /graphql, so the console needs no CORS.
 * - hashed files under /console/assets/ are cached for a year (`immutable`); index.html and
 *   config.json are revalidated on every load (`no-cache`), so a new build shows at once;
 * - any other path under /console without a file extension is a client route: it gets index.html;
 * - every answer carries a Content-Security-Policy that allows only this origin (plus, with OpenID
 *   Connect, fetches to the identity provider's origin for discovery and the token exchange);
 * - /console/config.json tells the page how to sign in: OpenID Connect (issuer, client id, scope)
 *   when configured, otherwise outside production the development sign-in;
 * - POST /console/dev-token signs a staff token with the local HS256 secret for a chosen role and name —
 *   only outside production, and only with the secret `npm start` generated for its data directory or with
 *   NODE_ENV=development (or test) said explicitly: a deployment that forgot NODE_ENV runs as development, and
 *   its configured JWT_SECRET is a real one. Otherwise it does not exist (404). With NODE_ENV unset it answers
 *   loopback peers asking for a loopback name only (403 for others): this machine's browser at localhost, not
 *   whoever reaches the port, nor a page whose domain was re-resolved to 127.0.0.1 (DNS rebinding).
 * Files are read once and kept in memory with their gzip form (the console is a few hundred KB).
 */
export function createConsoleHandler(options: ConsoleHandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { config, logger } = options;
  const dir = options.dir ?? builtConsoleDir();
  const oidc = config.console.oidc;
  const devSignIn =
    !config.isProduction && config.jwt.secret !== undefined && (config.environmentSet || config.jwt.developmentSecret === true);
  // With NODE_ENV unset, the generated secret signs for this machine's own browser only: npm start listens on every
  // interface, and an API process deployed without NODE_ENV and without a JWT_SECRET would otherwise sign ADMIN
  // tokens for anyone who reaches its port. NODE_ENV=development said explicitly opens it to the network. Loopback as
  // the webhooks' address check reads it (127.0.0.0/8, ::1, and either inside IPv6).
  const devSignInLoopbackOnly = !config.environmentSet;
  const connectSources = ["'self'", ...(oidc ? [new URL(oidc.issuer).origin] : [])].join(' ');
  const securityHeaders = {
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      "font-src 'self'",
      `connect-src ${connectSources}`,
      "object-src 'none'",
      "base-uri 'self'",
      "form-action 'self'",
      "frame-ancestors 'none'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
  };
  const publicConfig = JSON.stringify({
    signIn: oidc ? { kind: 'oidc', ...oidc } : devSignIn ? { kind: 'development' } : { kind: 'none' },
  });

  const files = new Map<string, Promise<{ body: Buffer; gzipped: Buffer | undefined } | undefined>>();
  const load = (file: string) => {
    let entry = files.get(file);
    if (!entry) {
      entry = (async () => {
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile()) return undefined;
        const body = await readFile(file);
        const compressible = !file.endsWith('.png') && !file.endsWith('.woff2') && body.length >= GZIP_MIN_BYTES;
        return { body, gzipped: compressible ? await gzipAsync(body, { level: 9 }) : undefined };
      })();
      // A missing file is looked up again next time (a build may have finished since).
      void entry.then((found) => (found ? undefined : files.delete(file)));
      files.set(file, entry);
    }
    return entry;
  };

  const send = async (req: IncomingMessage, res: ServerResponse, file: string, cacheControl: string, status = 200) => {
    const found = await load(file);
    if (!found) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...securityHeaders });
      res.end(file.endsWith('index.html') ? 'The console is not built: run npm run build.' : 'Not found');
      return;
    }
    const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = acceptsGzip && found.gzipped ? found.gzipped : found.body;
    res.writeHead(status, {
      'content-type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'cache-control': cacheControl,
      vary: 'Accept-Encoding',
      ...(body === found.gzipped ? { 'content-encoding': 'gzip' } : {}),
      'content-length': body.length,
      ...securityHeaders,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    const route = url.pathname;
    if (route === '/console/dev-token') {
      if (!devSignIn) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...securityHeaders }).end('Not found');
        return;
      }
      // Both the peer and the name the browser asked for: a page on a domain re-resolved to 127.0.0.1 (DNS rebinding)
      // reaches this port from this machine's own browser, same-origin by then, and could read the token it signs.
      if (
        devSignInLoopbackOnly &&
        (blockedAddressReason(req.socket.remoteAddress ?? '') !== 'loopback' || !isLoopbackHost(req.headers.host))
      ) {
        logger.warn(
          { peer: req.socket.remoteAddress, host: req.headers.host },
          'development console sign-in refused: not this machine, and NODE_ENV is not set',
        );
        res.writeHead(403, { 'content-type': 'application/json', 'cache-control': 'no-store', ...securityHeaders }).end(
          JSON.stringify({
            error: 'the development sign-in answers this machine only: set NODE_ENV=development to open it to the network',
          }),
        );
        return;
      }
      await devToken(req, res, config, logger, securityHeaders);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...securityHeaders }).end();
      return;
    }
    if (route === '/console') {
      res.writeHead(308, { location: '/console/', ...securityHeaders }).end();
      return;
    }
    if (route === '/console/config.json') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache', ...securityHeaders });
      res.end(req.method === 'HEAD' ? undefined : publicConfig);
      return;
    }
    if (!route.startsWith('/console/')) {
      res.writeHead(404, securityHeaders).end();
      return;
    }
    let relative: string;
    try {
      relative = decodeURIComponent(route.slice('/console/'.length));
    } catch {
      res.writeHead(400, securityHeaders).end();
      return;
    }
    if (relative === '') {
      await send(req, res, path.join(dir, 'index.html'), 'no-cache');
      return;
    }
    const file = path.resolve(dir, relative);
    // Never outside the console's folder (../, encoded or not), nor its hidden files (.vite/manifest.json).
    if (relative.includes('\0') || !file.startsWith(dir + path.sep) || relative.split('/').some((part) => part.startsWith('.'))) {
      res.writeHead(404, securityHeaders).end();
      return;
    }
    if (relative.startsWith('assets/')) {
      await send(req, res, file, 'public, max-age=31536000, immutable');
      return;
    }
    if (path.extname(relative) !== '') {
      await send(req, res, file, 'no-cache');
      return;
    }
    // A client route (/console/members/…): the page routes itself.
    await send(req, res, path.join(dir, 'index.html'), 'no-cache');
  };
}

/**
 * Whether a Host header names this machine: localhost or a name under .localhost (which resolve to loopback and
 * nowhere else, RFC 6761), or a loopback address literal (127.0.0.0/8, [::1]), with or without a port. A domain that
 * happens to resolve to 127.0.0.1 does not count: that is what a DNS-rebinding page looks like.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  let name: string;
  try {
    name = new URL(`http://${host}/`).hostname;
  } catch {
    return false;
  }
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  const literal = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  return isIP(literal) !== 0 && blockedAddressReason(literal) === 'loopback';
}

/** POST {"role","name"} → {"token"}: a 12-hour development staff token (never in production). */
async function devToken(
  req: IncomingMessage,
  res: ServerResponse,
  config: Config,
  logger: Logger,
  securityHeaders: Record<string, string>,
): Promise<void> {
  const json = (status: number, body: unknown): void => {
    res
      .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...securityHeaders })
      .end(JSON.stringify(body));
  };
  if (req.method !== 'POST') {
    res.writeHead(405, { allow: 'POST', ...securityHeaders }).end();
    return;
  }
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > 1_024) return json(413, { error: 'body too large' });
  }
  let input: { role?: unknown; name?: unknown };
  try {
    input = JSON.parse(text) as typeof input;
  } catch {
    return json(400, { error: 'expected JSON', field: 'body' });
  }
  const role = DEV_ROLES.find((candidate) => candidate === input.role);
  if (!role) return json(400, { error: 'role must be AGENT, SUPERVISOR or ADMIN', field: 'role' });
  const name = typeof input.name === 'string' ? input.name.trim() : '';
  if (!DEV_NAME.test(name)) return json(400, { error: "name: 1–64 letters, digits, spaces or . _ ' -", field: 'name' });
  const token = await signStaffToken(config.jwt.secret!, {
    staffId: name,
    role,
    expiresIn: Math.min(config.jwt.maxLifetimeSeconds.staff, 12 * 3_600),
    ...(config.jwt.issuer ? { issuer: config.jwt.issuer } : {}),
    ...(config.jwt.audience ? { audience: config.jwt.audience } : {}),
  });
  logger.info({ role, staffId: name }, 'development console sign-in');
  json(200, { token });
}
