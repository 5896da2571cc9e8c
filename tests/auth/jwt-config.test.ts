// No useTestApp(): configuration parsing only; no database.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/env.js';

const JWKS = 'https://id.example/.well-known/jwks.json';

describe('JWT configuration', () => {
  it('refuses JWKS_URL in production without JWT_ISSUER and JWT_AUDIENCE, naming both', () => {
    const load = () => loadConfig({ NODE_ENV: 'production', JWKS_URL: JWKS });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/JWT_ISSUER: required in production with JWKS_URL/);
    expect(load).toThrow(/JWT_AUDIENCE: required in production with JWKS_URL/);
    expect(() => loadConfig({ NODE_ENV: 'production', JWKS_URL: JWKS, JWT_ISSUER: 'https://id.example' })).toThrow(/JWT_AUDIENCE/);
  });

  it('accepts JWKS_URL in production with issuer and audience, and outside production without them', () => {
    const production = loadConfig({ NODE_ENV: 'production', JWKS_URL: JWKS, JWT_ISSUER: 'https://id.example', JWT_AUDIENCE: 'treue' });
    expect(production.jwt).toMatchObject({ jwksUrl: JWKS, issuer: 'https://id.example', audience: 'treue' });
    expect(loadConfig({ NODE_ENV: 'development', JWKS_URL: JWKS }).jwt.issuer).toBeUndefined();
  });

  it('limits token lifetimes to 12 h for staff and 24 h for members unless configured', () => {
    expect(loadConfig({}).jwt.maxLifetimeSeconds).toEqual({ staff: 12 * 3_600, member: 24 * 3_600 });
    const custom = loadConfig({ JWT_MAX_LIFETIME_STAFF: '90m', JWT_MAX_LIFETIME_MEMBER: '7d' });
    expect(custom.jwt.maxLifetimeSeconds).toEqual({ staff: 90 * 60, member: 7 * 86_400 });
    expect(loadConfig({ JWT_MAX_LIFETIME_STAFF: '3600' }).jwt.maxLifetimeSeconds.staff).toBe(3_600);
  });

  it('refuses a lifetime that is not a duration or shorter than a minute', () => {
    expect(() => loadConfig({ JWT_MAX_LIFETIME_STAFF: 'forever' })).toThrow(/JWT_MAX_LIFETIME_STAFF: expected a duration/);
    expect(() => loadConfig({ JWT_MAX_LIFETIME_MEMBER: '-1h' })).toThrow(/JWT_MAX_LIFETIME_MEMBER/);
    expect(() => loadConfig({ JWT_MAX_LIFETIME_MEMBER: '30s' })).toThrow(/at least one minute/);
  });
});
