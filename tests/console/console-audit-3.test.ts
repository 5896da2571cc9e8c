// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium (support.ts).
import { SignJWT } from 'jose';
import type { Page } from 'playwright-core';
import { describe, expect, it, type ExpectStatic } from 'vitest';
import { TEST_JWT_SECRET } from '../support/app.js';
import { useConsole, type Locale } from './support.js';

/**
 * The agent console audited a third time (docs/console.md): every number field reads what an agent types by the
 * page's language and refuses what it cannot read, before anything is sent; a draft kept after a 401 goes back only
 * to the session that left it.
 */

const harness = useConsole();
const { newPage, signIn, go } = harness;

// Paths the root tsconfig does not follow: the console is type-checked by its own (console/tsconfig.json).
const CATALOGUES = { de: '../../console/src/i18n/de.ts', en: '../../console/src/i18n/en.ts' } as const;
const I18N = '../../console/src/i18n/index.tsx';

/** The console's words in one language: a field's message must be one of them. */
async function catalogue(locale: Locale): Promise<string[]> {
  const path: string = CATALOGUES[locale];
  return Object.values(((await import(path)) as Record<Locale, Record<string, string>>)[locale]);
}

/** The mutations the page sends to /graphql, as they leave the browser: their variables, in order. */
function mutationsSent(page: Page): { variables: Record<string, any> }[] {
  const sent: { variables: Record<string, any> }[] = [];
  page.on('request', (request) => {
    if (!request.url().startsWith(`${harness.base}/graphql`) || request.method() !== 'POST') return;
    const body = request.postDataJSON() as { query?: string; variables?: Record<string, any> } | null;
    if (body?.query?.trimStart().startsWith('mutation')) sent.push({ variables: body.variables ?? {} });
  });
  return sent;
}

/**
 * What no number field may read as a number, by the field's kind (its inputmode) and the page's language: a fraction
 * in a whole number's field, an exponent, trailing letters, hexadecimal, the other language's decimal separator.
 */
const UNREADABLE: Record<Locale, Record<'numeric' | 'decimal', string[]>> = {
  de: { numeric: ['9,5', '1e3', '12abc', '0x10'], decimal: ['1e3', '12abc', '9.5', 'Infinity'] },
  en: { numeric: ['9,5', '9.5', '1e3', '12abc'], decimal: ['9,5', '1e3', '12abc', 'Infinity'] },
};

/**
 * Every number field on the page (an input with inputmode numeric or decimal): an unreadable text typed into it (the
 * next of UNREADABLE's for each field) and its form's button pressed shows a message of the page's language at that field; the field is then given back its
 * value, so that the next field's form is held back by that field alone. Returns how many fields it walked.
 */
async function walkNumberFields(expect: ExpectStatic, page: Page, locale: Locale, where: string): Promise<number> {
  const words = await catalogue(locale);
  const fields = page.locator('input[inputmode="numeric"], input[inputmode="decimal"]');
  const count = await fields.count();
  for (let index = 0; index < count; index += 1) {
    const field = fields.nth(index);
    // One round trip for what the field says of itself (inputValue: the same `value`).
    const [kind, errorId, before] = await field.evaluate((input: HTMLInputElement): ['numeric' | 'decimal', string | null, string] => [
      input.getAttribute('inputmode') as 'numeric' | 'decimal',
      input.getAttribute('aria-describedby'),
      input.value,
    ]);
    expect(errorId, `${where}: field ${index} names its message`).toBeTruthy();
    const submit = field.locator('xpath=ancestor::form').locator('button[type="submit"]');
    // One unreadable text per field, taken in turn: every text is typed into many fields of each page, every field
    // refuses one (the reading rule itself is tested text by text below), at a quarter of the browser's time.
    const texts = UNREADABLE[locale][kind];
    const typed = texts[index % texts.length]!;
    await field.fill(typed);
    await submit.click();
    const message = page.locator(`[id="${errorId}"]`);
    await expect
      .poll(async () => words.includes((await message.textContent()) ?? ''), { message: `${where} #${errorId} "${typed}"` })
      .toBe(true);
    await field.fill(before);
  }
  return count;
}

