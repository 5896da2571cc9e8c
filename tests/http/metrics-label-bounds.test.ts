import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type Api } from '../../src/app.js';
import { JWKS_FETCH_FAILURE_REASONS } from '../../src/auth/jwks.js';
import { AUTO_DISABLED_REASON } from '../../src/domain/webhooks/webhook-delivery.service.js';
import { LedgerEntryKind } from '../../src/generated/prisma/enums.js';
import { getSchema } from '../../src/graphql/schema.js';
import { LIVE_STREAM_LABELS, POOL_CONNECTION_STATES, RATE_SUBJECT_LABELS, WEBHOOK_ENDPOINT_STATES } from '../../src/metrics.js';
import { testApiConfig, testLogger, useTestApp } from '../support/app.js';
import { testQueuePrefix, testRedisUrl } from '../support/db.js';

/**
 * Every label of every metric the API serves comes from a fixed set, whatever clients send: after some 700
 * hostile requests (random operation names, paths, methods, enum values, credentials, many webhook
 * endpoints in every state), /metrics as Prometheus scrapes it holds only known label values and a bounded
 * number of series per metric.
 */
const { prisma, app } = useTestApp();
let api: Api;
let base: string;

beforeAll(async () => {
  const config = testApiConfig({
    NODE_ENV: 'test',
    QUEUE_PREFIX: testQueuePrefix(),
    RATE_LIMIT_ADDRESS_MUTATIONS: '3',
    RATE_LIMIT_API_KEY_MUTATIONS: '3',
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  base = api.url.replace('/graphql', '');
});
afterAll(async () => api.close());

const MARK = `hostile${randomUUID().slice(0, 8)}`;
const random = () => `${MARK}_${randomUUID().replace(/-/g, '')}`;

function rootFields(): string[] {
  const schema = getSchema();
  return [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].flatMap((type) =>
    Object.keys(type?.getFields() ?? {}),
  );
}

/** Every label the API's metrics may carry, and the values each may take. */
const ALLOWED: Record<string, (value: string) => boolean> = {
  route: (value) => ['/graphql', '/healthz', '/readyz', '/metrics', '/console', '/admin/queues', 'other'].includes(value),
  status: (value) => /^[1-5]\d\d$/.test(value),
  le: (value) => value === '+Inf' || Number.isFinite(Number(value)),
  subject: (value) => (Object.values(RATE_SUBJECT_LABELS) as string[]).includes(value),
  stream: (value) => (Object.values(LIVE_STREAM_LABELS) as string[]).includes(value),
  result: (value) => ['hit', 'miss', 'error'].includes(value),
  state: (value) => ([...WEBHOOK_ENDPOINT_STATES, ...POOL_CONNECTION_STATES] as string[]).includes(value),
  kind: (value) => (Object.values(LedgerEntryKind) as string[]).includes(value),
  event: (value) => ['issued', 'redeemed'].includes(value),
  executor: (value) => ['compiled', 'interpreted'].includes(value),
  reason: (value) => (JWKS_FETCH_FAILURE_REASONS as readonly string[]).includes(value),
};
const OUTCOMES: Record<string, string[]> = {
  treue_graphql_operations_total: ['ok', 'error'],
  treue_compensation_decisions_total: ['COMPENSATED', 'NEEDS_REVIEW', 'HELD', 'NOT_ELIGIBLE'],
  treue_renewal_bonus_decisions_total: ['GRANTED', 'HELD_MEMBER_SUSPENDED', 'HELD_BALANCE_LIMIT', 'NOT_ELIGIBLE'],
  treue_webhook_delivery_failures_total: ['retry', 'dead'],
};

/** The most series each metric may have (histograms: label combinations × (buckets + sum + count)). */
const MAX_SERIES: Record<string, number> = {
  treue_http_request_duration_seconds: 7 * 12 * 13,
  treue_graphql_operations_total: 2 * 200,
  treue_graphql_executions_total: 2,
  treue_rate_limit_refusals_total: Object.keys(RATE_SUBJECT_LABELS).length,
  treue_live_stream_refusals_total: Object.keys(LIVE_STREAM_LABELS).length,
  treue_jwks_fetch_failures_total: JWKS_FETCH_FAILURE_REASONS.length,
  treue_response_cache_lookups_total: 3,
  treue_webhook_endpoints: 4,
  treue_webhook_oldest_pending_age_seconds: 2,
  treue_points_granted_total: Object.keys(LedgerEntryKind).length,
  treue_points_spent_total: Object.keys(LedgerEntryKind).length,
  treue_ledger_entries_total: Object.keys(LedgerEntryKind).length,
  treue_vouchers_total: 2,
  treue_compensation_decisions_total: 4,
  treue_renewal_bonus_decisions_total: 4,
  treue_webhook_delivery_failures_total: 2,
  treue_outbox_oldest_pending_age_seconds: 1,
  treue_db_pool_connections: 2,
  treue_db_pool_waiting: 1,
  treue_db_pool_wait_seconds: 13 + 3,
  treue_db_pool_hold_seconds: 13 + 3,
  treue_db_pool_checkout_failures_total: 1,
};

/** `/metrics` as Prometheus reads it: each treue_ series with its metric (family) name and labels. */
async function scrape(): Promise<{ family: string; labels: Record<string, string>; value: number }[]> {
  const text = await (await fetch(`${base}/metrics`)).text();
  expect(text).not.toContain(MARK);
  const families = text
    .split('\n')
    .filter((line) => line.startsWith('# TYPE treue_'))
    .map((line) => line.split(' ')[2]!);
  return text
    .split('\n')
    .filter((line) => line.startsWith('treue_'))
    .map((line) => {
      const name = /^[a-z_]+/.exec(line)![0];
      const family = families.find(
        (candidate) => name === candidate || (name.startsWith(candidate) && /^_(bucket|sum|count)$/.test(name.slice(candidate.length))),
      )!;
      const labels: Record<string, string> = {};
      for (const [, key, value] of (/\{(.*)\}/.exec(line)?.[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
      return { family, labels, value: Number(line.slice(line.lastIndexOf(' ') + 1)) };
    });
}

async function post(body: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  await response.arrayBuffer();
}

describe('metric labels under hostile input', () => {
  it('stay within their fixed sets and a bounded number of series, whatever clients send', async () => {
    const admin = { authorization: `Bearer ${await app.staffToken('ADMIN')}` };
    const key = { authorization: `Bearer ${await app.apiKeyToken(['points:earn', 'members:write'])}` };
    const member = await app.enroll();
    const memberToken = { authorization: `Bearer ${await app.memberToken(member)}` };
    // Many webhook endpoints in every state, with hostile URLs and reasons.
    await prisma.webhookEndpoint.createMany({
      data: Array.from({ length: 60 }, (_, i) => ({
        url: `https://${random()}.example.com/${random()}`,
        eventTypes: ['points.earned'],
        secret: `whsec_${Buffer.from(random()).toString('base64')}`,
        createdBy: random(),
        enabled: i % 3 !== 0,
        failingSince: i % 2 === 0 ? new Date() : null,
        disabledAt: i % 3 === 0 ? new Date() : null,
        disabledReason: i % 3 === 0 ? (i % 2 === 0 ? `${AUTO_DISABLED_REASON} ${random()}` : random()) : null,
      })),
    });

    for (let i = 0; i < 25; i++) {
      const name = random();
      // Random operation names, valid and not; random root fields; random enum values in inputs.
      await post({ query: `query ${name} { tiers { key } }`, operationName: name }, admin);
      await post({ query: `query ${name} { ${random()} }` }, admin);
      await post(
        {
          query: `mutation ${name}($input: IssueGoodwillInput!) { issueGoodwill(input: $input) { __typename } }`,
          variables: { input: { memberId: member, reason: random(), points: 10, note: random(), idempotencyKey: random() } },
        },
        admin,
      );
      await post(
        {
          query: `mutation { reportServiceFailure(input: { memberId: "${member}", type: ${random()}, severity: LOW, idempotencyKey: "${random()}" }) { __typename } }`,
        },
        key,
      );
      // Mutations beyond the address's and the key's budgets (refused with 429).
      await post({ query: `mutation ${name} { enrollMember(input: { externalId: "${random()}" }) { __typename } }` }, key);
      await post({ query: `mutation { trackEvent(input: { memberId: "${member}", event: "${random()}" }) { __typename } }` }, memberToken);
      // Credentials that do not verify, of every kind.
      await post({ query: '{ tiers { key } }' }, { authorization: `Bearer ${random()}` });
      await post({ query: '{ tiers { key } }' }, { authorization: `Bearer trk_${random()}` });
      // Random paths and methods under every route, and outside them.
      await Promise.all(
        [`/${random()}`, `/console/${random()}`, `/admin/queues/${random()}`, `/graphql/${random()}`, `/metrics?${random()}`].flatMap(
          (path) =>
            ['GET', 'POST', 'DELETE', 'PATCH'].map(async (method) => {
              const response = await fetch(`${base}${path}`, { method, headers: { 'x-request-id': random() } });
              await response.arrayBuffer();
            }),
        ),
      );
    }

    const series = await scrape();
    const byFamily = new Map<string, typeof series>();
    for (const entry of series) byFamily.set(entry.family, [...(byFamily.get(entry.family) ?? []), entry]);
    const fields = new Set([...rootFields(), 'other']);
    for (const [family, entries] of byFamily) {
      expect(MAX_SERIES[family], `a bound for ${family}`).toBeDefined();
      expect({ family, series: Math.min(entries.length, MAX_SERIES[family]! + 1) }).toEqual({
        family,
        series: Math.min(entries.length, MAX_SERIES[family]!),
      });
      for (const { labels } of entries) {
        for (const [label, value] of Object.entries(labels)) {
          const ok =
            label === 'field' ? fields.has(value) : label === 'outcome' ? OUTCOMES[family]?.includes(value) : ALLOWED[label]?.(value);
          expect({ family, label, value, ok }).toEqual({ family, label, value, ok: true });
        }
      }
    }
    // What was driven is there, under its bounded labels.
    const refusals = byFamily.get('treue_rate_limit_refusals_total')!;
    expect(refusals.length).toBe(Object.keys(RATE_SUBJECT_LABELS).length);
    expect(refusals.reduce((sum, entry) => sum + entry.value, 0)).toBeGreaterThan(0);
    const routes = new Set(byFamily.get('treue_http_request_duration_seconds')!.map((entry) => entry.labels.route));
    expect([...routes].sort()).toEqual(['/admin/queues', '/console', '/graphql', '/metrics', 'other']);
    // Every request above read or wrote through the database pool: its waits and holds are counted.
    const poolCount = (family: string) => byFamily.get(family)!.find((entry) => entry.labels.le === '+Inf')!.value;
    expect(poolCount('treue_db_pool_wait_seconds')).toBeGreaterThan(0);
    expect(poolCount('treue_db_pool_hold_seconds')).toBeGreaterThan(0);
    expect(
      byFamily
        .get('treue_webhook_endpoints')!
        .map((entry) => entry.labels.state)
        .sort(),
    ).toEqual([...WEBHOOK_ENDPOINT_STATES].sort());
    // Some 700 requests, mostly one after another: more than the default timeout on a loaded machine.
  }, 120_000);
});
