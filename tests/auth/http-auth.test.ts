import { describe, expect, it } from 'vitest';
import { signStaffToken } from '../../src/auth/tokens.js';
import { TEST_JWT_SECRET, useTestApp } from '../support/app.js';

/**
 * Credentials that are present but do not verify are refused for the whole
 * request with HTTP 401 (RFC 6750); a request without credentials is anonymous
 * and gets typed answers per field with HTTP 200.
 */
const { prisma, app } = useTestApp();

const ENROLL = `mutation { enrollMember(input: { externalId: "x-1", email: "x1@example.com", name: "X" }) {
  __typename ... on Error { code message } } }`;

async function send(authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = await app.yoga.fetch('http://yoga/graphql', { method: 'POST', headers, body: JSON.stringify({ query: ENROLL }) });
  return { status: response.status, wwwAuthenticate: response.headers.get('www-authenticate'), body: (await response.json()) as any };
}

function expectRefused401(answer: Awaited<ReturnType<typeof send>>) {
  expect(answer.status).toBe(401);
  expect(answer.wwwAuthenticate).toBe('Bearer error="invalid_token"');
  expect(answer.body.data ?? null).toBeNull();
  expect(answer.body.errors).toHaveLength(1);
  expect(answer.body.errors[0].extensions).toEqual({ code: 'UNAUTHENTICATED' });
}

describe('HTTP status of authentication failures', () => {
  it('an expired token is answered 401 with WWW-Authenticate and code UNAUTHENTICATED', async () => {
    const expired = await signStaffToken(TEST_JWT_SECRET, { staffId: 'a', role: 'ADMIN', expiresIn: '-1m' });
    const answer = await send(`Bearer ${expired}`);
    expectRefused401(answer);
    expect(answer.body.errors[0].message).toBe('invalid or expired token');
  });

  it('a forged token, an unknown API key and a malformed header are answered 401', async () => {
    const forged = await signStaffToken('another-secret-that-is-at-least-32-characters', { staffId: 'a', role: 'ADMIN' });
    expectRefused401(await send(`Bearer ${forged}`));
    expectRefused401(await send('Bearer trk_abcdefgh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'));
    expectRefused401(await send('Basic dXNlcjpwYXNz'));
    expectRefused401(await send('Bearer'));
  });

  it('a revoked API key is answered 401', async () => {
    const token = await app.apiKeyToken(['members:write']);
    await prisma.apiKey.updateMany({ data: { revokedAt: new Date() } });
    expectRefused401(await send(`Bearer ${token}`));
  });

  it('nothing is written when the credentials are refused', async () => {
    const expired = await signStaffToken(TEST_JWT_SECRET, { staffId: 'a', role: 'ADMIN', expiresIn: '-1m' });
    await send(`Bearer ${expired}`);
    expect(await prisma.member.count()).toBe(0);
  });

  it('a request without credentials is anonymous: HTTP 200 with a typed UnauthenticatedError per field', async () => {
    for (const authorization of [undefined, '']) {
      const answer = await send(authorization);
      expect(answer.status).toBe(200);
      expect(answer.wwwAuthenticate).toBeNull();
      expect(answer.body).toEqual({
        data: { enrollMember: { __typename: 'UnauthenticatedError', code: 'UNAUTHENTICATED', message: 'Authentication required' } },
      });
    }
    expect(await prisma.member.count()).toBe(0);
  });

  it('an anonymous read of a protected field is null with an UNAUTHENTICATED error, HTTP 200', async () => {
    const response = await app.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { id } program { currency } }' }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as any;
    expect(body.data?.me ?? null).toBeNull();
    expect(body.errors?.map((e: any) => e.extensions?.code)).toContain('UNAUTHENTICATED');
  });
});
