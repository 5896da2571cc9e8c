// No useTestApp(): the built service runs as a child process on this worker's database, driven by Chromium.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { consoleSchema, deprecatedUses, requestsSent } from './deprecated.js';
import { useConsole } from './support.js';

/**
 * The agent console's journeys in headless Chromium against the built service (tests/console/support.ts).
 * Every page in each language: page-walk-en.test.ts and page-walk-de.test.ts.
 */

const harness = useConsole();
const { newPage, signIn, go, graphql } = harness;
const enrol = (externalId: string, name: string, email: string) => harness.enrol(externalId, name, email);

const { issueWaitingVoucher } = harness;

describe('agent console in Chromium', () => {
  it(
    'an agent finds a member, grants a gesture within authority (the balance changes), sends one above it for approval and cannot approve it; a supervisor approves it and the member page shows the voucher',
    { timeout: 120_000 },
    async () => {
      const member = await enrol('C-1001', 'Jana Schulz', 'jana.schulz@example.com');
      const { context, page } = await newPage('en');
      // Every request the console sends on the way, checked at the end for anything deprecated (tests/console/deprecated.ts).
      const sent = requestsSent(page, harness.base);
      await signIn(page, 'AGENT', 'Alex Agent');

      await page.getByLabel('Name, e-mail or customer number').fill('Jana');
      await page.getByRole('button', { name: 'Search' }).click();
      const clicked = await page.evaluate(() => performance.now());
      await page.getByRole('link', { name: 'Jana Schulz' }).click();
      // A figure for docs/console.md, not an assertion: from the click to the member page's balance on screen.
      const rendered = (await (
        await page.waitForFunction(
          () => document.querySelector('[data-testid=balance-available]')?.textContent === '0 points' && performance.now(),
          undefined,
          { polling: 'raf' },
        )
      ).jsonValue()) as number;
      console.log(`member page rendered ${Math.round(rendered - clicked)} ms after the click`);

      // Within authority (1 000 points = 10.00 of 25.00 per gesture): granted at once.
      await page.getByRole('link', { name: 'Goodwill gesture' }).click();
      await expect.poll(() => page.getByTestId('authority').textContent()).toContain('€500.00');
      await page.getByRole('textbox', { name: 'Points' }).fill('1000');
      await expect.poll(() => page.getByTestId('outcome').textContent()).toBe('Within your authority: €10.00 will be granted at once.');
      await page.getByLabel('Note (what happened)').fill('Parcel arrived a week late');
      await page.getByRole('button', { name: 'Grant' }).click();
      await expect.poll(() => page.getByTestId('notice').textContent()).toBe('The goodwill gesture was granted.');
      await expect.poll(() => page.getByTestId('balance-available').textContent()).toBe('1,000 points');

      // Above authority (a 40.00 voucher, the limit is 25.00): sent for approval, nothing given yet.
      await page.getByRole('link', { name: 'Goodwill gesture' }).click();
      await page.getByRole('radio', { name: 'Voucher' }).check();
      await page.getByLabel('Note (what happened)').fill('Second late parcel this month');
      // Three places: the API refuses the amount (amountMoney.amount), shown at the field.
      await page.getByLabel('Voucher value (EUR)').fill('40.005');
      await page.getByRole('button', { name: 'Send for approval' }).click();
      await expect.poll(() => page.locator('#amount-error').textContent()).toBe('must be a decimal amount with at most two decimal places');
      await page.getByLabel('Voucher value (EUR)').fill('40.00');
      await expect
        .poll(() => page.getByTestId('outcome').textContent())
        .toBe('Above your authority: €40.00 will be sent to a supervisor for approval.');
      await page.getByRole('button', { name: 'Send for approval' }).click();
      await expect
        .poll(() => page.getByTestId('notice').textContent())
        .toBe('The goodwill gesture is waiting for a supervisor’s approval.');
      await expect.poll(() => page.getByRole('table').first().textContent()).toBeTruthy();
      expect(await page.getByTestId('vouchers').count()).toBe(0); // no voucher yet

      // The agent has no approvals: not in the menu, and the page refuses.
      expect(await page.getByRole('link', { name: 'Approvals' }).count()).toBe(0);
      await go(page, '/queue');
      await expect.poll(() => page.getByRole('alert').textContent()).toBe('Your role (Agent) cannot open this page.');
      expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      await context.close();

      const supervisor = await newPage('en');
      const sentBySupervisor = requestsSent(supervisor.page, harness.base);
      await signIn(supervisor.page, 'SUPERVISOR', 'Sam Supervisor');
      await supervisor.page.getByRole('link', { name: 'Approvals' }).click();
      const pending = supervisor.page.getByTestId('pending-gestures').getByRole('listitem');
      await expect.poll(() => pending.count()).toBe(1);
      expect(await pending.first().textContent()).toContain('Jana Schulz');
      expect(await pending.first().textContent()).toContain('by Alex Agent');
      await pending.first().getByLabel('Note').fill('Agreed, two late parcels');
      await pending.first().getByRole('button', { name: 'Approve' }).click();
      await expect.poll(() => supervisor.page.getByText('No gestures are waiting.').count()).toBe(1);

      await go(supervisor.page, `/members/${member.id}`);
      const vouchers = supervisor.page.getByTestId('vouchers');
      await expect.poll(() => vouchers.textContent()).toContain('Goodwill');
      expect(await vouchers.textContent()).toContain('€40.00');
      expect(await vouchers.textContent()).toContain('Valid');
      const gesture = await harness.prisma.goodwillGesture.findFirstOrThrow({ where: { memberId: member.id, kind: 'VOUCHER' } });
      expect(gesture.status).toBe('GRANTED');
      expect(gesture.decidedBy).toBe('Sam Supervisor');
      await supervisor.context.close();

      // The voucher went out as money in the program's currency (amountMoney), the points as points; nothing the
      // console sent is deprecated, in its documents or in their variables (the voucher's amount was `amount` once).
      const schema = consoleSchema();
      const bodies = [...sent, ...sentBySupervisor];
      expect(bodies.length).toBeGreaterThan(5);
      expect(bodies.flatMap((body) => deprecatedUses(schema, body))).toEqual([]);
      const gestures = sent
        .filter((body) => body.query?.includes('mutation IssueGoodwill'))
        .map((body) => {
          const { kind, points, amountMoney } = (body.variables as { input: Record<string, unknown> }).input;
          return { kind, points, amountMoney };
        });
      expect(gestures).toEqual([
        { kind: 'POINTS', points: 1000, amountMoney: undefined },
        { kind: 'VOUCHER', points: undefined, amountMoney: { amount: '40.005', currency: 'EUR' } },
        { kind: 'VOUCHER', points: undefined, amountMoney: { amount: '40', currency: 'EUR' } },
      ]);
    },
  );

  it(
    'an agent reports a service failure and the compensation voucher appears on the member page without a reload',
    { timeout: 90_000 },
    async () => {
      const member = await enrol('C-1002', 'Tom Becker', 'tom.becker@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      await go(page, `/members/${member.id}`);
      await page.getByRole('link', { name: 'Report a service failure' }).click();
      await page.getByLabel('Type').selectOption('LATE_DELIVERY');
      await page.getByLabel('Severity').selectOption('HIGH');
      await page.getByLabel('Order reference (optional)').fill('order-77');
      let loads = 0;
      page.on('load', () => (loads += 1));
      await page.getByRole('button', { name: 'Report' }).click();
      await expect.poll(() => page.getByTestId('notice').textContent()).toContain('The service failure was recorded');
      const vouchers = page.getByTestId('vouchers');
      await expect.poll(() => vouchers.textContent(), { timeout: 30_000 }).toContain('Compensation');
      expect(await vouchers.textContent()).toContain('€25.00'); // HIGH: 25 × BRONZE 1.0
      expect(await page.getByTestId('failures').textContent()).toContain('Compensated');
      expect(loads).toBe(0);
      await context.close();
    },
  );

  it('the dashboard shows the figures of a seeded data set, equal to loyaltyMetrics', { timeout: 90_000 }, async () => {
    const members = await Promise.all(
      ['D-1', 'D-2', 'D-3', 'D-4'].map((externalId) => enrol(externalId, `Dana ${externalId}`, `${externalId.toLowerCase()}@example.com`)),
    );
    // NPS: promoters 10 and 9, a passive 8, a detractor 3 → 25; CSAT: 5, 4 and 2 → 66.7 % satisfied.
    const answers = [{ nps: 10, csat: 5 }, { nps: 9, csat: 4 }, { nps: 8, csat: 2 }, { nps: 3 }];
    for (const [index, answer] of answers.entries()) {
      await graphql(
        'AGENT',
        `
          mutation ($input: SubmitFeedbackInput!) {
            submitFeedback(input: $input) {
              __typename
            }
          }
        `,
        { input: { memberId: members[index]!.id, channel: 'PHONE', ...answer } },
      );
    }
    // First-contact resolution: one case resolved on the first contact, one after three → 50 %.
    for (const [index, contacts] of [1, 3].entries()) {
      const recorded = await graphql(
        'AGENT',
        `
          mutation ($input: RecordServiceCaseInput!) {
            recordServiceCase(input: $input) {
              ... on RecordServiceCasePayload {
                serviceCase {
                  id
                }
              }
            }
          }
        `,
        { input: { memberId: members[index]!.id, channel: 'PHONE', category: 'delivery' } },
      );
      await graphql(
        'AGENT',
        `
          mutation ($input: ResolveServiceCaseInput!) {
            resolveServiceCase(input: $input) {
              __typename
            }
          }
        `,
        {
          input: { caseId: recorded.recordServiceCase.serviceCase.id, contacts },
        },
      );
    }

    const { context, page } = await newPage('en');
    await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
    await page.getByRole('link', { name: 'Dashboard' }).click();
    const totals = page.getByTestId('totals');
    await totals.waitFor();
    const shown = async (label: string) =>
      (await totals
        .locator('div', { has: page.getByText(label, { exact: true }) })
        .locator('dd')
        .textContent())!;

    // The page's period: the last 12 calendar months (UTC), this one included.
    const now = new Date();
    const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const from = new Date(Date.UTC(to.getUTCFullYear() - 1, to.getUTCMonth(), 1));
    const { loyaltyMetrics } = await graphql(
      'SUPERVISOR',
      `
        query ($from: DateTime!, $to: DateTime!) {
          loyaltyMetrics(from: $from, to: $to, groupBy: MONTH) {
            ... on LoyaltyMetrics {
              totals {
                nps {
                  value
                }
                csat {
                  value
                }
                firstContactResolution {
                  percent
                }
                goodwill {
                  value {
                    amount
                  }
                }
                compensation {
                  value {
                    amount
                  }
                }
              }
              buckets {
                nps {
                  value
                }
              }
            }
          }
        }
      `,
      { from: from.toISOString(), to: to.toISOString() },
    );
    const api = loyaltyMetrics.totals;
    expect(api.nps.value).toBe(25);
    expect(api.csat.value).toBeCloseTo(66.67, 1);
    expect(api.firstContactResolution.percent).toBe(50);
    expect(loyaltyMetrics.buckets).toHaveLength(12);
    const percent = (value: number) => `${new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 }).format(value)} %`;
    const euros = (amount: string) => new Intl.NumberFormat('en-GB', { style: 'currency', currency: 'EUR' }).format(Number(amount));
    expect(await shown('NPS')).toBe(String(Math.round(api.nps.value)));
    expect(await shown('CSAT (% satisfied)')).toBe(percent(api.csat.value));
    expect(await shown('CSAT (% satisfied)')).toBe('66.7 %');
    expect(await shown('First-contact resolution (%)')).toBe(percent(api.firstContactResolution.percent));
    expect(await shown('Goodwill')).toBe(euros(api.goodwill.value.amount));
    expect(await shown('Compensation')).toBe(euros(api.compensation.value.amount));
    // One chart per figure, and the spend chart, each with its 12 months.
    expect(await page.locator('.recharts-wrapper').count()).toBe(7);
    await context.close();
  });

  it(
    'an agent records a case, resolves it and records feedback; an admin creates an API key, sees its token once and revokes it, and changes a program setting (a refused value shown at its field)',
    { timeout: 90_000 },
    async () => {
      const member = await enrol('C-1003', 'Lena Wolf', 'lena.wolf@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      await go(page, `/members/${member.id}`);
      await page.getByRole('link', { name: 'Case or feedback' }).click();
      await page.getByLabel('Category').fill('delivery');
      await page.getByLabel('Contacts so far').fill('2');
      await page.getByRole('button', { name: 'Record case' }).click();
      await expect.poll(() => page.getByTestId('notice').textContent()).toBe('The service case was recorded.');
      await page.getByRole('button', { name: 'Resolve' }).click();
      await expect.poll(() => page.getByText(/resolved \d/).count()).toBe(1);
      const serviceCase = await harness.prisma.serviceCase.findFirstOrThrow({ where: { memberId: member.id } });
      expect(serviceCase.resolvedAt).not.toBeNull();
      expect(serviceCase.contacts).toBe(2);

      // A score out of range: the API's ValidationError is shown at its field, nothing recorded.
      await page.getByRole('link', { name: 'Case or feedback' }).click();
      await page.getByLabel('Would recommend us (0–10, optional)').fill('11');
      await page.getByRole('button', { name: 'Record feedback' }).click();
      await expect.poll(() => page.locator('#nps-error').count()).toBe(1);
      expect(await harness.prisma.feedback.count({ where: { memberId: member.id } })).toBe(0);
      await page.getByLabel('Would recommend us (0–10, optional)').fill('9');
      await page.getByLabel('Satisfaction (1–5, optional)').fill('5');
      await page.getByRole('button', { name: 'Record feedback' }).click();
      await expect.poll(() => page.getByTestId('notice').textContent()).toBe('The feedback was recorded.');
      await expect.poll(() => page.getByText('NPS 9').count()).toBe(1);
      // Agents have no API keys page.
      expect(await page.getByRole('link', { name: 'API keys' }).count()).toBe(0);
      await context.close();

      const admin = await newPage('en');
      await signIn(admin.page, 'ADMIN', 'Ada Admin');
      await admin.page.getByRole('link', { name: 'API keys' }).click();
      await admin.page.getByRole('button', { name: 'Create key' }).click();
      await expect.poll(() => admin.page.locator('#name-error').count()).toBe(1);
      await admin.page.getByLabel('Name').fill('web shop');
      await admin.page.getByLabel('members:read').check();
      await admin.page.getByLabel('points:earn').check();
      await admin.page.getByRole('button', { name: 'Create key' }).click();
      const token = (await admin.page.getByTestId('new-token').textContent())!;
      const row = admin.page.getByTestId('api-keys').getByRole('row', { name: /web shop/ });
      await expect.poll(() => row.textContent()).toContain('members:read, points:earn');
      const probe = () =>
        fetch(`${harness.base}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: '{"query":"{ program { currency } }"}',
        });
      expect((await probe()).status).toBe(200);
      // The key's name is isolated in the button's name (U+2068 … U+2069), as every user's string in an attribute.
      await row.getByRole('button', { name: 'Revoke \u2068web shop\u2069' }).click();
      await expect.poll(() => row.textContent()).toContain('revoked');
      await expect.poll(async () => (await probe()).status).toBe(401);

      // Program settings: a refused value is shown at its field and changes nothing; a valid one is saved.
      await admin.page.getByRole('link', { name: 'Program' }).click();
      const returnWindow = admin.page.getByLabel('Return window (days)');
      const save = admin.page.getByRole('button', { name: 'Save points, vouchers and status' });
      await expect.poll(() => returnWindow.inputValue()).toBe('14');
      await returnWindow.fill('-1');
      await save.click();
      await expect.poll(() => admin.page.locator('#returnWindowDays-error').count()).toBe(1);
      expect((await graphql('ADMIN', '{ program { returnWindowDays } }')).program.returnWindowDays).toBe(14);
      await returnWindow.fill('21');
      await save.click();
      await expect.poll(() => admin.page.getByTestId('notice').textContent()).toBe('The settings were saved.');
      expect((await graphql('ADMIN', '{ program { returnWindowDays } }')).program.returnWindowDays).toBe(21);
      await admin.context.close();
    },
  );

  it(
    'an admin registers a webhook endpoint (a refused URL shown at its field, the secret once), sees its delivery and sends it again',
    { timeout: 90_000 },
    async () => {
      const received: string[] = [];
      const receiver: Server = createServer((request, response) => {
        request.resume();
        received.push(String(request.headers['webhook-id']));
        response.writeHead(204).end();
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/treue`;
      try {
        const { context, page } = await newPage('en');
        await signIn(page, 'ADMIN', 'Ada Admin');
        await page.getByRole('link', { name: 'Webhooks' }).click();
        await page.getByLabel('Receiver URL').fill('ftp://crm.example.com/treue');
        await page.getByLabel('member.enrolled').check();
        await page.getByRole('button', { name: 'Register endpoint' }).click();
        await expect.poll(() => page.locator('#url-error').textContent()).toContain('must be an http or https URL');
        expect(await harness.prisma.webhookEndpoint.count()).toBe(0);

        await page.getByLabel('Receiver URL').fill(url);
        await page.getByRole('button', { name: 'Register endpoint' }).click();
        await expect.poll(() => page.getByTestId('new-secret').textContent()).toMatch(/^whsec_/);
        await page.getByRole('link', { name: url }).click();
        await expect.poll(() => page.getByText('No deliveries.').count()).toBe(1);
        expect(await page.getByTestId('new-secret').count()).toBe(0); // shown once, on the page that made it

        await graphql(
          'ADMIN',
          `
            mutation ($input: EnrollMemberInput!) {
              enrollMember(input: $input) {
                __typename
              }
            }
          `,
          { input: { externalId: 'W-1', name: 'Wanda Webb' } },
        );
        // The page asks again when told to: the status filter is the refresh an admin uses.
        const deliveries = page.getByTestId('webhook-deliveries');
        const row = deliveries.getByRole('row', { name: /member\.enrolled/ });
        await expect
          .poll(
            async () => {
              await page.getByLabel('Show').selectOption('SUCCEEDED');
              await page.getByLabel('Show').selectOption('ALL');
              return (await row.count()) === 1 ? row.innerText() : '';
            },
            { timeout: 20_000 },
          )
          .toMatch(/Delivered\s+1\s+204/);
        expect(received).toHaveLength(1);

        await row.getByRole('button', { name: /^Send again: member\.enrolled of / }).click();
        await expect.poll(() => received.length, { timeout: 20_000 }).toBe(2);
        expect(received[1]).toBe(received[0]); // the same webhook-id: receivers deduplicate on it
        await expect
          .poll(
            async () => {
              await page.getByLabel('Show').selectOption('SUCCEEDED');
              await page.getByLabel('Show').selectOption('ALL');
              return row.innerText();
            },
            { timeout: 20_000 },
          )
          .toMatch(/Delivered\s+2\s+204/);

        await page.getByRole('button', { name: 'Disable', exact: true }).click();
        await expect.poll(() => page.getByTestId('notice').textContent()).toBe('The endpoint was disabled.');
        expect((await harness.prisma.webhookEndpoint.findFirstOrThrow()).enabled).toBe(false);
        await context.close();
      } finally {
        receiver.close();
      }
    },
  );

  it(
    'an admin edits the tiers: a threshold below the tier before is refused at that field (nothing changed), a valid one is saved',
    { timeout: 60_000 },
    async () => {
      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');
      await page.getByRole('link', { name: 'Program' }).click();
      const gold = page.getByRole('group', { name: 'Tier 3' });
      const threshold = gold.getByLabel('Qualifying points');
      await expect.poll(() => threshold.inputValue()).toBe('5000');
      await threshold.fill('500'); // below SILVER's 1 000
      await page.getByRole('button', { name: 'Save tiers' }).click();
      const error = page.locator('#tiers-2-threshold-error');
      await expect.poll(() => error.textContent()).toBe('must be above the threshold of SILVER (1000)');
      expect(await gold.locator('#tiers-2-threshold-error').count()).toBe(1); // in the third tier's row
      const tiers = async () =>
        (await graphql('ADMIN', '{ program { tiers { key threshold } } }')).program.tiers as { key: string; threshold: number }[];
      expect((await tiers()).find((tier) => tier.key === 'GOLD')!.threshold).toBe(5000);

      await threshold.fill('4000');
      await page.getByRole('button', { name: 'Save tiers' }).click();
      await expect.poll(() => page.getByTestId('notice').textContent()).toBe('The settings were saved.');
      expect(await error.count()).toBe(0);
      expect((await tiers()).map((tier) => [tier.key, tier.threshold])).toEqual([
        ['BRONZE', 0],
        ['SILVER', 1000],
        ['GOLD', 4000],
        ['PLATINUM', 15000],
      ]);
      await context.close();
    },
  );

  it('an agent opens a reported incident and watches its progress until every member is compensated', { timeout: 90_000 }, async () => {
    const affected = await Promise.all(
      ['I-1', 'I-2', 'I-3'].map((externalId) => enrol(externalId, `Ines ${externalId}`, `${externalId.toLowerCase()}@example.com`)),
    );
    const { reportServiceIncident } = await graphql(
      'AGENT',
      `
        mutation ($input: ReportServiceIncidentInput!) {
          reportServiceIncident(input: $input) {
            __typename
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
          affected: affected.map((member) => ({ memberId: member.id })),
          idempotencyKey: 'incident-1',
        },
      },
    );
    const { context, page } = await newPage('en');
    await signIn(page, 'AGENT', 'Alex Agent');
    await page.getByRole('link', { name: 'Incidents' }).click();
    await page.getByLabel('Incident id').fill(reportServiceIncident.incident.id);
    await page.getByRole('button', { name: 'Show' }).click();
    const counts = page.getByTestId('incident-counts');
    const count = async (label: string) => {
      const text = (await counts.innerText()).split('\n');
      return text[text.indexOf(label) + 1];
    };
    await expect.poll(() => count('Members affected')).toBe('3');
    // The worker expands and compensates it meanwhile; the page follows without a reload.
    await expect.poll(() => count('Compensated'), { timeout: 30_000 }).toBe('3');
    expect(await count('Still to expand')).toBe('0');
    expect(await page.getByRole('heading', { name: 'Outage, Medium' }).count()).toBe(1);
    await context.close();
  });

  it(
    'a supervisor with the approvals open sees an agent’s above-authority gesture appear, and disappear when another supervisor approves it, without a reload',
    { timeout: 90_000 },
    async () => {
      const member = await enrol('Q-1', 'Quirin Queue', 'quirin.queue@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
      await page.getByRole('link', { name: 'Approvals' }).click();
      await page.getByRole('heading', { name: 'Approvals' }).waitFor();
      const waiting = page.getByRole('listitem').filter({ hasText: 'Quirin Queue' });
      await expect.poll(() => page.locator('.loading').count()).toBe(0);
      expect(await waiting.count()).toBe(0);
      let loads = 0;
      page.on('load', () => (loads += 1));

      // Above the agent's authority (a 40.00 voucher, the limit is 25.00): sent for approval through the API.
      const { issueGoodwill } = await issueWaitingVoucher('AGENT', member.id, 'Parcel lost twice', 'live-queue-1');
      expect(issueGoodwill.status).toBe('PENDING_APPROVAL');
      await expect.poll(() => waiting.count(), { timeout: 15_000 }).toBe(1);
      expect(await waiting.textContent()).toContain('€40.00');

      // Another supervisor approves it through the API: it leaves the open page.
      const { approveGoodwill } = await graphql(
        'SUPERVISOR',
        `
          mutation ($input: ApproveGoodwillInput!) {
            approveGoodwill(input: $input) {
              __typename
              ... on ApproveGoodwillPayload {
                status
              }
            }
          }
        `,
        { input: { gestureId: issueGoodwill.gesture.id, note: 'Approved elsewhere', idempotencyKey: 'live-queue-approve-1' } },
      );
      expect(approveGoodwill.status).toBe('GRANTED');
      await expect.poll(() => waiting.count(), { timeout: 15_000 }).toBe(0);
      expect(loads).toBe(0);
      await context.close();
    },
  );

  it(
    'the incidents page lists every incident newest first, each opening its detail; the dashboard shows those still in progress',
    { timeout: 90_000 },
    async () => {
      const active = await enrol('J-1', 'Jonas Listed', 'jonas.listed@example.com');
      const suspended = await harness.prisma.member.create({
        data: { externalId: 'J-2', name: 'Jule Held', email: 'jule.held@example.com', status: 'SUSPENDED' },
      });
      const report = async (type: string, severity: string, memberId: string, key: string) =>
        (
          await graphql(
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
            { input: { type, severity, affected: [{ memberId }], idempotencyKey: key } },
          )
        ).reportServiceIncident.incident.id as string;
      // Compensated at once: finished. The suspended member's failure is held: in progress until a supervisor decides.
      const finished = await report('BILLING_ERROR', 'LOW', active.id, 'incidents-list-1');
      const held = await report('LONG_WAIT', 'HIGH', suspended.id, 'incidents-list-2');
      const progress = (id: string) =>
        graphql(
          'SUPERVISOR',
          `
            query ($id: ID!) {
              serviceIncident(id: $id) {
                pending
                compensated
                held
              }
            }
          `,
          { id },
        );
      await expect
        .poll(async () => (await progress(finished)).serviceIncident, { timeout: 30_000 })
        .toMatchObject({ pending: 0, compensated: 1 });
      await expect.poll(async () => (await progress(held)).serviceIncident, { timeout: 30_000 }).toMatchObject({ pending: 0, held: 1 });

      const { context, page } = await newPage('en');
      await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
      await page.getByRole('link', { name: 'Incidents' }).click();
      await page.getByRole('heading', { name: 'Service incidents' }).waitFor();
      const rows = page.getByTestId('incidents').locator('tbody tr');
      await expect.poll(() => rows.count()).toBeGreaterThanOrEqual(2);
      // Newest first: the held one, then the finished one.
      const first = (await rows.nth(0).innerText()).split('\t').map((cell) => cell.trim());
      const second = (await rows.nth(1).innerText()).split('\t').map((cell) => cell.trim());
      expect(first.slice(0, 2)).toEqual(['Long wait', 'High']);
      expect(first.slice(3, 6)).toEqual(['1', '0', '0']); // affected, compensated, still to expand
      expect(second.slice(0, 2)).toEqual(['Billing error', 'Low']);
      expect(second.slice(3, 6)).toEqual(['1', '1', '0']);

      await rows.nth(0).getByRole('link', { name: 'Long wait' }).click();
      await page.getByRole('heading', { name: 'Long wait, High' }).waitFor();
      expect(new URL(page.url()).searchParams.get('id')).toBe(held);
      const counts = (await page.getByTestId('incident-counts').innerText()).split('\n');
      expect(counts[counts.indexOf('Held (suspended members)') + 1]).toBe('1');

      await page.getByRole('link', { name: 'Dashboard' }).click();
      const inProgress = page.getByTestId('incidents-in-progress');
      await expect.poll(() => inProgress.textContent()).toContain('Long wait');
      expect(await inProgress.textContent()).not.toContain('Billing error');
      await inProgress.getByRole('link', { name: 'Long wait' }).click();
      await page.getByRole('heading', { name: 'Long wait, High' }).waitFor();
      await context.close();
    },
  );

  it(
    'a supervisor is not offered Approve on a gesture they issued themselves (the API refuses it: never the issuing agent)',
    { timeout: 120_000 },
    async () => {
      const member = await enrol('R-2001', 'Rita Roth', 'rita.roth@example.com');
      // graphql('SUPERVISOR', …) acts as staff id "seed-supervisor"; 40.00 is above the default 25.00 per gesture.
      const issued = await issueWaitingVoucher('SUPERVISOR', member.id, 'Issued by the supervisor on a call', 'review-own-1');
      expect(issued.issueGoodwill.status).toBe('PENDING_APPROVAL');

      const { context, page } = await newPage('en');
      await signIn(page, 'SUPERVISOR', 'seed-supervisor'); // the same staff member, in the console
      await go(page, '/queue');
      const pending = page.getByTestId('pending-gestures').getByRole('listitem');
      await expect.poll(() => pending.count()).toBe(1);
      expect(await pending.first().textContent()).toContain('by seed-supervisor');
      const approve = pending.first().getByRole('button', { name: 'Approve' });
      const offered = await approve.count();
      if (offered > 0) {
        // What happened before: the button was there and the API refused the click.
        await approve.click();
        await expect.poll(() => pending.first().getByRole('alert').count()).toBe(1);
      }
      expect(offered).toBe(0);
      expect(await pending.first().getByRole('button', { name: 'Reject' }).count()).toBe(0);
      expect(await pending.first().getByTestId('own-gesture').textContent()).toBe(
        'You issued this gesture: another supervisor decides it.',
      );
      await context.close();

      // Another member of staff decides it (and the queue is empty again for the tests after this one).
      const { rejectGoodwill } = await graphql(
        'ADMIN',
        `
          mutation ($input: RejectGoodwillInput!) {
            rejectGoodwill(input: $input) {
              __typename
            }
          }
        `,
        { input: { gestureId: issued.issueGoodwill.gesture.id, note: 'Decided by another' } },
      );
      expect(rejectGoodwill.__typename).toBe('RejectGoodwillPayload');
    },
  );

  it(
    'signing out of the console also ends the queue board session it started (the browser cannot open /admin/queues afterwards)',
    { timeout: 120_000 },
    async () => {
      const { context, page } = await newPage('en');
      await signIn(page, 'ADMIN', 'Ada Admin');
      await page.getByRole('button', { name: 'Queues' }).click();
      await page.waitForURL(/\/admin\/queues/);
      // Back in the console, the admin signs in and signs out (a shared desk's end of shift).
      await signIn(page, 'ADMIN', 'Ada Admin');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      const board = await page.goto(`${harness.base}/admin/queues`);
      expect(board?.status()).toBe(401);
      await context.close();
    },
  );
});

describe('the search follows its URL', () => {
  it(
    "a link to another search, then back and forward: the field and the results show each search's text",
    { timeout: 90_000 },
    async () => {
      await enrol('N-1', 'Greta Navigate', 'greta.navigate@example.com');
      await enrol('N-2', 'Otto Navigate', 'otto.navigate@example.com');
      const { context, page } = await newPage('en');
      await signIn(page, 'AGENT', 'Alex Agent');
      const field = page.getByLabel('Name, e-mail or customer number');
      const found = () => page.getByRole('table').getByRole('link').allTextContents();
      const query = () => new URL(page.url()).searchParams.get('q');

      // Typed and sent: the URL takes the text.
      await field.fill('Greta');
      await page.getByRole('button', { name: 'Search' }).click();
      await expect.poll(found).toEqual(['Greta Navigate']);
      expect(query()).toBe('Greta');

      // A link inside the console to another search (client-side: no page load).
      await go(page, '/?q=Otto');
      await expect.poll(() => field.inputValue()).toBe('Otto');
      await expect.poll(found).toEqual(['Otto Navigate']);

      await page.goBack();
      await expect.poll(query).toBe('Greta');
      await expect.poll(() => field.inputValue()).toBe('Greta');
      await expect.poll(found).toEqual(['Greta Navigate']);

      await page.goForward();
      await expect.poll(query).toBe('Otto');
      await expect.poll(() => field.inputValue()).toBe('Otto');
      await expect.poll(found).toEqual(['Otto Navigate']);

      // Typed over a search and sent again: a new entry in the history, and back returns to the one before.
      await field.fill('Greta Navigate');
      await page.getByRole('button', { name: 'Search' }).click();
      await expect.poll(query).toBe('Greta Navigate');
      await expect.poll(found).toEqual(['Greta Navigate']);
      await page.goBack();
      await expect.poll(() => field.inputValue()).toBe('Otto');
      await expect.poll(found).toEqual(['Otto Navigate']);

      // The menu's search link (no q): an empty field and no results.
      await page.getByRole('navigation').getByRole('link', { name: 'Members', exact: true }).click();
      await expect.poll(query).toBe(null);
      await expect.poll(() => field.inputValue()).toBe('');
      expect(await page.getByRole('table').count()).toBe(0);
      await context.close();
    },
  );
});

describe('the approvals name each row in its buttons and note fields', () => {
  const FSI = '\u2068';
  const PDI = '\u2069';
  const NBSP = '\u00A0';

  it(
    "two members' pending gestures and held failures: each Approve, Reject, Grant, Decline and Note is named for its member and amount, and the gesture's agent and time or the failure's type and date",
    { timeout: 120_000 },
    async () => {
      const ida = await enrol('A-1', 'Ida Queue', 'ida.queue@example.com');
      const paul = await enrol('A-2', 'Paul Queue', 'paul.queue@example.com');
      const voucher = await issueWaitingVoucher('AGENT', ida.id, 'Parcel lost', 'names-1');
      // 5 000 points are worth 50.00: above the agent's 25.00 per gesture.
      const pointsGesture = await graphql(
        'AGENT',
        `
          mutation ($input: IssueGoodwillInput!) {
            issueGoodwill(input: $input) {
              ... on IssueGoodwillPayload {
                status
                gesture {
                  id
                }
              }
            }
          }
        `,
        {
          input: {
            memberId: paul.id,
            kind: 'POINTS',
            points: 5000,
            reason: 'POOR_EXPERIENCE',
            note: 'Rude call',
            idempotencyKey: 'names-2',
          },
        },
      );
      expect([voucher.issueGoodwill.status, pointsGesture.issueGoodwill.status]).toEqual(['PENDING_APPROVAL', 'PENDING_APPROVAL']);
      // When they were asked for, as the names say it: set, not the clock's (each member has the one gesture).
      for (const [memberId, createdAt] of [
        [ida.id, '2026-03-02T09:15:00Z'],
        [paul.id, '2026-03-02T09:20:00Z'],
      ] as const) {
        await harness.prisma.goodwillGesture.updateMany({ where: { memberId }, data: { createdAt: new Date(createdAt) } });
      }
      // Failures held for review, as the worker leaves them for a suspended member.
      const failures = await Promise.all(
        [
          [ida.id, '25.00'],
          [paul.id, '15.00'],
        ].map(([memberId, amount]) =>
          harness.prisma.serviceFailure.create({
            data: {
              memberId: memberId!,
              type: 'LATE_DELIVERY',
              severity: 'HIGH',
              occurredAt: new Date('2026-01-10T10:00:00Z'),
              reporterType: 'STAFF',
              reporterId: 'seed-agent',
              status: 'HELD',
              compensationAmount: amount!,
              compensationCurrency: 'EUR',
            },
          }),
        ),
      );

      const { context, page } = await newPage('en');
      await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
      await go(page, '/queue');
      await page.getByTestId('pending-gestures').getByRole('listitem').first().waitFor();

      const named = [
        ['button', `Approve €40.00 for ${FSI}Ida Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:15)`],
        ['button', `Reject €40.00 for ${FSI}Ida Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:15)`],
        ['textbox', `Note on €40.00 for ${FSI}Ida Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:15)`],
        ['button', `Approve 5,000 points for ${FSI}Paul Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:20)`],
        ['button', `Reject 5,000 points for ${FSI}Paul Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:20)`],
        ['textbox', `Note on 5,000 points for ${FSI}Paul Queue${PDI} (requested by ${FSI}seed-agent${PDI}, 2 Mar 2026, 10:20)`],
        ['button', `Grant €25.00 to ${FSI}Ida Queue${PDI} (Late delivery, 10 Jan 2026)`],
        ['button', `Decline €25.00 for ${FSI}Ida Queue${PDI} (Late delivery, 10 Jan 2026)`],
        ['textbox', `Note on €25.00 for ${FSI}Ida Queue${PDI} (Late delivery, 10 Jan 2026)`],
        ['button', `Grant €15.00 to ${FSI}Paul Queue${PDI} (Late delivery, 10 Jan 2026)`],
        ['button', `Decline €15.00 for ${FSI}Paul Queue${PDI} (Late delivery, 10 Jan 2026)`],
        ['textbox', `Note on €15.00 for ${FSI}Paul Queue${PDI} (Late delivery, 10 Jan 2026)`],
      ] as const;
      for (const [role, name] of named) expect.soft(await page.getByRole(role, { name, exact: true }).count(), name).toBe(1);
      // No two controls on the page share a name: a screen reader's list of buttons or fields tells each row apart.
      const names = await page
        .getByRole('main')
        .locator('button, input')
        .evaluateAll((controls) => controls.map((control) => control.getAttribute('aria-label') ?? control.textContent));
      expect(new Set(names).size).toBe(names.length);
      // The visible label is where it was, and the name starts with it (what a voice user says).
      const note = page.getByRole('textbox', { name: named[2][1], exact: true });
      expect(await note.evaluate((field) => field.closest('label')?.firstElementChild?.textContent)).toBe('Note');
      await note.fill('Agreed');
      await page.getByRole('button', { name: named[0][1], exact: true }).click();
      await expect.poll(() => page.getByRole('button', { name: /Ida Queue/ }).count()).toBe(2); // the failure's two
      await context.close();

      // The gesture and the failures left are decided, so the queue is empty for any test after this one.
      await graphql('ADMIN', 'mutation ($input: RejectGoodwillInput!) { rejectGoodwill(input: $input) { __typename } }', {
        input: { gestureId: pointsGesture.issueGoodwill.gesture.id, note: 'Tidy up' },
      });
      await harness.prisma.serviceFailure.updateMany({
        where: { id: { in: failures.map((failure) => failure.id) } },
        data: { status: 'NOT_ELIGIBLE' },
      });
    },
  );

  it(
    'two gestures of one member for the same amount and two failures with the same compensation: every control has a name of its own, with the agent and time or the failure type and date, and "1 of 2", "2 of 2" where rows are alike',
    { timeout: 120_000 },
    async () => {
      const erna = await enrol('A-3', 'Erna Twice', 'erna.twice@example.com');
      // Written directly, one after the other (the queue lists them newest first, then by id): two by agent-anna in the
      // same minute, one by agent-ben at that minute, one by agent-anna a day later; all 40.00 for Erna.
      const gestures = [];
      for (const [agentId, createdAt] of [
        ['agent-anna', '2026-03-02T09:15:00Z'],
        ['agent-anna', '2026-03-02T09:15:40Z'],
        ['agent-ben', '2026-03-02T09:15:00Z'],
        ['agent-anna', '2026-03-03T09:15:00Z'],
      ] as const) {
        gestures.push(
          await harness.prisma.goodwillGesture.create({
            data: {
              memberId: erna.id,
              agentId,
              kind: 'VOUCHER',
              amount: '40.00',
              currency: 'EUR',
              moneyValue: '40.00',
              reason: 'DELAYED_DELIVERY',
              note: 'Parcel late',
              status: 'PENDING_APPROVAL',
              idempotencyKey: `alike-${gestures.length}`,
              createdAt: new Date(createdAt),
            },
          }),
        );
      }
      // Failures of 25.00 each: two late deliveries on 10 January, a wrong item that day, a late delivery on 12 January
      // (that one waiting for review, the others held).
      const failures = [];
      for (const [type, occurredAt, status] of [
        ['LATE_DELIVERY', '2026-01-10T08:00:00Z', 'HELD'],
        ['LATE_DELIVERY', '2026-01-10T16:00:00Z', 'HELD'],
        ['WRONG_ITEM', '2026-01-10T12:00:00Z', 'HELD'],
        ['LATE_DELIVERY', '2026-01-12T08:00:00Z', 'NEEDS_REVIEW'],
      ] as const) {
        failures.push(
          await harness.prisma.serviceFailure.create({
            data: {
              memberId: erna.id,
              type,
              severity: 'HIGH',
              occurredAt: new Date(occurredAt),
              orderRef: `alike-${failures.length}`,
              reporterType: 'STAFF',
              reporterId: 'seed-agent',
              status,
              compensationAmount: '25.00',
              compensationCurrency: 'EUR',
            },
          }),
        );
      }

      /** Every named control on the approvals page, in the page's order. */
      const controlNames = (page: Page) =>
        page
          .getByRole('main')
          .locator('button, input')
          .evaluateAll((controls) => controls.map((control) => control.getAttribute('aria-label') ?? control.textContent ?? ''));
      const repeated = (names: string[]) => names.filter((name, index) => names.indexOf(name) !== index);

      const { context, page } = await newPage('en');
      await signIn(page, 'SUPERVISOR', 'Sam Supervisor');
      await go(page, '/queue');
      await expect.poll(() => page.getByTestId('pending-gestures').getByRole('listitem').count()).toBe(4);
      const who = `${FSI}Erna Twice${PDI}`;
      const gesture = (detail: string) => [
        `Note on €40.00 for ${who} (${detail})`,
        `Approve €40.00 for ${who} (${detail})`,
        `Reject €40.00 for ${who} (${detail})`,
      ];
      const failure = (detail: string) => [
        `Note on €25.00 for ${who} (${detail})`,
        `Grant €25.00 to ${who} (${detail})`,
        `Decline €25.00 for ${who} (${detail})`,
      ];
      const names = await controlNames(page);
      expect(repeated(names)).toEqual([]);
      // Erna's rows (an earlier test may leave another member's held failure), newest first; the two alike are told
      // apart by their place among them, top to bottom.
      expect(names.filter((name) => name.includes(who))).toEqual([
        ...gesture(`requested by ${FSI}agent-anna${PDI}, 3 Mar 2026, 10:15`),
        ...gesture(`requested by ${FSI}agent-anna${PDI}, 2 Mar 2026, 10:15`).map((name) => `${name}, 1 of 2`),
        ...gesture(`requested by ${FSI}agent-ben${PDI}, 2 Mar 2026, 10:15`),
        ...gesture(`requested by ${FSI}agent-anna${PDI}, 2 Mar 2026, 10:15`).map((name) => `${name}, 2 of 2`),
        ...failure('Late delivery, 12 Jan 2026'),
        ...failure('Late delivery, 10 Jan 2026').map((name) => `${name}, 1 of 2`),
        ...failure('Wrong item, 10 Jan 2026'),
        ...failure('Late delivery, 10 Jan 2026').map((name) => `${name}, 2 of 2`),
      ]);
      await context.close();

      // In German: as distinct, in the German words and formats (a no-break space before the euro sign).
      const german = await newPage('de');
      await signIn(german.page, 'SUPERVISOR', 'Sam Supervisor', 'de');
      await go(german.page, '/queue');
      await expect.poll(() => german.page.getByTestId('pending-gestures').getByRole('listitem').count()).toBe(4);
      const namesDe = await controlNames(german.page);
      expect(repeated(namesDe)).toEqual([]);
      expect(namesDe).toContain(`Freigeben: 40,00${NBSP}€ für ${who} (beantragt von ${FSI}agent-anna${PDI}, 02.03.2026, 10:15), 2 von 2`);
      expect(namesDe).toContain(`Gewähren: 25,00${NBSP}€ für ${who} (Verspätete Lieferung, 10.01.2026), 1 von 2`);
      expect(namesDe).toContain(`Notiz zu 25,00${NBSP}€ für ${who} (Falscher Artikel, 10.01.2026)`);
      await german.context.close();

      // Decided, so the queue is empty for any test after this one.
      await harness.prisma.goodwillGesture.updateMany({
        where: { id: { in: gestures.map((row) => row.id) } },
        data: { status: 'REJECTED' },
      });
      await harness.prisma.serviceFailure.updateMany({
        where: { id: { in: failures.map((row) => row.id) } },
        data: { status: 'NOT_ELIGIBLE' },
      });
    },
  );
});
