// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium (support.ts).
import type { Page, Route } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { useConsole } from './support.js';

/**
 * The admin pages that create a credential (an API key, a webhook endpoint) send an idempotency key, the same one
 * again when the admin retries a creation whose answer the network lost: the service creates it once, and the page
 * says that its token or secret cannot be shown again (docs/console.md).
 */

const harness = useConsole();
const { newPage, signIn } = harness;

/**
 * The page's `operation` mutations: each one's idempotency key, in the order sent (`keys`). The first one reaches the
 * service (it creates) and its answer is lost on the way back, as a dropped connection loses it; later ones pass.
 * `lost` is what the service answered the first one (or why asking it failed): what a failed wait for the creation
 * prints beside its count, so that a creation that never happened says why.
 */
async function loseFirstAnswer(page: Page, operation: string): Promise<{ keys: unknown[]; lost: string[] }> {
  const keys: unknown[] = [];
  const lost: string[] = [];
  await page.route('**/graphql', async (route: Route) => {
    const body = route.request().postDataJSON() as { query?: string; variables?: { input?: { idempotencyKey?: unknown } } } | null;
    if (!body?.query?.includes(`mutation ${operation}`)) return route.continue();
    keys.push(body.variables?.input?.idempotencyKey);
    if (keys.length > 1) return route.continue();
    // The service answers; the browser never hears it.
    const answer = await route.fetch().then(
      async (response) => `${response.status()} ${await response.text()}`,
      (error: unknown) => `not answered: ${String(error)}`,
    );
    lost.push(answer);
    return route.abort('internetdisconnected');
  });
  return { keys, lost };
}

/**
 * The rows the first creation made (`count`), with how many were sent and what the service answered the first (its
 * HTTP status and body): waited for whole, so that a failed wait prints all of it.
 */
const firstCreation = (count: () => Promise<number>, sent: { keys: unknown[]; lost: string[] }) => async () => ({
  created: await count(),
  sent: sent.keys.length,
  answered: sent.lost,
});

/**
 * Opens the API keys page from the navigation, once it shows. Right after the click the search page is still there
 * for a moment, and its field "Name, e-mail or customer number" answers to a label "Name" too: a name typed then went
 * into the search field, and the form sent an empty one (a CI run's "ValidationError … must be 1-100 characters").
 */
async function openApiKeys(page: Page): Promise<void> {
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
}

