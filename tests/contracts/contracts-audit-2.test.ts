import { afterAll, describe, expect, it } from 'vitest';
import {
  decideRenewalBonus,
  extendContract,
  grantRenewalBonus,
  registerContract,
  renewalBonusStatus,
} from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { updateMember } from '../../src/domain/members/members.service.js';
import { loadProgram, updateProgram } from '../../src/domain/program/program.service.js';
import { addDays, addMonths } from '../../src/domain/time.js';
import { processRenewalBonus } from '../../workers/renewal-bonus.processor.js';
import { apiKeyCaller, staffCaller } from '../support/callers.js';
import { createTestApp, testLogger, useTestApp } from '../support/app.js';
import { tableRowCounts } from '../support/db.js';
import { whileHolding } from '../support/holding.js';

/**
 * Second adversarial audit of contracts and renewal bonuses, against the other areas: a member suspended or
 * closed while an extension or its bonus runs, extensions of one term at once, the window's edges, a crash
 * between the bonus and its job's completion, a program change between extension and grant, callers beyond
 * their role, hostile references, terms and dates over GraphQL. Each checked against the rows it must (not) write.
 */
const { prisma, app } = useTestApp();

const billing = apiKeyCaller('billing', ['contracts:write']);
const supervisor = staffCaller('SUPERVISOR', 'sup-1');
const admin = staffCaller('ADMIN', 'admin-1');
const at = (date: Date): ServiceDeps => ({ prisma, logger: testLogger, now: () => date });

const T0 = new Date('2026-01-10T10:00:00.000Z');
const STARTS = new Date('2025-03-01T00:00:00.000Z'); // 12 months: ends 2026-03-01, up for renewal from 2025-12-01

// An app on T0's clock, for the GraphQL requests.
const clocked = createTestApp(prisma, { now: () => T0 });
afterAll(() => clocked.close());

async function memberWithContract(externalRef: string, startsAt = STARTS) {
  const memberId = await app.enroll();
  const { contractId } = await registerContract(at(T0), { memberId, externalRef, plan: 'mobile-l', startsAt, termMonths: 12 }, billing);
  return { memberId, contractId };
}

const memberOf = (memberId: string) => prisma.member.findUniqueOrThrow({ where: { id: memberId } });
const bonusEntries = (memberId: string) => prisma.ledgerEntry.count({ where: { memberId, kind: 'RENEWAL_BONUS' } });
const grantedWebhooks = () => prisma.webhookEvent.count({ where: { type: 'contract.renewal_bonus_granted' } });
const statusOf = async (renewalId: string) =>
  renewalBonusStatus(await prisma.contractRenewal.findUniqueOrThrow({ where: { id: renewalId } }));

/** Runs every renewal-bonus job whose outbox event is not completed, as the relay would hand them over. */
async function drainJobs(deps: ServiceDeps) {
  for (const event of await prisma.outboxEvent.findMany({ where: { completedAt: null, queue: 'renewal-bonus' } })) {
    await processRenewalBonus(event.payload as never, deps);
  }
}

/** An endpoint that listens to granted bonuses: without one, no webhook event is written at all. */
const listenToBonuses = () =>
  prisma.webhookEndpoint.create({
    data: {
      url: 'https://hooks.example.com/b',
      eventTypes: ['contract.renewal_bonus_granted'],
      secret: 'whsec_dGVzdA==',
      createdBy: 'test',
    },
  });

const codeOf = (settled: PromiseSettledResult<unknown>) =>
  settled.status === 'rejected' ? ((settled.reason as { code?: string }).code ?? String(settled.reason)) : null;

