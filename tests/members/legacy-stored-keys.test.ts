import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';
import { storedContract } from '../support/legacy-rows.js';

/**
 * Text stored before the naming rules (docs/domain-rules.md, "Text": stored before them, or written by
 * SQL, a key can still hold a bidirectional control or a tab) stays reachable by the lookups that name
 * it: they take a key as stored (`check.lookupKey`), not by the rule of the write that stores one today.
 * Rows are written with Prisma here, as they were stored before the rules.
 */
const { prisma, app } = useTestApp();

const BY_EXTERNAL_ID = `query($x: String!) { memberByExternalId(externalId: $x) { id externalId } }`;
const CONTRACT = `query($r: String!) { contractByExternalRef(externalRef: $r) { id } }`;
const ORDER = `query($m: ID!, $r: String!) { order(memberId: $m, reference: $r) { id } }`;
const SEARCH = `query($s: String!) {
  members(filter: { search: $s }, first: 25) { edges { node { id name externalId } } }
  memberByExternalId(externalId: $s) { id }
}`;

describe('records stored before the character rules stay reachable by their stored key', () => {
  it('memberByExternalId finds a member whose stored external id holds U+202E (storefront key and agent)', async () => {
    const externalId = 'shop-\u202E7';
    const memberId = await app.enroll({ externalId });
    for (const token of [await app.apiKeyToken(['members:read']), await app.staffToken('AGENT')]) {
      const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, token);
      expect(found.errors).toBeUndefined();
      expect(found.data?.memberByExternalId?.id).toBe(encodeGlobalID('Member', memberId));
    }
  });

  it('memberByExternalId finds a member whose stored external id holds a tab (written by SQL/import)', async () => {
    const externalId = 'shop\t8';
    const memberId = await app.enroll({ externalId });
    const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, await app.apiKeyToken(['members:read']));
    expect(found.errors).toBeUndefined();
    expect(found.data?.memberByExternalId?.id).toBe(encodeGlobalID('Member', memberId));
  });

  it('a member token still finds themself by their own stored external id holding U+202E', async () => {
    const externalId = 'cust-\u202Eab';
    const memberId = await app.enroll({ externalId });
    const found = await app.gql(BY_EXTERNAL_ID, { x: externalId }, await app.memberToken(memberId));
    expect(found.errors).toBeUndefined();
    expect(found.data?.memberByExternalId?.id).toBe(encodeGlobalID('Member', memberId));
  });

  it('contractByExternalRef finds a contract whose stored reference holds U+202E (billing key and agent)', async () => {
    const memberId = await app.enroll();
    const externalRef = 'C-\u202E901';
    const contractId = await storedContract(prisma, memberId, externalRef);
    for (const token of [await app.apiKeyToken(['contracts:write']), await app.staffToken('AGENT')]) {
      const found = await app.gql(CONTRACT, { r: externalRef }, token);
      expect(found.errors).toBeUndefined();
      expect(found.data?.contractByExternalRef?.id).toBe(encodeGlobalID('Contract', contractId));
    }
  });

  it('order(memberId, reference) finds an order whose stored reference holds U+202E', async () => {
    const memberId = await app.enroll();
    const orderRef = 'ORD-\u202E77';
    await prisma.pointOrder.create({ data: { memberId, orderRef, currency: 'EUR', placedAt: new Date() } });
    const found = await app.gql(ORDER, { m: memberId, r: orderRef }, await app.staffToken('AGENT'));
    expect(found.errors).toBeUndefined();
    expect(found.data?.order).not.toBeNull();
  });

  it('holds: a support agent can still find a legacy-external-id member through members(search) by name', async () => {
    const memberId = await app.enroll({ externalId: 'shop-\u202E9', name: 'Legacy Lena' });
    const found = await app.gql(
      `query { members(filter: { search: "Legacy Lena" }) { edges { node { id } } } }`,
      {},
      await app.staffToken('AGENT'),
    );
    expect(found.errors).toBeUndefined();
    expect(found.data?.members.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([encodeGlobalID('Member', memberId)]);
  });
});

describe("the console's member search (console/src/pages/search.tsx: one text to members(search) and memberByExternalId)", () => {
  it('answers without a top-level error for a name search the members filter accepts (a stored name with isolates)', async () => {
    // A Hebrew name stored before 2012dec with its isolates (free text and the members filter allow them).
    const name = 'Dana \u2068\u05D3\u05E0\u05D4\u2069 Levi';
    const memberId = await app.enroll({ name });
    const found = await app.gql(SEARCH, { s: name }, await app.staffToken('AGENT'));
    expect(found.data?.members.edges.map((edge: { node: { id: string } }) => edge.node.id)).toEqual([encodeGlobalID('Member', memberId)]);
    expect(found.errors).toBeUndefined();
  });

  it('answers without a top-level error for a search pasted with a tab (the members filter accepts tabs)', async () => {
    await app.enroll({ name: 'Ada Lovelace' });
    const found = await app.gql(SEARCH, { s: 'Ada\tLovelace' }, await app.staffToken('AGENT'));
    expect(found.data?.members).toBeDefined();
    expect(found.errors).toBeUndefined();
  });
});
