import { Redis } from 'ioredis';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
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
  /**
   * A page in a browser context of its own. Its `context.close()` hands the context back emptied, for the next
   * newPage of the same language and width (useConsole's pool): what a new context would be, but for its history
   * (one entry before the test's first page, the empty document it was emptied on).
   */
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

/** What the page and the context of playwright-core are besides their typed events: Node's EventEmitter, as its own. */
interface ListenerRegistry {
  eventNames(): (string | symbol)[];
  rawListeners(event: string | symbol): ((...args: never[]) => unknown)[];
  removeListener(event: string | symbol, listener: (...args: never[]) => unknown): unknown;
}
type Listeners = Map<string | symbol, ((...args: never[]) => unknown)[]>;

const listenersOf = (emitter: ListenerRegistry): Listeners =>
  new Map(emitter.eventNames().map((event) => [event, emitter.rawListeners(event)]));

/** Every listener on `emitter` that is not one of `own` (a test's page.on('request', …), waitForResponse's): removed. */
function removeAddedListeners(emitter: ListenerRegistry, own: Listeners): void {
  for (const event of emitter.eventNames()) {
    for (const listener of emitter.rawListeners(event)) if (!own.get(event)?.includes(listener)) emitter.removeListener(event, listener);
  }
}

/** Starts the service and Chromium before the file's tests and stops both after them. */
export function useConsole(): ConsoleHarness {
  let prisma: PrismaClient | undefined;
  let redis: Redis | undefined;
  let browser: Browser | undefined;
  let base = '';
  let catalogueKeys: string[] = [];

  /**
   * A browser context with its one page, kept for the file: a test's `context.close()` empties it and puts it back,
   * and the next newPage of the same language and width takes it instead of a new one. A new context starts a new
   * renderer process and loads and compiles the console afresh, two to three seconds a test on a loaded machine; a
   * context taken back holds nothing of the test before it (recycle, below). Two pages open at once are two contexts.
   */
  interface PooledContext {
    readonly key: string;
    readonly viewport: typeof DESKTOP;
    readonly context: BrowserContext;
    readonly page: Page;
    readonly cdp: CDPSession;
    readonly closeContext: () => Promise<void>;
    /** Playwright's own listeners on the page and the context, there from the start: only the tests' are removed. */
    readonly ownListeners: [ListenerRegistry, Listeners][];
    /** Which lease of the context this is: a `close()` of an earlier test's lease, arriving late, does nothing. */
    lease: number;
    inUse: boolean;
  }
  const idle: PooledContext[] = [];

  const openContext = async (key: string, locale: Locale, viewport: typeof DESKTOP): Promise<PooledContext> => {
    const context = await browser!.newContext({
      viewport,
      locale: locale === 'de' ? 'de-DE' : 'en-GB',
      timezoneId: 'Europe/Berlin',
    });
    await context.addInitScript((chosen) => localStorage.setItem('treue.console.locale', chosen), locale);
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    const pooled: PooledContext = {
      key,
      viewport,
      context,
      page,
      cdp,
      closeContext: context.close.bind(context),
      ownListeners: [page, context].map((emitter) => [
        emitter as unknown as ListenerRegistry,
        listenersOf(emitter as unknown as ListenerRegistry),
      ]),
      lease: 0,
      inUse: true,
    };
    return pooled;
  };

  /**
   * Empties a context a test is done with, as a new one is: no listener, route, cookie, storage or history of the
   * test's, and its page no longer runs the console (the test's polls and streams end). A context whose clock a test
   * faked (page.clock: for every later page of it) or that cannot be emptied is closed instead.
   */
  const recycle = async (pooled: PooledContext, lease: number): Promise<void> => {
    if (!pooled.inUse || pooled.lease !== lease) return;
    pooled.inUse = false;
    const { context, page, cdp } = pooled;
    try {
      // A second page the test opened in the context (a popup, context.newPage): a new context would have none.
      if (context.pages().length !== 1) throw new Error('the context holds another page');
      for (const [emitter, own] of pooled.ownListeners) removeAddedListeners(emitter, own);
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      await context.unrouteAll({ behavior: 'ignoreErrors' });
      // Playwright's fake clock, once installed, is in every document the context loads.
      if (await page.evaluate(() => '__pwClock' in globalThis)) throw new Error('the clock was faked');
      // A document of the console's origin without the console in it: the test's page stops (its polls, its streams).
      await page.goto(`${base}/console/config.json`);
      // All the origin keeps: local and session storage, IndexedDB, Cache Storage, service workers, its cookies.
      await cdp.send('Storage.clearDataForOrigin', { origin: base, storageTypes: 'all' });
      await context.clearCookies();
      await context.clearPermissions();
      await cdp.send('Page.resetNavigationHistory');
      const size = page.viewportSize();
      if (size?.width !== pooled.viewport.width || size.height !== pooled.viewport.height) await page.setViewportSize(pooled.viewport);
      idle.push(pooled);
    } catch {
      await pooled.closeContext().catch(() => {});
    }
  };

  beforeAll(async () => {
    // Chromium starts, and the catalogue loads, while the service is built (or its build awaited) and starts.
    const launched = launchChromium().then((started) => (browser = started));
    // A path the root tsconfig does not follow: the console is type-checked by its own (console/tsconfig.json).
    const catalogue: string = '../../console/src/i18n/en.ts';
    const keys = import(catalogue).then((module) => (catalogueKeys = Object.keys((module as { en: Record<string, string> }).en)));
    const served = (async () => {
      prisma = createTestPrisma(3);
      redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
      const [built] = await Promise.all([builtService(), resetDatabase(prisma), resetRedis(redis)]);
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
    })();
    // allSettled first: whichever fails, the others have finished, so afterAll stops what did start.
    const outcomes = await Promise.allSettled([launched, keys, served]);
    for (const outcome of outcomes) if (outcome.status === 'rejected') throw outcome.reason;
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
      const key = `${locale} ${viewport.width}×${viewport.height}`;
      const index = idle.findIndex((pooled) => pooled.key === key);
      const pooled = index >= 0 ? idle.splice(index, 1)[0]! : await openContext(key, locale, viewport);
      pooled.inUse = true;
      const lease = (pooled.lease += 1);
      pooled.context.close = () => recycle(pooled, lease);
      pooled.page.setDefaultTimeout(15_000);
      return { context: pooled.context, page: pooled.page };
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
