// No useTestApp(): one fixture serves all cells; each refused call is checked against a snapshot of every table, and the ledger once at the end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CALLER_KINDS, PERMISSION_MATRIX, type Access, type CallerKind, type RootType } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, callerOf, type ApiKeyScope, type Caller, type StaffRole } from '../../src/auth/principal.js';
import type { PrismaClient } from '../../src/db/prisma.js';
import { createApiKey } from '../../src/domain/api-keys/api-keys.service.js';
import { mayCall, SERVICE_CALLERS } from '../../src/domain/authorization.js';
import { adjustPoints } from '../../src/domain/points/points.service.js';
import { getSchema } from '../../src/graphql/schema.js';
import { createTestApp, expectLedgerConsistent, type GraphQLResponse } from '../support/app.js';
import { createTestPrisma, resetDatabase } from '../support/db.js';
import {
  missingTargets,
  PROBES,
  Seeder,
  targetForms,
  type Operation,
  type Probe,
  type Subject,
  type Targets,
} from '../support/permission-probes.js';

/**
 * Every cell of src/auth/permission-matrix.ts through real requests: for each root
 * field its probe (tests/support/permission-probes.ts) is sent by every kind of
 * caller and the answer classified.
 * - allowed: data, or for a mutation its success payload (it really happened);
 * - denied: FORBIDDEN / UNAUTHENTICATED (typed or as a GraphQL error), or null
 *   for a read, and the database unchanged by a refused mutation;
 * - a member aiming at another member (`memberOther`, the other side of `own`)
 *   must be denied with the same answer as for a member, voucher or contract
 *   that does not exist (NotFoundError counts as denied there, and only there).
 * One database for the file: every run creates its own targets, so cells do not
 * depend on each other.
 */

const ROOT_TYPES: RootType[] = ['Query', 'Mutation', 'Subscription'];
const DENIAL_CODES = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);
const DENIAL_TYPENAMES = new Set(['ForbiddenError', 'UnauthenticatedError']);
const STAFF_ROLES: StaffRole[] = ['AGENT', 'SUPERVISOR', 'ADMIN'];

let prisma: PrismaClient;
let app: ReturnType<typeof createTestApp>;
let seed: Seeder;
let a: Subject['member'];
let b: Subject['member'];
const tokens = new Map<CallerKind, string | undefined>();
/** Each key kind's key id, to name it as the reporter of the incidents it reads. */
const keyIds = new Map<CallerKind, string>();

const staffIdOf = (role: StaffRole) => `staff-${role.toLowerCase()}`;
const isScope = (kind: CallerKind): kind is ApiKeyScope => (API_KEY_SCOPES as readonly string[]).includes(kind);
const isStaff = (kind: CallerKind): kind is StaffRole => (STAFF_ROLES as string[]).includes(kind);

beforeAll(async () => {
  prisma = createTestPrisma();
  app = createTestApp(prisma);
  seed = new Seeder(prisma);
  await resetDatabase(prisma);
  const enrol = async (externalId: string) => {
    const email = `${externalId}@example.com`;
    return { id: await app.enroll({ externalId, email }), externalId, email };
  };
  a = await enrol('matrix-a');
  b = await enrol('matrix-b');
  // Enough available points for every allowed redemption.
  const admin = { actor: { type: 'STAFF' as const, id: 'matrix-admin' }, role: 'ADMIN' as const };
  for (const m of [a, b]) {
    await adjustPoints(app.deps, { memberId: m.id, points: 100_000, reason: 'matrix', idempotencyKey: `matrix-${m.id}` }, admin);
  }
  const memberToken = await app.memberToken(a.id);
  for (const kind of CALLER_KINDS) {
    if (kind === 'anonymous') tokens.set(kind, undefined);
    else if (kind === 'memberSelf' || kind === 'memberOther') tokens.set(kind, memberToken);
    else if (isScope(kind)) {
      const created = await createApiKey(
        app.deps,
        { name: `matrix ${kind}`, scopes: [kind] },
        { actor: { type: 'SYSTEM', id: 'test' }, role: 'ADMIN' },
      );
      tokens.set(kind, created.token);
      keyIds.set(kind, created.apiKey.id);
    } else if (isStaff(kind)) tokens.set(kind, await app.staffToken(kind, staffIdOf(kind)));
  }
});

afterAll(async () => {
  if (prisma) {
    await expectLedgerConsistent(prisma);
    await prisma.$disconnect();
  }
});

/** The caller as a service sees it, for the rows it reports itself (a key reads only the incidents it reported). */
function reporterOf(kind: CallerKind): Caller | undefined {
  const caller = isScope(kind)
    ? callerOf({ kind: 'apiKey', apiKeyId: keyIds.get(kind)!, name: `matrix ${kind}`, scopes: new Set([kind]) })
    : isStaff(kind)
      ? callerOf({ kind: 'staff', staffId: staffIdOf(kind), role: kind })
      : undefined;
  return caller && mayCall(caller, SERVICE_CALLERS.reportServiceIncident) ? caller : undefined;
}

