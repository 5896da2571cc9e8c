import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { AxeResults, Result, RunOptions } from 'axe-core';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT } from '../support/processes.js';
import { DESKTOP, PHONE, type ConsoleHarness, type Locale } from './support.js';

/**
 * Every page of the console, in one language at both widths: no untranslated key, no unfilled
 * placeholder, nothing wider than the viewport, and (at desktop width) no serious or critical axe
 * violation. One file per language (page-walk-en, page-walk-de), so the two run side by side; within a
 * file the two widths walk side by side too, each in its own browser context.
 * CONSOLE_SCREENSHOTS=docs/console also writes each page's screenshot there.
 */

const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;

/** axe-core's browser script (its package's `source`: the script as a string, to evaluate in the page). */
const AXE_SOURCE = (createRequire(import.meta.url)('axe-core') as { source: string }).source;

type AxeWindow = { axe: { run(context: Document, options: RunOptions): Promise<AxeResults> } };

/**
 * axe-core's full rule set on the page's document, with the violations `new AxeBuilder({ page }).analyze()` of @axe-core/playwright found (the
 * same, rule and nodes, on every page of both walks when this replaced it). The source goes in once per document: the
 * walk moves by client-side navigation, so one injection serves every page after the sign-in. AxeBuilder evaluated the
 * ~600 KB source twice per call and finished each run in a new blank page: four fifths of the walk's time. It also ran
 * in frames; the console has none, and a page that gained one must say so here rather than go unaudited inside it.
 */
async function axeViolations(page: Page): Promise<Result[]> {
  if (page.frames().length !== 1) throw new Error(`${page.url()} has ${page.frames().length - 1} frame(s): audit them too`);
  if (!(await page.evaluate(() => typeof (window as unknown as Partial<AxeWindow>).axe?.run === 'function'))) {
    await page.evaluate(AXE_SOURCE);
  }
  // resultTypes: every rule runs and every violation comes back with all its nodes; of the passing and inapplicable
  // results only one node each is described (their selectors were most of axe's own time), and they are not read.
  const results = await page.evaluate(() => (window as unknown as AxeWindow).axe.run(document, { resultTypes: ['violations'] }));
  return results.violations;
}

