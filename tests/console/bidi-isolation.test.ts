// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useConsole } from './support.js';

/**
 * The API refuses bidirectional controls in names and references (docs/domain-rules.md, "Text"), but rows stored
 * before it did, or written by SQL, can hold them. The console shows every user's string in its own isolate
 * (console/src/user-text.tsx): a name "\u202Egnp.exe" (U+202E RIGHT-TO-LEFT OVERRIDE) must not reverse the amount
 * after it on the supervisor's queue. Asserted on the DOM: the string's element is a <bdi> (unicode-bidi: isolate),
 * and the text after it on the line is laid out after it, left to right. In an attribute (an aria-label, a title),
 * where no element can go, the string is between U+2068 and U+2069 with every control in it closed; a text field
 * that can hold it takes its direction from its value (dir=auto).
 */

const harness = useConsole();
const { newPage, signIn, go } = harness;

const RLO = '\u202E';
const PDF = '\u202C';
const FSI = '\u2068';
const PDI = '\u2069';
/** Every explicit bidirectional control: embeddings, overrides, isolates. */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;

/** Inserted by SQL, as a row of before the check (or another tool) would be: no service checks it. */
async function insertMember(externalId: string, name: string, email: string): Promise<string> {
  const rows = await harness.prisma.$queryRaw<{ id: string }[]>`
    INSERT INTO members (external_id, name, email) VALUES (${externalId}, ${name}, ${email}) RETURNING id`;
  return rows[0]!.id;
}

/** Asked for at 2 March 2026, 10:15 in Berlin (the queue's names say when). */
async function insertPendingGesture(memberId: string, agentId: string, note: string, key: string) {
  await harness.prisma.$executeRaw`
    INSERT INTO goodwill_gestures (member_id, agent_id, kind, amount, currency, money_value, reason, note, status, idempotency_key, created_at)
    VALUES (${memberId}::uuid, ${agentId}, 'VOUCHER', 40.00, 'EUR', 40.00, 'DELAYED_DELIVERY', ${note}, 'PENDING_APPROVAL', ${key},
            '2026-03-02T09:15:00Z')`;
}

/**
 * Text nodes in the page that hold a bidirectional control and are not inside an isolating element
 * (a <bdi>, or an element with dir=auto, whose computed unicode-bidi isolates).
 */
function unisolated(page: Page): Promise<string[]> {
  return page.evaluate((source) => {
    const control = new RegExp(source);
    const found: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (!control.test(node.textContent ?? '')) continue;
      const isolate = node.parentElement?.closest('bdi, [dir=auto]');
      const isolating = isolate && ['isolate', 'plaintext'].includes(getComputedStyle(isolate).unicodeBidi);
      if (!isolating) found.push(JSON.stringify(node.textContent));
    }
    return found;
  }, BIDI_CONTROL.source);
}

/**
 * Where the member's name and the amount after it on a queue line are laid out: the name's element (its
 * isolate, if any) and the <strong> amount, left and right edges in CSS pixels.
 */
function queueLine(page: Page, index: number) {
  return page
    .getByTestId('pending-gestures')
    .getByRole('listitem')
    .nth(index)
    .evaluate((item) => {
      const link = item.querySelector('a')!;
      const name = link.querySelector('bdi');
      const amount = item.querySelector('strong')!;
      const box = (element: Element) => element.getBoundingClientRect();
      return {
        text: link.textContent,
        isolated: name !== null && getComputedStyle(name).unicodeBidi === 'isolate',
        nameRight: box(link).right,
        amountLeft: box(amount).left,
        sameLine: Math.abs(box(link).top - box(amount).top) < 4,
      };
    });
}

