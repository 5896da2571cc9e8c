import { afterAll, describe, expect, it } from 'vitest';
import { createTestApp, useTestApp } from '../support/app.js';
import { until } from '../support/until.js';

/**
 * An adversarial pass over API keys: revocation racing the key's use on two API processes (two handlers
 * sharing Redis, as in api-keys-admin.test.ts), and the secret's hash never reachable through the schema.
 */
const { prisma, app } = useTestApp();
const processA = createTestApp(prisma, { redis: true });
const processB = createTestApp(prisma, { redis: true });
afterAll(async () => {
  await processA.close();
  await processB.close();
});

const PING = '{ program { currency } }';
const REVOKE = `mutation($id: ID!) { revokeApiKey(input: { id: $id }) { __typename } }`;
const status = async (process: typeof processA, token: string) => (await process.request(PING, {}, { token })).status;

describe('a revocation racing the key’s use', () => {
  it('once another process refused the key, no request there is accepted again (no answer read before the revocation is cached)', async () => {
    await Promise.all([processA.ready(), processB.ready()]);
    const admin = await processA.staffToken('ADMIN');
    for (let round = 0; round < 5; round += 1) {
      const key = await app.apiKeyToken(['points:earn'], `race ${round}`);
      const { id } = await prisma.apiKey.findFirstOrThrow({ where: { name: `race ${round}` } });
      // B has not cached this key: its first uses read the database while the revocation commits and is published.
      const inFlight = Array.from({ length: 30 }, (_, i) =>
        new Promise((resolve) => setTimeout(resolve, i % 10)).then(() => status(processB, key)),
      );
      const revoked = processA.gql(REVOKE, { id }, admin);
      expect((await revoked).data?.revokeApiKey.__typename).toBe('RevokeApiKeyPayload');
      await Promise.all(inFlight);
      // The revoking process refuses at once; the other as soon as the message arrived, and from then on always.
      expect(await status(processA, key)).toBe(401);
      await until(async () => (await status(processB, key)) === 401, 10_000, 20, 'process B refuses the revoked key');
      const after = await Promise.all(Array.from({ length: 20 }, () => status(processB, key)));
      expect(after.filter((code) => code !== 401)).toEqual([]);
    }
  });

  it('a revoked key and a key that never existed are refused alike: nothing tells them apart', async () => {
    const key = await app.apiKeyToken(['points:earn'], 'to revoke');
    const { id } = await prisma.apiKey.findFirstOrThrow({ where: { name: 'to revoke' } });
    await processA.gql(REVOKE, { id }, await processA.staffToken('ADMIN'));
    const unknown = `trk_${key.slice(4, 12)}_${'A'.repeat(43)}`;
    const never = `trk_aaaaaaaa_${'A'.repeat(43)}`;
    const answers = await Promise.all([key, unknown, never].map((token) => processA.request(PING, {}, { token })));
    const shape = (answer: (typeof answers)[number]) => ({
      status: answer.status,
      errors: answer.body.errors?.map((e) => [e.message, e.extensions?.code]),
    });
    expect(shape(answers[0]!)).toEqual(shape(answers[2]!));
    expect(shape(answers[1]!)).toEqual(shape(answers[2]!));
    expect(answers[0]!.status).toBe(401);
  });
});

describe('the secret’s hash is never reachable', () => {
  it('no field of ApiKey, no input and no filter names the secret or its hash; asking for it is a validation error', async () => {
    const admin = await app.staffToken('ADMIN');
    const introspected = await app.gql(`{ __schema { types { name fields { name } inputFields { name } } } }`, {}, admin);
    const named = (
      introspected.data?.__schema.types as { name: string; fields: { name: string }[] | null; inputFields: { name: string }[] | null }[]
    )
      .filter((type) => /apikey/i.test(type.name))
      .flatMap((type) => [...(type.fields ?? []), ...(type.inputFields ?? [])].map((field) => `${type.name}.${field.name}`));
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((name) => /secret|hash/i.test(name))).toEqual([]);

    await app.apiKeyToken(['points:earn']);
    const { id } = await prisma.apiKey.findFirstOrThrow();
    const list = await app.gql(`{ apiKeys(first: 5) { edges { node { id secretHash } } } }`, {}, admin);
    expect(list.data).toBeUndefined();
    expect(list.errors?.[0]?.message).toMatch(/secretHash/);
    const node = await app.gql(`query($id: ID!) { node(id: $id) { ... on ApiKey { secretHash } } }`, { id }, admin);
    expect(node.data).toBeUndefined();
    expect(node.errors?.[0]?.message).toMatch(/secretHash/);
  });
});
