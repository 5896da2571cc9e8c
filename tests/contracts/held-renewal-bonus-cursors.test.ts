import { randomUUID } from 'node:crypto';
import { encodeBase64, encodeCursorChunk, encodeCursorTuple } from '@pothos/core';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { describe, expect, it } from 'vitest';
import { decideRenewalBonus, extendContract, registerContract } from '../../src/domain/contracts/contracts.service.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { addMonths } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { useTestApp } from '../support/app.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';

/**
 * A supervisor reads the approval queue of held renewal bonuses (`heldRenewalBonuses`, longest waiting first: by
 * `bonusHeldAt`) page by page. Between two pages the bonus whose cursor they hold may be released back to PENDING (its
 * member's suspension ended: `bonusHeldAt` cleared), decided by another supervisor (out of the queue, `bonusHeldAt`
 * kept), or released and held again (a later `bonusHeldAt`: its place in the queue moved to the end). Prisma places a
 * cursor at its row's current sort key, so the released bonus's cursor had no place (an EMPTY next page though more
 * bonuses wait) and the held-again one's place was the end of the queue (the bonuses in between never shown). A cursor
 * is the position it was issued at (src/db/position-cursors.ts): the next page is the bonuses after that position,
 * whatever happened to the bonus since.
 */
const { prisma, app } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write']);
const supervisor = staffCaller('SUPERVISOR', 'sup-cursors');

const PAGE = 'totalCount edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }';
const QUEUE = `query($first: Int, $after: String, $last: Int, $before: String) {
  heldRenewalBonuses(first: $first, after: $after, last: $last, before: $before) { ${PAGE} } }`;
interface Page {
  totalCount: number;
  edges: { cursor: string; node: { id: string } }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}
const ids = (page: Page) => page.edges.map((edge) => edge.node.id);

/** A suspended member's renewal, its bonus held (MEMBER_SUSPENDED) now: the next bonus at the end of the queue. */
async function heldBonus(n: number) {
  const memberId = await app.enroll();
  await updateMember(app.deps, { id: memberId, status: 'SUSPENDED' }, supervisor);
  const externalRef = `HC-${n}-${randomUUID()}`;
  const startsAt = addMonths(new Date(), -11);
  const { contractId } = await registerContract(app.deps, { memberId, externalRef, plan: 'p', startsAt, termMonths: 12 }, billing);
  const { renewalId } = await extendContract(app.deps, { contractId, termMonths: 12, idempotencyKey: `x-${externalRef}` }, billing);
  expect(await processRenewalBonus({ renewalId }, app.deps)).toMatchObject({ outcome: 'HELD' });
  return { memberId, renewalId, id: encodeGlobalID('ContractRenewal', renewalId) };
}

/** Five held bonuses, longest waiting first b1 … b5, and the supervisor's reading of the queue. */
async function queue() {
  const bonuses = [];
  for (let i = 1; i <= 5; i++) bonuses.push(await heldBonus(i));
  const token = await app.staffToken('SUPERVISOR');
  const list = async (variables: Record<string, unknown>) => {
    const answer = await app.gql(QUEUE, variables, token);
    expect(answer.errors, JSON.stringify(answer.errors)).toBeUndefined();
    return answer.data!.heldRenewalBonuses as Page;
  };
  expect(ids(await list({ first: 10 }))).toEqual(bonuses.map((bonus) => bonus.id));
  /** Its member's suspension ends: the bonus goes back to PENDING, `bonusHeldAt` cleared. */
  const release = (bonus: { memberId: string }) => updateMember(app.deps, { id: bonus.memberId, status: 'ACTIVE' }, supervisor);
  /** Released, then its member suspended again and its job run: held again, now, at the end of the queue. */
  const holdAgain = async (bonus: { memberId: string; renewalId: string }) => {
    await release(bonus);
    await updateMember(app.deps, { id: bonus.memberId, status: 'SUSPENDED' }, supervisor);
    expect(await processRenewalBonus({ renewalId: bonus.renewalId }, app.deps)).toMatchObject({ outcome: 'HELD' });
  };
  const decide = (bonus: { renewalId: string }, approve: boolean) =>
    decideRenewalBonus(app.deps, { renewalId: bonus.renewalId, approve, note: 'decided', idempotencyKey: randomUUID() }, supervisor);
  return { list, release, holdAgain, decide, token, bonuses: bonuses as [(typeof bonuses)[0], ...typeof bonuses] };
}

