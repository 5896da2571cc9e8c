// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useConsole } from './support.js';

/**
 * The API refuses bidirectional controls in names and references (docs/domain-rules.md, "Text"), but rows stored
 * before it did, or written by SQL, can hold them. The console shows every user's string in its own isolate
 * (console/src/user-text.tsx): a name "\u202Egnp.exe" (U+202E RIGHT-TO-LEFT OVERRIDE) must not reverse the amount
 * after it on the supervisor's queue. Asserted on the DOM: the string's element is a <bdi> (unicode-bidi: isolate),
 * and the text after it on the line is laid out after it, left to right.
 */

const harness = useConsole();
const { newPage, signIn, go } = harness;

const RLO = '\u202E';
const PDI = '\u2069';
/** Every explicit bidirectional control: embeddings, overrides, isolates. */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;

/** Inserted by SQL, as a row of before the check (or another tool) would be: no service checks it. */
async function insertMember(externalId: string, name: string, email: string): Promise<string> {
  const rows = await harness.prisma.$queryRaw<{ id: string }[]>`
    INSERT INTO members (external_id, name, email) VALUES (${externalId}, ${name}, ${email}) RETURNING id`;
  return rows[0]!.id;
}

async function insertPendingGesture(memberId: string, agentId: string, note: string, key: string) {
  await harness.prisma.$executeRaw`
    INSERT INTO goodwill_gestures (member_id, agent_id, kind, amount, currency, money_value, reason, note, status, idempotency_key)
    VALUES (${memberId}::uuid, ${agentId}, 'VOUCHER', 40.00, 'EUR', 40.00, 'DELAYED_DELIVERY', ${note}, 'PENDING_APPROVAL', ${key})`;
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
