// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium (support.ts).
import { describe, expect, it } from 'vitest';
import { useConsole } from './support.js';

/**
 * The browser tests' frame (support.ts) hands a closed context to the next test instead of opening a new one: what
 * the test before left in it must be gone, as in a new context, or one test's state would decide another's outcome.
 */

const harness = useConsole();
const { newPage, signIn, go } = harness;

describe('a browser context a test closed, taken by the next', () => {
  it('holds none of the cookies, storage, listeners, routes or history of the test before', { timeout: 90_000 }, async () => {
    await harness.enrol('H-1', 'Hanna Harness', 'hanna.harness@example.com');
    const before = await newPage('en');
    await signIn(before.page, 'SUPERVISOR', 'Sam Supervisor');
    await go(before.page, '/queue');
    await before.context.addCookies([{ name: 'left', value: 'behind', url: harness.base }]);
    await before.page.evaluate(() => {
      localStorage.setItem('left', 'behind');
      sessionStorage.setItem('left', 'behind');
    });
    let heard = 0;
    before.page.on('request', () => (heard += 1));
    before.page.on('response', () => (heard += 1));
    // Every request to /graphql, GET (with its query in the URL) and POST.
    const graphqlRequests = (url: URL) => url.pathname === '/graphql';
    await before.page.route(graphqlRequests, (route) => route.abort('internetdisconnected'));
    await before.context.route(graphqlRequests, (route) => route.abort('internetdisconnected'));
    await before.context.close();

    const after = await newPage('en');
    expect(after.context).toBe(before.context); // taken back, not a new one: what this test is about
    // Node's EventEmitter, besides the typed events.
    const listeners = after.page as unknown as { listenerCount(event: string): number };
    expect(listeners.listenerCount('request') + listeners.listenerCount('response')).toBe(0);
    expect(await after.context.cookies()).toEqual([]);
    heard = 0;
    // No way back from the first page of this test into the pages of the test before: back leads to the document the
    // context was emptied on (its one entry before this test's), and no further.
    await after.page.goto(`${harness.base}/console/`);
    await after.page.goBack();
    await expect.poll(() => after.page.url()).toBe(`${harness.base}/console/config.json`);
    expect(await after.page.goBack()).toBeNull();
    // Signed in and searching: the GraphQL requests get through (no route left), and no old listener hears them.
    await signIn(after.page, 'AGENT', 'Alex Agent');
    await after.page.getByLabel('Name, e-mail or customer number').fill('Hanna');
    await after.page.getByRole('button', { name: 'Search' }).click();
    await after.page.getByRole('link', { name: 'Hanna Harness' }).waitFor();
    expect(heard).toBe(0);
    expect(await after.page.evaluate(() => ({ local: Object.keys(localStorage), session: Object.keys(sessionStorage) }))).toEqual({
      local: ['treue.console.locale'],
      session: [],
    });
    await after.context.close();
  });

  it(
    'is not taken again once a test faked its clock (Playwright puts the fake clock in every later document)',
    { timeout: 90_000 },
    async () => {
      const clocked = await newPage('en');
      await clocked.page.clock.install();
      await signIn(clocked.page, 'AGENT', 'Alex Agent');
      await clocked.context.close();

      const next = await newPage('en');
      expect(next.context).not.toBe(clocked.context);
      await signIn(next.page, 'AGENT', 'Alex Agent');
      expect(await next.page.evaluate(() => '__pwClock' in globalThis)).toBe(false);
      await next.context.close();
    },
  );

  it(
    'is not taken again once a test opened a second page in it, and an earlier lease closing late leaves the next alone',
    { timeout: 90_000 },
    async () => {
      const twoPages = await newPage('en');
      await twoPages.context.newPage();
      await twoPages.context.close();
      const next = await newPage('en');
      expect(next.context).not.toBe(twoPages.context);
      const closeOfFirstLease = next.context.close;
      await closeOfFirstLease();

      const held = await newPage('en');
      expect(held.context).toBe(next.context); // the same context, leased again
      await closeOfFirstLease(); // the test before closes its context once more, late
      await signIn(held.page, 'AGENT', 'Alex Agent');
      expect(held.context.pages()).toHaveLength(1);
      expect(await held.page.evaluate(() => sessionStorage.length + localStorage.length)).toBeGreaterThan(0);
      const other = await newPage('en');
      expect(other.context).not.toBe(held.context); // not handed out while held
      await Promise.all([held.context.close(), other.context.close()]);
    },
  );
});