describe('renewal bonuses against member status changes', () => {
  it('a bonus job racing a suspension: granted before it, or held with nothing granted; the release grants once', async () => {
    await loadProgram(prisma);
    await listenToBonuses();
    for (let round = 0; round < 6; round++) {
      const { memberId, contractId } = await memberWithContract(`S-${round}`);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing);
      const raced = await Promise.allSettled([
        processRenewalBonus({ renewalId }, at(T0)),
        updateMember(at(T0), { id: memberId, status: 'SUSPENDED' }, supervisor),
      ]);
      expect(raced.map(codeOf)).toEqual([null, null]);
      const status = await statusOf(renewalId);
      expect(['GRANTED', 'HELD']).toContain(status);
      expect(await bonusEntries(memberId)).toBe(status === 'GRANTED' ? 1 : 0);
      expect((await memberOf(memberId)).availablePoints).toBe(status === 'GRANTED' ? 500 : 0);

      // The original job delivered again, the reactivation and its release job: one bonus, whatever the order.
      await Promise.all([
        processRenewalBonus({ renewalId }, at(T0)),
        updateMember(at(T0), { id: memberId, status: 'ACTIVE' }, supervisor).then(() => drainJobs(at(T0))),
        processRenewalBonus({ renewalId }, at(T0)),
      ]);
      await drainJobs(at(T0));
      expect(await statusOf(renewalId)).toBe('GRANTED');
      expect(await bonusEntries(memberId)).toBe(1);
      expect((await memberOf(memberId)).availablePoints).toBe(500);
    }
    expect(await grantedWebhooks()).toBe(6);
    expect(await prisma.outboxEvent.count({ where: { completedAt: null, queue: 'renewal-bonus' } })).toBe(0);
  });

  it('a bonus job racing a closure: granted before it, or not eligible with no points, never held', async () => {
    await loadProgram(prisma);
    for (let round = 0; round < 6; round++) {
      const { memberId, contractId } = await memberWithContract(`X-${round}`);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing);
      const raced = await Promise.allSettled([
        processRenewalBonus({ renewalId }, at(T0)),
        updateMember(at(T0), { id: memberId, status: 'CLOSED' }, supervisor),
      ]);
      expect(raced.map(codeOf)).toEqual([null, null]);
      const status = await statusOf(renewalId);
      expect(['GRANTED', 'NOT_ELIGIBLE']).toContain(status);
      expect(await bonusEntries(memberId)).toBe(status === 'GRANTED' ? 1 : 0);
      // A decision on it is refused: it is not held.
      await expect(
        decideRenewalBonus(at(T0), { renewalId, approve: true, note: 'grant it', idempotencyKey: `d-${round}` }, supervisor),
      ).rejects.toMatchObject({ code: 'VALIDATION' });
    }
  });

  it('a suspended member closed with a held bonus: declined, no points, and reopening releases nothing', async () => {
    await listenToBonuses();
    const { memberId, contractId } = await memberWithContract('H-1');
    await updateMember(at(T0), { id: memberId, status: 'SUSPENDED' }, supervisor);
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'HELD', points: 500 });
    await updateMember(at(T0), { id: memberId, status: 'CLOSED' }, supervisor);
    expect(await statusOf(renewalId)).toBe('NOT_ELIGIBLE');
    await updateMember(at(T0), { id: memberId, status: 'ACTIVE' }, supervisor);
    await drainJobs(at(T0));
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'ALREADY_DONE' });
    expect(await statusOf(renewalId)).toBe('NOT_ELIGIBLE');
    expect(await bonusEntries(memberId)).toBe(0);
    expect(await grantedWebhooks()).toBe(0);
  });

  it('extendContract racing a closure: refused with nothing written, or extended with its bonus declined', async () => {
    await loadProgram(prisma);
    for (let round = 0; round < 6; round++) {
      const { memberId, contractId } = await memberWithContract(`Y-${round}`);
      const [extended, closed] = await Promise.allSettled([
        extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: `e-${round}` }, billing),
        updateMember(at(T0), { id: memberId, status: 'CLOSED' }, supervisor),
      ]);
      expect(codeOf(closed)).toBeNull();
      if (extended.status === 'rejected') {
        expect(codeOf(extended)).toBe('VALIDATION');
        expect(await prisma.contractRenewal.count({ where: { contractId } })).toBe(0);
      } else {
        await drainJobs(at(T0));
        expect(await statusOf(extended.value.renewalId)).toBe('NOT_ELIGIBLE');
      }
      expect(await bonusEntries(memberId)).toBe(0);
    }
  });
});

