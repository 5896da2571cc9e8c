import { Redis } from 'ioredis';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { signStaffToken } from '../../src/auth/tokens.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { builtServiceEnv } from '../support/built-service-env.js';
import { TEST_JWT_SECRET } from '../support/app.js';
import { BUILT_SERVICE_HOOK_TIMEOUT_MS, builtService, createTestPrisma, resetDatabase, resetRedis, testRedisUrl } from '../support/db.js';
import { launchChromium } from '../support/chromium.js';
import { freePort, killServiceProcesses, startServiceProcess } from '../support/processes.js';

/**
 * The frame of the console's browser tests: headless Chromium (tests/support/chromium.ts, driven by
 * playwright-core) against the built service, started as `npm start` starts it (`node dist/…/src/main.js`:
 * API and workers), on this worker's fresh database. The run's one build (builtService in
 * tests/support/db.ts) is shared; no test rebuilds under it.
 */

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

export type Locale = 'en' | 'de';
export type Role = 'AGENT' | 'SUPERVISOR' | 'ADMIN';

export interface ConsoleHarness {
  /** The service's origin, e.g. http://127.0.0.1:40123. */
  readonly base: string;
  readonly prisma: PrismaClient;
  /** Every key of the English catalogue: one of them on a page is an untranslated string. */
  readonly catalogueKeys: string[];
  newPage(locale: Locale, viewport?: typeof DESKTOP): Promise<{ context: BrowserContext; page: Page }>;
  signIn(page: Page, role: Role, name: string, locale?: Locale): Promise<void>;
  /** Client-side navigation: the token is in memory, a page load would sign out. */
  go(page: Page, route: string): Promise<void>;
  /** A GraphQL request to the running service, as a staff member of that role; throws on errors. */
  graphql(role: Role, query: string, variables?: Record<string, unknown>): Promise<Record<string, any>>;
  /** A 40.00 EUR goodwill voucher issued through the API: above the default 25.00 per gesture, so it waits for approval. */
  issueWaitingVoucher(role: 'AGENT' | 'SUPERVISOR', memberId: string, note: string, idempotencyKey: string): Promise<Record<string, any>>;
  enrol(externalId: string, name: string, email: string): ReturnType<PrismaClient['member']['create']>;
}

const ROLE_LABEL = { en: 'Role', de: 'Rolle' };
const NAME_LABEL = { en: 'Name', de: 'Name' };
const SIGN_IN = { en: 'Sign in', de: 'Anmelden' };

/** Starts the service and Chromium before the file's tests and stops both after them. */
export function useConsole(): ConsoleHarness {
  let prisma: PrismaClient | undefined;
  let redis: Redis | undefined;
  let browser: Browser | undefined;
  let base = '';
  let catalogueKeys: string[] = [];

  beforeAll(async () => {
    const built = await builtService();
    prisma = createTestPrisma(3);
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    await resetDatabase(prisma);
    await resetRedis(redis);
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const service = startServiceProcess(
      `${built}/src/main.js`,
      builtServiceEnv(port, {
        DATABASE_POOL_SIZE: '5',
        WEB_CONCURRENCY: '1',
        // The webhook test's receiver listens on http://127.0.0.1.
        WEBHOOK_ALLOW_HTTP: 'true',
        WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      }),
    );
    await service.waitForLine(/Treue ready: GraphQL at/, 90_000);
    browser = await launchChromium();
    // A path the root tsconfig does not follow: the console is type-checked by its own (console/tsconfig.json).
    const catalogue: string = '../../console/src/i18n/en.ts';
    catalogueKeys = Object.keys(((await import(catalogue)) as { en: Record<string, string> }).en);
  }, BUILT_SERVICE_HOOK_TIMEOUT_MS);

  afterAll(async () => {
    await browser?.close();
    killServiceProcesses();
    if (redis) {
      await resetRedis(redis);
      redis.disconnect();
    }
    await prisma?.$disconnect();
  });

  const graphql: ConsoleHarness['graphql'] = async (role, query, variables = {}) => {
    const token = await signStaffToken(TEST_JWT_SECRET, { staffId: `seed-${role.toLowerCase()}`, role });
    const response = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: Record<string, any>; errors?: unknown[] };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };

  const ISSUE_GOODWILL = `
    mutation ($input: IssueGoodwillInput!) {
      issueGoodwill(input: $input) {
        __typename
        ... on IssueGoodwillPayload {
          status
          gesture {
            id
          }
        }
      }
    }
  `;

  return {
    issueWaitingVoucher: (role, memberId, note, idempotencyKey) =>
      graphql(role, ISSUE_GOODWILL, {
        input: {
          memberId,
          kind: 'VOUCHER',
          amountMoney: { amount: '40.00', currency: 'EUR' },
          reason: 'POOR_EXPERIENCE',
          note,
          idempotencyKey,
        },
      }),
    get base() {
      return base;
    },
    get prisma() {
      if (!prisma) throw new Error('the console harness is not started: use it inside a test');
      return prisma;
    },
    get catalogueKeys() {
      return catalogueKeys;
    },
    async newPage(locale, viewport = DESKTOP) {
      const context = await browser!.newContext({
        viewport,
        locale: locale === 'de' ? 'de-DE' : 'en-GB',
        timezoneId: 'Europe/Berlin',
      });
      await context.addInitScript((chosen) => localStorage.setItem('treue.console.locale', chosen), locale);
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      return { context, page };
    },
    async signIn(page, role, name, locale = 'en') {
      await page.goto(`${base}/console/`);
      await page.getByLabel(ROLE_LABEL[locale]).selectOption(role);
      await page.getByLabel(NAME_LABEL[locale], { exact: true }).fill(name);
      await page.getByRole('button', { name: SIGN_IN[locale] }).click();
      await page.getByTestId('signed-in-as').waitFor();
    },
    async go(page, route) {
      await page.evaluate((to) => {
        history.pushState(null, '', `/console${to}`);
        dispatchEvent(new PopStateEvent('popstate'));
      }, route);
    },
    graphql,
    enrol(externalId, name, email) {
      return this.prisma.member.create({ data: { externalId, name, email } });
    },
  };
}
