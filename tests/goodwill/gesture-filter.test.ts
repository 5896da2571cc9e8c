import { describe, expect, it } from 'vitest';
import { goodwillGestureWhere } from '../../src/domain/goodwill/goodwill.service.js';
import { useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';

/**
 * The agent filter of `goodwillGestures` is an agent id like any other: checked
 * as `agentAuthority` and `setAgentAuthority` check one, before anything is read.
 */
const { app } = useTestApp();

const LIST = `query($f: GoodwillGestureFilter) { goodwillGestures(filter: $f) { edges { node { id } } } }`;
const AUTHORITY = `query($a: String) { agentAuthority(agentId: $a) { agentId } }`;

describe('goodwillGestures filter.agentId', () => {
  it('an agent id agentAuthority refuses is the same VALIDATION error here, not a lookup', async () => {
    const supervisor = await app.staffToken('SUPERVISOR');
    for (const agentId of ['a'.repeat(201), 'a'.repeat(60_000)]) {
      const authority = await app.gql(AUTHORITY, { a: agentId }, supervisor);
      expect(authority.errors?.[0]).toMatchObject({ extensions: { code: 'VALIDATION' } });
      const listed = await app.gql(LIST, { f: { agentId } }, supervisor);
      expect(listed.errors, `${agentId.length} characters`).toHaveLength(1);
      expect(listed.errors?.[0]).toMatchObject({ message: authority.errors![0]!.message, extensions: { code: 'VALIDATION' } });
    }
    expect(() => goodwillGestureWhere({ agentId: 'a'.repeat(201) }, staffCaller('SUPERVISOR'))).toThrow(
      expect.objectContaining({ code: 'VALIDATION', field: 'agentId' }),
    );
    expect(goodwillGestureWhere({ agentId: ' agent-2 ' }, staffCaller('SUPERVISOR'))).toEqual({ agentId: 'agent-2' });
  });
});
