// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium (support.ts); the
// development sign-in's host check runs on the console's HTTP handler alone.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { createConsoleHandler } from '../../src/http/console.js';
import { withDevelopmentJwtSecret } from '../../src/runtime/dev-secret.js';
import { TEST_JWT_SECRET, testLogger } from '../support/app.js';
import { DESKTOP, PHONE, useConsole } from './support.js';

/**
 * The agent console audited as an attacker and as a support desk's employer would (docs/console.md): what a member
 * or a storefront wrote, shown to an agent; the decision buttons under long strings; a double click on a grant or an
 * approval; a token that ends in the middle of a form; the language switch with a form half filled; the development
 * sign-in reached through another host name.
 */

const harness = useConsole();
const { newPage, signIn, go, graphql } = harness;

/** A 40.00 EUR voucher above the default 25.00 per gesture, issued by an agent through the API: it waits for approval. */
const waitingVoucher = (memberId: string, note: string, idempotencyKey: string) =>
  harness.issueWaitingVoucher('AGENT', memberId, note, idempotencyKey);

/** Whether the page is wider than its viewport, and each named control that reaches outside it (by its accessible name). */
const overflow = (page: Page) =>
  page.evaluate(() => {
    const width = document.documentElement.clientWidth;
    const outside = [...document.querySelectorAll('button, a.button, a.button-primary, input, textarea, select')]
      .filter((control) => {
        const box = control.getBoundingClientRect();
        return box.width > 0 && (box.left < 0 || box.right > width + 0.5);
      })
      .map((control) => control.getAttribute('aria-label') ?? control.textContent ?? control.tagName);
    return { scrollWidth: document.documentElement.scrollWidth, width, outside };
  });

