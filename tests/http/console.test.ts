// No useTestApp(): it serves a console build from a temporary folder through the HTTP layer alone; no database.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../../src/auth/jwt.js';
import { loadConfig, type Config } from '../../src/config/env.js';
import { createConsoleHandler } from '../../src/http/console.js';
import { withDevelopmentJwtSecret } from '../../src/runtime/dev-secret.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';

// The console's static files, config and development sign-in (src/http/console.ts), on a real port.

let dir: string;
const servers: Server[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'treue-console-'));
  await mkdir(path.join(dir, 'assets'));
  await mkdir(path.join(dir, '.vite'));
  await writeFile(path.join(dir, 'index.html'), '<!doctype html><title>console</title>');
  await writeFile(path.join(dir, 'assets', 'index-abc123.js'), `console.log(${JSON.stringify('x'.repeat(4_000))});`);
  await writeFile(path.join(dir, '.vite', 'manifest.json'), '{}');
});
afterAll(async () => {
  for (const server of servers) server.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(env: Record<string, string>): Promise<string> {
  return serveConfig(loadConfig({ JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env }));
}

async function serveConfig(config: Config, host = '127.0.0.1'): Promise<string> {
  const handler = createConsoleHandler({ config, logger: testLogger, dir });
  const server = createServer((req, res) => void handler(req, res));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** This machine's first address on a network (not loopback): a request to it comes from a peer that is not 127.0.0.1. */
function networkAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((one) => one !== undefined && !one.internal && one.family === 'IPv4')?.address;
  if (!address) throw new Error('this test needs a network interface besides loopback');
  return address;
}

// docs/console.md: every answer carries the CSP with frame-ancestors 'none', nosniff and no-referrer; the
// development sign-in's answers (one carries a staff token) are answers too.
const expectSecurityHeaders = (response: Response) => {
  expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  expect(response.headers.get('x-frame-options')).toBe('DENY');
  expect(response.headers.get('referrer-policy')).toBe('no-referrer');
};

describe('the console at /console', () => {
  it('serves hashed assets for a year, index.html revalidated, client routes as index.html, with a self-only CSP', async () => {
    const base = await serve({ NODE_ENV: 'test' });
    const asset = await fetch(`${base}/console/assets/index-abc123.js`, { headers: { 'accept-encoding': 'gzip' } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(asset.headers.get('content-encoding')).toBe('gzip');
    expect((await asset.text()).length).toBeGreaterThan(4_000); // fetch unzips it

    for (const route of ['/console/', '/console/members/abc', '/console/queue']) {
      const page = await fetch(`${base}${route}`);
      expect(page.status, route).toBe(200);
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(await page.text()).toContain('<title>console</title>');
      const csp = page.headers.get('content-security-policy')!;
      expect(csp).toContain("default-src 'self'");
      expect(csp).toContain("script-src 'self';");
      expect(csp).toContain("connect-src 'self';");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
    }
    const redirect = await fetch(`${base}/console`, { redirect: 'manual' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.get('location')).toBe('/console/');
  });

  it('answers 404 for missing assets, hidden files and paths outside its folder', async () => {
    const base = await serve({ NODE_ENV: 'test' });
    expect((await fetch(`${base}/console/assets/missing.js`)).status).toBe(404);
    expect((await fetch(`${base}/console/.vite/manifest.json`)).status).toBe(404);
    // As sent, not normalised by a URL parser first.
    const { hostname, port } = new URL(base);
    const raw = (route: string) =>
      new Promise<number>((resolve) => get({ hostname, port, path: route }, (res) => resolve(res.resume().statusCode!)));
    expect(await raw('/console/../../package.json')).toBe(404);
    expect(await raw('/console/%2e%2e/%2e%2e/package.json')).toBe(404);
    expect(await raw('/console/assets/..%2f..%2f..%2fpackage.json')).toBe(404);
    expect(await raw('/console/%E0%A4%A')).toBe(400);
    expect((await fetch(`${base}/console/`, { method: 'POST' })).status).toBe(405);
  });

  it('outside production: config.json offers the development sign-in, and dev-token signs a staff token the API accepts', async () => {
    const base = await serve({ NODE_ENV: 'development' });
    expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({ signIn: { kind: 'development' } });
    const response = await fetch(`${base}/console/dev-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'SUPERVISOR', name: 'Sam Supervisor' }),
    });
    expect(response.status).toBe(200);
    const { token } = (await response.json()) as { token: string };
    const verify = createJwtVerifier(loadConfig({ JWT_SECRET: TEST_JWT_SECRET }).jwt);
    expect(await verify(token)).toEqual({ kind: 'staff', staffId: 'Sam Supervisor', role: 'SUPERVISOR' });
    expect(decodeJwt(token).exp! - decodeJwt(token).iat!).toBe(12 * 3_600);

    const bad = async (body: unknown) =>
      fetch(`${base}/console/dev-token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(await (await bad({ role: 'MEMBER', name: 'x' })).json()).toMatchObject({ field: 'role' });
    expect(await (await bad({ role: 'AGENT', name: '' })).json()).toMatchObject({ field: 'name' });
    expect(await (await bad({ role: 'AGENT', name: '<script>' })).json()).toMatchObject({ field: 'name' });
  });

  it('the answer that carries a staff token (POST /console/dev-token 200) has the same security headers as every other answer', async () => {
    const base = await serve({ NODE_ENV: 'development' });
    const index = await fetch(`${base}/console/`);
    expectSecurityHeaders(index); // the rest of the console has them
    const response = await fetch(`${base}/console/dev-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'ADMIN', name: 'Ada Admin' }),
    });
    expect(response.status).toBe(200);
    expect(((await response.json()) as { token?: string }).token).toBeTruthy();
    expectSecurityHeaders(response);
  });

  it("the development sign-in's refusals (400, 405) have the security headers too", async () => {
    const base = await serve({ NODE_ENV: 'development' });
    const refused = await fetch(`${base}/console/dev-token`, { method: 'POST', body: 'not json' });
    expect(refused.status).toBe(400);
    expectSecurityHeaders(refused);
    const wrongMethod = await fetch(`${base}/console/dev-token`);
    expect(wrongMethod.status).toBe(405);
    expectSecurityHeaders(wrongMethod);
  });

  it('in production the development sign-in does not exist: dev-token is 404 and config.json does not offer it', async () => {
    const base = await serve({ NODE_ENV: 'production' });
    const response = await fetch(`${base}/console/dev-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ role: 'ADMIN', name: 'mallory' }),
    });
    expect(response.status).toBe(404);
    expect(await response.text()).not.toMatch(/eyJ/);
    expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({ signIn: { kind: 'none' } });
  });

  // A deployment that forgot NODE_ENV runs as development; its JWT_SECRET is a real one (shared with whatever signs its
  // staff tokens), and an open endpoint signing ADMIN tokens with it would hand the program to anyone who can reach it.
  it('NODE_ENV unset with a configured JWT_SECRET: no development sign-in (dev-token 404), however the rest defaults', async () => {
    for (const unset of [{}, { NODE_ENV: '' }, { NODE_ENV: ' ' }] as Record<string, string>[]) {
      const base = await serve(unset);
      const response = await fetch(`${base}/console/dev-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'ADMIN', name: 'mallory' }),
      });
      expect(response.status, JSON.stringify(unset)).toBe(404);
      expect(await response.text()).not.toMatch(/eyJ/);
      expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({ signIn: { kind: 'none' } });
    }
  });

  it('NODE_ENV unset and no secret configured (npm start on a fresh clone): the generated development secret signs in', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'treue-dev-secret-'));
    try {
      const config = await withDevelopmentJwtSecret(loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir }));
      const base = await serveConfig(config);
      expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({ signIn: { kind: 'development' } });
      const response = await fetch(`${base}/console/dev-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'AGENT', name: 'dev' }),
      });
      expect(response.status).toBe(200);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  // npm start listens on every interface; an API process deployed without NODE_ENV and without a JWT_SECRET has the
  // generated secret too, and would sign ADMIN tokens for whoever reaches its port.
  it('NODE_ENV unset with the generated secret: dev-token answers this machine only (403 from the network), NODE_ENV=development opens it', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'treue-dev-secret-'));
    const ask = (base: string) =>
      fetch(base.replace('127.0.0.1', networkAddress()) + '/console/dev-token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'ADMIN', name: 'mallory' }),
      });
    try {
      const unset = await serveConfig(await withDevelopmentJwtSecret(loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir })), '0.0.0.0');
      const refused = await ask(unset);
      expect(refused.status).toBe(403);
      expect(await refused.text()).not.toMatch(/eyJ/);
      const local = await fetch(`${unset}/console/dev-token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ role: 'ADMIN', name: 'dev' }),
      });
      expect(local.status).toBe(200);

      const development = loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir, NODE_ENV: 'development' });
      const open = await serveConfig(await withDevelopmentJwtSecret(development), '0.0.0.0');
      expect((await ask(open)).status).toBe(200);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('NODE_ENV=development set explicitly with a configured JWT_SECRET: the development sign-in, as a developer asked for it', async () => {
    const base = await serve({ NODE_ENV: 'development' });
    expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({ signIn: { kind: 'development' } });
  });

  it('with OpenID Connect configured: config.json names the issuer and client, and the CSP lets the page reach the issuer', async () => {
    const base = await serve({
      NODE_ENV: 'production',
      JWT_SECRET: '',
      JWKS_URL: 'https://id.example.com/.well-known/jwks.json',
      JWT_ISSUER: 'https://id.example.com/realms/treue',
      JWT_AUDIENCE: 'treue-api',
      CONSOLE_OIDC_CLIENT_ID: 'treue-console',
    });
    expect(await (await fetch(`${base}/console/config.json`)).json()).toEqual({
      signIn: { kind: 'oidc', issuer: 'https://id.example.com/realms/treue', clientId: 'treue-console', scope: 'openid profile' },
    });
    const page = await fetch(`${base}/console/`);
    expect(page.headers.get('content-security-policy')).toContain("connect-src 'self' https://id.example.com;");
    expect((await fetch(`${base}/console/dev-token`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});