/** What the pages show: a member with points, a pending and a granted gesture, a compensated failure, feedback, a case, a finished incident and one in progress, and a webhook endpoint with a delivery. */
async function seed(harness: ConsoleHarness): Promise<{ memberId: string; incidentId: string; endpointId: string; close: () => void }> {
  const { graphql } = harness;
  const receiver = createServer((request, response) => {
    request.resume();
    response.writeHead(204).end();
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { createWebhookEndpoint } = await graphql(
    'ADMIN',
    `
      mutation ($input: CreateWebhookEndpointInput!) {
        createWebhookEndpoint(input: $input) {
          ... on CreateWebhookEndpointPayload {
            endpoint {
              id
            }
          }
        }
      }
    `,
    {
      input: {
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/treue`,
        eventTypes: ['member.enrolled', 'voucher.issued'],
        description: 'CRM',
      },
    },
  );

  const member = await harness.enrol('C-1001', 'Jana Schulz', 'jana.schulz@example.com');
  const gesture = (kind: 'POINTS' | 'VOUCHER', extra: Record<string, unknown>, note: string, key: string) =>
    graphql(
      'AGENT',
      `
        mutation ($input: IssueGoodwillInput!) {
          issueGoodwill(input: $input) {
            ... on IssueGoodwillPayload {
              status
            }
          }
        }
      `,
      { input: { memberId: member.id, kind, ...extra, reason: 'POOR_EXPERIENCE', note, idempotencyKey: key } },
    );
  // Within the agent's authority (granted), and above it (in the approvals queue).
  await gesture('POINTS', { points: 1000 }, 'Parcel arrived a week late', 'walk-1');
  await gesture('VOUCHER', { amountMoney: { amount: '30.00', currency: 'EUR' } }, 'Three calls to fix a billing error', 'walk-2');
  await graphql(
    'AGENT',
    `
      mutation ($input: ReportServiceFailureInput!) {
        reportServiceFailure(input: $input) {
          __typename
        }
      }
    `,
    { input: { memberId: member.id, type: 'LATE_DELIVERY', severity: 'HIGH', orderRef: 'order-77', idempotencyKey: 'walk-3' } },
  );
  await graphql(
    'AGENT',
    `
      mutation ($case: RecordServiceCaseInput!, $feedback: SubmitFeedbackInput!) {
        recordServiceCase(input: $case) {
          __typename
        }
        submitFeedback(input: $feedback) {
          __typename
        }
      }
    `,
    {
      case: { memberId: member.id, channel: 'PHONE', category: 'delivery', contacts: 2 },
      feedback: { memberId: member.id, channel: 'PHONE', nps: 9, csat: 5 },
    },
  );

  const affected = await Promise.all(
    ['I-1', 'I-2', 'I-3'].map((externalId) => harness.enrol(externalId, `Ines ${externalId}`, `${externalId.toLowerCase()}@example.com`)),
  );
  const { reportServiceIncident } = await graphql(
    'AGENT',
    `
      mutation ($input: ReportServiceIncidentInput!) {
        reportServiceIncident(input: $input) {
          ... on ReportServiceIncidentPayload {
            incident {
              id
            }
          }
        }
      }
    `,
    {
      input: {
        type: 'OUTAGE',
        severity: 'MEDIUM',
        description: 'Checkout down for two hours',
        affected: affected.map((one) => ({ memberId: one.id })),
        idempotencyKey: 'walk-4',
      },
    },
  );
  // An incident still in progress (its one member is suspended: the failure is held), for the incidents list and the dashboard.
  const suspended = await harness.prisma.member.create({
    data: { externalId: 'I-4', name: 'Ines I-4', email: 'i-4@example.com', status: 'SUSPENDED' },
  });
  await graphql(
    'AGENT',
    `
      mutation ($input: ReportServiceIncidentInput!) {
        reportServiceIncident(input: $input) {
          __typename
        }
      }
    `,
    { input: { type: 'LONG_WAIT', severity: 'HIGH', affected: [{ memberId: suspended.id }], idempotencyKey: 'walk-5' } },
  );
  return {
    memberId: member.id,
    incidentId: reportServiceIncident.incident.id,
    endpointId: createWebhookEndpoint.endpoint.id,
    close: () => receiver.close(),
  };
}

export async function walkPages(harness: ConsoleHarness, locale: Locale): Promise<string[]> {
  const { go } = harness;
  const { memberId, incidentId, endpointId, close } = await seed(harness);
  const pages: { name: string; route: string }[] = [
    { name: 'search', route: '/?q=Jana' },
    { name: 'member', route: `/members/${memberId}` },
    { name: 'goodwill', route: `/members/${memberId}/goodwill` },
    { name: 'report-failure', route: `/members/${memberId}/failure` },
    { name: 'case-feedback', route: `/members/${memberId}/case` },
    { name: 'save-desk', route: '/save-desk' },
    { name: 'incidents', route: '/incidents' },
    { name: 'incident', route: `/incidents?id=${encodeURIComponent(incidentId)}` },
    { name: 'queue', route: '/queue' },
    { name: 'dashboard', route: '/dashboard' },
    { name: 'api-keys', route: '/admin/api-keys' },
    { name: 'program', route: '/admin/program' },
    { name: 'webhooks', route: '/admin/webhooks' },
    { name: 'webhook-endpoint', route: `/admin/webhooks/${endpointId}` },
  ];
  if (SCREENSHOTS) await mkdir(path.resolve(ROOT, SCREENSHOTS), { recursive: true });

  const inspect = async (page: Page, problems: string[], label: string, viewport: typeof DESKTOP, audit: boolean) => {
    // Settled: the page's heading is there and nothing is loading (on a loaded machine a page may take seconds).
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await expect.poll(() => page.locator('.loading').count(), { timeout: 20_000, message: `${label} still loading` }).toBe(0);
    // Identifiers shown as code (webhook event types such as member.status_changed) are not words to translate.
    const text = await page.evaluate(() => {
      const body = document.body.cloneNode(true) as HTMLElement;
      for (const code of body.querySelectorAll('.code')) code.remove();
      document.documentElement.append(body);
      const words = body.innerText;
      body.remove();
      return words;
    });
    const raw = harness.catalogueKeys.filter((key) => text.includes(key));
    if (raw.length > 0) problems.push(`${label}: untranslated ${raw.join(', ')}`);
    if (/\{\w+\}/.test(text)) problems.push(`${label}: unfilled placeholder in ${text.match(/.*\{\w+\}.*/)?.[0]}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) problems.push(`${label}: ${overflow} px wider than the ${viewport.width} px viewport`);
    if (audit) {
      const violations = await axeViolations(page);
      for (const violation of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
        problems.push(`${label}: ${violation.impact} ${violation.id} (${violation.nodes.map((node) => node.target.join(' ')).join('; ')})`);
      }
    }
    if (SCREENSHOTS) await page.screenshot({ path: path.resolve(ROOT, SCREENSHOTS, `${label}.png`), fullPage: true });
  };

  // Each width in its own context, the two at once; their problems are listed desktop first, as one walk after the
  // other listed them.
  const walk = async (device: 'desktop' | 'phone', viewport: typeof DESKTOP): Promise<string[]> => {
    const found: string[] = [];
    const { context, page } = await harness.newPage(locale, viewport);
    try {
      await page.goto(`${harness.base}/console/`);
      await inspect(page, found, `sign-in-${locale}-${device}`, viewport, device === 'desktop');
      await harness.signIn(page, 'ADMIN', 'Ada Admin', locale);
      for (const entry of pages) {
        await go(page, entry.route);
        await inspect(page, found, `${entry.name}-${locale}-${device}`, viewport, device === 'desktop');
      }
    } finally {
      await context.close();
    }
    return found;
  };

  try {
    // Both walks end before the seed's server closes, the one that failed first included.
    const walks = await Promise.allSettled([walk('desktop', DESKTOP), walk('phone', PHONE)]);
    const failed = walks.find((walked) => walked.status === 'rejected');
    if (failed) throw failed.reason;
    return walks.flatMap((walked) => (walked.status === 'fulfilled' ? walked.value : []));
  } finally {
    close();
  }
}
