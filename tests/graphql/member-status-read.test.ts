import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isLeafType, type GraphQLObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { readMemberStatus, SCREEN_ENTRY_COLUMNS } from '../../src/domain/members/member-status.service.js';
import { upcomingExpiries } from '../../src/domain/points/expiring.service.js';
import { adjustPoints, earnPoints } from '../../src/domain/points/points.service.js';
import { loadTierStandings } from '../../src/domain/tiers/tiers.service.js';
import { issueVoucher, SCREEN_VOUCHER_COLUMNS, voucherStatusWhere } from '../../src/domain/vouchers/vouchers.service.js';
import type { LedgerEntry, Voucher, VoucherStatus } from '../../src/generated/prisma/client.js';
import { rawSql } from '../../src/db/sql.js';
import { apiKeyCaller, STOREFRONT_SCOPES } from '../support/callers.js';
import { testLogger, useTestApp } from '../support/app.js';
import { statementsDuring } from '../support/statements.js';

/**
 * `member(id)` and `me` answer the status screen with one prepared statement
 * (`readMemberStatus`) instead of Prisma: these tests hold it to giving exactly
 * what Prisma gives, field for field, for every shape it accepts, and to
 * leaving every other shape to Prisma.
 */
const NOW = new Date();
const deps = () => ({ prisma, logger: testLogger, now: () => NOW });
const storefront = apiKeyCaller('shop', STOREFRONT_SCOPES);
const admin = { actor: { type: 'STAFF' as const, id: 'admin' }, role: 'ADMIN' as const };
const DAY = 86_400_000;

const { prisma, app } = useTestApp(4);

/** A member with earns (pending and released lots), an adjustment with a note, and vouchers in every status. */
async function memberWithEverything(): Promise<string> {
  const memberId = await app.enroll();
  for (let i = 0; i < 4; i++) {
    await earnPoints(
      { prisma, logger: testLogger, now: () => new Date(NOW.getTime() - (40 - i * 12) * DAY) },
      { memberId, orderRef: `o-${i}`, orderTotal: `${30 + i * 17}.50`, idempotencyKey: `e-${i}` },
      storefront,
    );
  }
  await adjustPoints(deps(), { memberId, points: 25, reason: 'goodwill by hand', idempotencyKey: 'adj-1' }, admin);
  const issue = (
    value: Parameters<typeof issueVoucher>[1]['value'],
    extra: { minimumOrderValue?: string; issuedDaysAgo?: number; expiresInDays?: number } = {},
  ) =>
    issueVoucher(rawSql(prisma), {
      memberId,
      kind: 'GOODWILL',
      value,
      causeType: 'GESTURE',
      causeRef: randomUUID(),
      minimumOrderValue: extra.minimumOrderValue,
      now: new Date(NOW.getTime() - (extra.issuedDaysAgo ?? 1) * DAY),
      expiresAt: extra.expiresInDays === undefined ? undefined : new Date(NOW.getTime() + extra.expiresInDays * DAY),
    });
  await issue({ type: 'FIXED', amount: '5.00' }, { minimumOrderValue: '20.00', issuedDaysAgo: 3 });
  await issue({ type: 'PERCENT', percent: 15 }, { issuedDaysAgo: 2 });
  const lapsed = await issue({ type: 'FIXED', amount: '7.25' }, { issuedDaysAgo: 9, expiresInDays: 1 });
  await prisma.voucher.update({ where: { id: lapsed.voucher.id }, data: { expiresAt: new Date(NOW.getTime() - DAY) } });
  const redeemed = await issue({ type: 'FIXED', amount: '10.00' }, { issuedDaysAgo: 5 });
  await prisma.voucher.update({
    where: { id: redeemed.voucher.id },
    data: { status: 'REDEEMED', redeemedAt: new Date(NOW.getTime() - DAY) },
  });
  const voided = await issue({ type: 'PERCENT', percent: 5 }, { issuedDaysAgo: 6 });
  await prisma.voucher.update({
    where: { id: voided.voucher.id },
    data: { status: 'VOIDED', voidedAt: new Date(NOW.getTime() - 2 * DAY), voidReason: 'issued by mistake' },
  });
  const marked = await issue({ type: 'FIXED', amount: '3.00' }, { issuedDaysAgo: 4 });
  await prisma.voucher.update({ where: { id: marked.voucher.id }, data: { status: 'EXPIRED' } });
  return memberId;
}

const LEDGER_ORDER = [{ createdAt: 'desc' as const }, { id: 'desc' as const }];
const VOUCHER_ORDER = [{ issuedAt: 'desc' as const }, { id: 'desc' as const }];