describe('the numbers an agent types', () => {
  it.each([
    ['de', '12,50', '12.5'],
    ['de', '9,0', '9'],
    ['de', '1.000,5', '1000.5'],
    ['de', ' 12 ', '12'],
    ['de', '-1', '-1'],
    ['de', '\u22121', '-1'],
    ['de', ',5', '0.5'],
    ['de', '007', '7'],
    ['de', '1 000', '1000'],
    ['de', '9.5', undefined],
    ['de', '0.125', undefined],
    ['de', '1e3', undefined],
    ['de', '12abc', undefined],
    ['de', '0x10', undefined],
    ['de', 'Infinity', undefined],
    ['de', '12,', undefined],
    ['de', '1,2,3', undefined],
    ['de', '', undefined],
    ['de', '-', undefined],
    ['de', '+5', undefined],
    ['en', '12.50', '12.5'],
    ['en', '1,000.5', '1000.5'],
    ['en', '4,000', '4000'],
    ['en', '9,5', undefined],
    ['en', '12,50', undefined],
    ['en', '1e3', undefined],
  ] as const)('%s "%s" reads as %s', async (locale, text, expected) => {
    const { decimalText } = (await import(I18N)) as { decimalText: (text: string, locale: Locale) => string | undefined };
    expect(decimalText(text, locale)).toBe(expected);
  });

  it.each([
    ['de', 'en', '12,500', '12.5'],
    ['en', 'de', '1,000.25', '1000,25'],
    ['en', 'de', '1.125', '1,125'],
    ['de', 'en', '1.000', '1000'],
    ['de', 'en', '12abc', '12abc'],
  ] as const)('typed in %s, then the language switched to %s: "%s" is shown as "%s"', async (from, to, text, expected) => {
    const { retypeNumber } = (await import(I18N)) as { retypeNumber: (text: string, from: Locale, to: Locale) => string };
    expect(retypeNumber(text, from, to)).toBe(expected);
  });

  // Number("9,5") is NaN, which JSON sends as null: the webhook secret was rotated with the default 24 hours' overlap.
  // Number("1e3") is 1 000, and a program setting of "1e3" was saved as 1 000; the voucher amount went out as typed.
  // The two languages side by side, each in its own context, on its own member and endpoint; neither saves a setting.
  // Concurrent tests assert through their own context's expect (expect.poll needs to know its test).
  it.concurrent.for(['de', 'en'] as const)(
    '%s: on every page, each number field refuses "9,5", "1e3", "12abc" and the like at the field and sends nothing',
    { timeout: 240_000 },
    async (locale, { expect }) => {
      const member = await harness.enrol(`C-8001-${locale}`, 'Zahl Zeile', `zahl-${locale}@example.com`);
      const { createWebhookEndpoint } = await harness.graphql(
        'ADMIN',
        `mutation ($input: CreateWebhookEndpointInput!) {
          createWebhookEndpoint(input: $input) { ... on CreateWebhookEndpointPayload { endpoint { id } } }
        }`,
        { input: { url: `http://127.0.0.1/numbers-${locale}`, eventTypes: ['member.enrolled'] } },
      );
      const { context, page } = await newPage(locale);
      const sent = mutationsSent(page);
      await signIn(page, 'ADMIN', 'Ada Admin', locale);
      const walked: Record<string, number> = {};

      await go(page, `/members/${member.id}/goodwill`);
      await page.locator('input[aria-describedby="points-error"]').waitFor();
      const note = page.getByLabel(locale === 'de' ? 'Notiz (was ist passiert)' : 'Note (what happened)');
      await note.fill('Numbers');
      walked.points = await walkNumberFields(expect, page, locale, 'goodwill points');
      await page.getByRole('radio', { name: locale === 'de' ? 'Gutschein' : 'Voucher' }).check();
      walked.voucher = await walkNumberFields(expect, page, locale, 'goodwill voucher');

      await go(page, `/members/${member.id}/case`);
      await page.locator('input[aria-describedby="nps-error"]').waitFor();
      walked.case = await walkNumberFields(expect, page, locale, 'case and feedback');

      await go(page, `/admin/webhooks/${createWebhookEndpoint.endpoint.id}`);
      const overlap = page.locator('input[aria-describedby="rotationOverlapHours-error"]');
      await overlap.waitFor();
      walked.webhook = await walkNumberFields(expect, page, locale, 'webhook endpoint');

      await go(page, '/admin/program');
      await page.locator('[data-testid="tier"]').first().waitFor();
      walked.program = await walkNumberFields(expect, page, locale, 'program');

      // The fields the pages have: a page that lost its number fields would walk none and prove nothing.
      expect(walked).toEqual({ points: 1, voucher: 1, case: 3, webhook: 1, program: 65 });

      // The one mutation sent: an overlap typed with spaces around it is read as the number it is, and rotates the
      // secret. Once its answer is in, any request an earlier press had sent would have been seen before it.
      await go(page, `/admin/webhooks/${createWebhookEndpoint.endpoint.id}`);
      await overlap.fill(' 12 ');
      const rotated = page.waitForResponse((response) => (response.request().postData() ?? '').includes('mutation UpdateWebhookEndpoint'));
      await page.getByRole('button', { name: locale === 'de' ? 'Neues Geheimnis erzeugen' : 'Make a new secret' }).click();
      await rotated;
      expect(sent.map((mutation) => mutation.variables.input)).toEqual([
        { id: createWebhookEndpoint.endpoint.id, rotateSecret: true, rotationOverlapHours: 12 },
      ]);
      expect(await harness.prisma.goodwillGesture.count({ where: { memberId: member.id } })).toBe(0);
      expect(await harness.prisma.serviceCase.count({ where: { memberId: member.id } })).toBe(0);
      await context.close();
    },
  );

  // The program page read "4,000" as 4 (a comma replaced by a point): an English admin's threshold of four thousand was
  // sent as 4. German "12,500" typed as a voucher and the language switched to English went out as "12,500".
  it(
    'numbers are read by the page language: English "4,000" is 4 000, German "1,75" is 1.75, and a switch of language rewrites a typed amount',
    { timeout: 120_000 },
    async () => {
      const member = await harness.enrol('C-8002', 'Dora Dezimal', 'dora-dezimal@example.com');
      const admin = await newPage('en');
      await signIn(admin.page, 'ADMIN', 'Ada Admin');
      await go(admin.page, '/admin/program');
      const gold = admin.page.getByTestId('tier').nth(2);
      await gold.getByLabel('Qualifying points').fill('4,000');
      await admin.page.getByRole('button', { name: 'Save tiers' }).click();
      await expect.poll(() => admin.page.getByTestId('notice').first().textContent()).toBe('The settings were saved.');
      const tiers = async () =>
        (await harness.graphql('ADMIN', '{ program { tiers { key threshold multiplier } } }')).program.tiers as {
          key: string;
          threshold: number;
          multiplier: number;
        }[];
      expect((await tiers()).find((tier) => tier.key === 'GOLD')!.threshold).toBe(4000);

      // The same form in German: its numbers shown the German way ("1,5"), and "1,75" saved as 1.75.
      await admin.page.getByLabel('Language').selectOption('de');
      const goldDe = admin.page.getByTestId('tier').nth(2);
      await expect
        .poll(() => goldDe.getByLabel('Punktefaktor').inputValue())
        .toBe(String((await tiers())[2]!.multiplier).replace('.', ','));
      await goldDe.getByLabel('Punktefaktor').fill('1,75');
      await admin.page.getByRole('button', { name: 'Stufen speichern' }).click();
      await expect.poll(async () => (await tiers()).find((tier) => tier.key === 'GOLD')!.multiplier).toBe(1.75);
      await admin.context.close();

      const { context, page } = await newPage('de');
      const sent = mutationsSent(page);
      await signIn(page, 'AGENT', 'Alex Agent', 'de');
      await go(page, `/members/${member.id}/goodwill`);
      await page.getByRole('radio', { name: 'Gutschein' }).check();
      // By its kind, not its label: the label changes with the language.
      const amount = page.locator('input[inputmode="decimal"]');
      await amount.fill('12,500');
      await page.getByLabel('Notiz (was ist passiert)').fill('Zwölf fünfzig');
      await page.getByLabel('Sprache').selectOption('en');
      await expect.poll(() => amount.inputValue()).toBe('12.5');
      await page.getByRole('button', { name: 'Grant' }).click();
      await expect.poll(() => page.getByTestId('member-name').count()).toBe(1);
      expect(sent.map((mutation) => mutation.variables.input.amountMoney)).toEqual([{ amount: '12.5', currency: 'EUR' }]);
      const gestures = await harness.prisma.goodwillGesture.findMany({ where: { memberId: member.id } });
      expect(gestures.map((gesture) => gesture.amount?.toString())).toEqual(['12.5']);
      await context.close();
    },
  );
});