/** The caller's own subject: member A (the member token's own), a staff caller's own authority, what it reported. */
const ownSubject = (kind: CallerKind): Subject => ({
  member: a,
  agentId: isStaff(kind) ? staffIdOf(kind) : 'matrix-agent',
  reporter: reporterOf(kind),
});
/** Someone else's: member B, another agent. */
const otherSubject = (): Subject => ({ member: b, agentId: 'matrix-other-agent' });

// ---------------------------------------------------------------------------
// What a request did

type Outcome = 'allowed' | 'denied' | 'notFound' | `unexpected ${string}`;

function classify(type: RootType, field: string, response: GraphQLResponse, probe: Probe, targets: Targets): Outcome {
  const errors = response.errors ?? [];
  const value = response.data?.[field] as Record<string, unknown> | null | undefined;
  const unexpected = (): Outcome => `unexpected ${JSON.stringify(response).slice(0, 400)}`;
  // A subscription cannot answer null: another member's, like a missing one, is NOT_FOUND.
  if (type === 'Subscription' && errors.length > 0 && errors.every((error) => error.extensions?.code === 'NOT_FOUND')) {
    return value == null && errors.every((error) => error.path?.length === 1) ? 'notFound' : unexpected();
  }
  if (errors.some((error) => !DENIAL_CODES.has(String(error.extensions?.code)))) return unexpected();
  // Refused at the field itself, not at something nested in its answer.
  if (errors.length > 0) return value == null && errors.some((error) => error.path?.length === 1) ? 'denied' : unexpected();
  if (type === 'Mutation') {
    const typename = String(value?.__typename);
    if (DENIAL_TYPENAMES.has(typename)) return 'denied';
    if (typename === 'NotFoundError') return 'notFound';
    return typename.endsWith('Payload') ? 'allowed' : unexpected();
  }
  if (value == null) return 'denied';
  if (probe.reached && !probe.reached(value, targets)) return 'denied';
  return 'allowed';
}

/** The answer with the targets' ids and codes replaced by their names, to compare answers about different targets. */
function normalised(response: GraphQLResponse, targets: Targets): string {
  let text = JSON.stringify(response);
  for (const [name, value] of Object.entries(targets)) {
    for (const form of targetForms(value)) text = text.replaceAll(form, `<${name}>`);
  }
  return text;
}

/**
 * Rows and last write of every application table, to prove that a refused mutation wrote nothing.
 * An API key's `last_used_at` is not the request's doing: authentication stamps it (at most once a
 * minute, when its 30-second cache asks the database), for refused requests too, so `api_keys` is
 * compared without it — else a refused batch that happens to renew a key's stamp reads as a write.
 */
let fingerprintSql: string | undefined;
async function fingerprint(): Promise<Record<string, string>> {
  if (!fingerprintSql) {
    const tables = await prisma.$queryRaw<{ name: string }[]>`
      SELECT tablename AS name FROM pg_tables
       WHERE schemaname = current_schema() AND tablename <> '_prisma_migrations' ORDER BY tablename`;
    fingerprintSql = `SELECT ${tables
      .map(({ name }) => {
        const table = `"${name.replaceAll('"', '""')}"`;
        if (name === 'api_keys') {
          return `(SELECT count(*) || ':' || coalesce(md5(string_agg((to_jsonb(k) - 'last_used_at')::text, ',' ORDER BY k.id)), '')
                     FROM api_keys k) AS ${table}`;
        }
        // Every insert and update gives its row a new xmin; a delete lowers the count.
        return `(SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM ${table}) AS ${table}`;
      })
      .join(', ')}`;
  }
  const [row] = await prisma.$queryRawUnsafe<Record<string, string>[]>(fingerprintSql);
  return row!;
}

function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys(after).filter((table) => before[table] !== after[table]);
}

// ---------------------------------------------------------------------------
// One row

/** One request a cell asks for: who sends it, at whose data, and what must happen. */
interface Run {
  kind: CallerKind;
  subject: Subject;
  expect: 'allowed' | 'denied';
  /** Aimed at another member's data: denied as if it did not exist. */
  other: boolean;
}

function runsOf(kind: CallerKind, access: Access): Run[] {
  if (kind === 'memberOther') return [{ kind, subject: otherSubject(), expect: access === 'allow' ? 'allowed' : 'denied', other: true }];
  if (access === 'own') {
    return [
      { kind, subject: ownSubject(kind), expect: 'allowed', other: false },
      { kind, subject: otherSubject(), expect: 'denied', other: true },
    ];
  }
  return [{ kind, subject: ownSubject(kind), expect: access === 'allow' ? 'allowed' : 'denied', other: false }];
}

/**
 * Sends an operation, asking a mutation's typed error for its code and message too.
 * A subscription goes over SSE, as an app opens it: its first event is the answer.
 */
async function send(type: RootType, operation: Operation, token: string | undefined): Promise<GraphQLResponse> {
  if (type === 'Subscription') {
    const stream = await app.subscribe(operation.query, operation.variables, token);
    try {
      return await stream.result(0);
    } finally {
      await stream.close();
    }
  }
  const query = operation.query.replace('__typename', '__typename ... on Error { code message }');
  return app.gql(query, operation.variables, token);
}

/** Sends one run's probe; returns what disagrees with the matrix (nothing when the cell holds). */
async function check(type: RootType, field: string, probe: Probe, run: Run, targets: Targets): Promise<string[]> {
  const problems: string[] = [];
  const token = tokens.get(run.kind);
  const who = `${run.kind}${run.other ? ' (another member’s)' : ''}`;
  const response = await send(type, probe.operation(targets), token);
  let outcome = classify(type, field, response, probe, targets);
  if (outcome === 'notFound' && run.other) outcome = 'denied';
  if (outcome !== run.expect) problems.push(`${who}: expected ${run.expect}, got ${outcome}`);
  if (run.other && run.expect === 'denied') {
    const missing = missingTargets(targets);
    const answerForMissing = await send(type, probe.operation(missing), token);
    const [seen, unseen] = [normalised(response, targets), normalised(answerForMissing, missing)];
    if (seen !== unseen) problems.push(`${who}: tells another member's data from none: ${seen.slice(0, 300)} vs ${unseen.slice(0, 300)}`);
  }
  return problems;
}

