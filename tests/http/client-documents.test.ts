import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Kind, parse, print, visit, type DefinitionNode, type DocumentNode, type FragmentDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { issueVoucher } from '../../src/domain/vouchers/vouchers.service.js';
import { STOREFRONT_SCOPES } from '../support/callers.js';
import { useTestApp } from '../support/app.js';

/**
 * Client documents as the storefront, the member app and the service console write
 * them: colocated fragments, one per component, nested several levels deep. They must
 * pass the server's query limits (the same in every environment: src/app.ts) with
 * headroom, while a deep or costly query is still refused, written inline or through
 * fragments. The documents live in tests/support/client-documents/.
 */
const { prisma, app } = useTestApp();

const DOCUMENTS = new URL('../support/client-documents/', import.meta.url);
const read = (file: string): DocumentNode => parse(readFileSync(new URL(file, DOCUMENTS), 'utf8'));
const shared = new Map(
  read('shared.graphql')
    .definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
    .map((d) => [d.name.value, d]),
);

/** A screen's document with the shared fragments it spreads (transitively), as a client bundler emits it. */
function screen(file: string): string {
  const definitions: DefinitionNode[] = [...read(file).definitions];
  const included = new Set<string>();
  for (let i = 0; i < definitions.length; i++) {
    visit(definitions[i]!, {
      FragmentSpread(node) {
        const fragment = shared.get(node.name.value);
        if (fragment && !included.has(node.name.value)) {
          included.add(node.name.value);
          definitions.push(fragment);
        }
      },
    });
  }
  return print({ kind: Kind.DOCUMENT, definitions });
}

/**
 * The depth of a document's deepest operation: counting only fields (as the server's
 * limit does), or counting every fragment as a level too (as it did before).
 */
function depth(source: string, fragmentsAreLevels: boolean): number {
  const level = fragmentsAreLevels ? 1 : 0;
  const document = parse(source);
  const fragments = new Map(
    document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]),
  );
  const depthOf = (selections: readonly any[]): number =>
    Math.max(
      0,
      ...selections.map((s) => {
        if (s.kind === Kind.FRAGMENT_SPREAD) return level + depthOf(fragments.get(s.name.value)!.selectionSet.selections);
        if (s.kind === Kind.INLINE_FRAGMENT) return level + depthOf(s.selectionSet.selections);
        return 1 + (s.selectionSet ? depthOf(s.selectionSet.selections) : 0);
      }),
    );
  return Math.max(
    ...document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION).map((d) => depthOf(d.selectionSet.selections)),
  );
}

const CHECKOUT = screen('checkout.graphql');
const STATUS = screen('member-status.graphql');
const AGENT_PAGE = screen('agent-member.graphql');

/** Posts one operation of a multi-operation document, as generated clients do. */
async function operation(document: string, operationName: string, variables: Record<string, unknown>, token: string) {
  const response = await app.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: document, operationName, variables }),
  });
  return (await response.json()) as { data?: any; errors?: { message: string }[] };
}

/** A member who earned on two orders and holds a goodwill voucher. */
async function memberWithHistory(storefront: string): Promise<{ memberId: string; code: string }> {
  const memberId = await app.enroll();
  for (const orderRef of ['o-1', 'o-2']) {
    const earned = await operation(
      CHECKOUT,
      'CheckoutEarn',
      { input: { memberId, orderRef, orderTotal: '150.00', idempotencyKey: `earn-${orderRef}-${memberId}` } },
      storefront,
    );
    expect(earned.errors, JSON.stringify(earned.errors)).toBeUndefined();
    expect(earned.data.earnPoints).toMatchObject({ __typename: 'EarnPointsPayload', points: 150, member: { id: expect.any(String) } });
  }
  const voucher = await prisma.$transaction((tx) =>
    issueVoucher(tx, {
      memberId,
      kind: 'GOODWILL',
      value: { type: 'FIXED', amount: '5.00' },
      causeType: 'GESTURE',
      causeRef: randomUUID(),
      now: new Date(),
    }),
  );
  return { memberId, code: voucher.voucher.code };
}