describe('one renewal per term', () => {
  it('ten extensions of one term at once (other keys, both terms, by id and by reference): one renewal, one bonus', async () => {
    const { memberId, contractId } = await memberWithContract('T-1');
    const attempts = Array.from({ length: 10 }, (_, i) =>
      extendContract(
        at(T0),
        {
          ...(i % 2 === 0 ? { contractId } : { externalRef: ' T-1 ' }),
          termMonths: i % 3 === 0 ? 24 : 12,
          idempotencyKey: `k-${i}`,
        },
        i % 4 === 0 ? supervisor : billing,
      ),
    );
    const results = await Promise.allSettled(attempts);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(codeOf(r)).toBe('CONTRACT_NOT_UP_FOR_RENEWAL');
    await drainJobs(at(T0));
    expect(await prisma.contractRenewal.count({ where: { contractId } })).toBe(1);
    expect(await bonusEntries(memberId)).toBe(1);

    // The next term renews once more, with +10 % for the earlier renewal (× 1.25 when the first bonus, 1 000 for 24
    // months, made the member SILVER).
    const renewal = await prisma.contractRenewal.findFirstOrThrow({ where: { contractId } });
    const next = addDays(renewal.newEndsAt, -30);
    const second = await Promise.allSettled([
      extendContract(at(next), { contractId, termMonths: 12, idempotencyKey: 'n-1' }, billing),
      extendContract(at(next), { contractId, termMonths: 12, idempotencyKey: 'n-2' }, billing),
    ]);
    expect(second.map(codeOf).sort()).toEqual(['CONTRACT_NOT_UP_FOR_RENEWAL', null].sort());
    await drainJobs(at(next));
    const entries = await prisma.ledgerEntry.findMany({ where: { memberId, kind: 'RENEWAL_BONUS' }, orderBy: { createdAt: 'asc' } });
    expect(entries.map((e) => e.amount)).toEqual(renewal.termMonths === 24 ? [1000, 687] : [500, 550]);
  });

  it("the window's edges: from renewableFrom on, until (not at) the end", async () => {
    const ends = addMonths(STARTS, 12);
    const from = addDays(ends, -90);
    const { contractId } = await memberWithContract('W-1');
    const before = await tableRowCounts(prisma);
    const tooEarly = extendContract(at(new Date(from.getTime() - 1)), { contractId, termMonths: 12, idempotencyKey: 'a' }, billing);
    await expect(tooEarly).rejects.toMatchObject({ code: 'CONTRACT_NOT_UP_FOR_RENEWAL', endsAt: ends, renewableFrom: from });
    const atEnd = extendContract(at(ends), { contractId, termMonths: 12, idempotencyKey: 'b' }, billing);
    await expect(atEnd).rejects.toMatchObject({ code: 'CONTRACT_NOT_ACTIVE', status: 'EXPIRED' });
    expect(await tableRowCounts(prisma)).toEqual(before);
    await expect(extendContract(at(from), { contractId, termMonths: 12, idempotencyKey: 'c' }, billing)).resolves.toMatchObject({
      replayed: false,
    });

    const { contractId: other } = await memberWithContract('W-2');
    await expect(
      extendContract(at(new Date(ends.getTime() - 1)), { contractId: other, termMonths: 24, idempotencyKey: 'd' }, billing),
    ).resolves.toMatchObject({ replayed: false });
    expect((await prisma.contract.findUniqueOrThrow({ where: { id: other } })).endsAt).toEqual(addMonths(ends, 24));
  });

  it('a leap day: a contract from 29 February ends on 28 February, and its renewals keep to the calendar', async () => {
    const memberId = await app.enroll();
    const startsAt = new Date('2024-02-29T00:00:00.000Z');
    const { contractId } = await registerContract(at(T0), { memberId, externalRef: 'L-1', plan: 'p', startsAt, termMonths: 24 }, billing);
    const contract = await prisma.contract.findUniqueOrThrow({ where: { id: contractId } });
    expect(contract.endsAt).toEqual(new Date('2026-02-28T00:00:00.000Z'));
    await extendContract(at(T0), { contractId, termMonths: 24, idempotencyKey: 'e' }, billing);
    const renewal = await prisma.contractRenewal.findFirstOrThrow({ where: { contractId } });
    expect(renewal).toMatchObject({ previousEndsAt: contract.endsAt, newEndsAt: new Date('2028-02-28T00:00:00.000Z') });
  });
});

