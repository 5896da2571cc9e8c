import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import pg from 'pg';
import { expect } from 'vitest';
import { CALLER_KINDS, type CallerKind } from '../../src/auth/permission-matrix.js';
import { API_KEY_SCOPES, type ApiKeyScope } from '../../src/auth/principal.js';
import { SERVICE_CALLERS, type CallerRule } from '../../src/domain/authorization.js';
import type { GraphQLResponse, useTestApp } from './app.js';

type TestApp = ReturnType<typeof useTestApp>['app'];

/**
 * A node type a member owns, read through its service (`node(id)`): who its rule lets in (caller kinds of the
 * permission matrix, in its order), how a refusal's message starts, the table its read asks, a selection, the answer
 * for the owner's row, and that row's id.
 */
export interface MemberNodeType {
  typename: string;
  readers: readonly string[];
  refusal: RegExp;
  table: RegExp;
  selection: string;
  answer: (owner: string) => Record<string, unknown>;
  rowOf: (owner: string) => Promise<string>;
  /** Kinds that read only rows of their own (a reporting key its reports): another's row is null, as for memberOther. */
  ownRowsOnly?: readonly string[];
}

export const nodeQuery = (typename: string, selection: string): string =>
  `query($id: ID!) { node(id: $id) { __typename id ... on ${typename} { ${selection} } } }`;

/** A token of each kind of the permission matrix; the member kinds are `owner`'s and `stranger`'s. */
export async function tokenOfKind(app: TestApp, kind: CallerKind, owner: string, stranger: string): Promise<string | undefined> {
  if (kind === 'anonymous') return undefined;
  if (kind === 'memberSelf') return app.memberToken(owner);
  if (kind === 'memberOther') return app.memberToken(stranger);
  if ((API_KEY_SCOPES as readonly string[]).includes(kind)) return app.apiKeyToken([kind as ApiKeyScope], `key ${kind}`);
  return app.staffToken(kind as 'AGENT' | 'SUPERVISOR' | 'ADMIN');
}

export interface Read {
  sql: string;
  /** Rows the database returned for it. */
  rows: number;
}

/**
 * The statements node-postgres sends while `run` runs, each with the number of rows it returned (as
 * tests/support/statements.ts observes them, plus what came back): whether a row left the database, not only
 * whether its table was asked.
 */
export async function readsDuring<T>(run: () => Promise<T>): Promise<{ reads: Read[]; result: T }> {
  const reads: Read[] = [];
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    const read: Read = { sql: (typeof first === 'string' ? first : (first?.text ?? '?')).trim(), rows: 0 };
    reads.push(read);
    const count = (result: unknown) => {
      read.rows = (result as { rows?: unknown[] } | undefined)?.rows?.length ?? 0;
    };
    // The pool passes a callback; a client used directly answers with a promise.
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (error: unknown, result: unknown) => {
        count(result);
        return (callback as (error: unknown, result: unknown) => unknown)(error, result);
      };
    }
    const answer = (original as (...a: unknown[]) => unknown).apply(this, args);
    if (answer instanceof Promise) answer.then(count, () => undefined);
    return answer;
  } as typeof original;
  try {
    return { reads, result: await run() };
  } finally {
    pg.Client.prototype.query = original;
  }
}

/**
 * `node(id)` of the owner's row, and of an id nobody has, for every caller kind of the matrix: the kinds `type`
 * lets in get the row (null for the unknown id); anonymous callers UNAUTHENTICATED; another member's token null, from
 * one statement on the type's table that returned no row; every other kind FORBIDDEN by the service's own check,
 * with no statement at all, whether the row exists or not.
 */
export async function expectNodeReadsByCallerKind(app: TestApp, type: MemberNodeType, owner: string, stranger: string): Promise<void> {
  const id = encodeGlobalID(type.typename, await type.rowOf(owner));
  const missing = encodeGlobalID(type.typename, randomUUID());
  const query = nodeQuery(type.typename, type.selection);
  for (const kind of CALLER_KINDS) {
    const token = await tokenOfKind(app, kind, owner, stranger);
    await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
    const { reads, result } = await readsDuring(() => app.gql(query, { id }, token));
    const unknown = await app.gql(query, { id: missing }, token);
    if (kind === 'anonymous') {
      expectUnauthenticated(result, unknown);
    } else if (type.readers.includes(kind)) {
      // The member's own row for their own token; any row for the others let in.
      expectRowAndNull(type, kind, id, result, unknown, type.answer(owner));
    } else if (kind === 'memberOther' || type.ownRowsOnly?.includes(kind)) {
      // Null, as for an id nobody has: the row is asked for as theirs, and the database returns none.
      expect(result, kind).toEqual({ data: { node: null } });
      expect(unknown, kind).toEqual({ data: { node: null } });
      expect(
        reads.filter((read) => type.table.test(read.sql)).map((read) => read.rows),
        kind,
      ).toEqual([0]);
    } else {
      expectRefusedUnread(type, kind, [result, unknown], reads);
    }
  }
}