describe('readMemberStatus gives what Prisma gives', () => {
  it('for every voucher status filter and page size, field for field', async () => {
    const memberId = await memberWithEverything();
    const statuses: (VoucherStatus | null)[] = [null, 'ISSUED', 'EXPIRED', 'REDEEMED', 'VOIDED'];
    let compared = 0;
    for (const status of statuses) {
      for (const take of [1, 3, 11]) {
        const fast = await readMemberStatus(
          deps(),
          memberId,
          { vouchers: { take, status }, ledger: { take }, expiries: true, standing: true },
          admin,
        );
        const slow = await prisma.member.findUnique({
          where: { id: memberId },
          include: {
            vouchers: { where: status ? voucherStatusWhere(status, NOW) : {}, orderBy: VOUCHER_ORDER, take },
            ledger: { orderBy: LEDGER_ORDER, take },
          },
        });
        expect(fast!.member).toStrictEqual(slow);
        compared += slow!.vouchers.length + slow!.ledger.length;
      }
    }
    // The fixture really holds what is compared: 6 vouchers, 5 entries, decimals and nulls both ways.
    const all = await readMemberStatus(deps(), memberId, { vouchers: { take: 50, status: null }, ledger: { take: 50 } }, admin);
    const vouchers = all!.member.vouchers as Voucher[];
    const entries = all!.member.ledger as LedgerEntry[];
    expect(vouchers).toHaveLength(6);
    expect(entries).toHaveLength(5);
    expect(vouchers.some((v) => v.amount !== null && v.minimumOrderValue !== null)).toBe(true);
    expect(vouchers.some((v) => v.voidReason !== null && v.voidedAt !== null)).toBe(true);
    expect(entries.some((e) => e.note !== null)).toBe(true);
    expect(compared).toBeGreaterThan(40);
  });

  it("with `screen`, the same rows with the status screen's columns and their member alone", async () => {
    const memberId = await memberWithEverything();
    const statuses: (VoucherStatus | null)[] = [null, 'ISSUED', 'EXPIRED', 'REDEEMED', 'VOIDED'];
    for (const status of statuses) {
      const full = await readMemberStatus(deps(), memberId, { vouchers: { take: 11, status }, ledger: { take: 11 } }, admin);
      const screen = await readMemberStatus(
        deps(),
        memberId,
        { vouchers: { take: 11, status, screen: true }, ledger: { take: 11, screen: true } },
        admin,
      );
      const pick = <T extends object>(rows: T[], columns: readonly string[]) =>
        rows.map((row) => Object.fromEntries(Object.entries(row).filter(([key]) => columns.includes(key))));
      expect(screen!.member.vouchers).toStrictEqual(pick(full!.member.vouchers!, [...SCREEN_VOUCHER_COLUMNS, 'memberId']));
      expect(screen!.member.ledger).toStrictEqual(pick(full!.member.ledger!, [...SCREEN_ENTRY_COLUMNS, 'memberId']));
      expect(screen!.vouchersChangeAt).toStrictEqual(full!.vouchersChangeAt);
    }
    // Nothing else is read: a screen voucher has 10 keys of a voucher's 19, an entry 8 of 12.
    const screen = await readMemberStatus(
      deps(),
      memberId,
      { vouchers: { take: 11, status: null, screen: true }, ledger: { take: 11, screen: true } },
      admin,
    );
    expect(screen!.member.vouchers).toHaveLength(6);
    expect(screen!.member.vouchers!.every((voucher) => Object.keys(voucher).length === 10)).toBe(true);
    expect(screen!.member.ledger!.every((entry) => Object.keys(entry).length === 8)).toBe(true);
  });

  it('expiries and tier standing as their own reads give them', async () => {
    const memberId = await memberWithEverything();
    const fast = await readMemberStatus(deps(), memberId, { expiries: true, standing: true }, admin);
    const standings = await loadTierStandings(rawSql(prisma), [memberId], NOW);

    expect(fast!.expiries).toStrictEqual(await upcomingExpiries(deps(), memberId));
    expect(fast!.expiries!.length).toBeGreaterThan(1);
    expect(fast!.standing!.qualifyingPoints).toBe(standings.qualifyingPoints.get(memberId));
    expect(fast!.standing!.qualifyingPoints).toBeGreaterThan(0);
    expect(fast!.standing!.program).toStrictEqual(standings.program);
    // Nothing asked, nothing read: the member alone, as Prisma has it.
    const bare = await readMemberStatus(deps(), memberId, {}, admin);
    expect(bare).toStrictEqual({ member: await prisma.member.findUnique({ where: { id: memberId } }) });
    expect(await readMemberStatus(deps(), randomUUID(), { standing: true }, admin)).toBeNull();
  });
});

const FIELDS = `id status tier { key name position } tierSince
  tierProgress { current { key threshold multiplier } next { key threshold } qualifyingPoints pointsToNext reviewAt }
  balance { available pending lifetime } expiringPoints { expiresAt points }`;