describe('exactly once across a crash', () => {
  it("a crash between the bonus and its job's completion leaves nothing: no entry, no webhook, still pending; the retry grants once", async () => {
    await listenToBonuses();
    const { memberId, contractId } = await memberWithContract('K-1');
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    // The job's last write is its outbox event's completion: held from a second connection, the job waits
    // there with the entry, the points and the webhook event written; then its database session dies.
    const crashed = await whileHolding(
      prisma,
      (holder) => holder.query('SELECT 1 FROM outbox_events WHERE id = $1 FOR UPDATE', [renewalId]),
      () =>
        grantRenewalBonus(at(T0), renewalId).then(
          () => null,
          (error: unknown) => error,
        ),
      {
        meanwhile: (holder) =>
          holder.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
          ),
        release: 'ROLLBACK',
      },
    );
    expect(crashed).toBeInstanceOf(Error);
    expect(await statusOf(renewalId)).toBe('PENDING');
    expect(await bonusEntries(memberId)).toBe(0);
    expect(await grantedWebhooks()).toBe(0);
    expect((await memberOf(memberId)).availablePoints).toBe(0);
    expect(await prisma.outboxEvent.findUniqueOrThrow({ where: { id: renewalId } })).toMatchObject({ completedAt: null });

    const retries = await Promise.all([1, 2, 3].map(() => processRenewalBonus({ renewalId }, at(T0))));
    expect(retries.filter((r) => r.outcome === 'GRANTED')).toHaveLength(1);
    expect(await bonusEntries(memberId)).toBe(1);
    expect(await grantedWebhooks()).toBe(1);
    expect((await memberOf(memberId)).availablePoints).toBe(500);
  });
});

describe('which rule sizes a bonus', () => {
  it('held: a supervisor grants the points computed at hold; a release computes under the rule of then', async () => {
    const a = await memberWithContract('R-1');
    const b = await memberWithContract('R-2');
    for (const { memberId } of [a, b]) await updateMember(at(T0), { id: memberId, status: 'SUSPENDED' }, supervisor);
    const ra = await extendContract(at(T0), { contractId: a.contractId, termMonths: 12, idempotencyKey: 'a' }, billing);
    const rb = await extendContract(at(T0), { contractId: b.contractId, termMonths: 12, idempotencyKey: 'b' }, billing);
    await drainJobs(at(T0));
    expect([await statusOf(ra.renewalId), await statusOf(rb.renewalId)]).toEqual(['HELD', 'HELD']);
    await updateProgram(at(T0), { patch: { renewal: { pointsPer12Months: 800 } } }, admin);

    await decideRenewalBonus(at(T0), { renewalId: ra.renewalId, approve: true, note: 'grant it', idempotencyKey: 'd' }, supervisor);
    await updateMember(at(T0), { id: b.memberId, status: 'ACTIVE' }, supervisor);
    await drainJobs(at(T0));
    expect((await memberOf(a.memberId)).availablePoints).toBe(500);
    expect((await memberOf(b.memberId)).availablePoints).toBe(800);
    expect([await statusOf(ra.renewalId), await statusOf(rb.renewalId)]).toEqual(['GRANTED', 'GRANTED']);
  });

  it('a program change racing the job: the bonus is one rule’s amount, never a mix', async () => {
    await loadProgram(prisma);
    for (let round = 0; round < 4; round++) {
      await updateProgram(at(T0), { patch: { renewal: { pointsPer12Months: 500, consecutiveBonusPercent: 10 } } }, admin);
      const { memberId, contractId } = await memberWithContract(`P-${round}`);
      const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 24, idempotencyKey: `e-${round}` }, billing);
      await Promise.all([
        processRenewalBonus({ renewalId }, at(T0)),
        updateProgram(at(T0), { patch: { renewal: { pointsPer12Months: 700, consecutiveBonusPercent: 20 } } }, admin),
      ]);
      expect([1000, 1400]).toContain((await memberOf(memberId)).availablePoints);
    }
  });
});

