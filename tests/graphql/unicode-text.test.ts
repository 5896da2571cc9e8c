import { beforeEach, describe, expect, it } from 'vitest';
import { useTestApp } from '../support/app.js';

/**
 * Text that names something (src/domain/validation.ts, `plainText` and `email`) is shown beside other text: in the
 * console, in a storefront, in an e-mail. Besides C0 controls and DEL it refuses what would change how that text
 * is shown or what is stored: C1 controls, the bidirectional embeddings, overrides and isolates (U+202A–U+202E,
 * U+2066–U+2069: "\u202Egnp.exe" shows as "exe.png"), the line and paragraph separators, noncharacters, and lone
 * surrogates (PostgreSQL would store U+FFFD instead). Free text (`text`: notes, reasons) refuses the embeddings and
 * overrides and lone surrogates, and keeps line breaks and isolates. Real names in any script pass unchanged.
 * docs/domain-rules.md, "Text".
 */
const { prisma, app } = useTestApp();

const ENROLL = `mutation($i: EnrollMemberInput!) { enrollMember(input: $i) {
  __typename ... on EnrollMemberPayload { member { id name email externalId } } ... on ValidationError { field message } } }`;
const UPDATE = `mutation($i: UpdateMemberInput!) { updateMember(input: $i) {
  __typename ... on UpdateMemberPayload { member { id name } } ... on ValidationError { field message } } }`;
const EARN = `mutation($i: EarnPointsInput!) { earnPoints(input: $i) {
  __typename ... on ValidationError { field message } ... on Error { code message } } }`;
const CREATE_KEY = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) {
  __typename ... on ValidationError { field message } ... on Error { code message } } }`;
const ISSUE = `mutation($i: IssueGoodwillInput!) { issueGoodwill(input: $i) {
  __typename ... on IssueGoodwillPayload { status gesture { note caseRef } } ... on ValidationError { field message }
  ... on Error { code message } } }`;

/** How each character is written in a failure message: its code points, so that the message itself is readable. */
const codes = (value: string) => [...value].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`).join(' ');

let storefront: string;
let admin: string;
let agent: string;

beforeEach(async () => {
  storefront = await app.apiKeyToken(['members:write', 'members:read']);
  admin = await app.staffToken('ADMIN');
  agent = await app.staffToken('AGENT', 'agent-unicode');
});

async function counts() {
  const [members, entries, orders, keys, gestures] = await Promise.all([
    prisma.member.count(),
    prisma.ledgerEntry.count(),
    prisma.pointOrder.count(),
    prisma.apiKey.count(),
    prisma.goodwillGesture.count(),
  ]);
  return { members, entries, orders, keys, gestures };
}