describe('the agent console under hostile and awkward input', () => {
  it('markup and links in what a member or a storefront wrote are shown as text, never run or followed', { timeout: 120_000 }, async () => {
    // Accepted by the API as written (plain text: no control or bidirectional characters).
    const name = '<img src=x onerror="window.__treuePwned=1">Eve';
    const member = await harness.enrol('C-<script>window.__treuePwned=2</script>', name, 'eve+"><svg/onload=alert(1)>@example.com');
    await waitingVoucher(member.id, 'javascript:window.__treuePwned=3 <a href="javascript:alert(1)">click</a>', 'audit-xss-1');
    await graphql(
      'AGENT',
      `
        mutation ($input: RecordServiceCaseInput!) {
          recordServiceCase(input: $input) {
            __typename
          }
        }
      `,
      { input: { memberId: member.id, channel: 'CHAT', category: '<b onmouseover=alert(1)>delivery</b>' } },
    );

    const { context, page } = await newPage('en');
    await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
    await page.getByLabel('Name, e-mail or customer number').fill('Eve');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name }).click();
    await expect.poll(() => page.getByTestId('member-name').textContent()).toBe(name);
    expect(await page.getByTestId('member-meta').textContent()).toContain('C-<script>window.__treuePwned=2</script>');
    expect(await page.getByText('<b onmouseover=alert(1)>delivery</b>').count()).toBe(1);
    await go(page, '/queue');
    const item = page.getByTestId('pending-gestures').getByRole('listitem');
    await expect.poll(() => item.textContent()).toContain('<a href="javascript:alert(1)">click</a>');
    await go(page, `/members/${member.id}/goodwill`);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain(name);

    const injected = await page.evaluate(() => ({
      ran: (window as { __treuePwned?: number }).__treuePwned ?? null,
      elements: document.querySelectorAll('main img, main svg, main script, main b, a[href^="javascript:" i]').length,
    }));
    expect(injected).toEqual({ ran: null, elements: 0 });
    await context.close();
  });

  it(
    'a member name, e-mail, reference and note as long as the API accepts, without a space: every decision button stays on screen',
    { timeout: 150_000 },
    async () => {
      // The longest the API accepts: a name of 200 characters, an external id of 120, a category of 100, a note of 1 000.
      const member = await harness.enrol(`X${'9'.repeat(119)}`, `W${'w'.repeat(199)}`, `${'l'.repeat(60)}@${'d'.repeat(60)}.example.com`);
      await waitingVoucher(member.id, 'N'.repeat(1000), 'audit-long-1');
      await graphql(
        'AGENT',
        `
          mutation ($input: RecordServiceCaseInput!) {
            recordServiceCase(input: $input) {
              __typename
            }
          }
        `,
        { input: { memberId: member.id, channel: 'CHAT', category: 'C'.repeat(100) } },
      );

      for (const viewport of [DESKTOP, PHONE]) {
        const { context, page } = await newPage('en', viewport);
        await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
        await go(page, '/queue');
        const approve = page.getByRole('button', { name: /^Approve €40\.00 for \u2068Www/ });
        await approve.waitFor();
        const queue = await overflow(page);
        expect(queue.outside, `queue at ${viewport.width}`).toEqual([]);
        expect(queue.scrollWidth, `queue at ${viewport.width}`).toBeLessThanOrEqual(queue.width);
        for (const path of [`/members/${member.id}`, `/members/${member.id}/goodwill`]) {
          await go(page, path);
          await page.getByRole('heading', { level: 1 }).waitFor();
          await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toContain('Www');
          const seen = await overflow(page);
          expect(seen.outside, `${path} at ${viewport.width}`).toEqual([]);
          expect(seen.scrollWidth, `${path} at ${viewport.width}`).toBeLessThanOrEqual(seen.width);
        }
        await context.close();
      }
    },
  );

  it(
    'a double click on Grant grants once, and a double click on Approve approves once: one gesture, one ledger entry, one voucher',
    { timeout: 120_000 },
    async () => {
      const member = await harness.enrol('C-3001', 'Dora Double', 'dora@example.com');
      const agent = await newPage('en');
      await signIn(agent.page, 'AGENT', 'Alex Agent');
      await go(agent.page, `/members/${member.id}/goodwill`);
      await agent.page.getByRole('textbox', { name: 'Points' }).fill('1000');
      await agent.page.getByLabel('Note (what happened)').fill('Parcel arrived a week late');
      await agent.page.getByRole('button', { name: 'Grant' }).dblclick();
      await expect.poll(() => agent.page.getByTestId('balance-available').textContent()).toBe('1,000 points');
      await agent.context.close();

      await waitingVoucher(member.id, 'Second late parcel', 'audit-double-1');
      const supervisor = await newPage('en');
      await signIn(supervisor.page, 'SUPERVISOR', 'Sam Supervisor');
      await go(supervisor.page, '/queue');
      const approve = supervisor.page.getByRole('button', { name: /^Approve €40\.00 for \u2068Dora Double/ });
      await approve.dblclick();
      await expect.poll(() => approve.count()).toBe(0);
      await supervisor.context.close();

      const prisma = harness.prisma;
      expect(await prisma.goodwillGesture.count({ where: { memberId: member.id } })).toBe(2);
      expect(await prisma.ledgerEntry.count({ where: { memberId: member.id } })).toBe(1);
      expect(await prisma.voucher.count({ where: { memberId: member.id } })).toBe(1);
    },
  );

  it(
    'switching the language keeps a half-filled goodwill form, and a token that ends before Grant says so at sign-in and grants nothing',
    { timeout: 120_000 },
    async () => {
      const member = await harness.enrol('C-4001', 'Lena Lang', 'lena@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      await go(page, `/members/${member.id}/goodwill`);
      await page.getByRole('textbox', { name: 'Points' }).fill('700');
      await page.getByLabel('Note (what happened)').fill('Half a note');
      await page.getByLabel('Case reference (optional)').fill('case-9');
      await page.getByLabel('Language').selectOption('de');
      await expect.poll(() => page.getByRole('textbox', { name: 'Punkte' }).inputValue()).toBe('700');
      expect(await page.getByLabel('Notiz (was ist passiert)').inputValue()).toBe('Half a note');
      await page.getByLabel('Sprache').selectOption('en');
      await context.close();

      // The token runs out while the agent fills the form: from then on the page's requests carry an expired token
      // (signed with the service's secret, an hour past its exp), and the real API answers 401 when the agent presses
      // Grant.
      const expiring = await newPage('en');
      await signIn(expiring.page, 'AGENT', 'Alex Agent');
      await go(expiring.page, `/members/${member.id}/goodwill`);
      await expiring.page.getByRole('textbox', { name: 'Points' }).fill('700');
      await expiring.page.getByLabel('Note (what happened)').fill('Late parcel');
      const now = Math.floor(Date.now() / 1000);
      const expired = await new SignJWT({ role: 'AGENT' })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject('Alex Agent')
        .setIssuedAt(now - 7_200)
        .setExpirationTime(now - 3_600)
        .sign(new TextEncoder().encode(TEST_JWT_SECRET));
      await expiring.page.route('**/graphql', (route) =>
        route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${expired}` } }),
      );
      const answered = expiring.page.waitForResponse('**/graphql');
      await expiring.page.getByRole('button', { name: 'Grant' }).click();
      expect((await answered).status()).toBe(401);
      await expect.poll(() => expiring.page.getByTestId('session-ended').textContent()).toContain('Your session has ended');
      await expiring.page.getByLabel('Role').waitFor(); // the sign-in page
      expect(await harness.prisma.goodwillGesture.count({ where: { memberId: member.id } })).toBe(0);
      await expiring.context.close();
    },
  );
});

describe('the points an agent types', () => {
  // parseInt read "1.000" (German for one thousand) as 1 and "1,5" as 1: the agent meant 1 000 points and the member
  // got 1, with nothing on the page but a preview of €0.01 to tell.
  it('German "1.000" grants 1 000 points; "1,5" and "12abc" are refused at the field and send nothing', { timeout: 90_000 }, async () => {
    const member = await harness.enrol('C-6001', 'Paul Punkte', 'paul@example.com');
    const { context, page } = await newPage('de');
    await signIn(page, 'AGENT', 'Alex Agent', 'de');
    await go(page, `/members/${member.id}/goodwill`);
    const points = page.getByRole('textbox', { name: 'Punkte' });
    await page.getByLabel('Notiz (was ist passiert)').fill('Paket eine Woche zu spät');
    for (const typed of ['1,5', '12abc']) {
      await points.fill(typed);
      await page.getByRole('button', { name: 'Gewähren' }).click();
      await expect.poll(() => page.locator('#points-error').textContent(), { message: typed }).toContain('ganze Zahl');
    }
    expect(await harness.prisma.goodwillGesture.count({ where: { memberId: member.id } })).toBe(0);

    await points.fill('1.000');
    // Intl writes "10,00\u00a0€".
    await expect.poll(() => page.getByTestId('outcome').textContent()).toMatch(/^In Ihrem Rahmen: 10,00\s€ wird sofort gewährt\.$/);
    await page.getByRole('button', { name: 'Gewähren' }).click();
    await expect.poll(() => page.getByTestId('balance-available').textContent()).toBe('1.000 Punkte');
    const gestures = await harness.prisma.goodwillGesture.findMany({ where: { memberId: member.id } });
    expect(gestures.map((gesture) => gesture.points)).toEqual([1000]);
    await context.close();
  });
});

describe("a whole number as an agent types it (the goodwill page's points)", () => {
  it.each([
    ['de', '1000', 1000],
    ['de', '1.000', 1000],
    ['de', '12.500.000', 12_500_000],
    ['de', ' 1 000 ', 1000],
    ['de', '1\u202f000', 1000],
    ['de', '1,5', Number.NaN],
    ['de', '1,000', Number.NaN],
    ['de', '1.00', Number.NaN],
    ['de', '1.0000', Number.NaN],
    ['de', '12abc', Number.NaN],
    ['de', '1e3', Number.NaN],
    ['de', '-5', Number.NaN],
    ['de', '', Number.NaN],
    ['en', '1,000', 1000],
    ['en', '1.000', Number.NaN],
    ['en', '1.5', Number.NaN],
  ] as const)('%s "%s" → %s', async (locale, text, expected) => {
    const { wholeNumber } = (await import('../../console/src/i18n/index.tsx' as string)) as {
      wholeNumber: (text: string, locale: string) => number;
    };
    expect(wholeNumber(text, locale)).toBe(expected);
  });
});

describe('what the browser keeps of a member', () => {
  // urql sends a query as GET /graphql?query=…&variables=… when the URL is short enough (preferGetMethod
  // 'within-url-limit', its default: the search), with the staff token in a header: a browser may keep a GET's answer
  // in its disk cache, where the next person at a shared desk finds the members' names and e-mails after sign-out.
  it(
    'the answers that show a member (GET /graphql with a staff token: the search; POST: the member page) are never stored',
    { timeout: 90_000 },
    async () => {
      await harness.enrol('C-5001', 'Cora Cache', 'cora@example.com');
      const { context, page } = await newPage('en');
      const answers: { method: string; cacheControl: string | undefined }[] = [];
      page.on('response', (response) => {
        if (!response.url().startsWith(`${harness.base}/graphql`)) return;
        answers.push({ method: response.request().method(), cacheControl: response.headers()['cache-control'] });
      });
      await signIn(page, 'AGENT', 'Alex Agent');
      await page.getByLabel('Name, e-mail or customer number').fill('Cora');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('link', { name: 'Cora Cache' }).click();
      await expect.poll(() => page.getByTestId('member-name').textContent()).toBe('Cora Cache');
      expect(answers.map((answer) => answer.method)).toContain('GET');
      expect(answers.map((answer) => answer.method)).toContain('POST');
      expect(answers.map((answer) => `${answer.method} ${answer.cacheControl}`)).toEqual(
        answers.map((answer) => `${answer.method} no-store`),
      );
      await context.close();
    },
  );
});

describe('the development sign-in, reached by a host name that is not this machine', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });

  /** POST /console/dev-token from 127.0.0.1 with the given Host header: what a page on a rebound domain sends. */
  const ask = (port: number, host: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const outgoing = request(
        { host: '127.0.0.1', port, path: '/console/dev-token', method: 'POST', headers: { host, 'content-type': 'application/json' } },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      outgoing.on('error', reject);
      outgoing.end(JSON.stringify({ role: 'ADMIN', name: 'mallory' }));
    });

  // DNS rebinding: evil.example resolves to the attacker's server, then to 127.0.0.1; the page, same-origin by then,
  // posts to /console/dev-token from this machine's browser (a loopback peer) and reads the ADMIN token.
  it('NODE_ENV unset (the generated secret, this machine only): a Host that is not a loopback name is refused, localhost is not', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'treue-dev-secret-'));
    try {
      const config = await withDevelopmentJwtSecret(loadConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir }));
      const handler = createConsoleHandler({ config, logger: testLogger, dir: dataDir });
      const server = createServer((req, res) => void handler(req, res));
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as AddressInfo).port;

      for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil.example:${port}`]) {
        const refused = await ask(port, host);
        expect(refused.status, host).toBe(403);
        expect(refused.body, host).not.toMatch(/eyJ/);
      }
      for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `console.localhost:${port}`, 'localhost']) {
        expect((await ask(port, host)).status, host).toBe(200);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
