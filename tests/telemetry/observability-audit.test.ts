import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler, startApi, type Api } from '../../src/app.js';
import { signMemberToken, signStaffToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config/env.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { withoutInputValues } from '../../src/graphql/error-masking.js';
import { withoutSecrets } from '../../src/logger.js';
import { inSpan } from '../../src/telemetry/trace-context.js';
import { createMetrics, serveMetrics } from '../../src/metrics.js';
import { TEST_JWT_SECRET, testApiConfig, useTestApp } from '../support/app.js';
import { testRedisUrl } from '../support/db.js';
import { useTracing } from '../support/tracing.js';
import { issueTestVoucher } from '../support/vouchers.js';

/**
 * Observability as a leak (audit of 2026-12-06): what the service writes about a request — log lines, spans and
 * their events, metric series — must not carry what the request was about: a member's e-mail, name or external id,
 * an API key's secret, a token, a voucher code (a bearer instrument worth money) or a webhook secret. Found then:
 * graphql's messages for a refused variable (which quote it, an input object whole) in the operation's span and the
 * debug log; the database's message in a failed statement's span; `?password=` in the start log's connection URLs;
 * any `X-Request-Id` text copied into every log line; and /metrics open to anyone with no setting to close it.
 */
const { prisma } = useTestApp();
const traces = useTracing();

/** Every line the handler logs, raw, at the most verbose level. */
const logLines: string[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(line);
      done();
    },
  }),
);
const config = loadConfig({
  NODE_ENV: 'production',
  JWT_SECRET: TEST_JWT_SECRET,
  LOG_LEVEL: 'trace',
  WEBHOOK_ALLOW_HTTP: 'true',
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
});
const metrics = createMetrics();
let yoga: ReturnType<typeof createGraphQLHandler>;
beforeAll(() => {
  yoga = createGraphQLHandler({ config, logger, prisma, tracing: traces.tracing.graphqlPlugin }, metrics);
});
afterAll(() => yoga.dispose());

