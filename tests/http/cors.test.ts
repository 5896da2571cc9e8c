// No useTestApp(): handlers with their own CORS configuration; no request writes a row.
import { afterAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';
import { createTestPrisma } from '../support/db.js';

const prisma = createTestPrisma(1);
afterAll(async () => prisma.$disconnect());

function handler(env: Record<string, string> = {}) {
  const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', ...env });
  return createGraphQLHandler({ config, logger: testLogger, prisma });
}

const preflight = (yoga: ReturnType<typeof handler>, origin: string) =>
  yoga.fetch('http://api.example/graphql', {
    method: 'OPTIONS',
    headers: {
      origin,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'authorization, content-type',
    },
  });

const simple = (yoga: ReturnType<typeof handler>, origin: string) =>
  yoga.fetch('http://api.example/graphql', {
    method: 'POST',
    headers: { origin, 'content-type': 'application/json' },
    body: JSON.stringify({ query: '{ __typename }' }),
  });

function corsHeaders(response: Response): Record<string, string> {
  return Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-')));
}

describe('CORS', () => {
  it('answers no origin by default: no CORS headers on preflight or request, whatever the origin', async () => {
    const yoga = handler();
    for (const origin of ['https://evil.example', 'http://localhost:3000', 'null']) {
      expect(corsHeaders(await preflight(yoga, origin)), origin).toEqual({});
      const response = await simple(yoga, origin);
      expect(response.status).toBe(200);
      expect(corsHeaders(response), origin).toEqual({});
    }
  });

  it('allows exactly the origins of CORS_ORIGINS, without credentials', async () => {
    const yoga = handler({ CORS_ORIGINS: 'https://shop.example, https://app.example' });
    const allowed = await preflight(yoga, 'https://shop.example');
    expect(allowed.status).toBe(204);
    expect(corsHeaders(allowed)).toMatchObject({
      'access-control-allow-origin': 'https://shop.example',
      'access-control-allow-methods': 'GET, POST',
    });
    expect(corsHeaders(allowed)['access-control-allow-headers']).toContain('authorization');
    expect(corsHeaders(allowed)['access-control-allow-credentials']).toBeUndefined();
    expect(allowed.headers.get('vary')).toMatch(/origin/i);

    const request = await simple(yoga, 'https://app.example');
    expect(corsHeaders(request)['access-control-allow-origin']).toBe('https://app.example');
    expect(corsHeaders(request)['access-control-allow-credentials']).toBeUndefined();

    for (const origin of ['https://evil.example', 'https://shop.example.evil.example', 'http://shop.example']) {
      expect(corsHeaders(await preflight(yoga, origin)), origin).toEqual({});
      expect(corsHeaders(await simple(yoga, origin)), origin).toEqual({});
    }
  });

  it('allows credentials only when CORS_CREDENTIALS=true, and only for listed origins', async () => {
    const yoga = handler({ CORS_ORIGINS: 'https://shop.example', CORS_CREDENTIALS: 'true' });
    expect(corsHeaders(await simple(yoga, 'https://shop.example'))['access-control-allow-credentials']).toBe('true');
    expect(corsHeaders(await simple(yoga, 'https://evil.example'))).toEqual({});
  });

  it('refuses malformed origins and credentials with any origin at start', () => {
    expect(() => loadConfig({ CORS_ORIGINS: 'shop.example' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: 'https://shop.example/path' })).toThrow(/CORS_ORIGINS/);
    expect(() => loadConfig({ CORS_ORIGINS: '*', CORS_CREDENTIALS: 'true' })).toThrow(/CORS_CREDENTIALS/);
    expect(loadConfig({ CORS_ORIGINS: '*' }).cors).toEqual({ origins: ['*'], credentials: false });
  });
});
