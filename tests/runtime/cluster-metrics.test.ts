// No useTestApp(): the built service runs as a child process; the test writes one outbox row itself.
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtServiceEnv } from '../support/built-service-env.js';
import { BUILT_SERVICE_HOOK_TIMEOUT_MS, builtService, createTestPrisma, resetDatabase } from '../support/db.js';
import { freePort, killServiceProcesses, startServiceProcess } from '../support/processes.js';

// Two API processes share one port (node:cluster): a scrape of /metrics reaches one of them. Each scrape
// must show what both counted, summed, and a figure both read from the database once, not twice.

const REQUESTS = 40;
let built: string;
const prisma = createTestPrisma(2);

beforeAll(async () => {
  built = await builtService();
  await resetDatabase(prisma);
}, BUILT_SERVICE_HOOK_TIMEOUT_MS);
afterAll(async () => {
  killServiceProcesses();
  await prisma.$disconnect();
});

/** One request on a connection of its own (so that either process may take it); the answer's body. */
function request(port: number, method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** The sum of a metric's samples whose labels contain every one of `labels`. */
function sampleSum(text: string, name: string, labels: string[] = []): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.e+-]+)$`).exec(line);
    if (match && labels.every((label) => (match[1] ?? '').includes(label))) sum += Number(match[2]);
  }
  return sum;
}

describe('/metrics with two API processes', () => {
  it('every scrape sums what both processes counted, and reads a database figure once', { timeout: 120_000 }, async () => {
    // An outbox event pending for 100 s: each process reads its age when scraped.
    await prisma.$executeRaw`INSERT INTO outbox_events (queue, job_name, payload, created_at)
      VALUES ('compensation', 'compensate', '{}'::jsonb, now() - interval '100 seconds')`;
    const port = await freePort();
    const api = startServiceProcess(`${built}/src/main.js`, builtServiceEnv(port, { TREUE_ROLE: 'api', WEB_CONCURRENCY: '2' }));
    await api.waitForLine(/Treue ready: GraphQL at/, 60_000);

    const answers = await Promise.all(
      Array.from({ length: REQUESTS }, () => request(port, 'POST', '/graphql', JSON.stringify({ query: '{ __typename }' }))),
    );
    expect(answers.every((answer) => answer.status === 200)).toBe(true);

    for (let scrape = 0; scrape < 6; scrape++) {
      const { status, text } = await request(port, 'GET', '/metrics');
      expect(status, text.slice(0, 500)).toBe(200);
      // Both processes' counts, whichever took the scrape.
      expect(sampleSum(text, 'treue_http_request_duration_seconds_count', ['route="/graphql"'])).toBe(REQUESTS);
      expect(sampleSum(text, 'treue_graphql_operations_total', ['field="other"'])).toBe(REQUESTS);
      // Read from the database by each process: the oldest pending event's age, not the sum of two readings.
      const age = sampleSum(text, 'treue_outbox_oldest_pending_age_seconds');
      expect(age).toBeGreaterThanOrEqual(100);
      expect(age).toBeLessThan(190);
    }
  });
});