const EXTEND = `mutation($i: ExtendContractInput!) { extendContract(input: $i) { __typename
  ... on ExtendContractPayload { renewal { sequence termMonths newEndsAt } }
  ... on ValidationError { field } ... on NotFoundError { entity } ... on ContractNotActiveError { status }
  ... on ContractNotUpForRenewalError { endsAt renewableFrom } ... on Error { message } } }`;
const REGISTER = `mutation($i: RegisterContractInput!) { registerContract(input: $i) { __typename
  ... on RegisterContractPayload { created contract { id externalRef startsAt endsAt } }
  ... on ValidationError { field } ... on AlreadyExistsError { field } ... on Error { message } } }`;

describe('callers beyond their role, over GraphQL', () => {
  it('a member, an agent and keys without contracts:write get one answer whichever contract they name, and nothing changes', async () => {
    const own = await memberWithContract('G-own');
    const other = await memberWithContract('G-other');
    const callers = {
      'member (self)': await clocked.memberToken(own.memberId),
      agent: await clocked.staffToken('AGENT'),
      'members:read': await clocked.apiKeyToken(['members:read']),
      'members:write': await clocked.apiKeyToken(['members:write']),
      'failures:report': await clocked.apiKeyToken(['failures:report']),
    };
    const targets = [
      { externalRef: 'G-own' },
      { externalRef: 'G-other' },
      { externalRef: 'G-nobody' },
      { contractId: other.contractId },
      { contractId: '00000000-0000-4000-8000-000000000000' },
    ];
    const before = await tableRowCounts(prisma);
    for (const [name, token] of Object.entries(callers)) {
      const answers = new Set<string>();
      for (const target of targets) {
        const answer = await clocked.gql(EXTEND, { i: { ...target, termMonths: 12, idempotencyKey: `k-${name}` } }, token);
        expect(answer.data?.extendContract?.__typename ?? answer.errors?.[0]?.extensions?.code, name).toMatch(
          /^(ForbiddenError|FORBIDDEN)$/,
        );
        answers.add(JSON.stringify(answer));
      }
      expect(answers.size, name).toBe(1);
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('the billing key (contracts:write) extends; it does not read the member or their ledger through the payload', async () => {
    const { memberId } = await memberWithContract('G-1');
    await prisma.member.update({ where: { id: memberId }, data: { name: 'Secret Name' } });
    const key = await clocked.apiKeyToken(['contracts:write']);
    const query = `mutation($i: ExtendContractInput!) { extendContract(input: $i) { __typename
      ... on ExtendContractPayload { contract { externalRef member { id name email } } renewal { id } } } }`;
    const answer = await clocked.gql(query, { i: { externalRef: 'G-1', termMonths: 12, idempotencyKey: 'k' } }, key);
    expect(answer.errors?.[0]).toMatchObject({ path: ['extendContract', 'contract', 'member'], extensions: { code: 'FORBIDDEN' } });
    expect(JSON.stringify(answer)).not.toMatch(/Secret Name|@example\.com/);
    // The extension itself happened; the same key, asking for what the key may read, replays it.
    const again = await clocked.gql(EXTEND, { i: { externalRef: 'G-1', termMonths: 12, idempotencyKey: 'k' } }, key);
    expect(again.data?.extendContract).toMatchObject({ __typename: 'ExtendContractPayload', renewal: { sequence: 1 } });
    expect(await prisma.contractRenewal.count()).toBe(1);
    // The wrong reference of this caller is NotFoundError, as for any reference nobody holds.
    const missing = await clocked.gql(EXTEND, { i: { externalRef: 'G-2', termMonths: 12, idempotencyKey: 'k2' } }, key);
    expect(missing.data?.extendContract).toMatchObject({ __typename: 'NotFoundError', entity: 'Contract' });
  });
});

describe('hostile references, terms and dates over GraphQL', () => {
  it('each is refused with a typed answer, and no table changes', async () => {
    const { memberId } = await memberWithContract('H-1');
    const key = await clocked.apiKeyToken(['contracts:write']);
    const register = (patch: object) => ({
      query: REGISTER,
      i: { memberId, externalRef: 'H-new', plan: 'p', startsAt: STARTS.toISOString(), termMonths: 12, ...patch },
    });
    const extend = (patch: object) => ({ query: EXTEND, i: { externalRef: 'H-1', termMonths: 12, idempotencyKey: 'k', ...patch } });
    const cases: [string, { query: string; i: object }][] = [
      ['term 0', register({ termMonths: 0 })],
      ['term -12', register({ termMonths: -12 })],
      ['term 36', register({ termMonths: 36 })],
      ['term max int', register({ termMonths: 2147483647 })],
      ['term past int', register({ termMonths: 2147483648 })],
      ['term 12.5', register({ termMonths: 12.5 })],
      ['term "12"', register({ termMonths: '12' })],
      ['term null', register({ termMonths: null })],
      ['start 30 Feb', register({ startsAt: '2024-02-30T00:00:00Z' })],
      ['start year 0', register({ startsAt: '0000-01-01T00:00:00Z' })],
      ['start year 10000', register({ startsAt: '+010000-01-01T00:00:00Z' })],
      ['start without zone', register({ startsAt: '2025-03-01T00:00:00' })],
      ['start offset 25h', register({ startsAt: '2025-03-01T00:00:00+25:00' })],
      ['start number', register({ startsAt: 1740787200000 })],
      ['ref bidi', register({ externalRef: 'H-\u202e1' })],
      ['ref NUL', register({ externalRef: 'H-\u00001' })],
      ['ref line separator', register({ externalRef: 'H-\u20281' })],
      ['ref lone surrogate', register({ externalRef: 'H-\ud8001' })],
      ['ref noncharacter', register({ externalRef: 'H-\uffff' })],
      ['ref blank', register({ externalRef: ' \t ' })],
      ['ref 121', register({ externalRef: 'x'.repeat(121) })],
      ['ref 5 000', register({ externalRef: 'x'.repeat(5_000) })],
      ['ref 100 000', register({ externalRef: 'x'.repeat(100_000) })],
      ['ref taken (another plan)', register({ externalRef: 'H-1', plan: 'other' })],
      ['ext term 0', extend({ termMonths: 0 })],
      ['ext term -24', extend({ termMonths: -24 })],
      ['ext term huge', extend({ termMonths: 2147483647 })],
      ['ext term 1e10', extend({ termMonths: 1e10 })],
      ['ext ref NUL', extend({ externalRef: 'H-\u00001' })],
      ['ext ref lone surrogate', extend({ externalRef: 'H-\udc00' })],
      ['ext ref 100 000', extend({ externalRef: 'x'.repeat(100_000) })],
      ['ext ref zero-width', extend({ externalRef: 'H\u200b-1' })],
      ['ext ref confusable', extend({ externalRef: 'Н-1' })], // Cyrillic EN
      ['ext ref fullwidth', extend({ externalRef: 'Ｈ-1' })],
      ['ext both', extend({ contractId: '00000000-0000-4000-8000-000000000000' })],
      ['ext neither', extend({ externalRef: null })],
      ['ext bad id', extend({ externalRef: null, contractId: 'not-an-id' })],
      ['ext key blank', extend({ idempotencyKey: '  ' })],
      ['ext key NUL', extend({ idempotencyKey: 'k\u0000' })],
    ];
    const before = await tableRowCounts(prisma);
    for (const [name, { query, i }] of cases) {
      const answer = await clocked.gql(query, { i }, key);
      const result = answer.data?.registerContract ?? answer.data?.extendContract;
      const typed = result?.__typename ?? answer.errors?.[0]?.extensions?.code;
      expect(typed, `${name}: ${JSON.stringify(answer).slice(0, 300)}`).toMatch(
        /^(ValidationError|NotFoundError|AlreadyExistsError|BAD_USER_INPUT|VALIDATION|REQUEST_ENTITY_TOO_LARGE)$/,
      );
    }
    expect(await tableRowCounts(prisma)).toEqual(before);
  });

  it('dates in other time zones and at the edges are kept as the instant sent; the end is start + term in UTC', async () => {
    const memberId = await app.enroll();
    const key = await clocked.apiKeyToken(['contracts:write']);
    const sent: [string, string, string][] = [
      ['Z-1', '2025-03-01T00:30:00+01:00', '2026-02-28T23:30:00.000Z'],
      ['Z-2', '2024-02-29T23:30:00-01:00', '2025-03-01T00:30:00.000Z'],
      ['Z-3', '2024-02-29T12:00:00+14:00', '2025-02-28T22:00:00.000Z'],
      ['Z-4', '1970-01-01T00:00:00Z', '1971-01-01T00:00:00.000Z'],
    ];
    for (const [externalRef, startsAt, endsAt] of sent) {
      const answer = await clocked.gql(REGISTER, { i: { memberId, externalRef, plan: 'p', startsAt, termMonths: 12 } }, key);
      expect(answer.data?.registerContract, externalRef).toMatchObject({
        __typename: 'RegisterContractPayload',
        contract: { startsAt: new Date(startsAt).toISOString(), endsAt },
      });
    }
    // Registered long ago and ended: it cannot be extended.
    const ended = await clocked.gql(EXTEND, { i: { externalRef: 'Z-4', termMonths: 12, idempotencyKey: 'k' } }, key);
    expect(ended.data?.extendContract).toMatchObject({ __typename: 'ContractNotActiveError', status: 'EXPIRED' });
    expect(await prisma.contractRenewal.count()).toBe(0);
  });
});

describe('a renewal is the member’s activity', () => {
  it('also when its bonus is zero: a PASSIVE member who renews is ACTIVE again, their last activity the grant’s', async () => {
    await updateProgram(at(T0), { patch: { renewal: { pointsPer12Months: 0 } } }, admin);
    await prisma.webhookEndpoint.create({
      data: { url: 'https://hooks.example.com/s', eventTypes: ['member.status_changed'], secret: 'whsec_dGVzdA==', createdBy: 'test' },
    });
    const { memberId, contractId } = await memberWithContract('A-1');
    const long_ago = new Date('2024-06-01T00:00:00.000Z');
    await prisma.member.update({ where: { id: memberId }, data: { status: 'PASSIVE', lastActivityAt: long_ago } });
    const { renewalId } = await extendContract(at(T0), { contractId, termMonths: 12, idempotencyKey: 'e' }, billing);
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'NOT_ELIGIBLE', points: 0 });
    expect(await memberOf(memberId)).toMatchObject({ status: 'ACTIVE', lastActivityAt: T0 });
    expect(await prisma.memberStatusChange.findFirst({ where: { memberId, toStatus: 'ACTIVE' } })).not.toBeNull();
    const announced = await prisma.webhookEvent.findMany({ where: { type: 'member.status_changed' } });
    expect(announced.map((e) => e.payload)).toMatchObject([{ memberId, fromStatus: 'PASSIVE', toStatus: 'ACTIVE', cause: 'ACTIVITY' }]);
    // Delivered again, the job changes nothing more.
    expect(await processRenewalBonus({ renewalId }, at(T0))).toMatchObject({ outcome: 'ALREADY_DONE' });
    expect(await prisma.webhookEvent.count({ where: { type: 'member.status_changed' } })).toBe(1);
    // A closed member's renewal is no activity: the job declines it and leaves the member as they are.
    const closed = await memberWithContract('A-2');
    const { renewalId: declined } = await extendContract(
      at(T0),
      { contractId: closed.contractId, termMonths: 12, idempotencyKey: 'c' },
      billing,
    );
    await prisma.member.update({ where: { id: closed.memberId }, data: { status: 'CLOSED', lastActivityAt: long_ago } });
    await processRenewalBonus({ renewalId: declined }, at(T0));
    expect(await memberOf(closed.memberId)).toMatchObject({ status: 'CLOSED', lastActivityAt: long_ago });
  });
});
