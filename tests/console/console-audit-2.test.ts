// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium (support.ts).
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { TEST_JWT_SECRET } from '../support/app.js';
import { useConsole } from './support.js';

/**
 * The agent console audited again (docs/console.md): a score typed with a decimal comma, a token that ends with a
 * form filled in, a double click on Reject.
 */

const harness = useConsole();
const { newPage, signIn, go } = harness;

/** The mutations of one operation name the page sends to /graphql, counted as they leave the browser. */
function countSent(page: Page, operation: string): () => number {
  let sent = 0;
  page.on('request', (request) => {
    if (request.url().startsWith(`${harness.base}/graphql`) && (request.postData() ?? '').includes(`mutation ${operation}`)) sent += 1;
  });
  return () => sent;
}

/** The goodwill form filled in for a member, then Grant answered 401 (a token expired an hour ago): the sign-in page. */
async function fillGoodwillThen401(page: Page, memberId: string, staffId: string): Promise<void> {
  await go(page, `/members/${memberId}/goodwill`);
  await page.getByRole('textbox', { name: 'Points' }).fill('700');
  await page.getByLabel('Note (what happened)').fill('Parcel lost, customer called twice');
  await page.getByLabel('Case reference (optional)').fill('case-77');
  const now = Math.floor(Date.now() / 1000);
  const expired = await new SignJWT({ role: 'AGENT' })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(staffId)
    .setIssuedAt(now - 7_200)
    .setExpirationTime(now - 3_600)
    .sign(new TextEncoder().encode(TEST_JWT_SECRET));
  await page.route('**/graphql', (route) =>
    route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${expired}` } }),
  );
  const answered = page.waitForResponse('**/graphql');
  await page.getByRole('button', { name: 'Grant' }).click();
  expect((await answered).status()).toBe(401);
  await page.getByTestId('session-ended').waitFor();
  await page.unroute('**/graphql');
}

/** The session the 401 ended, continued on the page as it is (no reload): the agent's drafts live in its memory. */
async function continueSession(page: Page): Promise<void> {
  await page.getByTestId('continue-session').click();
  await page.getByTestId('signed-in-as').waitFor();
}

/** The name sign-in on the page as it is (no reload): a new session, whatever the name. */
async function signInAgain(page: Page, name: string): Promise<void> {
  await page.getByLabel('Role').selectOption('AGENT');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').waitFor();
}

describe('the agent console, second audit', () => {
  // Number("9,5") is NaN, which JSON sends as null: the member's answer was recorded as no NPS at all.
  it(
    'an NPS of "9,5" or "11" is refused at its field in German and English and sends nothing; empty stays no score',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7001', 'Nina Note', 'nina@example.com');
      const { context, page } = await newPage('de');
      const sent = countSent(page, 'SubmitFeedback');
      await signIn(page, 'AGENT', 'Alex Agent', 'de');
      await go(page, `/members/${member.id}/case`);
      // Its name, in either language (the label holds the field's message too once there is one).
      const nps = page.getByLabel(/^(Weiterempfehlung|Would recommend us) \(0–10/);
      for (const typed of ['9,5', '11']) {
        await nps.fill(typed);
        await page.getByRole('button', { name: 'Rückmeldung erfassen' }).click();
        await expect
          .poll(() => page.locator('#nps-error').textContent(), { message: typed })
          .toBe('Geben Sie eine ganze Zahl von 0 bis 10 ein.');
      }
      await page.getByLabel('Sprache').selectOption('en');
      await page.getByRole('button', { name: 'Record feedback' }).click();
      await expect.poll(() => page.locator('#nps-error').textContent()).toBe('Enter a whole number from 0 to 10.');
      expect(sent()).toBe(0);
      expect(await harness.prisma.feedback.count({ where: { memberId: member.id } })).toBe(0);

      await nps.fill('');
      await page.getByLabel('Satisfaction (1–5, optional)').fill('4');
      await page.getByRole('button', { name: 'Record feedback' }).click();
      await page.getByTestId('member-name').waitFor();
      const recorded = await harness.prisma.feedback.findMany({ where: { memberId: member.id } });
      expect(recorded.map((feedback) => [feedback.nps, feedback.csat])).toEqual([[null, 4]]);
      await context.close();
    },
  );

  it(
    'a 401 on Grant keeps the form: continuing the session shows it as the agent left it, sends nothing until Grant, and keeps no draft',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7002', 'Olaf Offen', 'olaf@example.com');
      const { context, page } = await newPage('en');
      const sent = countSent(page, 'IssueGoodwill');
      await signIn(page, 'AGENT', 'Alex Agent');
      await fillGoodwillThen401(page, member.id, 'Alex Agent');
      // The member's data stays in the page's memory only: the next person at the desk finds nothing in devtools.
      expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);

      // The session continued on the same page (no reload): the goodwill form as it was, nothing sent a second time.
      await page.getByTestId('continue-session').click();
      await expect.poll(() => page.getByRole('textbox', { name: 'Points' }).inputValue()).toBe('700');
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('Parcel lost, customer called twice');
      expect(await page.getByLabel('Case reference (optional)').inputValue()).toBe('case-77');
      expect(sent()).toBe(1);
      expect(await harness.prisma.goodwillGesture.count({ where: { memberId: member.id } })).toBe(0);

      await page.getByRole('button', { name: 'Grant' }).click();
      await expect.poll(() => page.getByTestId('balance-available').textContent()).toBe('700 points');
      const gestures = await harness.prisma.goodwillGesture.findMany({ where: { memberId: member.id } });
      expect(gestures.map((gesture) => [gesture.points, gesture.note, gesture.caseRef])).toEqual([
        [700, 'Parcel lost, customer called twice', 'case-77'],
      ]);
      expect(await page.evaluate(() => ({ local: Object.keys(localStorage), session: Object.keys(sessionStorage) }))).toEqual({
        local: ['treue.console.locale'],
        session: [],
      });
      await go(page, `/members/${member.id}/goodwill`);
      await page.getByRole('textbox', { name: 'Points' }).waitFor();
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('');
      await context.close();
    },
  );

  it(
    'after a 401 another staff id signing in on that page finds the goodwill form empty, and the draft is gone for its owner too',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7004', 'Paula Privat', 'paula@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      await fillGoodwillThen401(page, member.id, 'Alex Agent');

      await signInAgain(page, 'Bea Other');
      await page.getByRole('textbox', { name: 'Points' }).waitFor();
      expect(await page.getByRole('textbox', { name: 'Points' }).inputValue()).toBe('');
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('');
      expect(await page.getByLabel('Case reference (optional)').inputValue()).toBe('');
      expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);

      // Another person's sign-in dropped them: their owner signing in after that finds an empty form as well.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await signInAgain(page, 'Alex Agent');
      await go(page, `/members/${member.id}/goodwill`);
      await page.getByRole('textbox', { name: 'Points' }).waitFor();
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('');
      await context.close();
    },
  );

  it(
    'a draft is dropped 10 minutes after its 401: at the next sign-in, and on a sign-in page left idle that long',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7005', 'Quirin Quell', 'quirin@example.com');
      for (const wait of ['setSystemTime', 'fastForward'] as const) {
        const { context, page } = await newPage('en');
        // The page's own clock, faked from the first load on: time runs as usual until the test moves it.
        await page.clock.install();
        await signIn(page, 'AGENT', 'Alex Agent');
        await fillGoodwillThen401(page, member.id, 'Alex Agent');
        // setSystemTime: the clock jumps, no timer fires (a timer a background tab held back); fastForward: the page
        // sits idle and its timers fire on the way.
        if (wait === 'setSystemTime') await page.clock.setSystemTime((await page.evaluate(() => Date.now())) + 10 * 60_000 + 1_000);
        else await page.clock.fastForward('10:01');

        await continueSession(page);
        await page.getByRole('textbox', { name: 'Points' }).waitFor();
        expect(await page.getByRole('textbox', { name: 'Points' }).inputValue(), wait).toBe('');
        expect(await page.getByLabel('Note (what happened)').inputValue(), wait).toBe('');
        await context.close();
      }
    },
  );

  it(
    'Resolve sends an idempotency key, and the same one again when the agent retries a resolution the network lost',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7006', 'Rolf Retry', 'rolf@example.com');
      await harness.graphql('AGENT', `mutation ($input: RecordServiceCaseInput!) { recordServiceCase(input: $input) { __typename } }`, {
        input: { memberId: member.id, channel: 'PHONE', category: 'Delivery', idempotencyKey: 'audit2-resolve-case-1' },
      });
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      const keys: unknown[] = [];
      let attempts = 0;
      await page.route('**/graphql', (route) => {
        const body = route.request().postDataJSON() as { query?: string; variables?: { input?: { idempotencyKey?: unknown } } } | null;
        if (!body?.query?.includes('mutation ResolveServiceCase')) return route.continue();
        keys.push(body.variables?.input?.idempotencyKey);
        attempts += 1;
        // The first attempt never reaches the service (the network dropped it): the case stays open.
        return attempts === 1 ? route.abort('internetdisconnected') : route.continue();
      });
      await go(page, `/members/${member.id}`);
      const resolve = page.getByRole('button', { name: 'Resolve' });
      await resolve.click();
      await expect.poll(() => attempts).toBe(1);
      await resolve.click();
      await expect.poll(() => resolve.count()).toBe(0);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^console-resolve-/);
      expect(keys[1]).toBe(keys[0]);
      const [serviceCase] = await harness.prisma.serviceCase.findMany({ where: { memberId: member.id } });
      expect(serviceCase?.resolvedAt).not.toBeNull();
      await context.close();
    },
  );

  it(
    'a double click on Reject sends one request and rejects once, as a double click on Approve approves once',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-7003', 'Rita Reject', 'rita@example.com');
      await harness.issueWaitingVoucher('AGENT', member.id, 'Wrong size twice', 'audit2-reject-1');
      const { context, page } = await newPage('en');
      const sent = countSent(page, 'RejectGoodwill');
      await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
      await go(page, '/queue');
      await page.getByRole('textbox', { name: /^Note on €40\.00 for \u2068Rita Reject/ }).fill('Outside policy');
      const reject = page.getByRole('button', { name: /^Reject €40\.00 for \u2068Rita Reject/ });
      await reject.dblclick();
      await expect.poll(() => reject.count()).toBe(0);
      expect(sent()).toBe(1);
      const [gesture] = await harness.prisma.goodwillGesture.findMany({ where: { memberId: member.id } });
      expect([gesture?.status, gesture?.decisionNote]).toEqual(['REJECTED', 'Outside policy']);
      expect(await harness.prisma.goodwillAuditEntry.count({ where: { gestureId: gesture!.id, action: 'REJECTED' } })).toBe(1);
      await context.close();
    },
  );
});