describe('heldRenewalBonuses: the cursor of a bonus released, decided or held again since', () => {
  it('after a released bonus: the bonuses after its place, not an empty page', async () => {
    const { list, release, bonuses } = await queue();
    const [b1, b2, b3, b4, b5] = bonuses.map((bonus) => bonus.id);
    const first = await list({ first: 2 });
    expect(ids(first)).toEqual([b1, b2]);
    await release(bonuses[1]!);
    const pending = await prisma.contractRenewal.findUniqueOrThrow({ where: { id: bonuses[1]!.renewalId } });
    expect(pending.bonusHeldAt).toBeNull();

    const next = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(ids(next)).toEqual([b3, b4]);
    expect(next.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: true });
    expect(next.totalCount).toBe(4);
    const rest = await list({ first: 2, after: next.pageInfo.endCursor });
    expect(ids(rest)).toEqual([b5]);
    expect(rest.pageInfo.hasNextPage).toBe(false);
    // The cursor of each edge, not only the page's last one, pages from its own place.
    expect(ids(await list({ first: 10, after: first.edges[0]!.cursor }))).toEqual([b3, b4, b5]);
  });

  it('after a decided bonus (approved or declined): the bonuses after its place', async () => {
    const { list, decide, bonuses } = await queue();
    const [b1, b2, , b4, b5] = bonuses.map((bonus) => bonus.id);
    const first = await list({ first: 2 });
    expect(ids(first)).toEqual([b1, b2]);
    await decide(bonuses[1]!, true);
    await decide(bonuses[2]!, false);
    const next = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(ids(next)).toEqual([b4, b5]);
    expect(next.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expect(next.totalCount).toBe(3);
    // b1, still held, ahead of the decided ones.
    expect(ids(await list({ last: 5, before: next.pageInfo.startCursor }))).toEqual([b1]);
  });

  it('after a bonus held again: the bonuses after the place it had, it at its new place at the end', async () => {
    const { list, holdAgain, bonuses } = await queue();
    const [b1, b2, b3, b4, b5] = bonuses.map((bonus) => bonus.id);
    const first = await list({ first: 2 });
    expect(ids(first)).toEqual([b1, b2]);
    await holdAgain(bonuses[1]!);
    expect(ids(await list({ first: 10 }))).toEqual([b1, b3, b4, b5, b2]);

    const next = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(ids(next)).toEqual([b3, b4]);
    const rest = await list({ first: 5, after: next.pageInfo.endCursor });
    expect(ids(rest)).toEqual([b5, b2]);
    expect(rest.pageInfo.hasNextPage).toBe(false);
  });

  it('a release racing the next page: the same page whichever commits first', async () => {
    const { list, release, decide, bonuses } = await queue();
    const [b1, b2, b3, b4, b5] = bonuses.map((bonus) => bonus.id);
    const first = await list({ first: 2 });
    expect(ids(first)).toEqual([b1, b2]);
    const [next] = await Promise.all([
      list({ first: 2, after: first.pageInfo.endCursor }),
      release(bonuses[1]!),
      list({ first: 10 }),
      decide(bonuses[0]!, false),
    ]);
    expect(ids(next)).toEqual([b3, b4]);
    expect(ids(await list({ first: 2, after: next.pageInfo.endCursor }))).toEqual([b5]);
  });

  it('before a released bonus: the bonuses before its place', async () => {
    const { list, release, bonuses } = await queue();
    const [b1, , b3, b4, b5] = bonuses.map((bonus) => bonus.id);
    const last = await list({ last: 2 });
    expect(ids(last)).toEqual([b4, b5]);
    await release(bonuses[3]!);
    await release(bonuses[1]!);
    const before = await list({ last: 2, before: last.pageInfo.startCursor });
    expect(ids(before)).toEqual([b1, b3]);
    expect(before.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    expect(before.totalCount).toBe(3);
  });
});

describe('heldRenewalBonuses: cursors that are not positions of this list', () => {
  /** Every way a client may send a cursor this list never handed out. */
  function hostileCursors(bonusRenewalId: string) {
    const gpc = (chunk: string) => encodeBase64(`GPC:${chunk}`);
    const at = new Date();
    return {
      'not base64 of anything': '!!!not a cursor!!!',
      'empty string': '',
      'another prefix': encodeBase64(`AtRisk:3:${bonusRenewalId}`),
      'a position without the list': gpc(encodeCursorTuple([at, bonusRenewalId])),
      'a rewards position (a price, not a moment)': gpc(encodeCursorTuple(['rewards', 300, bonusRenewalId])),
      'a moment as a string': gpc(encodeCursorTuple(['heldRenewalBonuses', at.toISOString(), bonusRenewalId])),
      'an id that is no UUID': gpc(encodeCursorTuple(['heldRenewalBonuses', at, 'not-a-uuid'])),
      'one part too many': gpc(encodeCursorTuple(['heldRenewalBonuses', at, bonusRenewalId, bonusRenewalId])),
      'one part too few': gpc(encodeCursorTuple(['heldRenewalBonuses', bonusRenewalId])),
      'a moment out of range': gpc(`T:${JSON.stringify(['S:heldRenewalBonuses', 'D:99999999999999999999', `S:${bonusRenewalId}`])}`),
      'a moment that is no number': gpc(`T:${JSON.stringify(['S:heldRenewalBonuses', 'D:soon', `S:${bonusRenewalId}`])}`),
      'a null moment': gpc(`T:${JSON.stringify(['S:heldRenewalBonuses', null, `S:${bonusRenewalId}`])}`),
      'a JSON object instead of parts': gpc(`T:${JSON.stringify({ id: bonusRenewalId })}`),
      'broken JSON': gpc('T:["S:heldRenewalBonuses", "D:1'),
      'an object value': gpc(encodeCursorChunk({ id: bonusRenewalId })),
      'a number for the id': gpc('N:12'),
    };
  }

  it('is refused before anything runs with a BAD_USER_INPUT naming the argument, nothing read or written', async () => {
    const { token, bonuses } = await queue();
    const rows = async () => ({
      renewals: await prisma.contractRenewal.count(),
      held: await prisma.contractRenewal.count({ where: { bonusHeldAt: { not: null } } }),
      ledger: await prisma.ledgerEntry.count(),
    });
    const before = await rows();
    for (const [what, cursor] of Object.entries(hostileCursors(bonuses[0].renewalId))) {
      for (const variables of [
        { first: 2, after: cursor },
        { last: 2, before: cursor },
      ]) {
        const answer = await app.request(QUEUE, variables, { token });
        expect(answer.status, what).toBe(200);
        expect(answer.body.data ?? null, what).toBeNull();
        const argument = 'after' in variables ? 'after' : 'before';
        expect(
          answer.body.errors?.map((error) => [error.extensions?.code, error.message]),
          what,
        ).toEqual([['BAD_USER_INPUT', `Argument "${argument}" of "heldRenewalBonuses" is not a cursor of this list.`]]);
      }
    }
    expect(await rows()).toEqual(before);
  });

  it('accepts a cursor handed out before stop 54 (a bonus’s id): it pages from the bonus’s place now', async () => {
    const { list, release, bonuses } = await queue();
    const [, , b3, b4, b5] = bonuses.map((bonus) => bonus.id);
    const legacy = (renewalId: string) => encodeBase64(`GPC:${encodeCursorChunk(renewalId)}`);
    // A bonus still held: from its place, as ever; and the next page's cursors are positions.
    const page = await list({ first: 2, after: legacy(bonuses[1]!.renewalId) });
    expect(ids(page)).toEqual([b3, b4]);
    expect(ids(await list({ first: 2, after: page.pageInfo.endCursor }))).toEqual([b5]);
    expect(ids(await list({ last: 1, before: legacy(bonuses[4]!.renewalId) }))).toEqual([b4]);
    // A released one has no place any more: an empty page, as before stop 54 (start again from the first page).
    await release(bonuses[1]!);
    const gone = await list({ first: 2, after: legacy(bonuses[1]!.renewalId) });
    expect(gone.edges).toEqual([]);
    expect(gone.totalCount).toBe(4);
  });
});
