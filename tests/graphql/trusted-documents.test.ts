import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { documentId, trustedDocuments } from '../../src/graphql/trusted-documents.js';
import { MEMBER_APP_DOCUMENTS } from '../../src/graphql/trusted-documents.manifest.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { ROOT } from '../support/processes.js';

/**
 * Trusted documents: the member app's operations, known by id. With TRUSTED_DOCUMENTS=members a
 * member token may send only those; staff and API keys may still send any query.
 */
const { prisma, app: open } = useTestApp();
const strict = createTestApp(prisma, { env: { TRUSTED_DOCUMENTS: 'members' } });
afterAll(() => strict.close());

const STATUS = Object.values(MEMBER_APP_DOCUMENTS).find((text) => /query StatusScreen\b/.test(text))!;
const STATUS_ID = documentId(STATUS);
const ARBITRARY = '{ me { name } }';

async function post(app: typeof strict, body: Record<string, unknown>, token: string) {
  const response = await app.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] },
  };
}

describe('trusted documents for member tokens (TRUSTED_DOCUMENTS=members)', () => {
  it("a member may send the app's status query by id (documentId or Apollo's extension) or as its exact text", async () => {
    const memberId = await strict.enroll({ name: 'Trusted' });
    const token = await strict.memberToken(memberId);
    const bare = STATUS_ID.slice('sha256:'.length);
    for (const body of [
      { documentId: STATUS_ID },
      { extensions: { persistedQuery: { version: 1, sha256Hash: bare } } },
      { query: STATUS },
    ]) {
      const answer = await post(strict, body, token);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data.me.name).toBe('Trusted');
    }
  });

  it('a member may not send any other document, nor an unknown id; nothing runs', async () => {
    const token = await strict.memberToken(await strict.enroll());
    const arbitrary = await post(strict, { query: ARBITRARY }, token);
    expect(arbitrary.status).toBe(400);
    expect(arbitrary.body.data).toBeUndefined();
    expect(arbitrary.body.errors![0]!.extensions?.code).toBe('TRUSTED_DOCUMENTS_ONLY');
    // A mutation written by hand is refused the same way, before it runs.
    const mutation = await post(strict, { query: 'mutation { __typename }' }, token);
    expect(mutation.body.errors![0]!.extensions?.code).toBe('TRUSTED_DOCUMENTS_ONLY');
    const unknown = await post(strict, { documentId: documentId('{ me { id } }') }, token);
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors![0]!.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('staff and API keys may still send any query', async () => {
    const memberId = await strict.enroll({ name: 'Looked up' });
    const query = 'query($id: ID!) { member(id: $id) { name } }';
    for (const token of [await strict.staffToken('AGENT'), await strict.apiKeyToken(['members:read'])]) {
      const answer = await post(strict, { query, variables: { id: memberId } }, token);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data.member.name).toBe('Looked up');
    }
  });

  it('a forged token is refused with 401, not let through as "not a member"', async () => {
    const answer = await post(strict, { query: ARBITRARY }, 'not-a-token');
    expect(answer.status).toBe(401);
  });

  it('with the default (off) a member may send any query, and ids work as well', async () => {
    const token = await open.memberToken(await open.enroll({ name: 'Free' }));
    expect((await post(open, { query: ARBITRARY }, token)).body.data.me.name).toBe('Free');
    expect((await post(open, { documentId: STATUS_ID }, token)).body.data.me.name).toBe('Free');
  });
});

describe('the trusted documents manifest', () => {
  it("is the member app's generated manifest (npm run trusted-documents:print after a change of the app)", () => {
    const generated = `${ROOT}examples/member-app/gql/persisted-documents.json`;
    if (!existsSync(generated)) execFileSync('npm', ['run', '-s', 'examples:generate'], { cwd: ROOT, stdio: 'ignore' });
    expect(MEMBER_APP_DOCUMENTS).toEqual(JSON.parse(readFileSync(generated, 'utf8')));
  });

  it('refuses a manifest whose id is not the hash of its document', () => {
    expect(() => trustedDocuments({ [documentId('{ me { id } }')]: '{ me { name } }' })).toThrow(/does not hash to its id/);
  });
});