describe('colocated-fragment client documents pass the query limits', () => {
  it('the documents nest fragments past the depth limit, their fields stay well within it', () => {
    // Counting fragments as levels, a limit of 12 refuses the screens (it did, before; armor's
    // old count found 16 for each, checkout included).
    expect(depth(STATUS, true)).toBeGreaterThan(12);
    expect(depth(AGENT_PAGE, true)).toBeGreaterThan(12);
    expect(depth(CHECKOUT, true)).toBeGreaterThanOrEqual(11);
    // Their fields: headroom of at least 5 levels under the limit of 12.
    expect(depth(STATUS, false)).toBeLessThanOrEqual(7);
    expect(depth(CHECKOUT, false)).toBeLessThanOrEqual(7);
    expect(depth(AGENT_PAGE, false)).toBeLessThanOrEqual(7);
  });

  it('checkout earn, validate and redeem', async () => {
    const storefront = await app.apiKeyToken([...STOREFRONT_SCOPES]);
    const { memberId, code } = await memberWithHistory(storefront);

    const validation = await operation(CHECKOUT, 'CheckoutValidateVoucher', { code, memberId, orderTotal: '50.00' }, storefront);
    expect(validation.errors, JSON.stringify(validation.errors)).toBeUndefined();
    expect(validation.data.validateVoucher).toMatchObject({
      valid: true,
      discount: { amount: '5.00', currency: 'EUR' },
      voucher: { code, status: 'ISSUED', value: { amount: '5.00' } },
    });

    const redeemed = await operation(
      CHECKOUT,
      'CheckoutRedeemVoucher',
      { input: { code, memberId, orderRef: 'o-3', orderTotal: '50.00', idempotencyKey: `redeem-${memberId}` } },
      storefront,
    );
    expect(redeemed.errors, JSON.stringify(redeemed.errors)).toBeUndefined();
    expect(redeemed.data.redeemVoucher).toMatchObject({
      __typename: 'RedeemVoucherPayload',
      orderRef: 'o-3',
      discount: { amount: '5.00' },
      voucher: { status: 'REDEEMED' },
    });

    // The error branches are reached through the same fragments.
    const again = await operation(
      CHECKOUT,
      'CheckoutRedeemVoucher',
      { input: { code, memberId, orderRef: 'o-4', orderTotal: '50.00', idempotencyKey: `redeem-again-${memberId}` } },
      storefront,
    );
    expect(again.errors).toBeUndefined();
    expect(again.data.redeemVoucher).toMatchObject({ __typename: 'VoucherNotRedeemableError', code: expect.any(String) });
  });

  it("the member app's status screen", async () => {
    const storefront = await app.apiKeyToken([...STOREFRONT_SCOPES]);
    const { memberId, code } = await memberWithHistory(storefront);

    const result = await app.gql(STATUS, {}, await app.memberToken(memberId));
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.data?.me).toMatchObject({
      tier: { key: 'BRONZE', name: 'Bronze' },
      balance: { available: 0, pending: 300 },
      tierProgress: { qualifyingPoints: 300, current: { key: 'BRONZE' }, next: { key: 'SILVER', name: 'Silver' } },
      activeVouchers: [{ code, value: { amount: '5.00', currency: 'EUR' } }],
      vouchers: { edges: [{ node: { code } }], pageInfo: { hasNextPage: false } },
    });
    expect(result.data?.me.ledger.edges).toHaveLength(2);
  });

  it("the service console's member page, for an agent", async () => {
    const storefront = await app.apiKeyToken([...STOREFRONT_SCOPES]);
    const { memberId, code } = await memberWithHistory(storefront);

    const result = await app.gql(AGENT_PAGE, { id: memberId }, await app.staffToken('AGENT'));
    expect(result.errors, JSON.stringify(result.errors)).toBeUndefined();
    expect(result.data?.member).toMatchObject({
      id: expect.any(String),
      balance: { available: 0, pending: 300 },
      vouchers: { edges: [{ node: { code, causeType: 'GESTURE' } }] },
    });
    expect(result.data?.member.ledger.edges).toHaveLength(2);
    expect(result.data?.agentAuthority).toMatchObject({ agentId: 'staff-agent' });
  });
});

describe('what the limits are for is still refused', () => {
  const nested = (rounds: number): string =>
    rounds === 0 ? 'id' : `ledger(first: 1) { edges { node { member { ${nested(rounds - 1)} } } } }`;

  it('a query 14 fields deep, inline or spread over fragments', async () => {
    const admin = await app.staffToken('ADMIN');
    // ledger { edges { node { member { … } } } }: 4 fields a round; me, 3 rounds and id are 14 deep.
    const inline = `{ me { ${nested(3)} } }`;
    const split = `{ me { ...A } }
      fragment A on Member { ledger(first: 1) { edges { node { ...B } } } }
      fragment B on LedgerEntry { member { ledger(first: 1) { edges { node { ...C } } } } }
      fragment C on LedgerEntry { member { ledger(first: 1) { edges { node { member { id } } } } } }`;
    for (const query of [inline, split]) {
      const result = await app.gql(query, {}, admin);
      expect(result.data).toBeUndefined();
      expect(result.errors?.[0]?.message).toMatch(/depth limit of 12 exceeded, found 14\./);
    }
  });

  it('a query 20 fields deep, inline or spread over fragments', async () => {
    const admin = await app.staffToken('ADMIN');
    const inline = `{ me { ${nested(5)} } }`;
    const split = `{ me { ...A } }
      fragment A on Member { ledger(first: 1) { edges { node { ...B } } } }
      fragment B on LedgerEntry { member { ...C } }
      fragment C on Member { ledger(first: 1) { edges { node { member { ledger(first: 1) { edges { node { ...D } } } } } } } }
      fragment D on LedgerEntry { member { ledger(first: 1) { edges { node { member { ledger(first: 1) { edges { node { id } } } } } } } } }`;
    for (const query of [inline, split]) {
      const result = await app.gql(query, {}, admin);
      expect(result.data).toBeUndefined();
      // At this depth the cost rule (1.5× a level) answers first; either limit refuses it.
      expect(result.errors?.[0]?.message).toMatch(/(depth limit of 12|cost limit of 20000) exceeded/i);
    }
  });

  it('a cost bomb, inline or spread over fragments', async () => {
    const admin = await app.staffToken('ADMIN');
    const inline = `{ members(first: 100) { edges { node { ledger(first: 100) { edges { node { id kind amount } } } } } } }`;
    const split = `{ members(first: 100) { ...Page } }
      fragment Page on QueryMembersConnection { edges { node { ...Row } } }
      fragment Row on Member { ledger(first: 100) { ...Entries } }
      fragment Entries on MemberLedgerConnection { edges { node { id kind amount } } }`;
    for (const query of [inline, split]) {
      const result = await app.gql(query, {}, admin);
      expect(result.data).toBeUndefined();
      expect(result.errors?.[0]?.message).toMatch(/cost limit of 20000 exceeded/i);
    }
  });

  it('more than 15 aliases', async () => {
    const admin = await app.staffToken('ADMIN');
    const aliases = Array.from({ length: 16 }, (_, i) => `p${i}: program { currency }`).join(' ');
    const result = await app.gql(`{ ${aliases} }`, {}, admin);
    expect(result.data).toBeUndefined();
    expect(result.errors?.[0]?.message).toMatch(/aliases/i);
  });
});
