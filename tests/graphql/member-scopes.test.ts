// No useTestApp(): perMember is a pure function of the request context and the member id; no database.
import { describe, expect, it } from 'vitest';
import type { GraphQLContext } from '../../src/graphql/context.js';
import { perMember } from '../../src/graphql/member-scopes.js';

const contextOf = () => ({ requestId: 'r' }) as unknown as GraphQLContext;

describe('perMember', () => {
  const rule = (memberId: string) => ({ staff: 'AGENT', self: memberId });

  it('hands the same scope map for the same member within one request, so scope-auth decides it once', () => {
    const visible = perMember(rule);
    const ctx = contextOf();
    expect(visible('m1', ctx)).toBe(visible('m1', ctx));
  });

  it('keeps each member’s own map, as the rule builds it', () => {
    const visible = perMember(rule);
    const ctx = contextOf();
    expect(visible('m1', ctx)).toEqual({ staff: 'AGENT', self: 'm1' });
    expect(visible('m2', ctx)).toEqual({ staff: 'AGENT', self: 'm2' });
  });

  it('shares nothing between requests', () => {
    const visible = perMember(rule);
    expect(visible('m1', contextOf())).not.toBe(visible('m1', contextOf()));
  });
});