describe('user strings in the console are shown isolated', () => {
  it(
    'a member named "\\u202Egnp.exe" by SQL: the queue line, the member page and the search keep the text around it in order',
    { timeout: 120_000 },
    async () => {
      const spoofed = await insertMember('C-2001', `${RLO}gnp.exe`, 'rlo@example.com');
      // The other way out of an isolate: a POP DIRECTIONAL ISOLATE first, closing the one the name is shown in.
      const escaping = await insertMember(`C-2002${PDI}${RLO}`, `${PDI}${RLO}kcaj`, 'pdi@example.com');
      await insertPendingGesture(spoofed, `agent${RLO}`, `late ${RLO}parcel`, 'bidi-1');
      await insertPendingGesture(escaping, 'agent-2', 'late parcel', 'bidi-2');
      await harness.prisma.$executeRaw`
        INSERT INTO api_keys (name, prefix, secret_hash, scopes, created_by)
        VALUES (${`shop ${RLO}yek`}, 'bidi0001', 'bidi-hash-1', ARRAY['members:read'], 'seed')`;

      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');

      // The supervisor's queue: "<name> — €40.00" stays in that order for both names.
      await go(page, '/queue');
      await expect.poll(() => page.getByTestId('pending-gestures').getByRole('listitem').count()).toBe(2);
      for (const index of [0, 1]) {
        const line = await queueLine(page, index);
        expect(line.isolated, line.text ?? '').toBe(true);
        expect(line.sameLine).toBe(true);
        expect(line.amountLeft, line.text ?? '').toBeGreaterThanOrEqual(line.nameRight - 1);
      }
      expect(await unisolated(page)).toEqual([]);

      // The member page: the name is a <bdi> in the heading; the e-mail, external id and date after it keep their order.
      for (const id of [spoofed, escaping]) {
        await go(page, `/members/${id}`);
        const heading = page.getByTestId('member-name');
        await heading.waitFor();
        expect(
          await heading.evaluate((h1) => h1.querySelector('bdi') !== null && getComputedStyle(h1.querySelector('bdi')!).unicodeBidi),
        ).toBe('isolate');
        const meta = await page.getByTestId('member-meta').evaluate((line) => {
          const isolates = [...line.querySelectorAll('bdi')];
          const last = isolates.at(-1)!;
          const after = document.createRange();
          after.setStartAfter(last);
          after.setEndAfter(line.lastChild!);
          return {
            isolates: isolates.length,
            lastRight: last.getBoundingClientRect().right,
            afterLeft: after.getBoundingClientRect().left,
          };
        });
        expect(meta.isolates).toBe(2);
        expect(meta.afterLeft).toBeGreaterThanOrEqual(meta.lastRight - 1);
        expect(await unisolated(page)).toEqual([]);
      }

      // The search results and the goodwill page's title, the API keys: no bidirectional control outside an isolate.
      await go(page, '/?q=example.com');
      await expect.poll(() => page.getByRole('row').count()).toBe(3);
      expect(await unisolated(page)).toEqual([]);
      await go(page, `/members/${spoofed}/goodwill`);
      await page.getByTestId('authority').waitFor();
      expect(await unisolated(page)).toEqual([]);
      await go(page, '/admin/api-keys');
      await page.getByTestId('api-keys').waitFor();
      expect(await unisolated(page)).toEqual([]);
      await context.close();
    },
  );
});

/** Letters written right to left: Hebrew, Arabic, Syriac, Thaana, N'Ko …, and their presentation forms. */
const RTL_LETTER = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFC]/;
const EMBEDDING_OR_OVERRIDE = /[\u202A\u202B\u202D\u202E]/;
const ISOLATE_INITIATOR = /[\u2066-\u2068]/;

/** Attributes that are shown (a tooltip, a placeholder, an image's text) or read out (an accessible name or value). */
const TEXT_ATTRIBUTES = [
  'aria-label',
  'aria-valuetext',
  'aria-description',
  'aria-roledescription',
  'aria-placeholder',
  'title',
  'alt',
  'placeholder',
  'label',
];

/**
 * What is wrong with a string that is shown or read out as one piece (an attribute's value, an option's text), if
 * anything: a right-to-left letter or an embedding or override outside an isolate (a user's string that is not
 * between U+2066–U+2068 and U+2069), a control its own closer does not close (U+202A–U+202E by U+202C, an isolate
 * by U+2069, innermost first), a closer that closes nothing. Held this strictly, the string cannot reorder the
 * text around it even where the isolates are not known (a renderer older than Unicode 6.3 ignores U+2066–U+2069).
 */