/** The same selection through `member(id)` (the one-statement read) and `node(id)` (plugin-prisma and Prisma). */
async function bothWays(memberId: string, selection: string, token: string) {
  const globalId = Buffer.from(`Member:${memberId}`).toString('base64');
  const viaMember = await app.gql(`query($id: ID!) { member(id: $id) { ${selection} } }`, { id: memberId }, token);
  const viaNode = await app.gql(`query($id: ID!) { node(id: $id) { ... on Member { ${selection} } } }`, { id: globalId }, token);
  expect(viaMember.errors).toBeUndefined();
  expect(viaNode.errors).toBeUndefined();
  return { viaMember: viaMember.data!.member, viaNode: viaNode.data!.node };
}

describe('member(id) over GraphQL', () => {
  it('answers the status screen in one statement, the same as through Prisma', async () => {
    const memberId = await memberWithEverything();
    const token = await app.apiKeyToken(['members:read']);
    const selection = `${FIELDS}
      vouchers(first: 5, status: ISSUED) { edges { cursor node { code kind status valueType percent expiresAt value { amount currency } } } pageInfo { hasNextPage endCursor } }
      ledger(first: 10) { edges { cursor node { kind amount balanceAfter causeType causeRef note createdAt } } pageInfo { hasNextPage hasPreviousPage endCursor } }`;
    await bothWays(memberId, selection, token); // warm: API key, settings
    const { statements: sent, result: answers } = await statementsDuring(() => bothWays(memberId, selection, token));
    expect(answers.viaMember).toStrictEqual(answers.viaNode);
    expect(answers.viaMember.vouchers.edges).toHaveLength(2);
    expect(answers.viaMember.ledger.edges).toHaveLength(5);
    expect(answers.viaMember.expiringPoints.length).toBeGreaterThan(1);
    const statusStatements = sent.filter((text) => text.includes('AS vouchers'));
    expect(statusStatements).toHaveLength(1);
    // member(id): that one statement; node(id): Prisma's member query, its relations, expiries, standing.
    expect(sent.length - statusStatements.length).toBeGreaterThan(1);
    // Alone, member(id) sends nothing else: its pages, balance and tier resolve from the status read's rows
    // (src/graphql/preloaded.ts), not from plugin-prisma loading them again.
    const alone = await statementsDuring(() => app.gql(`query($id: ID!) { member(id: $id) { ${selection} } }`, { id: memberId }, token));
    expect(alone.result.data!.member).toStrictEqual(answers.viaMember);
    expect(alone.statements).toEqual(statusStatements);
  });

  it("reads a page with the status screen's columns alone when its fields read no other, and answers every field as Prisma does", async () => {
    const memberId = await memberWithEverything();
    const key = await app.apiKeyToken(['members:read']);
    const member = await app.memberToken(memberId);
    // Staff read what the others may not (voidReason, another's actorId and note): their scopes' columns too.
    const staff = await app.staffToken('AGENT', 'agent-screen');
    const schema = buildSchema(readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8'));
    // Every field of a page's node that its row answers: scalars, enums and money (not the member).
    const nodeFields = (type: string) =>
      Object.values((schema.getType(type) as GraphQLObjectType).getFields()).flatMap((field) => {
        const named = getNamedType(field.type);
        if (isLeafType(named)) return [field.name];
        return named.name === 'Money' ? [`${field.name} { amount currency }`] : [];
      });
    const pages = { vouchers: nodeFields('Voucher'), ledger: nodeFields('LedgerEntry') };
    expect(pages.vouchers.length).toBeGreaterThan(14);
    expect(pages.ledger.length).toBeGreaterThan(9);
    const screenText = { vouchers: `'expiresAt', v.expires_at`, ledger: `'causeRef', e.cause_ref, 'createdAt'` };
    const fullText = { vouchers: '"expiryRemindedAt"', ledger: `'idempotencyKey'` };
    let screens = 0;
    for (const [page, fields] of Object.entries(pages) as [keyof typeof pages, string[]][]) {
      for (const field of fields) {
        const selection = `${page}(first: 11) { edges { cursor node { __typename ${field} } } pageInfo { hasNextPage endCursor } }`;
        for (const token of [key, member, staff]) {
          const { viaMember, viaNode } = await bothWays(memberId, selection, token);
          expect(viaMember, `${page} ${field}`).toStrictEqual(viaNode);
          expect(viaMember[page].edges.length).toBeGreaterThan(4);
        }
        // Which columns the one statement built: the screen's, or every one.
        const { statements } = await statementsDuring(() =>
          app.gql(`query($id: ID!) { member(id: $id) { ${selection} } }`, { id: memberId }, key),
        );
        const [statement] = statements.filter((text) => text.includes('AS vouchers'));
        const screen = statement!.includes(screenText[page]);
        expect(screen, `${page} ${field}`).toBe(!statement!.includes(fullText[page]));
        if (screen) screens++;
      }
    }
    // The screen's fields are read from the screen's columns; the others (issuedAt, note, actorId, …) from every one.
    const screenFields = ['__typename', 'id', 'code', 'kind', 'status', 'valueType', 'percent', 'expiresAt', 'value { amount currency }'];
    const entryScreenFields = ['id', 'kind', 'amount', 'balanceAfter', 'causeType', 'causeRef', 'createdAt'];
    expect(screens).toBe(
      pages.vouchers.filter((field) => screenFields.includes(field)).length +
        pages.ledger.filter((field) => entryScreenFields.includes(field)).length,
    );
    expect(screens).toBeGreaterThan(12);
  });

  it('leaves cursors, last pages, other relations and nested relations to Prisma, with the same answers', async () => {
    const memberId = await memberWithEverything();
    const token = await app.apiKeyToken(['members:read', 'vouchers:redeem']);
    const first = await app.gql(
      `query($id: ID!) { member(id: $id) { ledger(first: 2) { pageInfo { endCursor } } } }`,
      { id: memberId },
      token,
    );
    const after = first.data!.member.ledger.pageInfo.endCursor as string;
    const selections = [
      `ledger(first: 2, after: "${after}") { edges { node { amount note } } pageInfo { hasNextPage hasPreviousPage } }`,
      `ledger(last: 2) { edges { node { amount createdAt } } pageInfo { hasPreviousPage } }`,
      `vouchers(first: 3, status: EXPIRED) { edges { node { code status } } }`,
      `activeVouchers { code expiresAt }`,
      `tierHistory(first: 3) { edges { node { toTierKey toTier { name } reason } } }`,
      `ledger(first: 3) { edges { node { amount member { id balance { available } } } } }`,
      `vouchers(first: 2) { edges { node { code member { id } } } } ${FIELDS}`,
    ];
    for (const selection of selections) {
      const { viaMember, viaNode } = await bothWays(memberId, selection, token);
      expect(viaMember).toStrictEqual(viaNode);
    }
    const expired = await bothWays(memberId, `vouchers(first: 5, status: EXPIRED) { edges { node { status } } }`, token);
    expect(expired.viaMember.vouchers.edges).toHaveLength(2);
  });

  it('serves `me` the same way, and a member token sees only its own member', async () => {
    const memberId = await memberWithEverything();
    const other = await memberWithEverything();
    const token = await app.memberToken(memberId);
    const me = await app.gql(`{ me { id ${FIELDS} ledger(first: 10) { edges { node { amount } } } } }`, {}, token);
    const viaMember = await app.gql(
      `query($id: ID!) { member(id: $id) { id ${FIELDS} ledger(first: 10) { edges { node { amount } } } } }`,
      { id: memberId },
      token,
    );
    expect(me.errors).toBeUndefined();
    expect(me.data!.me).toStrictEqual(viaMember.data!.member);
    const foreign = await app.gql(`query($id: ID!) { member(id: $id) { id balance { available } } }`, { id: other }, token);
    expect(foreign.data?.member ?? null).toBeNull();
    expect(JSON.stringify(foreign)).not.toContain(other);
  });

  it("keeps each field's own rule on the rows it answers: atRisk is the staff's and keys', null for the member", async () => {
    const memberId = await memberWithEverything();
    const since = new Date(NOW.getTime() - DAY);
    await prisma.member.update({ where: { id: memberId }, data: { atRisk: true, atRiskSince: since } });
    const selection = `atRisk atRiskSince balance { available } ledger(first: 2) { edges { node { amount } } }`;
    const [memberToken, keyToken] = [await app.memberToken(memberId), await app.apiKeyToken(['members:read'])];
    const asMember = await statementsDuring(() => app.gql(`{ me { ${selection} } }`, {}, memberToken));
    const asKey = await statementsDuring(() => app.gql(`query($id: ID!) { member(id: $id) { ${selection} } }`, { id: memberId }, keyToken));
    // Both read through the one statement (the rows are preloaded), and the field rule still decides.
    expect(asMember.statements.filter((text) => text.includes('AS vouchers'))).toHaveLength(1);
    expect(asMember.result.data!.me).toMatchObject({ atRisk: null, atRiskSince: null, ledger: { edges: [{}, {}] } });
    expect(asKey.result.data!.member).toMatchObject({ atRisk: true, atRiskSince: since.toISOString() });
    expect(asKey.result.data!.member.balance).toStrictEqual(asMember.result.data!.me.balance);
  });
});
