import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { ROOT } from '../support/processes.js';
import { DESKTOP, PHONE, type ConsoleHarness, type Locale } from './support.js';

/**
 * Every page of the console, in one language at both widths: no untranslated key, no unfilled
 * placeholder, nothing wider than the viewport, and (at desktop width) no serious or critical axe
 * violation. One file per language (page-walk-en, page-walk-de), so the two run side by side.
 * CONSOLE_SCREENSHOTS=docs/console also writes each page's screenshot there.
 */

const SCREENSHOTS = process.env.CONSOLE_SCREENSHOTS;

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
  const problems: string[] = [];

  const inspect = async (page: Page, label: string, viewport: typeof DESKTOP, audit: boolean) => {
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
      const { violations } = await new AxeBuilder({ page }).analyze();
      for (const violation of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')) {
        problems.push(`${label}: ${violation.impact} ${violation.id} (${violation.nodes.map((node) => node.target.join(' ')).join('; ')})`);
      }
    }
    if (SCREENSHOTS) await page.screenshot({ path: path.resolve(ROOT, SCREENSHOTS, `${label}.png`), fullPage: true });
  };

  try {
    for (const [device, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      const { context, page } = await harness.newPage(locale, viewport);
      await page.goto(`${harness.base}/console/`);
      await inspect(page, `sign-in-${locale}-${device}`, viewport, device === 'desktop');
      await harness.signIn(page, 'ADMIN', 'Ada Admin', locale);
      for (const entry of pages) {
        await go(page, entry.route);
        await inspect(page, `${entry.name}-${locale}-${device}`, viewport, device === 'desktop');
      }
      await context.close();
    }
  } finally {
    close();
  }
  return problems;
}
