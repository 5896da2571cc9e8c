// No useTestApp(): the service runs as `npm start` runs it (the run's `npm run build`, API and
// workers), as a child process on this test worker's database and Redis prefix; the examples run
// as child processes against it, exactly as a storefront or an app would.
import { execFileSync } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signMemberToken } from '../../src/auth/tokens.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';
import { BUILT_SERVICE_HOOK_TIMEOUT_MS, builtService, createTestPrisma, resetDatabase, resetRedis, testRedisUrl } from '../support/db.js';
import { builtServiceEnv } from '../support/built-service-env.js';
import { freePort, killServiceProcesses, ROOT, startServiceProcess, type ServiceProcess } from '../support/processes.js';

let prisma: PrismaClient;
let redis: Redis;
let service: ServiceProcess;
let url: string;
let storefrontKey: string;

/** Newest modification time among the files under `dirs` (recursively) whose names pass `accept`. */
async function newest(dirs: string[], accept: (file: string) => boolean): Promise<number> {
  let latest = 0;
  for (const dir of dirs) {
    for (const entry of await readdir(path.join(ROOT, dir), { withFileTypes: true, recursive: true })) {
      const file = path.join(entry.parentPath, entry.name);
      if (entry.isFile() && accept(file)) latest = Math.max(latest, (await stat(file)).mtimeMs);
    }
  }
  return latest;
}

async function modified(file: string): Promise<number> {
  return (await stat(path.join(ROOT, file)).catch(() => undefined))?.mtimeMs ?? 0;
}

/** The examples' codegen, only when its output is older than its sources. */
async function generateExamples(): Promise<void> {
  const documents = Math.max(
    await modified('schema.graphql'),
    await newest(['examples'], (file) => file.endsWith('.ts') && !file.includes(`${path.sep}gql${path.sep}`)),
  );
  const generated = Math.min(await modified('examples/storefront/gql/graphql.ts'), await modified('examples/member-app/gql/graphql.ts'));
  if (generated < documents) execFileSync('npm', ['run', '-s', 'examples:generate'], { cwd: ROOT, stdio: 'ignore' });
}

async function graphql(token: string, query: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: any; errors?: unknown[] };
  expect(body.errors, JSON.stringify(body.errors)).toBeUndefined();
  return body.data;
}

/** Runs an example to its end; its output's `RESULT {…}` line, parsed. */
async function runExample(entry: string, args: string[], env: Record<string, string>): Promise<{ output: string; result: any }> {
  const example = startServiceProcess(entry, { TREUE_URL: url, ...env }, { args });
  const exit = await example.exited;
  expect(exit, example.output()).toEqual({ code: 0, signal: null });
  return { output: example.output(), result: resultOf(example.output()) };
}

function resultOf(output: string): any {
  const line = output.split('\n').find((candidate) => candidate.startsWith('RESULT '));
  expect(line, output).toBeDefined();
  return JSON.parse(line!.slice('RESULT '.length));
}

beforeAll(async () => {
  prisma = createTestPrisma(2);
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  await resetDatabase(prisma);
  await resetRedis(redis);
  await generateExamples();
  const built = await builtService();

  const port = await freePort();
  url = `http://127.0.0.1:${port}/graphql`;
  service = startServiceProcess(`${built}/src/main.js`, builtServiceEnv(port, { WEB_CONCURRENCY: '1' }));
  await service.waitForLine(/Treue ready: GraphQL at/, 60_000);

  // The operator's part: keys, a program whose points are available at once, one reward.
  const deps = { prisma, logger: testLogger };
  const operator = { actor: { type: 'SYSTEM' as const, id: 'examples-test' }, role: 'ADMIN' as const };
  const { token: adminKey } = await createApiKey(deps, { name: 'admin', scopes: ['admin'] }, operator);
  ({ token: storefrontKey } = await createApiKey(
    deps,
    { name: 'web shop', scopes: ['members:read', 'members:write', 'points:earn', 'points:redeem', 'vouchers:redeem'] },
    operator,
  ));
  const program = await graphql(
    adminKey,
    `
      mutation {
        updateProgram(input: { returnWindowDays: 0 }) {
          __typename
          ... on Error {
            message
          }
        }
      }
    `,
  );
  expect(program.updateProgram.__typename).toBe('UpdateProgramPayload');
  const reward = await graphql(
    adminKey,
    `
      mutation {
        createReward(input: { name: "Five off", pointsCost: 100, voucherValue: "5.00" }) {
          __typename
          ... on Error {
            message
          }
        }
      }
    `,
  );
  expect(reward.createReward.__typename).toBe('CreateRewardPayload');
}, BUILT_SERVICE_HOOK_TIMEOUT_MS);