function bidiFault(value: string): string | undefined {
  const open: string[] = []; // the closer each open control waits for, innermost last
  for (const character of value) {
    if (EMBEDDING_OR_OVERRIDE.test(character)) {
      if (open.length === 0) return 'an embedding or override outside an isolate';
      open.push(PDF);
    } else if (ISOLATE_INITIATOR.test(character)) open.push(PDI);
    else if (character === PDF || character === PDI) {
      if (open.pop() !== character) return `an unmatched ${character === PDF ? 'U+202C' : 'U+2069'}`;
    } else if (open.length === 0 && RTL_LETTER.test(character)) return 'right-to-left text outside an isolate';
  }
  return open.length > 0 ? 'a control left open' : undefined;
}

/** Every shown or read-out attribute on the page, and every option's text, with what is wrong with it. */
async function attributeFaults(page: Page): Promise<string[]> {
  const found = await page.evaluate((names) => {
    const values: { where: string; value: string }[] = [];
    for (const element of document.querySelectorAll('*')) {
      for (const name of names) {
        const value = element.getAttribute(name);
        if (value !== null) values.push({ where: `<${element.localName} ${name}>`, value });
      }
      if (element instanceof HTMLOptionElement) values.push({ where: '<option> text', value: element.text });
    }
    return values;
  }, TEXT_ATTRIBUTES);
  return found.flatMap(({ where, value }) => {
    const fault = bidiFault(value);
    return fault ? [`${where} ${JSON.stringify(value)}: ${fault}`] : [];
  });
}

/** The page's text fields (inputs a user types text into, textareas) that do not take their direction from their value. */
function fieldsWithoutAutoDirection(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const notText = ['checkbox', 'radio', 'hidden', 'submit', 'button', 'reset', 'range', 'color', 'file', 'image'];
    return [...document.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')]
      .filter((field) => !notText.includes(field.type) && field.getAttribute('dir') !== 'auto')
      .map((field) => `${field.localName} ${JSON.stringify(field.labels?.[0]?.firstElementChild?.textContent ?? field.name)}`);
  });
}

/** Both of the above empty, and no user's text on the page outside an isolate (soft: every page's faults are listed). */
async function expectIsolated(page: Page) {
  expect.soft(await attributeFaults(page)).toEqual([]);
  expect.soft(await fieldsWithoutAutoDirection(page)).toEqual([]);
  expect.soft(await unisolated(page)).toEqual([]);
}

/** The direction a field's value is laid out in. */
function direction(page: Page, label: string) {
  return page.getByLabel(label, { exact: true }).evaluate((field) => getComputedStyle(field).direction);
}

