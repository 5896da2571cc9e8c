import { afterAll, describe, expect, it } from 'vitest';
import { blockedAddressReason } from '../../src/domain/webhooks/private-addresses.js';
import { createWebhookSender } from '../../src/webhooks/webhook-sender.js';
import { createTestApp, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';

/**
 * Webhook endpoints as an attack surface (audit of 2026-12-06): addresses that reach the machine or
 * its private networks in spellings the first version let through, and the URL limit of 2000
 * characters, which held for the input but not for what was stored.
 */
const { prisma, app } = useTestApp();
const strictSender = createWebhookSender({ allowPrivateAddresses: false });
afterAll(() => strictSender.close());

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  __typename ... on CreateWebhookEndpointPayload { endpoint { id url } } ... on ValidationError { field message } } }`;
const UPDATE = `mutation($i: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(input: $i) {
  __typename ... on UpdateWebhookEndpointPayload { endpoint { id url } } ... on ValidationError { field message } } }`;

/** IPv6 spellings of loopback, private and metadata addresses, and IPv6 that is not public unicast. */
const HIDDEN = [
  '::7f00:1', // IPv4-compatible ::127.0.0.1 (deprecated, ::/96)
  '::a9fe:a9fe', // IPv4-compatible ::169.254.169.254
  '::ffff:0:7f00:1', // IPv4-translated (SIIT) ::ffff:0:127.0.0.1
  '::ffff:0:a00:1', // IPv4-translated 10.0.0.1
  '64:ff9b:1::a00:1', // local-use NAT64 prefix (RFC 8215)
  '64:ff9b:1:7f00:0:100::', // local-use NAT64 /48 carrying 127.0.0.1 (RFC 6052)
  '100::1', // discard-only
  '2001:0:4136:e378:8000:63bf:3fff:fdd2', // Teredo
  '3fff::1', // documentation (RFC 9637)
  '5f00::1', // SRv6 SIDs: not global unicast
  '192.88.99.1', // the former 6to4 relay anycast
];

describe('addresses hidden in other spellings', () => {
  it('are refused, while public unicast addresses (also inside NAT64 and mapped IPv6) stay allowed', () => {
    const reasons = Object.fromEntries(HIDDEN.map((address) => [address, blockedAddressReason(address)]));
    for (const address of HIDDEN) expect(reasons[address], address).not.toBeNull();
    expect(reasons['::7f00:1']).toBe('loopback');
    expect(reasons['::ffff:0:a00:1']).toBe('private');
    for (const address of ['8.8.8.8', '2606:4700::1111', '2a00:1450:4001:81b::200e', '64:ff9b::808:808', '::ffff:8.8.8.8']) {
      expect(blockedAddressReason(address), address).toBeNull();
    }
    // Still reported as what they are.
    expect(blockedAddressReason('::1')).toBe('loopback');
    expect(blockedAddressReason('::')).toBe('unspecified');
  });

  it('an admin cannot register or move an endpoint to them, nor to localhost with a trailing dot; nothing is written', async () => {
    const token = await app.staffToken('ADMIN');
    const before = await tableRowCounts(prisma);
    for (const url of [
      'https://[::127.0.0.1]/hooks',
      'https://[::ffff:0:169.254.169.254]/latest/meta-data',
      'https://[64:ff9b:1::a00:1]/hooks',
      'https://[100::1]/hooks',
      'https://localhost./hooks',
      'https://api.localhost./hooks',
    ]) {
      const answer = await app.gql(CREATE, { i: { url, eventTypes: ['points.earned'] } }, token);
      expect(answer.data?.createWebhookEndpoint, url).toMatchObject({ __typename: 'ValidationError', field: 'url' });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);

    const created = await app.gql(CREATE, { i: { url: 'https://crm.example.com/hooks', eventTypes: ['points.earned'] } }, token);
    const id = created.data?.createWebhookEndpoint.endpoint.id;
    const moved = await app.gql(UPDATE, { i: { id, url: 'https://[::ffff:0:10.0.0.1]/hooks' } }, token);
    expect(moved.data?.updateWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', field: 'url' });
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id } })).url).toBe('https://crm.example.com/hooks');
  });

  it('the sender refuses them before connecting (a URL stored before this check, or written around it)', async () => {
    for (const host of ['[::7f00:1]', '[::ffff:0:7f00:1]', '[64:ff9b:1::7f00:1]']) {
      const answer = await strictSender({ url: `http://${host}:9/hooks`, headers: {}, body: '{}', timeoutMs: 500 });
      expect(answer, host).toMatchObject({ statusCode: null, error: expect.stringMatching(/^refused: .* is a [a-z-]+ address$/) });
    }
  });
});