/**
 * Every cell of one row. Targets are created first; then the refused requests
 * run together between two fingerprints of the database (a refused mutation
 * writes nothing — when something was written, each is run again alone to name
 * the caller), then the allowed ones.
 */
async function checkRow(type: RootType, field: string, probe: Probe, access: Record<CallerKind, Access>): Promise<string[]> {
  const runs = CALLER_KINDS.flatMap((kind) => runsOf(kind, access[kind]));
  const planned = await Promise.all(runs.map(async (run) => ({ run, targets: await probe.targets(seed, run.subject) })));
  const all = async (list: typeof planned) =>
    (await Promise.all(list.map(({ run, targets }) => check(type, field, probe, run, targets)))).flat();
  const refused = planned.filter(({ run }) => run.expect === 'denied');
  const before = type === 'Mutation' ? await fingerprint() : undefined;
  const problems = await all(refused);
  if (before && changedTables(before, await fingerprint()).length > 0) problems.push(...(await whoWrote(type, field, probe, refused)));
  problems.push(...(await all(planned.filter(({ run }) => run.expect === 'allowed'))));
  return problems;
}

/** Runs refused requests one at a time, each on fresh targets, and names those that wrote. */
async function whoWrote(type: RootType, field: string, probe: Probe, refused: { run: Run }[]): Promise<string[]> {
  const problems: string[] = [];
  for (const { run } of refused) {
    const targets = await probe.targets(seed, run.subject);
    const before = await fingerprint();
    await check(type, field, probe, run, targets);
    const changed = changedTables(before, await fingerprint());
    if (changed.length > 0)
      problems.push(`${run.kind}${run.other ? ' (another member’s)' : ''}: refused, yet wrote to ${changed.join(', ')}`);
  }
  return problems.length > 0 ? problems : ['a refused request wrote something, but none did when run alone'];
}

// ---------------------------------------------------------------------------

describe('the permission matrix', () => {
  it('has a row for every root field of the printed schema, and none for a field that is gone', () => {
    const schema = getSchema();
    const rootTypes = { Query: schema.getQueryType(), Mutation: schema.getMutationType(), Subscription: schema.getSubscriptionType() };
    for (const type of ROOT_TYPES) {
      const fields = Object.keys(rootTypes[type]?.getFields() ?? {}).sort();
      expect({ type, fields: Object.keys(PERMISSION_MATRIX[type]).sort() }).toEqual({ type, fields });
    }
  });

  it('has a probe for every row', () => {
    for (const type of ROOT_TYPES) {
      const missing = Object.keys(PERMISSION_MATRIX[type]).filter((field) => !PROBES[type][field]?.length);
      expect({ type, missing }).toEqual({ type, missing: [] });
    }
  });

  for (const type of ROOT_TYPES) {
    for (const [field, row] of Object.entries(PERMISSION_MATRIX[type])) {
      it(`${type}.${field} answers every kind of caller as the matrix says`, async () => {
        expect(await checkRow(type, field, PROBES[type][field]![0]!, row.access)).toEqual([]);
      });
    }
  }
});