describe('user strings in attributes and text fields', () => {
  it(
    'a Hebrew and an Arabic name with U+202E: each aria-label holds it between U+2068 and U+2069, and text fields are dir=auto',
    { timeout: 120_000 },
    async () => {
      const hebrew = await insertMember('C-3001', `דנה ${RLO}gnp.exe`, 'dana@example.org');
      await insertMember('C-3002', `سارة ${RLO}kcaj`, 'sara@example.org');
      await insertPendingGesture(hebrew, 'agent-3', 'الطرد تأخر', 'bidi-3');
      await harness.prisma.$executeRaw`
        INSERT INTO api_keys (name, prefix, secret_hash, scopes, created_by)
        VALUES (${`מפתח ${RLO}yek`}, 'bidi0002', 'bidi-hash-2', ARRAY['members:read'], 'seed')`;
      const [endpoint] = await harness.prisma.$queryRaw<{ id: string }[]>`
        INSERT INTO webhook_endpoints (url, description, event_types, secret, created_by)
        VALUES (${`https://example.org/${RLO}kooh`}, 'إشعارات المتجر', ARRAY['member.enrolled'], 'whsec_bidi', 'seed')
        RETURNING id`;
      // A tier the catalogue has no word for, so the console shows its name as the program gives it: the member's next.
      const { program } = await harness.graphql(
        'ADMIN',
        '{ program { version tiers { key name threshold multiplier compensationFactor benefits } } }',
      );
      const tiers = [...program.tiers];
      tiers.splice(1, 0, { key: 'KESEF', name: 'כסף', threshold: 500, multiplier: 1, compensationFactor: 1, benefits: '' });
      const updated = await harness.graphql(
        'ADMIN',
        'mutation($input: UpdateProgramInput!) { updateProgram(input: $input) { __typename } }',
        { input: { tiers, expectedVersion: program.version } },
      );
      expect(updated.updateProgram.__typename).toBe('UpdateProgramPayload');

      // The sign-in page: the name field.
      const { context, page } = await newPage('en');
      await page.goto(`${harness.base}/console/`);
      await page.getByLabel('Name', { exact: true }).fill('רות');
      expect.soft(await direction(page, 'Name')).toBe('rtl');
      await expectIsolated(page);
      await signIn(page, 'ADMIN', 'Ada Admin');

      // The member page: the progress bar's value names the next tier.
      await go(page, `/members/${hebrew}`);
      const progress = page.getByRole('progressbar', { name: 'Tier and progress' });
      await progress.waitFor();
      expect.soft(await progress.getAttribute('aria-valuetext')).toBe(`500 qualifying points to ${FSI}כסף${PDI}`);
      await expectIsolated(page);

      // The search, opened from another page with the name searched for: its field shows it, laid out right to left.
      await go(page, `/?q=${encodeURIComponent('דנה')}`);
      await expect.poll(() => page.getByRole('row').count()).toBe(2);
      expect(await page.getByLabel('Name, e-mail or customer number').inputValue()).toBe('דנה');
      expect.soft(await direction(page, 'Name, e-mail or customer number')).toBe('rtl');
      await expectIsolated(page);

      for (const [route, ready] of [
        [`/members/${hebrew}/goodwill`, 'Note (what happened)'],
        [`/members/${hebrew}/failure`, 'Order reference (optional)'],
        [`/members/${hebrew}/case`, 'Category'],
        ['/incidents', 'Incident id'],
      ] as const) {
        await go(page, route);
        await page.getByLabel(ready, { exact: true }).waitFor();
        await expectIsolated(page);
      }

      // The queue: the buttons and the note field name the member in its own isolate, the override in it closed.
      await go(page, '/queue');
      const gesture = page.getByTestId('pending-gestures').getByRole('listitem').filter({ hasText: 'דנה' });
      await gesture.waitFor();
      const named = `€40.00 for ${FSI}דנה ${RLO}gnp.exe${PDF}${PDI} (requested by ${FSI}agent-3${PDI}, 2 Mar 2026, 10:15)`;
      expect.soft(await gesture.getByRole('button', { name: 'Approve' }).getAttribute('aria-label')).toBe(`Approve ${named}`);
      expect.soft(await gesture.getByRole('button', { name: 'Reject' }).getAttribute('aria-label')).toBe(`Reject ${named}`);
      expect.soft(await gesture.getByRole('textbox').getAttribute('aria-label')).toBe(`Note on ${named}`);
      await expectIsolated(page);

      // The API keys: the revoke button names the key in its own isolate, the override in it closed.
      await go(page, '/admin/api-keys');
      await page.getByTestId('api-keys').waitFor();
      expect
        .soft(
          await page.getByTestId('api-keys').getByRole('row').filter({ hasText: 'מפתח' }).getByRole('button').getAttribute('aria-label'),
        )
        .toBe(`Revoke ${FSI}מפתח ${RLO}yek${PDF}${PDI}`);
      await expectIsolated(page);

      // The webhook endpoints: the buttons name the URL; the endpoint's form holds the URL and the Arabic description.
      await go(page, '/admin/webhooks');
      await page.getByTestId('webhook-endpoints').waitFor();
      expect
        .soft(await page.getByRole('button', { name: /^Delete / }).getAttribute('aria-label'))
        .toBe(`Delete ${FSI}https://example.org/${RLO}kooh${PDF}${PDI}`);
      await expectIsolated(page);
      await go(page, `/admin/webhooks/${endpoint!.id}`);
      await expect.poll(() => page.getByLabel('What it is for (optional)').inputValue()).toBe('إشعارات المتجر');
      expect.soft(await direction(page, 'What it is for (optional)')).toBe('rtl');
      expect.soft(await direction(page, 'Receiver URL')).toBe('ltr');
      await expectIsolated(page);

      // The program: the tier's name field.
      await go(page, '/admin/program');
      await expect.poll(() => page.getByTestId('tier').count()).toBe(5);
      const kesef = page.getByRole('group', { name: 'Tier 2' }).getByLabel('Name', { exact: true });
      expect.soft(await kesef.inputValue()).toBe('כסף');
      expect.soft(await kesef.evaluate((field) => getComputedStyle(field).direction)).toBe('rtl');
      await expectIsolated(page);
      await context.close();
    },
  );
});