/**
 * A node type no member owns (an earning rule, a reward, a program change, an API key, a service incident), read
 * through its service (`node(id)`): as a MemberNodeType, but its row is nobody's, so both member kinds are let in or
 * refused alike, as any other caller. `rowOf` makes the row and gives its id.
 */
export interface UnownedNodeType {
  typename: string;
  readers: readonly string[];
  refusal: RegExp;
  table: RegExp;
  selection: string;
  answer: Record<string, unknown>;
  rowOf: () => Promise<string>;
  /** Kinds let in that read only rows of their own (a reporting key its incidents): this row, another's, is null. */
  ownRowsOnly?: readonly string[];
}

/**
 * `node(id)` of a row of `type`, and of an id nobody has, for every caller kind of the matrix: the kinds `type` lets
 * in get the row (null for the unknown id), member tokens too when they are among them; anonymous callers
 * UNAUTHENTICATED; every other kind FORBIDDEN by the service's own check, with no statement at all (none on the
 * type's table, none elsewhere), whether the row exists or not.
 */
export async function expectUnownedNodeReadsByCallerKind(app: TestApp, type: UnownedNodeType): Promise<void> {
  const id = encodeGlobalID(type.typename, await type.rowOf());
  const missing = encodeGlobalID(type.typename, randomUUID());
  const query = nodeQuery(type.typename, type.selection);
  const [owner, stranger] = [await app.enroll(), await app.enroll()];
  for (const kind of CALLER_KINDS) {
    const token = await tokenOfKind(app, kind, owner, stranger);
    await app.gql('{ __typename }', {}, token); // credentials looked up and cached: what follows is the read alone
    const known = await readsDuring(() => app.gql(query, { id }, token));
    const unknown = await readsDuring(() => app.gql(query, { id: missing }, token));
    if (kind === 'anonymous') {
      expectUnauthenticated(known.result, unknown.result);
      expect([...known.reads, ...unknown.reads], kind).toEqual([]);
    } else if (type.ownRowsOnly?.includes(kind)) {
      // Null, as for an id nobody has: the row is asked for as theirs, and the database returns none.
      expect(known.result, kind).toEqual({ data: { node: null } });
      expect(unknown.result, kind).toEqual({ data: { node: null } });
      expect(
        known.reads.filter((read) => type.table.test(read.sql)).map((read) => read.rows),
        kind,
      ).toEqual([0]);
    } else if (type.readers.includes(kind)) {
      expectRowAndNull(type, kind, id, known.result, unknown.result, type.answer);
    } else {
      expectRefusedUnread(type, kind, [known.result, unknown.result], [...known.reads, ...unknown.reads]);
    }
  }
}

type Answer = GraphQLResponse;

function expectUnauthenticated(...answers: Answer[]): void {
  for (const answer of answers) expect(answer.errors?.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
}

/** A reader's answers: the row for its id, null (as for every node type) for an id nobody has. */
function expectRowAndNull(
  type: { typename: string },
  kind: string,
  id: string,
  result: Answer,
  unknown: Answer,
  answer: Record<string, unknown>,
): void {
  expect(result.errors, kind).toBeUndefined();
  expect(result.data?.node, kind).toEqual({ __typename: type.typename, id, ...answer });
  expect(unknown, kind).toEqual({ data: { node: null } });
}

/** A refused caller's answers: FORBIDDEN naming the type's rule, for a known id and an unknown one alike, nothing read. */
function expectRefusedUnread(type: { refusal: RegExp; table: RegExp }, kind: string, answers: Answer[], reads: Read[]): void {
  for (const answer of answers) {
    expect(answer.data?.node ?? null, kind).toBeNull();
    expect(
      answer.errors?.map((e) => [e.extensions?.code, e.message]),
      kind,
    ).toEqual([['FORBIDDEN', expect.stringMatching(type.refusal)]]);
  }
  expect(
    reads.filter((read) => type.table.test(read.sql)),
    kind,
  ).toEqual([]);
  expect(reads, kind).toEqual([]);
}

/** The owner's rows by their ids in upper case, with the owner's token: found, as a Member's is. */
export async function expectIdsInAnyCase(app: TestApp, types: readonly MemberNodeType[], owner: string): Promise<void> {
  const token = await app.memberToken(owner);
  for (const type of types) {
    const id = encodeGlobalID(type.typename, (await type.rowOf(owner)).toUpperCase());
    const result = await app.gql(nodeQuery(type.typename, type.selection), { id }, token);
    expect(result.errors, type.typename).toBeUndefined();
    expect(result.data?.node, type.typename).toMatchObject(type.answer(owner));
  }
}

/** Runs `run` with SERVICE_CALLERS.readMembers replaced by `rule`, then puts the rule back. */
export async function withReadMembersRule<T>(rule: CallerRule, run: () => Promise<T>): Promise<T> {
  const callers = SERVICE_CALLERS as unknown as Record<string, CallerRule>;
  const original = callers.readMembers!;
  callers.readMembers = rule;
  try {
    return await run();
  } finally {
    callers.readMembers = original;
  }
}
