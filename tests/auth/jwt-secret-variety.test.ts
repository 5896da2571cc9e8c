// No useTestApp(): loadConfig() is a pure function of the environment it is given; no service, database or Redis involved.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';

describe('JWT_SECRET in production', () => {
  it('refuses a secret with no entropy (one character repeated), not only a short one', () => {
    // Passes the only check there is (length >= 32): anyone can mint ADMIN tokens with it.
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'a'.repeat(32) })).toThrow(/JWT_SECRET/);
  });

  it('states the rule, applies it to ADMIN_SESSION_SECRET too, and accepts a secret with 10 different characters', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'abcdefghi'.repeat(4) })).toThrow(
      /JWT_SECRET must contain at least 10 different characters in production/,
    );
    const random = 'sNq4-7wB_k2ZpXc9RtYvLmA0eHdJfGuQ';
    expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: random, ADMIN_SESSION_SECRET: 'ab'.repeat(16) })).toThrow(
      /ADMIN_SESSION_SECRET must contain at least 10 different characters/,
    );
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: 'abcdefghij'.repeat(4) }).jwt.secret).toBe('abcdefghij'.repeat(4));
    // Outside production only the length is checked (the development secret in .data/ is random anyway).
    expect(loadConfig({ NODE_ENV: 'development', JWT_SECRET: 'a'.repeat(32) }).jwt.secret).toBe('a'.repeat(32));
  });
});
