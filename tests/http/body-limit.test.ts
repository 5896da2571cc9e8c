// No useTestApp(): a real HTTP server (startApi) on a port: the limit applies before yoga reads the body.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler, startApi } from '../../src/app.js';
import { loadConfig } from '../../src/config/env.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { TEST_JWT_SECRET, testApiConfig, testLogger } from '../support/app.js';
import { createTestPrisma, testRedisUrl } from '../support/db.js';

const LIMIT = 8 * 1024;
let prisma: PrismaClient;
let api: Awaited<ReturnType<typeof startApi>>;
let port: number;

beforeAll(async () => {
  prisma = createTestPrisma(2);
  const config = testApiConfig({
    MAX_BODY_BYTES: String(LIMIT),
  });
  api = await startApi({ config, logger: testLogger, prisma, redisUrl: testRedisUrl() });
  port = Number(new URL(api.url).port);
});
afterAll(async () => {
  await api.close();
  await prisma.$disconnect();
});

/** Sends raw bytes and resolves with the status line of the first response. */
function rawStatus(head: string, body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString();
      const line = received.split('\r\n')[0]!;
      if (received.includes('\r\n')) {
        socket.destroy();
        resolve(line);
      }
    });
    socket.on('error', reject);
    socket.write(head + body);
  });
}

const graphql = (body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`http://127.0.0.1:${port}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    duplex: 'half',
  } as RequestInit);

describe('request body limit (MAX_BODY_BYTES)', () => {
  it('refuses a declared Content-Length above the limit with 413 before any of the body arrives', async () => {
    // Only the head is sent: a server that waited for the body would never answer.
    const status = await rawStatus(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 * 1024}\r\n\r\n`,
    );
    expect(status).toBe('HTTP/1.1 413 Payload Too Large');
  });

  it('refuses whitespace padding in the query (which the token limit does not count) with 413', async () => {
    const response = await graphql(JSON.stringify({ query: `{ __typename ${' '.repeat(1024 * 1024)}}` }));
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'REQUEST_ENTITY_TOO_LARGE' } }] });
  });

  it('refuses an endless chunked body with 413 and stops reading it', async () => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    socket.on('data', (data) => (received += data.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined); // a reset while we write is one way of being closed
    socket.write('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
    const chunk = `1000\r\n${'x'.repeat(0x1000)}\r\n`;
    let open = true;
    void closed.then(() => (open = false));
    let written = 0;
    while (open) {
      written += chunk.length;
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
    }
    await closed;
    expect(received.split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(received).toMatch(/\r\nconnection: close\r\n/i);
    // The server stopped reading near the limit: beyond it, only what the socket buffers held (a few MB on loopback).
    expect(written).toBeLessThan(16 * 1024 * 1024);
  });

  it('serves a chunked body within the limit', async () => {
    const text = JSON.stringify({ query: '{ __typename }', variables: { pad: 'y'.repeat(LIMIT - 200) } });
    const bytes = new TextEncoder().encode(text);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < bytes.length; offset += 1000) controller.enqueue(bytes.slice(offset, offset + 1000));
        controller.close();
      },
    });
    const response = await graphql(stream);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('serves bodies up to the limit and keeps the connection usable', async () => {
    const body = JSON.stringify({ query: '{ __typename }', variables: { pad: 'z'.repeat(LIMIT - 100) } });
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(LIMIT);
    for (let i = 0; i < 3; i++) {
      const response = await graphql(body);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: { __typename: 'Query' } });
    }
  });

  it('counts a body handed over in process whatever Content-Length it declares (no HTTP parser enforced it)', async () => {
    const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', MAX_BODY_BYTES: String(LIMIT) });
    const yoga = createGraphQLHandler({ config, logger: testLogger, prisma });
    try {
      const body = JSON.stringify({ query: '{ __typename }', variables: { pad: 'w'.repeat(LIMIT) } });
      const response = await yoga.fetch('http://in-process/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': '100' },
        body,
      });
      expect(response.status).toBe(413);
      expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'REQUEST_ENTITY_TOO_LARGE' } }] });
      const small = await yoga.fetch('http://in-process/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      expect(await small.json()).toEqual({ data: { __typename: 'Query' } });
    } finally {
      await yoga.dispose();
    }
  });

  it('refuses a Content-Length that is not one number with 400 before reading', async () => {
    const status = await rawStatus('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: +5\r\n\r\n{}');
    expect(status).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('still answers a POST without a body as a client error', async () => {
    const status = await rawStatus('POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n');
    expect(status).toMatch(/^HTTP\/1\.1 4\d\d /);
  });
});