describe('text that names something refuses what would change how it is shown or stored', () => {
  it('a member name with RIGHT-TO-LEFT OVERRIDE (U+202E) → ValidationError on name, nothing written', async () => {
    const before = await counts();
    const enrolled = await app.gql(ENROLL, { i: { externalId: 'shop-rlo', name: '\u202Egnp.exe' } }, storefront);
    expect(enrolled.data?.enrollMember).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect(enrolled.data?.enrollMember.message).toContain('U+202E');
    expect(await counts()).toEqual(before);

    const memberId = await app.enroll({ name: 'Ada Lovelace' });
    const renamed = await app.gql(UPDATE, { i: { id: memberId, name: 'Ada \u202Dxoc' } }, storefront);
    expect(renamed.data?.updateMember).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect((await prisma.member.findUniqueOrThrow({ where: { id: memberId } })).name).toBe('Ada Lovelace');
  });

  it('every embedding and override (U+202A–U+202E) in an external id or an e-mail address is refused', async () => {
    const before = await counts();
    for (const control of ['\u202A', '\u202B', '\u202C', '\u202D', '\u202E']) {
      const byId = await app.gql(ENROLL, { i: { externalId: `shop${control}1`, name: 'Ada' } }, storefront);
      expect(byId.data?.enrollMember, codes(control)).toMatchObject({ __typename: 'ValidationError', field: 'externalId' });
      const byEmail = await app.gql(ENROLL, { i: { externalId: 'shop-2', name: 'Ada', email: `ada${control}@example.com` } }, storefront);
      expect(byEmail.data?.enrollMember, codes(control)).toMatchObject({ __typename: 'ValidationError', field: 'email' });
    }
    expect(await counts()).toEqual(before);
  });

  it('an order reference with an isolate (U+2066–U+2069) → ValidationError on orderRef, no points, no order', async () => {
    const memberId = await app.enroll();
    const before = await counts();
    for (const control of ['\u2066', '\u2067', '\u2068', '\u2069']) {
      const input = { memberId, orderRef: `order-${control}42`, orderTotal: '10.00', idempotencyKey: `iso-${control.charCodeAt(0)}` };
      const answer = await app.gql(EARN, { i: input }, admin);
      expect(answer.data?.earnPoints, codes(control)).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
    }
    expect(await counts()).toEqual(before);
  });

  it('the line and paragraph separators (U+2028, U+2029) are refused like a line feed', async () => {
    const memberId = await app.enroll();
    const before = await counts();
    for (const separator of ['\u2028', '\u2029']) {
      const earned = await app.gql(
        EARN,
        { i: { memberId, orderRef: `A${separator}B`, orderTotal: '10.00', idempotencyKey: `sep-${separator.charCodeAt(0)}` } },
        admin,
      );
      expect(earned.data?.earnPoints, codes(separator)).toMatchObject({ __typename: 'ValidationError', field: 'orderRef' });
      const enrolled = await app.gql(ENROLL, { i: { externalId: 'shop-3', name: `Ada${separator}Lovelace` } }, storefront);
      expect(enrolled.data?.enrollMember, codes(separator)).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    }
    expect(await counts()).toEqual(before);
  });

  it('C1 controls (U+0080–U+009F, NEL and CSI among them) are refused like C0 controls', async () => {
    const before = await counts();
    for (const control of ['\u0080', '\u0085', '\u009B', '\u009F']) {
      const answer = await app.gql(ENROLL, { i: { externalId: 'shop-4', name: `Ada${control}Lovelace` } }, storefront);
      expect(answer.data?.enrollMember, codes(control)).toMatchObject({
        __typename: 'ValidationError',
        field: 'name',
        message: 'must not contain control characters',
      });
    }
    expect(await counts()).toEqual(before);
  });

  it('a lone surrogate, which would be stored as U+FFFD, is refused: in a variable and in the document', async () => {
    const before = await counts();
    for (const lone of ['\uD800', '\uDBFF', '\uDC00', '\uDFFF']) {
      const answer = await app.gql(ENROLL, { i: { externalId: 'shop-5', name: `Ada${lone}` } }, storefront);
      expect(answer.data?.enrollMember, codes(lone)).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    }
    // Written as an escape in the document's own string, the parser refuses it before any service sees it.
    const literal = await app.gql(
      `mutation { enrollMember(input: { externalId: "shop-6", name: "Ada\\uD800" }) {
        __typename ... on ValidationError { field } } }`,
      {},
      storefront,
    );
    expect(literal.errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    expect(await counts()).toEqual(before);
    expect(await prisma.member.count({ where: { name: { contains: '\uFFFD' } } })).toBe(0);
  });

  it('noncharacters (U+FFFE, U+FFFF, U+FDD0, U+1FFFF) are refused in an API key name', async () => {
    const before = await counts();
    for (const nonCharacter of ['\uFFFE', '\uFFFF', '\uFDD0', '\u{1FFFF}']) {
      const answer = await app.gql(CREATE_KEY, { i: { name: `shop ${nonCharacter} key`, scopes: ['members:read'] } }, admin);
      expect(answer.data?.createApiKey, codes(nonCharacter)).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    }
    const rlo = await app.gql(CREATE_KEY, { i: { name: 'shop \u202Eyek', scopes: ['members:read'] } }, admin);
    expect(rlo.data?.createApiKey).toMatchObject({ __typename: 'ValidationError', field: 'name' });
    expect(await counts()).toEqual(before);
  });
});

describe('free text (a note) refuses controls, embeddings, overrides and lone surrogates; keeps line breaks, tabs and isolates', () => {
  it('a goodwill note with an override or a lone surrogate, or a case reference with an isolate → ValidationError', async () => {
    const memberId = await app.enroll();
    const before = await counts();
    const gesture = (extra: Record<string, unknown>, key: string) => ({
      memberId,
      kind: 'POINTS',
      points: 100,
      reason: 'DELAYED_DELIVERY',
      note: 'parcel was late',
      idempotencyKey: `note-${key}`,
      ...extra,
    });
    const cases: [Record<string, unknown>, string][] = [
      [{ note: 'refund \u202E001 stniop' }, 'note'],
      [{ note: 'late\n\u202Bparcel' }, 'note'],
      [{ note: 'late parcel \uD83D' }, 'note'],
      [{ note: 'late \u001b[2J\u001b[1;1Hparcel' }, 'note'],
      [{ note: 'late parcel\u0085' }, 'note'],
      [{ caseRef: 'case-\u206642\u2069' }, 'caseRef'],
    ];
    for (const [index, [extra, field]] of cases.entries()) {
      const answer = await app.gql(ISSUE, { i: gesture(extra, String(index)) }, agent);
      expect(answer.data?.issueGoodwill, JSON.stringify(extra)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await counts()).toEqual(before);
  });

  it('a note with line breaks, a tab, an isolated Hebrew quote and a right-to-left mark is stored as it was sent', async () => {
    const memberId = await app.enroll();
    const note = 'Customer wrote:\r\n\t\u2068שלום, החבילה איחרה\u2069\nand \u200Fמספר\u200E 42';
    const answer = await app.gql(
      ISSUE,
      { i: { memberId, kind: 'POINTS', points: 100, reason: 'DELAYED_DELIVERY', note, idempotencyKey: 'note-ok' } },
      agent,
    );
    expect(answer.data?.issueGoodwill).toMatchObject({ __typename: 'IssueGoodwillPayload', gesture: { note } });
    expect((await prisma.goodwillGesture.findFirstOrThrow({ where: { memberId } })).note).toBe(note);
  });
});

describe('legitimate text in any script passes unchanged', () => {
  // The left-to-right and right-to-left marks (U+200E, U+200F) and the Arabic letter mark (U+061C) are allowed:
  // real right-to-left text uses them (a Latin customer number after a Hebrew name), and a mark only sets the
  // direction of the neutral characters next to it; it cannot reverse the text that follows as an override does.
  const NAMES: [string, string][] = [
    ['Arabic', 'محمد عبد الله'],
    ['Hebrew', 'שרה כהן'],
    ['an emoji ZWJ sequence (U+200D)', 'Family 👩‍👩‍👧‍👦 Müller'],
    ['a flag and a skin tone', 'Ana 🇵🇹 👋🏽'],
    ['Persian with ZWNJ (U+200C)', 'می‌خواهم'],
    ['combining accents (decomposed)', 'Zoe\u0308 Bjo\u0308rk'],
    ['Vietnamese stacked accents', 'Nguyê\u0303n Thi\u0323'],
    ['right-to-left and left-to-right marks', '\u200Fשרה כהן\u200E (VIP)'],
    ['the Arabic letter mark (U+061C)', '\u061Cمحمد 42'],
    ['a supplementary-plane character', '𠮷野家 𝒜da'],
  ];
  for (const [label, name] of NAMES) {
    it(`a member name in ${label} is accepted and stored as sent`, async () => {
      const externalId = `shop-${codes(name.slice(0, 2)).replace(/\W/g, '')}`;
      const answer = await app.gql(ENROLL, { i: { externalId, name } }, storefront);
      expect(answer.data?.enrollMember, codes(name)).toMatchObject({ __typename: 'EnrollMemberPayload', member: { name } });
      expect((await prisma.member.findFirstOrThrow({ where: { externalId } })).name).toBe(name);
    });
  }

  it('an order reference in Arabic earns points; with a right-to-left mark it is refused, as a key holds no format character', async () => {
    const memberId = await app.enroll();
    const orderRef = 'طلب-42';
    const answer = await app.gql(EARN, { i: { memberId, orderRef, orderTotal: '10.00', idempotencyKey: 'rtl-order' } }, admin);
    expect(answer.data?.earnPoints.__typename).toBe('EarnPointsPayload');
    expect((await prisma.pointOrder.findFirstOrThrow({ where: { memberId } })).orderRef).toBe(orderRef);
    // The mark is invisible: "طلب\u200F-42" would be another order under what reads as the same reference.
    const marked = await app.gql(
      EARN,
      { i: { memberId, orderRef: 'طلب\u200F-43', orderTotal: '10.00', idempotencyKey: 'rtl-mark' } },
      admin,
    );
    expect(marked.data?.earnPoints).toMatchObject({
      __typename: 'ValidationError',
      field: 'orderRef',
      message: 'must not contain format characters (U+200F)',
    });
  });
});