describe('the admin pages that create credentials, retried after a lost answer', () => {
  it(
    'Create key sends an idempotency key and the same one on the retry: one key, and the page says its token is lost',
    { timeout: 90_000 },
    async () => {
      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');
      const intercepted = await loseFirstAnswer(page, 'CreateApiKey');
      const { keys } = intercepted;
      await openApiKeys(page);
      await page.getByLabel('Name', { exact: true }).fill('till 7');
      await page.getByLabel('points:earn').check();
      const submit = page.getByRole('button', { name: 'Create key' });
      await submit.click();
      await expect.poll(() => keys.length).toBe(1);
      await expect
        .poll(firstCreation(() => harness.prisma.apiKey.count({ where: { name: 'till 7' } }), intercepted))
        .toEqual({ created: 1, sent: 1, answered: [expect.stringMatching(/^200 /)] });
      await expect.poll(() => page.getByText('Something went wrong.').count()).toBe(1);

      await submit.click();
      await expect
        .poll(() => page.getByTestId('token-lost').textContent())
        .toBe(
          'The key till 7 was created by an earlier attempt whose answer was lost: its token cannot be shown again. Revoke it and create a new one.',
        );
      expect(await page.getByTestId('new-token').count()).toBe(0);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^console-api-key-/);
      expect(keys[1]).toBe(keys[0]);
      expect(await harness.prisma.apiKey.count({ where: { name: 'till 7' } })).toBe(1);
      const row = page.getByTestId('api-keys').getByRole('row', { name: /till 7/ });
      await expect.poll(() => row.count()).toBe(1);

      // The next key is a new creation: a new idempotency key, and its token shown.
      await page.getByLabel('Name', { exact: true }).fill('till 8');
      await page.getByLabel('points:earn').check();
      await submit.click();
      await expect.poll(() => page.getByTestId('new-token').textContent()).toMatch(/^trk_/);
      expect(keys).toHaveLength(3);
      expect(keys[2]).not.toBe(keys[0]);
      await context.close();
    },
  );

  it(
    'an admin who changed the form after a lost answer is told, and the next press creates the changed key',
    { timeout: 90_000 },
    async () => {
      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');
      const intercepted = await loseFirstAnswer(page, 'CreateApiKey');
      const { keys } = intercepted;
      await openApiKeys(page);
      await page.getByLabel('Name', { exact: true }).fill('till 9');
      await page.getByLabel('points:earn').check();
      const submit = page.getByRole('button', { name: 'Create key' });
      await submit.click();
      await expect
        .poll(firstCreation(() => harness.prisma.apiKey.count({ where: { name: 'till 9' } }), intercepted))
        .toEqual({ created: 1, sent: 1, answered: [expect.stringMatching(/^200 /)] });
      await expect.poll(() => page.getByText('Something went wrong.').count()).toBe(1);

      await page.getByLabel('Name', { exact: true }).fill('till 9b');
      await submit.click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toContain('An earlier attempt whose answer was lost created a key with other values');
      expect(await harness.prisma.apiKey.count({ where: { name: 'till 9b' } })).toBe(0);

      await submit.click();
      await expect.poll(() => page.getByTestId('new-token').textContent()).toMatch(/^trk_/);
      expect(keys).toHaveLength(3);
      expect(keys[1]).toBe(keys[0]);
      expect(keys[2]).not.toBe(keys[0]);
      expect(await harness.prisma.apiKey.count({ where: { name: { startsWith: 'till 9' } } })).toBe(2);
      await context.close();
    },
  );

  it(
    'Register endpoint sends an idempotency key and the same one on the retry: one endpoint, and the page links it to rotate its secret',
    { timeout: 90_000 },
    async () => {
      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');
      const intercepted = await loseFirstAnswer(page, 'CreateWebhookEndpoint');
      const { keys } = intercepted;
      await page.getByRole('link', { name: 'Webhooks' }).click();
      const url = 'https://crm.example.com/retried';
      await page.getByLabel('Receiver URL').fill(url);
      await page.getByLabel('member.enrolled').check();
      const submit = page.getByRole('button', { name: 'Register endpoint' });
      await submit.click();
      await expect
        .poll(firstCreation(() => harness.prisma.webhookEndpoint.count({ where: { url } }), intercepted))
        .toEqual({ created: 1, sent: 1, answered: [expect.stringMatching(/^200 /)] });
      await expect.poll(() => page.getByText('Something went wrong.').count()).toBe(1);

      await submit.click();
      const notice = page.getByTestId('secret-lost');
      await expect
        .poll(() => notice.textContent())
        .toBe(
          `The endpoint ${url} was registered by an earlier attempt whose answer was lost: its signing secret cannot be shown again. Open it and make a new secret, with an overlap of 0 hours.`,
        );
      expect(await page.getByTestId('new-secret').count()).toBe(0);
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^console-webhook-/);
      expect(keys[1]).toBe(keys[0]);
      expect(await harness.prisma.webhookEndpoint.count({ where: { url } })).toBe(1);

      // The notice's link opens the endpoint, where the admin makes a new secret.
      await notice.getByRole('link', { name: url }).click();
      await page.getByLabel('Overlap (hours, 0–168)').fill('0');
      await page.getByRole('button', { name: 'Make a new secret' }).click();
      await expect.poll(() => page.getByTestId('new-secret').textContent()).toMatch(/^whsec_/);
      const stored = await harness.prisma.webhookEndpoint.findFirstOrThrow({ where: { url } });
      expect([stored.secret, stored.previousSecret]).toEqual([await page.getByTestId('new-secret').textContent(), null]);
      await context.close();
    },
  );
});
