import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createGraphQLHandler } from '../../src/app.js';
import { signStaffToken } from '../../src/auth/tokens.js';
import { loadConfig } from '../../src/config/env.js';
import { TEST_JWT_SECRET, useTestApp } from '../support/app.js';

const { prisma, app } = useTestApp();

/** Every line the handler logs, parsed. */
const logLines: { level: number; msg: string }[] = [];
const logger = pino(
  { level: 'trace' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  }),
);
const ERROR_LEVEL = 50;

const config = loadConfig({ NODE_ENV: 'production', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'trace' });
const yoga = createGraphQLHandler({ config, logger, prisma });
let admin: string;
beforeAll(async () => {
  admin = await signStaffToken(TEST_JWT_SECRET, { staffId: 'root', role: 'ADMIN' });
});

const b64 = (text: string) => Buffer.from(text).toString('base64');

interface Mistake {
  label: string;
  query: string;
  variables?: Record<string, unknown>;
  /** What the message must name: the argument, input field or variable at fault. */
  names: RegExp;
}

const MISTAKES: Mistake[] = [
  {
    label: 'a string for a Points variable',
    query: 'mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }',
    variables: { i: { memberId: randomUUID(), points: 'abc', idempotencyKey: 'k-1' } },
    names: /points/,
  },
  { label: 'first: -1', query: '{ members(first: -1) { edges { cursor } } }', names: /"first"/ },
  {
    label: 'first: -1 on a nested list',
    query: `{ member(id: "${randomUUID()}") { ledger(first: -1) { edges { cursor } } } }`,
    names: /"first"/,
  },
  { label: 'a cursor that is not base64 of ours', query: '{ members(after: "%%%garbage") { edges { cursor } } }', names: /"after"/ },
  {
    label: 'a well-formed cursor around a value that is not an id',
    query: `{ members(before: "${b64('GPC:S:x')}") { edges { cursor } } }`,
    names: /"before"/,
  },
  {
    label: 'a malformed cursor in a variable',
    query: 'query($c: String) { members(after: $c) { edges { cursor } } }',
    variables: { c: b64('GPC:S:1; drop table members') },
    names: /"after"/,
  },
  { label: 'a global id that is not one', query: '{ node(id: "garbage") { id } }', names: /"id"/ },
  { label: 'a global id around a non-UUID', query: `{ node(id: "${b64('Member:1')}") { id } }`, names: /"id"/ },
  {
    label: 'a DateTime variable that is not a date',
    query: 'query($d: DateTime) { goodwillGestures(filter: { from: $d }) { edges { cursor } } }',
    variables: { d: 'yesterday' },
    names: /\$d/,
  },
  {
    label: 'a DateTime variable that is a date alone (RFC 3339 wants a time and an offset)',
    query: 'query($d: DateTime) { goodwillGestures(filter: { from: $d }) { edges { cursor } } }',
    variables: { d: '2026-11-23' },
    names: /\$d/,
  },
  {
    label: 'a DateTime variable naming a day that does not exist',
    query: 'query($d: DateTime) { goodwillGestures(filter: { from: $d }) { edges { cursor } } }',
    variables: { d: '2026-02-30T00:00:00Z' },
    names: /\$d/,
  },
  {
    label: 'a DateTime variable whose instant is in the year -1 in UTC (an answer would echo it as -000001-…, no RFC 3339)',
    query: 'query($d: DateTime) { goodwillGestures(filter: { from: $d }) { edges { cursor } } }',
    variables: { d: '0000-01-01T00:00:00+01:00' },
    names: /\$d/,
  },
  {
    label: 'a DateTime variable whose instant is in the year 10000 in UTC',
    query: 'query($d: DateTime) { goodwillGestures(filter: { from: $d }) { edges { cursor } } }',
    variables: { d: '9999-12-31T23:00:00-02:00' },
    names: /\$d/,
  },
  {
    label: 'a Points string that is not a plain numeral',
    query: 'mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }',
    variables: { i: { memberId: randomUUID(), points: '1e3', idempotencyKey: 'k-3' } },
    names: /points/,
  },
  {
    label: 'an unknown enum value in a variable',
    query: 'query($s: MemberStatus) { members(filter: { status: $s }) { edges { cursor } } }',
    variables: { s: 'ASLEEP' },
    names: /\$s/,
  },
  {
    label: 'a missing required input field in a variable',
    query: 'mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { __typename } }',
    variables: { i: { memberId: randomUUID(), idempotencyKey: 'k-2' } },
    names: /points/,
  },
  {
    label: 'an object for a String variable',
    query: 'query($e: String!) { memberByExternalId(externalId: $e) { id } }',
    variables: { e: { nested: true } },
    names: /\$e/,
  },
];

async function send(mistake: Mistake, token?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers,
    body: JSON.stringify({ query: mistake.query, variables: mistake.variables ?? {} }),
  });
  return (await response.json()) as { errors?: { message: string; extensions?: { code?: string } }[] };
}

describe('client mistakes are client errors', () => {
  for (const mistake of MISTAKES) {
    it(`${mistake.label} → BAD_USER_INPUT naming it, nothing logged at error level`, async () => {
      logLines.length = 0;
      const body = await send(mistake, admin);
      const error = body.errors?.[0];
      expect(error, JSON.stringify(body)).toBeDefined();
      expect(error?.extensions?.code, JSON.stringify(body)).toBe('BAD_USER_INPUT');
      expect(error?.message).toMatch(mistake.names);
      expect(error?.message).not.toMatch(/unexpected|prisma|invalid input syntax|stack/i);
      expect(logLines.filter((line) => line.level >= ERROR_LEVEL)).toEqual([]);
      expect(logLines.some((line) => line.msg === 'client error')).toBe(true);
    });
  }

  it('anonymous callers cannot produce an error-level log line with any of them', async () => {
    logLines.length = 0;
    for (const mistake of MISTAKES) {
      const body = await send(mistake);
      for (const error of body.errors ?? []) expect(error.extensions?.code, mistake.label).not.toBe('INTERNAL');
    }
    expect(logLines.filter((line) => line.level >= ERROR_LEVEL)).toEqual([]);
  });

  it('a well-formed global id of no object is null, not an error', async () => {
    const body = await send({ label: 'unknown', query: `{ node(id: "${b64(`Member:${randomUUID()}`)}") { id } }`, names: /x/ }, admin);
    expect(body).toEqual({ data: { node: null } });
  });

  it('cursors the API handed out still page', async () => {
    const ids = [await app.enroll(), await app.enroll(), await app.enroll()].sort();
    const first = await app.gql<{ members: { edges: { cursor: string }[] } }>('{ members(first: 1) { edges { cursor } } }', {}, admin);
    const after = first.data!.members.edges[0]!.cursor;
    const next = await app.gql<{ members: { edges: { node: { id: string } }[] } }>(
      'query($a: String) { members(first: 5, after: $a) { edges { node { id } } } }',
      { a: after },
      admin,
    );
    expect(next.errors).toBeUndefined();
    expect(next.data!.members.edges).toHaveLength(ids.length - 1);
  });
});