/** The goodwill form filled in for a member, then Grant answered 401 (a token expired an hour ago): the sign-in page. */
async function fillGoodwillThen401(page: Page, memberId: string, staffId: string): Promise<void> {
  await go(page, `/members/${memberId}/goodwill`);
  await page.getByRole('textbox', { name: 'Points' }).fill('700');
  await page.getByLabel('Note (what happened)').fill('Parcel lost, customer called twice');
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

/** The name sign-in on the page as it is (no reload). */
async function typeNameAndSignIn(page: Page, name: string): Promise<void> {
  await page.getByLabel('Role').selectOption('AGENT');
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('signed-in-as').waitFor();
}

describe('a draft kept after a 401 goes back to the session that left it', () => {
  // The development sign-in takes the name typed as the staff id, and drafts went back to the staff id: whoever typed
  // the same name on that page within 10 minutes found the other person's goodwill form, note and all.
  it(
    'another person typing the same name on that page after the 401 finds the form empty, and the draft is gone',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-8101', 'Ana Anders', 'ana-anders@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Ana');
      await fillGoodwillThen401(page, member.id, 'Ana');

      await typeNameAndSignIn(page, 'Ana');
      await page.getByRole('textbox', { name: 'Points' }).waitFor();
      expect(await page.getByRole('textbox', { name: 'Points' }).inputValue()).toBe('');
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('');

      // That sign-in dropped it: signing out and continuing finds nothing either (and no session to continue).
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByLabel('Name', { exact: true }).waitFor();
      expect(await page.getByTestId('continue-session').count()).toBe(0);
      await context.close();
    },
  );

  it(
    'the session that left it continues on that page and finds the form as it was; a fresh page signing in under that name finds none',
    { timeout: 90_000 },
    async () => {
      const member = await harness.enrol('C-8102', 'Bruno Bleibt', 'bruno-bleibt@example.com');
      const { context, page } = await newPage('en');
      let grants = 0;
      page.on('request', (request) => {
        if ((request.postData() ?? '').includes('mutation IssueGoodwill')) grants += 1;
      });
      await signIn(page, 'AGENT', 'Ana');
      await fillGoodwillThen401(page, member.id, 'Ana');

      // Another browser, signing in as "Ana" meanwhile: its own empty form.
      const fresh = await newPage('en');
      await signIn(fresh.page, 'AGENT', 'Ana');
      await go(fresh.page, `/members/${member.id}/goodwill`);
      await fresh.page.getByRole('textbox', { name: 'Points' }).waitFor();
      expect(await fresh.page.getByRole('textbox', { name: 'Points' }).inputValue()).toBe('');
      expect(await fresh.page.getByLabel('Note (what happened)').inputValue()).toBe('');
      await fresh.context.close();

      // The session that ended continues on its page: the form as it was, nothing sent again until Grant.
      const resume = page.getByTestId('continue-session');
      expect(await resume.textContent()).toBe('Continue as Ana (Agent)');
      await resume.click();
      await expect.poll(() => page.getByRole('textbox', { name: 'Points' }).inputValue()).toBe('700');
      expect(await page.getByLabel('Note (what happened)').inputValue()).toBe('Parcel lost, customer called twice');
      expect(grants).toBe(1);
      await page.getByRole('button', { name: 'Grant' }).click();
      await expect.poll(() => page.getByTestId('balance-available').textContent()).toBe('700 points');
      const gestures = await harness.prisma.goodwillGesture.findMany({ where: { memberId: member.id } });
      expect(gestures.map((gesture) => [gesture.points, gesture.agentId])).toEqual([[700, 'Ana']]);
      await context.close();
    },
  );
});