async function ask(query: string, variables: Record<string, unknown> = {}, authorization?: string) {
  const response = await yoga.fetch('http://treue.test/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: { message: string }[] } };
}

/** Everything a span carries that leaves the process: name, attributes, events, status and links. */
function spanText(span: ReadableSpan): string {
  return JSON.stringify({
    name: span.name,
    attributes: span.attributes,
    events: span.events.map((event) => ({ name: event.name, attributes: event.attributes })),
    status: span.status,
    resource: span.resource.attributes,
  });
}

const marker = () => randomBytes(6).toString('hex');

describe('what a request was about stays out of logs, spans and metrics', () => {
  it('member data, secrets, tokens and voucher codes, however a request carries them', async () => {
    const tag = marker();
    const secrets: Record<string, string> = {
      email: `leak-${tag}@example.com`,
      name: `Leaky Name ${tag}`,
      externalId: `ext-${tag}`,
    };
    const admin = await signStaffToken(TEST_JWT_SECRET, { staffId: 'root', role: 'ADMIN' });
    secrets.adminToken = admin;
    const { token: storefront } = await createApiKey(
      { prisma, logger },
      { name: 'shop', scopes: ['members:read', 'members:write', 'vouchers:redeem'] },
      { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
    );
    secrets.apiKey = storefront;

    const created = await ask(
      `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { __typename ... on CreateApiKeyPayload { token } } }`,
      { i: { name: 'another shop', scopes: ['members:read'] } },
      `Bearer ${admin}`,
    );
    secrets.createdApiKey = created.body.data?.createApiKey.token;
    const endpoint = await ask(
      `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
        __typename ... on CreateWebhookEndpointPayload { secret } ... on Error { message } } }`,
      { i: { url: `http://127.0.0.1:9/hooks/${tag}`, eventTypes: ['member.enrolled'] } },
      `Bearer ${admin}`,
    );
    secrets.webhookSecret = endpoint.body.data?.createWebhookEndpoint.secret;

    const enrolled = await ask(
      `mutation Enrol($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename ... on EnrollMemberPayload { member { id } } } }`,
      { i: { externalId: secrets.externalId, email: secrets.email, name: secrets.name } },
      `Bearer ${storefront}`,
    );
    const memberId = enrolled.body.data?.enrollMember.member.id as string;
    const memberRow = await prisma.member.findUniqueOrThrow({ where: { externalId: secrets.externalId } });
    const memberToken = await signMemberToken(TEST_JWT_SECRET, { memberId: memberRow.id });
    secrets.memberToken = memberToken;
    const voucher = await issueTestVoucher(prisma, memberRow.id);
    secrets.voucherCode = voucher.code;
    secrets.unknownCode = `CODE-${tag}-UNKNOWN`;
    secrets.raceEmail = `race-${secrets.email}`;

    const results = [
      // Lookups by variables and inline, known and unknown, well-formed and not.
      await ask(
        `query($x: String!) { memberByExternalId(externalId: $x) { id email name } }`,
        { x: secrets.externalId },
        `Bearer ${storefront}`,
      ),
      await ask(`{ memberByExternalId(externalId: "${secrets.externalId}") { id } }`, {}, `Bearer ${storefront}`),
      await ask(
        `query($x: String!) { memberByExternalId(externalId: $x) { id } }`,
        { x: `${secrets.externalId}${'x'.repeat(130)}` },
        `Bearer ${storefront}`,
      ),
      await ask(`query($c: String!) { voucher(code: $c) { id status } }`, { c: secrets.voucherCode }, `Bearer ${storefront}`),
      await ask(`query($c: String!) { voucher(code: $c) { id status } }`, { c: secrets.unknownCode }, `Bearer ${storefront}`),
      await ask(
        `query($c: String!) { validateVoucher(code: $c, orderTotal: "100.00") { valid reason } }`,
        { c: secrets.voucherCode },
        `Bearer ${storefront}`,
      ),
      await ask(
        `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename ... on Error { message } } }`,
        { i: { code: secrets.voucherCode, memberId, orderRef: `o-${tag}`, orderTotal: '100.00', idempotencyKey: `k-${tag}` } },
        `Bearer ${storefront}`,
      ),
      await ask(
        `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename ... on Error { message } } }`,
        { i: { code: secrets.voucherCode, memberId, orderRef: `o2-${tag}`, orderTotal: '100.00', idempotencyKey: `k2-${tag}` } },
        `Bearer ${storefront}`,
      ),
      // A variable that does not coerce: graphql's message quotes the value.
      await ask(
        `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename } }`,
        { i: { externalId: `${secrets.externalId}-2`, email: secrets.email, name: 42 } },
        `Bearer ${storefront}`,
      ),
      await ask(`query($c: String!) { voucher(code: $c) { id } }`, { c: { code: secrets.voucherCode } }, `Bearer ${storefront}`),
      // An input object that misses a field or has one too many: graphql quotes the whole object.
      await ask(
        `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename } }`,
        { i: { email: secrets.email, name: secrets.name } },
        `Bearer ${storefront}`,
      ),
      await ask(
        `mutation($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename } }`,
        { i: { code: secrets.voucherCode, memberId, orderRef: 'o3', orderTotal: '1.00', idempotencyKey: 'k3', coupon: true } },
        `Bearer ${storefront}`,
      ),
      // Two enrolments of one e-mail at once.
      ...(await Promise.all(
        [1, 2, 3].map((n) =>
          ask(
            `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { __typename } }`,
            { i: { externalId: `${secrets.externalId}-race-${n}`, email: `race-${secrets.email}`, name: secrets.name } },
            `Bearer ${storefront}`,
          ),
        ),
      )),
      // The member's own screen.
      await ask(`{ me { email name externalId vouchers(first: 5) { edges { node { code } } } } }`, {}, `Bearer ${memberToken}`),
      // Credentials that do not verify.
      await ask('{ __typename }', {}, `Bearer ${storefront}x`),
      await ask('{ __typename }', {}, `Bearer ${memberToken.slice(0, -2)}xx`),
      await ask('{ __typename }', {}, `Basic ${secrets.apiKey}`),
    ];
    expect(results.length).toBeGreaterThan(0);
    expect(enrolled.body.data?.enrollMember.__typename, JSON.stringify(enrolled.body)).toBe('EnrollMemberPayload');
    expect(secrets.createdApiKey, JSON.stringify(created.body)).toBeTruthy();
    expect(secrets.webhookSecret, JSON.stringify(endpoint.body)).toBeTruthy();

    const spans = await traces.spans();
    // The statements were traced (their text, with $n placeholders), so the sweep below covers them too.
    expect(spans.some((span) => /\bmembers\b.*\$1/s.test(String(span.attributes['db.query.text'] ?? '')))).toBe(true);
    const metricText = await metrics.registry.metrics();
    const found: string[] = [];
    for (const [what, value] of Object.entries(secrets)) {
      for (const line of logLines) if (line.includes(value)) found.push(`log carries ${what}: ${line.slice(0, 400)}`);
      for (const span of spans) {
        const text = spanText(span);
        if (text.includes(value)) found.push(`span ${span.name} carries ${what}: ${text.slice(0, 600)}`);
      }
      if (metricText.includes(value)) found.push(`metrics carry ${what}`);
    }
    expect(found).toEqual([]);
  });
});

describe('what a refused request leaves in its span and in the log', () => {
  it('the span fails with the variable and the place graphql refused, never the value; the client still reads it', async () => {
    const code = `TRU-${marker()}`;
    const { token } = await createApiKey(
      { prisma, logger },
      { name: 'shop', scopes: ['vouchers:redeem'] },
      { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
    );
    logLines.length = 0;
    const refused = await ask(
      `mutation Redeem($i: RedeemVoucherInput!) { redeemVoucher(input: $i) { __typename } }`,
      { i: { code, idempotencyKey: 'k-1', orderTotalMoney: { amount: '12.00', currency: 'EUR' } } },
      `Bearer ${token}`,
    );
    expect(refused.status).toBe(400);
    // The caller sees graphql's own message, its own input quoted.
    expect(refused.body.errors?.[0]?.message).toContain(code);
    const REFUSED = 'Variable "$i" got an invalid value; Field "orderRef" of required type "String!" was not provided. (value left out)';
    const [span] = (await traces.spans()).filter((one) => one.name === 'mutation.Redeem');
    expect(span?.status.code).toBe(2); // ERROR
    expect(span?.events.map((event) => event.attributes)).toEqual([
      {
        'exception.type': 'graphql.execute.error',
        'exception.message': JSON.stringify([{ message: REFUSED }]),
      },
    ]);
    const logged = logLines.filter((line) => line.includes('client error'));
    expect(logged).toHaveLength(1);
    expect(JSON.parse(logged[0]!).error).toBe(REFUSED);
  });

  it.each([
    [
      'a missing field',
      'Variable "$i" got invalid value { email: "a@b.c", name: "Ann" }; Field "externalId" of required type "String!" was not provided.',
      'Variable "$i" got an invalid value; Field "externalId" of required type "String!" was not provided. (value left out)',
    ],
    [
      'a field too many, at a path',
      'Variable "$i" got invalid value { code: "TRU-1; Field \\"x\\" is" } at "i.order"; Field "coupon" is not defined by type "OrderInput".',
      'Variable "$i" got an invalid value at "i.order"; Field "coupon" is not defined by type "OrderInput". (value left out)',
    ],
    [
      'a scalar that quotes the value twice',
      'Variable "$c" got invalid value { code: "TRU-2" }; String cannot represent a non string value: { code: "TRU-2" }',
      'Variable "$c" got an invalid value (value left out)',
    ],
    ['a global id Pothos could not read', 'Invalid global ID: leak@example.com', 'Invalid global ID'],
    ['a message without a value', 'Argument "first" must be a non-negative integer', 'Argument "first" must be a non-negative integer'],
  ])('withoutInputValues: %s', (_label, message, kept) => {
    expect(withoutInputValues(message, undefined)).toBe(kept);
  });
});

describe("a caller's X-Request-Id in the log", () => {
  const SET_AUTHORITY = `mutation($i: SetAgentAuthorityInput!) { setAgentAuthority(input: $i) { __typename } }`;
  async function loggedRequestId(requestId: string): Promise<unknown> {
    const supervisor = await signStaffToken(TEST_JWT_SECRET, { staffId: 'sup-1', role: 'SUPERVISOR' });
    logLines.length = 0;
    const response = await yoga.fetch('http://treue.test/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${supervisor}`, 'x-request-id': requestId },
      body: JSON.stringify({ query: SET_AUTHORITY, variables: { i: { agentId: 'agent-1', perGesturePointsLimit: '100' } } }),
    });
    expect(((await response.json()) as { data?: any }).data?.setAgentAuthority.__typename).toBe('SetAgentAuthorityPayload');
    const lines = logLines.map((line) => JSON.parse(line) as { msg: string; requestId?: unknown });
    const line = lines.find((one) => one.msg === 'goodwill authority set');
    expect(line, logLines.join('\n')).toBeDefined();
    return line!.requestId;
  }

  it("is kept when it looks like a request id (a proxy's, a UUID)", async () => {
    expect(await loggedRequestId('7f9c2ba4-e88f-11e6-b1cc-5ae6c6a4f1d1')).toBe('7f9c2ba4-e88f-11e6-b1cc-5ae6c6a4f1d1');
    expect(await loggedRequestId('req_01HZX.3:a')).toBe('req_01HZX.3:a');
  });

  it('is replaced by one of ours when it is long or carries other text, so a caller cannot write into every line', async () => {
    for (const sent of ['x'.repeat(8_000), 'leak@example.com', 'a b', '{"msg":"forged"}']) {
      const logged = await loggedRequestId(sent);
      expect(logged).not.toBe(sent);
      expect(String(logged)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe('a failed statement or job in a trace', () => {
  it('keeps that it failed and the error class, not the message that quotes the value', async () => {
    const value = `leak-${marker()}@example.com`;
    const failed = await inSpan('compensation process', () => prisma.$queryRaw`SELECT ${value}::uuid AS id`).then(
      () => 'answered',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    // What failed, the worker's log has (and the database's own message quotes the value).
    expect(failed).toContain(value);
    const spans = await traces.spans();
    const job = spans.find((span) => span.name === 'compensation process');
    expect(job?.status.code).toBe(2); // ERROR
    const statement = spans.find((span) => String(span.attributes['db.query.text'] ?? '').includes('::uuid'));
    expect(statement?.status.code).toBe(2);
    for (const span of spans) expect(spanText(span)).not.toContain(value);
  });
});

describe('connection URLs in the start log', () => {
  it.each([
    ['postgresql://treue:s3cret@db.internal:5432/treue', 'postgresql://treue:***@db.internal:5432/treue'],
    [
      'postgresql://treue@db.internal:5432/treue?sslmode=require&password=s3cret&sslpassword=k3y',
      'postgresql://treue@db.internal:5432/treue?sslmode=require&password=***&sslpassword=***',
    ],
    ['rediss://cache.internal:6380/0?password=s3cret', 'rediss://cache.internal:6380/0?password=***'],
    ['redis://:s3cret@cache.internal:6379', 'redis://:***@cache.internal:6379'],
    ['redis+cluster://app:s3cret@a:6379,b:6379', 'redis+cluster://app:***@a:6379,b:6379'],
  ])('withoutSecrets(%s) names the server, never the password (node-postgres and ioredis read ?password= too)', (url, shown) => {
    expect(withoutSecrets(url)).toBe(shown);
  });
});

describe('/metrics, /healthz and /readyz of an API in production', () => {
  const METRICS_TOKEN = 'metrics-scrape-token-0123456789-abcdefghijklmnop';
  const warnings: string[] = [];
  const apiLogger = pino(
    { level: 'warn' },
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        warnings.push(chunk.toString());
        done();
      },
    }),
  );
  let guarded: Api;
  let open: Api;
  beforeAll(async () => {
    guarded = await startApi({ config: testApiConfig({ METRICS_TOKEN }), logger: apiLogger, prisma, redisUrl: testRedisUrl() });
    open = await startApi({ config: testApiConfig(), logger: apiLogger, prisma, redisUrl: testRedisUrl() });
  });
  afterAll(async () => {
    await guarded?.close();
    await open?.close();
  });
  const get = async (api: Api, path: string, authorization?: string) => {
    const response = await fetch(new URL(path, api.url), { headers: authorization ? { authorization } : {} });
    return { status: response.status, headers: response.headers, text: await response.text() };
  };

  it('with METRICS_TOKEN, /metrics answers only a scrape that sends it as a bearer token', async () => {
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${METRICS_TOKEN}x`, `Basic ${METRICS_TOKEN}`, METRICS_TOKEN]) {
      const refused = await get(guarded, '/metrics', authorization);
      expect(refused.status, String(authorization)).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
      expect(refused.text).not.toMatch(/treue_|nodejs_version_info/);
    }
    const scraped = await get(guarded, '/metrics', `Bearer ${METRICS_TOKEN}`);
    expect(scraped.status).toBe(200);
    expect(scraped.text).toContain('treue_vouchers_total');
  });

  it('without METRICS_TOKEN in production, the start says that /metrics answers anyone', async () => {
    expect((await get(open, '/metrics')).status).toBe(200);
    expect(warnings.filter((line) => line.includes('METRICS_TOKEN'))).toHaveLength(1);
  });

  it('the worker process serves its /metrics with the same rule', async () => {
    const registry = createMetrics().registry;
    const served = await serveMetrics(registry, 0, '127.0.0.1', METRICS_TOKEN);
    try {
      expect((await fetch(served.url)).status).toBe(401);
      expect((await fetch(served.url, { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
      expect((await fetch(served.url, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).status).toBe(200);
    } finally {
      await served.close();
    }
  });

  it('/healthz and /readyz answer anyone, naming no version, host or connection string', async () => {
    const health = await get(guarded, '/healthz');
    expect(health).toMatchObject({ status: 200, text: '{"status":"ok"}' });
    const ready = await get(guarded, '/readyz');
    expect(JSON.parse(ready.text)).toEqual({ status: 'ok', checks: { database: 'ok', redis: 'ok' } });
    for (const response of [health, ready]) {
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect(response.headers.get('server')).toBeNull();
    }
  });
});