afterAll(async () => {
  killServiceProcesses();
  await resetRedis(redis);
  redis.disconnect();
  await prisma.$disconnect();
});

describe('the example clients against the running service', () => {
  it('the generated types carry the scalar map: no unknown or any in what the examples read', async () => {
    for (const client of ['storefront', 'member-app']) {
      const generated = await readFile(path.join(ROOT, 'examples', client, 'gql', 'graphql.ts'), 'utf8');
      // The types of what the documents read and send: operation, fragment and variable types
      // (`export type …`, union members on lines of their own) and the fields of input types
      // (`  name?: …;`); not the preset's internals.
      const types = generated
        .split('\n')
        .filter((line) => line.startsWith('export type ') || /^ +\| \{/.test(line) || /^ {2}\w+\??: .*;$/.test(line));
      expect(types.length).toBeGreaterThan(10);
      const loose = types.filter((line) => /\b(unknown|any)\b/.test(line));
      expect(loose, client).toEqual([]);
      expect(generated).toMatch(/amount: string/); // money amounts: Decimal → string
    }
  });

  it(
    'the storefront checkout enrols, earns, buys a reward, redeems its voucher and points; run again it repeats nothing',
    { timeout: 60_000 },
    async () => {
      const first = await runExample('examples/storefront/checkout.ts', ['customer-1'], { TREUE_API_KEY: storefrontKey });
      expect(first.result).toEqual({
        memberId: expect.any(String),
        earnedPoints: 250, // 250.00 EUR at 1 point per euro
        rewardPoints: 100,
        voucherValid: true,
        voucher: { discount: '5.00 EUR' },
        paid: { spent: 50, available: 100 }, // 250 − 100 for the reward − 50 on the order
        again: { refused: 'REDEEMED' },
      });
      expect(first.output).toMatch(/^reward Five off: 100 points for voucher /m);

      // Every step has an idempotency key of its own, derived from the customer: a retried checkout
      // finds the member (AlreadyExistsError) and gets the first answers back, nothing twice.
      const second = await runExample('examples/storefront/checkout.ts', ['customer-1'], { TREUE_API_KEY: storefrontKey });
      // Only the validation differs: it is a read and sees the voucher redeemed, while the
      // redemption itself answers as it did the first time.
      expect(second.result).toEqual({ ...first.result, voucherValid: false });
      expect(second.output).toMatch(/: REDEEMED$/m);
      const member = await prisma.member.findUniqueOrThrow({ where: { externalId: 'customer-1' } });
      expect(await prisma.ledgerEntry.count({ where: { memberId: member.id } })).toBe(3); // earn, reward, points
    },
  );

  it('the member app shows the status screen and receives the live update after an earn', { timeout: 60_000 }, async () => {
    const member = await prisma.member.findUniqueOrThrow({ where: { externalId: 'customer-1' } });
    const token = await signMemberToken(TEST_JWT_SECRET, { memberId: member.id, expiresIn: '1h' });
    const app = startServiceProcess('examples/member-app/status.ts', { TREUE_URL: url, TREUE_MEMBER_TOKEN: token }, { args: ['1'] });
    await app.waitForLine(/^live: watching/, 30_000);
    // The screen as loaded: every component drew its part from its own fragment.
    expect(app.output()).toMatch(/^Customer customer-1 — Bronze since \d{4}-\d{2}-\d{2}$/m);
    expect(app.output()).toMatch(/^balance: 100 points available, 0 pending \(250 earned in all\)$/m);
    expect(app.output()).toMatch(/^tier: \[#*\.+\] 750 points to Silver$/m);
    expect(app.output()).toMatch(/^vouchers: none$/m); // the reward's voucher was redeemed at checkout
    expect(app.output()).toMatch(/^ {2}\d{4}-\d{2}-\d{2} -50 REDEEM \(REDEMPTION customer-1-order-2\)$/m);

    const earn = await graphql(
      storefrontKey,
      `
        mutation ($input: EarnPointsInput!) {
          earnPoints(input: $input) {
            __typename
            ... on EarnPointsPayload {
              points
            }
          }
        }
      `,
      {
        input: {
          memberId: member.id,
          order: { reference: 'customer-1-order-4', total: { amount: '40.00', currency: 'EUR' } },
          idempotencyKey: 'customer-1-order-4:earn',
        },
      },
    );
    expect(earn.earnPoints).toEqual({ __typename: 'EarnPointsPayload', points: 40 });

    expect(await app.exited, app.output()).toEqual({ code: 0, signal: null });
    expect(resultOf(app.output())).toEqual({ kind: 'EARNED', reference: 'customer-1-order-4', balances: [100, 140] });
    expect(app.output()).toMatch(/^balance: 140 points available, 0 pending \(290 earned in all\)$/m);
  });
});