describe('the URL limit', () => {
  it('holds for the URL as stored: characters percent-encoded to more than 2000 are refused, nothing written', async () => {
    const token = await app.staffToken('ADMIN');
    const before = await tableRowCounts(prisma);
    // 1 024 characters typed, 6 024 once each "é" is stored as %C3%A9.
    const url = `https://crm.example.com/${'é'.repeat(1000)}`;
    const answer = await app.gql(CREATE, { i: { url, eventTypes: ['points.earned'] } }, token);
    expect(answer.data?.createWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', field: 'url' });
    expect(await tableRowCounts(prisma)).toEqual(before);
    // Just at the limit once encoded: accepted, and stored as sent.
    const atLimit = `https://crm.example.com/${'é'.repeat(329)}aa`;
    const stored = new URL(atLimit).toString();
    expect(stored.length).toBe(2000);
    const ok = await app.gql(CREATE, { i: { url: atLimit, eventTypes: ['points.earned'] } }, token);
    expect(ok.data?.createWebhookEndpoint.endpoint.url).toBe(stored);
  });
});

describe('ports of public addresses', () => {
  /** As deployed, with one extra port the operator allows. */
  const withPort = createTestApp(prisma, { env: { WEBHOOK_ALLOWED_PORTS: '8443' } });

  it('an endpoint may use 443 (https) and ports the operator lists, no other; a refused URL writes nothing', async () => {
    const token = await app.staffToken('ADMIN');
    const before = await tableRowCounts(prisma);
    for (const url of [
      'https://crm.example.com:8443/hooks',
      'https://crm.example.com:6379/',
      'https://93.184.216.34:22/hooks',
      'https://crm.example.com:80/hooks',
    ]) {
      const answer = await app.gql(CREATE, { i: { url, eventTypes: ['points.earned'] } }, token);
      expect(answer.data?.createWebhookEndpoint, url).toMatchObject({
        __typename: 'ValidationError',
        field: 'url',
        message: expect.stringMatching(/port/),
      });
    }
    expect(await tableRowCounts(prisma)).toEqual(before);

    // The default port, spelled or not, is the same URL.
    const created = await app.gql(CREATE, { i: { url: 'https://crm.example.com:443/hooks', eventTypes: ['points.earned'] } }, token);
    expect(created.data?.createWebhookEndpoint).toMatchObject({ endpoint: { url: 'https://crm.example.com/hooks' } });
    const id = created.data?.createWebhookEndpoint.endpoint.id;
    const moved = await app.gql(UPDATE, { i: { id, url: 'https://crm.example.com:9200/hooks' } }, token);
    expect(moved.data?.updateWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', field: 'url' });
    expect((await prisma.webhookEndpoint.findUniqueOrThrow({ where: { id } })).url).toBe('https://crm.example.com/hooks');

    // WEBHOOK_ALLOWED_PORTS=8443: that port is accepted, others still not.
    const adminThere = await withPort.staffToken('ADMIN');
    const listed = await withPort.gql(UPDATE, { i: { id, url: 'https://crm.example.com:8443/hooks' } }, adminThere);
    expect(listed.data?.updateWebhookEndpoint).toMatchObject({ endpoint: { url: 'https://crm.example.com:8443/hooks' } });
    const other = await withPort.gql(
      CREATE,
      { i: { url: 'https://crm.example.com:8080/hooks', eventTypes: ['points.earned'] } },
      adminThere,
    );
    expect(other.data?.createWebhookEndpoint).toMatchObject({ __typename: 'ValidationError', field: 'url' });
  });

  it('the sender refuses another port before connecting (a URL stored before this rule), and allows the listed ones', async () => {
    // A name of this machine: refused by its address at the latest, so nothing is sent whichever check refuses.
    const answer = await strictSender({ url: 'https://localhost:8443/hooks', headers: {}, body: '{}', timeoutMs: 2_000 });
    expect(answer).toMatchObject({ statusCode: null, error: 'refused: port 8443 is not allowed' });
    const listing = createWebhookSender({ allowPrivateAddresses: false, allowedPorts: [8443] });
    try {
      const listed = await listing({ url: 'https://localhost:8443/hooks', headers: {}, body: '{}', timeoutMs: 2_000 });
      expect(listed).toMatchObject({
        statusCode: null,
        error: expect.stringMatching(/^refused: localhost resolves to a loopback address/),
      });
    } finally {
      listing.close();
    }
  });
});
