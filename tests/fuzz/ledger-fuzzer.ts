import fc from 'fast-check';
import type { PrismaClient } from '../../src/db/prisma.js';
import { registerContract } from '../../src/domain/contracts/contracts.service.js';
import type { ServiceDeps } from '../../src/domain/deps.js';
import { setAgentAuthority } from '../../src/domain/goodwill/goodwill.service.js';
import { enrollMember } from '../../src/domain/members/members.service.js';
import { upcomingExpiries } from '../../src/domain/points/expiring.service.js';
import { findLedgerMismatches } from '../../src/domain/points/ledger-check.service.js';
import { createReward } from '../../src/domain/rewards/rewards.service.js';
import { testLogger } from '../support/app.js';
import { resetDatabase } from '../support/db.js';
import {
  cloneWorld,
  ms,
  newMember,
  plusMonths,
  upcomingExpiries as modelExpiries,
  voucherStatus,
  type LotModel,
  type World,
} from './ledger-model.js';
import {
  ADMIN,
  adjustOp,
  approveOp,
  bonusJobOp,
  differs,
  earnOp,
  extendOp,
  goodwillOp,
  maintenanceOp,
  orderReturnOp,
  realSystem,
  redeemOp,
  redeemVoucherOp,
  refundOp,
  rejectOp,
  rewardOp,
  statusOp,
  SUPERVISOR,
  BILLING,
  type LedgerSystem,
  type Op,
  type Outcome,
} from './ledger-operations.js';

/**
 * The ledger fuzzer: random sequences of point operations, retries, races and
 * clock moves, run against the real services and database and against the
 * model (ledger-model.ts); after every step the database must hold exactly
 * what the model says. Steps are plain data, so fast-check prints and shrinks
 * them; a step that names something (an order, a gesture, a voucher) names it
 * by index, taken modulo what exists when the step runs.
 */

export const MEMBERS = 3;
const RESET_EVERY = 25;
const START = Date.UTC(2026, 0, 1, 9, 0, 0);

// ---------------------------------------------------------------------------
// Steps

export type PointStep =
  | {
      t: 'earn';
      m: number;
      cents: number;
      repeatOrder: boolean;
      explicit: number | null;
      lines: { quantity: number; unitCents: number }[] | null;
    }
  | { t: 'redeem'; m: number; points: number; order: number | null }
  | { t: 'refund'; m: number; order: number; permille: number | null }
  | { t: 'cancel'; m: number; order: number }
  | { t: 'return'; m: number; order: number; items: boolean; permille: number }
  | { t: 'adjust'; m: number; points: number }
  | { t: 'goodwill'; m: number; agent: number; kind: 'POINTS' | 'VOUCHER'; value: number }
  | { t: 'approve'; g: number }
  | { t: 'reject'; g: number }
  | { t: 'extend'; m: number; term: 12 | 24; job: boolean }
  | { t: 'bonusJob'; r: number }
  | { t: 'reward'; m: number }
  | { t: 'status'; m: number; status: 'ACTIVE' | 'PASSIVE' | 'SUSPENDED' | 'CLOSED' }
  | { t: 'voucher'; v: number; as: number | null; cents: number };

export type Step =
  | PointStep
  | { t: 'clock'; minutes: number; maintenance: boolean }
  | { t: 'retry'; op: PointStep; concurrent: boolean }
  | { t: 'pair'; a: PointStep; b: PointStep }
  | { t: 'replay'; h: number; conflict: boolean };

export interface Scenario {
  /** Minutes after 2026-01-01 09:00 UTC at which the members enrol. */
  startMinutes: number;
  steps: Step[];
}

const member = fc.integer({ min: 0, max: MEMBERS - 1 });
const rarely = (arb: fc.Arbitrary<number>) => fc.option(arb, { freq: 6, nil: null });
/** Rarely, amounts near what a balance can hold (2^31 − 1): the grants past it must be refused cleanly. */
const huge = fc.oneof(fc.integer({ min: 1_000_000_000, max: 2_147_483_647 }), fc.integer({ min: 2_147_478_000, max: 2_147_483_647 }));
const cents = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: 100, max: 40_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 99 }) },
  { weight: 1, arbitrary: fc.integer({ min: 40_000, max: 400_000 }) },
);

export const pointStep: fc.Arbitrary<PointStep> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      t: fc.constant('earn' as const),
      m: member,
      cents,
      // Orders named before (by a redemption or a voucher too): completed when they have not earned, refused when they have.
      repeatOrder: fc.nat({ max: 4 }).map((n) => n === 4),
      explicit: rarely(fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 5_000 }) }, { weight: 1, arbitrary: huge })),
      lines: fc.option(
        fc.array(fc.record({ quantity: fc.integer({ min: 1, max: 4 }), unitCents: fc.integer({ min: 0, max: 5_000 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        { freq: 2, nil: null },
      ),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('redeem' as const),
      m: member,
      points: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: 300 }) },
        { weight: 1, arbitrary: fc.integer({ min: 300, max: 6_000 }) },
      ),
      // On an order (an earlier one, or a new one) about half the time: a cancel or return restores it.
      order: fc.option(fc.nat({ max: 20 }), { freq: 2, nil: null }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('cancel' as const), m: member, order: fc.nat({ max: 20 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('return' as const),
      m: member,
      order: fc.nat({ max: 20 }),
      items: fc.boolean(),
      // Past 1000: more than is left, which must be refused.
      permille: fc.integer({ min: 1, max: 1_100 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('refund' as const),
      m: member,
      order: fc.nat({ max: 20 }),
      permille: fc.option(fc.integer({ min: 1, max: 1000 }), { freq: 3, nil: null }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('adjust' as const),
      m: member,
      points: fc.oneof(
        { weight: 5, arbitrary: fc.integer({ min: 1, max: 3_000 }) },
        { weight: 5, arbitrary: fc.integer({ min: -2_000, max: -1 }) },
        { weight: 2, arbitrary: huge },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('goodwill' as const),
      m: member,
      agent: fc.integer({ min: 0, max: 1 }),
      kind: fc.constantFrom('POINTS' as const, 'VOUCHER' as const),
      value: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 100, max: 4_000 }) }, { weight: 1, arbitrary: huge }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('approve' as const), g: fc.nat({ max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reject' as const), g: fc.nat({ max: 20 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('extend' as const),
      m: member,
      term: fc.constantFrom(12 as const, 24 as const),
      job: fc.nat({ max: 3 }).map((n) => n !== 3),
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('bonusJob' as const), r: fc.nat({ max: 20 }) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reward' as const), m: member }) },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('status' as const),
      m: member,
      // Suspensions and reactivations most; closing (which ends most of what a member can do) rarely.
      status: fc.oneof(
        { weight: 4, arbitrary: fc.constant('SUSPENDED' as const) },
        { weight: 4, arbitrary: fc.constant('ACTIVE' as const) },
        { weight: 1, arbitrary: fc.constant('PASSIVE' as const) },
        { weight: 1, arbitrary: fc.constant('CLOSED' as const) },
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('voucher' as const),
      v: fc.nat({ max: 20 }),
      as: fc.option(member, { freq: 4, nil: null }),
      cents: fc.integer({ min: 0, max: 10_000 }),
    }),
  },
);

const DAY = 24 * 60;
export const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 12, arbitrary: pointStep },
  {
    weight: 3,
    arbitrary: fc.record({
      t: fc.constant('clock' as const),
      minutes: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: 1, max: DAY }) },
        { weight: 4, arbitrary: fc.integer({ min: DAY, max: 40 * DAY }) },
        { weight: 2, arbitrary: fc.integer({ min: 40 * DAY, max: 800 * DAY }) },
      ),
      maintenance: fc.nat({ max: 3 }).map((n) => n !== 3),
    }),
  },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('retry' as const), op: pointStep, concurrent: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ t: fc.constant('pair' as const), a: pointStep, b: pointStep }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('replay' as const), h: fc.nat({ max: 50 }), conflict: fc.boolean() }) },
);

export const scenario = (maxSteps: number): fc.Arbitrary<Scenario> =>
  fc.record({
    startMinutes: fc.integer({ min: 0, max: 3 * 365 * DAY }),
    // Without fast-check's bias towards short arrays: long sequences reach the states worth testing.
    steps: fc.noBias(fc.array(step, { minLength: 1, maxLength: maxSteps, size: 'max' })),
  });

// ---------------------------------------------------------------------------
// Running a scenario

/** A step the system failed; its message is what the fuzzer reports (after shrinking). */
export class LedgerFuzzFailure extends Error {
  override name = 'LedgerFuzzFailure';
}

export interface Sabotage {
  /** Services to use instead of the real ones. */
  system?: Partial<LedgerSystem>;
  /** Runs after each step's operations, before the step's check (e.g. to corrupt a row). */
  afterStep?: (prisma: PrismaClient, world: World, stepIndex: number) => Promise<void>;
}

class ScenarioRun {
  private world!: World;
  private clock: number;
  private keys = 0;
  /** Keyed operations that succeeded: `replay` steps send them again. */
  private readonly history: Op[] = [];
  private readonly log: string[] = [];
  private readonly system: LedgerSystem;

  /** This run's prefix on names and keys: runs share a database (emptied every `RESET_EVERY` runs). */
  private readonly ns: string;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly scenario: Scenario,
    private readonly sabotage: Sabotage,
    private readonly tally: Map<string, number>,
    private readonly runNumber: number,
  ) {
    this.ns = `r${runNumber}`;
    this.clock = START + scenario.startMinutes * 60_000;
    this.system = { ...realSystem, ...sabotage.system };
  }

  private deps(now: number): ServiceDeps {
    const at = new Date(now);
    return { prisma: this.prisma, logger: testLogger, now: () => at };
  }

  private nextKey(): string {
    this.keys += 1;
    // Fixed width: no key of a run is a suffix of another, so a ledger key ending in it is its effect.
    return `${this.ns}k${String(this.keys).padStart(5, '0')}`;
  }

  /** Counts outcomes per kind of operation: what a run actually exercised. */
  private count(op: Op, outcome: Outcome, how = ''): void {
    const kind = op.label.split(' ')[0]!;
    // A job's own outcome (GRANTED, HELD, ALREADY_DONE, …) says more than `ok`.
    const done = outcome.ok && typeof outcome.value.outcome === 'string' ? outcome.value.outcome : 'ok';
    const result = outcome.ok ? (outcome.value.replayed === true ? 'replayed' : done) : outcome.code;
    const name = `${kind}${how} ${result}`;
    this.tally.set(name, (this.tally.get(name) ?? 0) + 1);
  }

  private fail(message: string): never {
    const steps = this.log.map((line, i) => `  ${String(i + 1).padStart(2)}. ${line}`).join('\n');
    throw new LedgerFuzzFailure(`${message}\nsteps run:\n${steps}`);
  }

  async setUp(): Promise<void> {
    // Runs keep apart by their prefix (ns): the database is emptied only now and then, to keep it small.
    if (this.runNumber % RESET_EVERY === 0) await resetDatabase(this.prisma);
    const now = this.clock;
    const deps = this.deps(now);
    const world: World = {
      members: [],
      contracts: [],
      renewals: [],
      agents: [
        { id: `fuzz-${this.ns}-agent-1`, perGestureCents: 2_500, perGesturePoints: 2_500, monthlyBudgetCents: 50_000 },
        { id: `fuzz-${this.ns}-agent-2`, perGestureCents: 2_500, perGesturePoints: 2_500, monthlyBudgetCents: 4_000 },
      ],
      gestures: [],
      vouchers: [],
      reward: { id: '', pointsCost: 300, voucherCents: 300, stock: 3 },
      records: {},
      effects: {},
    };
    const startsAt = new Date(plusMonths(now, -11));
    for (let i = 0; i < MEMBERS; i++) {
      const name = `fuzz-${this.ns}-m${i}`;
      const { id } = await enrollMember(deps, { externalId: name, email: `${name}@example.com`, name }, ADMIN);
      world.members.push(newMember(id, now));
      const { contractId } = await registerContract(
        deps,
        { memberId: id, externalRef: `${name}-contract`, plan: 'mobile-l', startsAt, termMonths: 12 },
        BILLING,
      );
      world.contracts.push({ id: contractId, endsAt: plusMonths(ms(startsAt), 12), renewals: 0 });
    }
    // A small budget for the second agent, so that gestures run out of it.
    await setAgentAuthority(deps, { agentId: world.agents[1]!.id, monthlyBudget: '40.00' }, SUPERVISOR);
    const reward = await createReward(deps, { name: 'Fuzz voucher', pointsCost: 300, voucherValue: '3.00', stock: 3 }, ADMIN);
    world.reward.id = reward.id;
    this.world = world;
  }

  /** The operation a step stands for in the current world, or null when it names nothing that exists. */
  private build(s: PointStep): Op | null {
    const w = this.world;
    const pick = <T>(list: readonly T[], index: number): T | null => (list.length === 0 ? null : list[index % list.length]!);
    switch (s.t) {
      case 'earn': {
        const key = this.nextKey();
        const old = s.repeatOrder ? pick(w.members[s.m]!.orders, s.cents) : null;
        return earnOp(w, { member: s.m, orderRef: old?.ref ?? `order-${key}`, cents: s.cents, explicit: s.explicit, lines: s.lines }, key);
      }
      case 'redeem': {
        const key = this.nextKey();
        const orders = w.members[s.m]!.orders;
        const orderRef = s.order === null ? null : s.order % 3 === 0 ? `order-${key}` : (pick(orders, s.order)?.ref ?? `order-${key}`);
        return redeemOp(w, s.m, s.points, orderRef, key);
      }
      case 'cancel':
        return orderReturnOp(w, s.m, pick(w.members[s.m]!.orders, s.order)?.ref ?? 'no-such-order', { cancel: true }, this.nextKey());
      case 'return': {
        const order = pick(w.members[s.m]!.orders, s.order);
        const ref = order?.ref ?? 'no-such-order';
        if (!s.items) {
          const left = order?.totalCents == null ? 100 : order.totalCents - order.refundedCents;
          const cents = Math.max(1, Math.ceil((Math.max(left, 1) * s.permille) / 1000));
          return orderReturnOp(w, s.m, ref, { cancel: false, items: null, cents }, this.nextKey());
        }
        // Some units of every other line (at least one line); past 1000 ‰ one more than is left of the first.
        const lines = order?.lines.length ? order.lines : [{ sku: 'S0', quantity: 1, returned: 0 }];
        const items = lines
          .map((line, i) => ({ sku: line.sku, left: line.quantity - line.returned, i }))
          .filter(({ left, i }) => left > 0 && (i + s.permille) % 2 === 0)
          .map(({ sku, left }) => ({ sku, quantity: s.permille > 1000 ? left + 1 : Math.max(1, Math.ceil((left * s.permille) / 1000)) }));
        if (items.length === 0) items.push({ sku: lines[0]!.sku, quantity: 1 });
        return orderReturnOp(w, s.m, ref, { cancel: false, items, cents: null }, this.nextKey());
      }
      case 'refund': {
        const order = pick(w.members[s.m]!.orders, s.order);
        const amount = order && s.permille !== null ? Math.max(1, Math.ceil(((order.totalCents ?? 0) * s.permille) / 1000)) : null;
        return refundOp(w, s.m, order?.ref ?? 'no-such-order', amount, this.nextKey());
      }
      case 'adjust':
        return adjustOp(w, s.m, s.points, this.nextKey());
      case 'goodwill':
        return goodwillOp(w, { member: s.m, agent: s.agent, kind: s.kind, value: s.value }, this.nextKey());
      case 'approve':
        return w.gestures.length === 0 ? null : approveOp(w, s.g % w.gestures.length, this.nextKey());
      case 'reject':
        return w.gestures.length === 0 ? null : rejectOp(w, s.g % w.gestures.length);
      case 'extend':
        return extendOp(w, s.m, s.term, this.nextKey());
      case 'bonusJob': {
        if (w.renewals.length === 0) return null;
        const index = s.r % w.renewals.length;
        return bonusJobOp(w.renewals[index]!.id, `renewal r${index}`);
      }
      case 'reward':
        return rewardOp(w, s.m, this.nextKey());
      case 'status':
        return statusOp(w, s.m, s.status);
      case 'voucher': {
        if (w.vouchers.length === 0) return null;
        const index = s.v % w.vouchers.length;
        return redeemVoucherOp(w, index, s.as ?? w.vouchers[index]!.member, s.cents, this.nextKey());
      }
    }
  }

  /** Runs one operation alone and holds its outcome against the model. */
  private async single(op: Op, now: number): Promise<Outcome> {
    const actual = await op.run(this.system, this.deps(now));
    this.count(op, actual);
    const next = cloneWorld(this.world);
    const why = differs(op.predict(next, now, actual), actual);
    this.log.push(`${op.label} → ${describe(actual)}`);
    if (why) this.fail(`${op.label}: ${why}`);
    this.world = next;
    if (op.keyed && actual.ok && actual.value.replayed === false) this.history.push(op);
    return actual;
  }

  /**
   * Runs two operations at once. Whatever the database did must be what one
   * of the two serial orders does to the model: the outcomes first, then the
   * stored state (checked by the caller against every order that fits).
   */
  private async concurrently(a: Op, nowA: number, b: Op, nowB: number): Promise<World[]> {
    // Both settle before either's exception ends the run: the other must not go on writing into the next run.
    const [settledA, settledB] = await Promise.allSettled([a.run(this.system, this.deps(nowA)), b.run(this.system, this.deps(nowB))]);
    if (settledA.status === 'rejected') throw settledA.reason;
    if (settledB.status === 'rejected') throw settledB.reason;
    const [outA, outB] = [settledA.value, settledB.value];
    this.log.push(`at once: ${a.label} → ${describe(outA)} | ${b.label} → ${describe(outB)}`);
    this.count(a, outA, ' (raced)');
    this.count(b, outB, ' (raced)');
    const runs = [
      [
        { op: a, now: nowA, out: outA },
        { op: b, now: nowB, out: outB },
      ],
      [
        { op: b, now: nowB, out: outB },
        { op: a, now: nowA, out: outA },
      ],
    ];
    const fits: World[] = [];
    const misfits: string[] = [];
    for (const order of runs) {
      const next = cloneWorld(this.world);
      const why = order
        .map(({ op, now, out }) => {
          const reason = differs(op.predict(next, now, out), out);
          return reason && `${op.label}: ${reason}`;
        })
        .find((reason) => reason !== null);
      if (why) misfits.push(`${order.map((o) => o.op.label).join(' then ')}: ${why}`);
      else fits.push(next);
    }
    if (fits.length === 0) this.fail(`no serial order explains the outcomes of a concurrent pair:\n    ${misfits.join('\n    ')}`);
    for (const [op, out] of [
      [a, outA],
      [b, outB],
    ] as const) {
      if (op.keyed && out.ok && out.value.replayed === false) this.history.push(op);
    }
    return fits;
  }

  async run(): Promise<void> {
    await this.setUp();
    for (const [index, s] of this.scenario.steps.entries()) {
      // Every step has an instant of its own: lots never tie on their creation time.
      this.clock += 1_000;
      const now = this.clock;
      let candidates: World[] | null = null;
      switch (s.t) {
        case 'clock':
          this.clock += s.minutes * 60_000;
          this.log.push(`clock +${formatMinutes(s.minutes)} → ${new Date(this.clock).toISOString()}`);
          if (s.maintenance) await this.single(maintenanceOp(), this.clock);
          break;
        case 'retry': {
          const op = this.build(s.op);
          if (!op) break;
          if (s.concurrent) candidates = await this.concurrently(op, now, op, now);
          else {
            await this.single(op, now);
            await this.single(op, now + 1);
          }
          break;
        }
        case 'pair': {
          const a = this.build(s.a);
          const b = this.build(s.b);
          if (a && b) candidates = await this.concurrently(a, now, b, now + 1);
          else if (a ?? b) await this.single((a ?? b)!, now);
          break;
        }
        case 'replay': {
          if (this.history.length === 0) break;
          const op = this.history[s.h % this.history.length]!;
          await this.single(s.conflict && op.conflicting ? op.conflicting() : op, now);
          break;
        }
        default: {
          const op = this.build(s);
          if (!op) break;
          const outcome = await this.single(op, now);
          if (s.t === 'extend' && s.job && outcome.ok && outcome.value.replayed === false) {
            const renewalId = String(outcome.value.renewalId);
            await this.single(bonusJobOp(renewalId, `renewal r${this.world.renewals.length - 1}`), now + 2);
          }
        }
      }
      if (this.sabotage.afterStep) await this.sabotage.afterStep(this.prisma, this.world, index);
      await this.check(candidates ?? [this.world], this.clock + 2);
    }
  }

  /** The database against the model (or, after a race, against each model that fits): first match wins. */
  private async check(candidates: World[], now: number): Promise<void> {
    const snapshot = await readDatabase(this.prisma, candidates[0]!, now, `${this.ns}k%`);
    let first: string[] | null = null;
    for (const world of candidates) {
      const found = compare(snapshot, world, now);
      if (found.length === 0) {
        this.world = world;
        return;
      }
      first ??= found;
    }
    this.fail(`the database disagrees with the model:\n    ${first!.join('\n    ')}`);
  }
}

/** How a renewal's bonus reads, in the database and in the model alike. */
function renewalLine(granted: boolean, held: boolean, points: number | null): string {
  if (granted) return `granted ${points}`;
  return held ? `held ${points}` : 'pending';
}

function describe(outcome: Outcome): string {
  if (!outcome.ok) return `${outcome.code}${outcome.detail && outcome.code !== 'UNEXPECTED' ? ` (${outcome.detail})` : ''}`;
  const { member: _m, voucher: _v, voucherCode: _c, ...rest } = outcome.value;
  return `ok ${JSON.stringify(rest)}`;
}

function formatMinutes(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  if (minutes < DAY) return `${(minutes / 60).toFixed(1)} h`;
  return `${(minutes / DAY).toFixed(1)} days`;
}

// ---------------------------------------------------------------------------
// The database, read and held against the model

interface Snapshot {
  mismatches: unknown[];
  members: Map<
    string,
    { status: string; tier: string; tierSince: number; lastActivityAt: number; available: number; pending: number; lifetime: number }
  >;
  lots: Map<string, string[]>;
  negativeLots: number;
  entries: Map<string, string[]>;
  keys: string[];
  expiries: Map<string, string>;
  vouchers: string[];
  gestures: string[];
  renewals: string[];
  contracts: string[];
  records: number;
  stock: number | null;
}

const lotLine = (l: Omit<LotModel, 'lost'>) =>
  `lot of ${new Date(l.createdAt).toISOString()}: ${l.remaining}/${l.points} ${l.expired ? 'expired' : l.released ? 'available' : 'pending'} until ${new Date(l.expiresAt).toISOString()} (available from ${new Date(l.availableAt).toISOString()})`;
const entryLine = (e: { kind: string; amount: number; at: number; actor: string }) =>
  `${e.kind} ${e.amount} at ${new Date(e.at).toISOString()} by ${e.actor}`;
const groupBy = <T>(rows: T[], key: (row: T) => string, line: (row: T) => string) => {
  const map = new Map<string, string[]>();
  for (const row of rows) map.set(key(row), [...(map.get(key(row)) ?? []), line(row)]);
  for (const lines of map.values()) lines.sort();
  return map;
};

async function readDatabase(prisma: PrismaClient, world: World, now: number, keys: string): Promise<Snapshot> {
  const ids = world.members.map((m) => m.id);
  const contractIds = world.contracts.map((c) => c.id);
  // Nothing writes while the check reads: the reads may run side by side.
  const [members, lots, entries, expiryLists, vouchers, gestures, renewals, contracts, [records], [reward], mismatches] = await Promise.all(
    [
      prisma.$queryRaw<
        {
          id: string;
          status: string;
          tier: string;
          tier_since: Date;
          last_activity_at: Date;
          available: number;
          pending: number;
          lifetime: bigint;
        }[]
      >`SELECT id::text, status::text, tier::text, tier_since, last_activity_at, available_points AS available,
               pending_points AS pending, lifetime_points AS lifetime FROM members WHERE id = ANY(${ids}::uuid[])`,
      prisma.$queryRaw<
        {
          member_id: string;
          points: number;
          remaining: number;
          created_at: Date;
          available_at: Date;
          expires_at: Date;
          released: boolean;
          expired: boolean;
        }[]
      >`SELECT member_id::text, points, remaining, created_at, available_at, expires_at,
               released_at IS NOT NULL AS released, expired_at IS NOT NULL AS expired
        FROM point_lots WHERE member_id = ANY(${ids}::uuid[])`,
      prisma.$queryRaw<{ member_id: string; kind: string; amount: number; created_at: Date; idempotency_key: string; actor: string }[]>`
        SELECT member_id::text, kind::text, amount, created_at, idempotency_key, actor_type::text || ':' || actor_id AS actor
        FROM ledger_entries WHERE member_id = ANY(${ids}::uuid[])`,
      Promise.all(ids.map((id) => upcomingExpiries({ prisma }, id))),
      prisma.$queryRaw<{ code: string; member_id: string; kind: string; amount: string; status: string; expires_at: Date }[]>`
        SELECT code, member_id::text, kind::text, amount::text, status::text, expires_at FROM vouchers WHERE member_id = ANY(${ids}::uuid[])`,
      prisma.$queryRaw<{ id: string; status: string }[]>`
        SELECT id::text, status::text FROM goodwill_gestures WHERE member_id = ANY(${ids}::uuid[])`,
      prisma.$queryRaw<{ id: string; bonus_points: number | null; granted: boolean; held: boolean }[]>`
        SELECT id::text, bonus_points, bonus_granted_at IS NOT NULL AS granted, bonus_held_at IS NOT NULL AS held
        FROM contract_renewals
        WHERE contract_id = ANY(${contractIds}::uuid[])`,
      prisma.$queryRaw<{ id: string; ends_at: Date }[]>`
        SELECT id::text, ends_at FROM contracts WHERE id = ANY(${contractIds}::uuid[])`,
      prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM idempotency_records WHERE key LIKE ${keys}`,
      prisma.$queryRaw<{ stock: number | null }[]>`SELECT stock FROM rewards WHERE id = ${world.reward.id}::uuid`,
      findLedgerMismatches({ prisma }),
    ],
  );
  const expiries = new Map(ids.map((id, i) => [id, JSON.stringify(expiryLists[i]!.map((e) => [e.expiresAt.toISOString(), e.points]))]));
  const memberIndex = new Map(world.members.map((m, i) => [m.id, i]));
  return {
    mismatches,
    members: new Map(
      members.map((r) => [
        r.id,
        {
          status: r.status,
          tier: r.tier,
          tierSince: ms(r.tier_since),
          lastActivityAt: ms(r.last_activity_at),
          available: r.available,
          pending: r.pending,
          lifetime: Number(r.lifetime),
        },
      ]),
    ),
    lots: groupBy(
      lots,
      (l) => l.member_id,
      (l) =>
        lotLine({
          createdAt: ms(l.created_at),
          points: l.points,
          remaining: l.remaining,
          availableAt: ms(l.available_at),
          expiresAt: ms(l.expires_at),
          released: l.released,
          expired: l.expired,
        }),
    ),
    negativeLots: lots.filter((l) => l.remaining < 0 || l.remaining > l.points).length,
    entries: groupBy(
      entries,
      (e) => e.member_id,
      (e) => entryLine({ kind: e.kind, amount: e.amount, at: ms(e.created_at), actor: e.actor }),
    ),
    keys: entries.map((e) => e.idempotency_key),
    expiries,
    vouchers: vouchers
      .map((v) => {
        const status = v.status === 'ISSUED' && ms(v.expires_at) <= now ? 'EXPIRED' : v.status;
        return `${v.code} m${memberIndex.get(v.member_id)} ${v.kind} ${v.amount} ${status} until ${v.expires_at.toISOString()}`;
      })
      .sort(),
    gestures: gestures.map((g) => `${g.id} ${g.status}`).sort(),
    renewals: renewals.map((r) => `${r.id} ${renewalLine(r.granted, r.held, r.bonus_points)}`).sort(),
    contracts: contracts.map((c) => `${c.id} ends ${c.ends_at.toISOString()}`).sort(),
    records: records!.n,
    stock: reward?.stock ?? null,
  };
}

function compareLists(what: string, actual: readonly string[], expected: readonly string[], diffs: string[]): void {
  const missing = expected.filter((line, i) => expected.indexOf(line) === i && countOf(expected, line) > countOf(actual, line));
  const extra = actual.filter((line, i) => actual.indexOf(line) === i && countOf(actual, line) > countOf(expected, line));
  if (missing.length === 0 && extra.length === 0) return;
  diffs.push(
    `${what}: ${missing.length ? `missing in the database [${missing.join('; ')}]` : ''}${missing.length && extra.length ? ', ' : ''}${extra.length ? `not expected [${extra.join('; ')}]` : ''}`,
  );
}
const countOf = (list: readonly string[], line: string) => list.filter((l) => l === line).length;

/** Every way the database differs from the model; empty when they agree. */
function compare(db: Snapshot, world: World, now: number): string[] {
  const diffs: string[] = [];
  if (db.mismatches.length > 0) diffs.push(`stored balances differ from the ledger: ${JSON.stringify(db.mismatches)}`);
  if (db.negativeLots > 0) diffs.push(`${db.negativeLots} lot(s) hold less than nothing or more than they were given`);
  for (const [i, m] of world.members.entries()) {
    const row = db.members.get(m.id);
    if (!row) {
      diffs.push(`member m${i} is missing`);
      continue;
    }
    if (row.available < 0 || row.pending < 0 || row.lifetime < 0) diffs.push(`member m${i} has a negative balance: ${JSON.stringify(row)}`);
    const expected = {
      status: m.status,
      tier: m.tier,
      tierSince: m.tierSince,
      lastActivityAt: m.lastActivityAt,
      available: m.available,
      pending: m.pending,
      lifetime: m.lifetime,
    };
    for (const field of Object.keys(expected) as (keyof typeof expected)[]) {
      if (row[field] !== expected[field]) {
        const show = (v: string | number) => (field === 'tierSince' || field === 'lastActivityAt' ? new Date(v).toISOString() : String(v));
        diffs.push(`member m${i} ${field}: database ${show(row[field])}, model ${show(expected[field])}`);
      }
    }
    compareLists(`member m${i} lots`, db.lots.get(m.id) ?? [], m.lots.map(lotLine).sort(), diffs);
    compareLists(`member m${i} ledger entries`, db.entries.get(m.id) ?? [], m.entries.map(entryLine).sort(), diffs);
    const expiries = JSON.stringify(modelExpiries(m).map((e) => [new Date(e.expiresAt).toISOString(), e.points]));
    if (db.expiries.get(m.id) !== expiries)
      diffs.push(`member m${i} upcoming expiries: database ${db.expiries.get(m.id)}, model ${expiries}`);
  }
  for (const [key, effects] of Object.entries(world.effects)) {
    // The request's own entries (`<operation>:<key>`); the points a return gives back are keyed `restore:…` and
    // not counted among its effects.
    const found = db.keys.filter((k) => k.endsWith(key) && !k.startsWith('restore:')).length;
    if (found !== effects) diffs.push(`request ${key} has ${found} ledger entries, expected ${effects}`);
  }
  const recordCount = Object.keys(world.records).length;
  if (db.records !== recordCount) diffs.push(`${db.records} idempotency records, expected ${recordCount}`);
  compareLists(
    'vouchers',
    db.vouchers,
    world.vouchers
      .map(
        (v) =>
          `${v.code} m${v.member} ${v.kind} ${(v.cents / 100).toFixed(2)} ${voucherStatus(v, now)} until ${new Date(v.expiresAt).toISOString()}`,
      )
      .sort(),
    diffs,
  );
  compareLists('goodwill gestures', db.gestures, world.gestures.map((g) => `${g.id} ${g.status}`).sort(), diffs);
  compareLists(
    'renewals',
    db.renewals,
    world.renewals.map((r) => `${r.id} ${renewalLine(r.granted, r.held, r.bonusPoints)}`).sort(),
    diffs,
  );
  compareLists('contracts', db.contracts, world.contracts.map((c) => `${c.id} ends ${new Date(c.endsAt).toISOString()}`).sort(), diffs);
  if (db.stock !== world.reward.stock) diffs.push(`reward stock: database ${db.stock}, model ${world.reward.stock}`);
  return diffs;
}

// ---------------------------------------------------------------------------
// The property

export interface FuzzOptions {
  runs: number;
  /** fast-check's seed; a random one when absent. */
  seed?: number;
  /** fast-check's replay path (printed with a failure): replays the shrunk counterexample at once. */
  path?: string;
  maxSteps?: number;
  /** Stop at the first failure without shrinking it. */
  endOnFailure?: boolean;
  /** A run (one scenario) that takes longer fails, with its seed and path, like any other (default 60 s). */
  runTimeoutMs?: number;
  /** Kept current while the fuzzer runs: what to print when it never gets to report (a test timeout). */
  progress?: FuzzProgress;
  /**
   * How long to shrink a failure (default 60 s): candidates tried after that
   * pass at once, so fast-check reports the smallest failure found so far.
   */
  shrinkBudgetMs?: number;
  sabotage?: Sabotage;
}

export interface FuzzReport {
  failed: boolean;
  seed: number;
  path: string | null;
  numRuns: number;
  numShrinks: number;
  counterexample: Scenario | null;
  /** What a person reads: the failure, the shrunk steps, how to replay. */
  message: string;
  /** Outcomes per kind of operation over all runs (shrinking included), e.g. `redeem INSUFFICIENT_POINTS` → 12. */
  tally: Record<string, number>;
}

/**
 * Where a fuzzing session is. The seed is chosen before the first run, so that a failure the
 * fuzzer itself never gets to report (the test's timeout, an exception outside the property)
 * still names the seed, and the path of the first failing run (it replays that run unshrunk).
 */
export interface FuzzProgress {
  seed: number | null;
  /** Scenarios started so far, shrinking included. */
  runsStarted: number;
  /** fast-check's path of the first scenario that failed, once one has. */
  failingPath: string | null;
}

/** A seed as fast-check picks one when given none; chosen here so that it is known before any run. */
export function randomSeed(): number {
  return (Date.now() ^ (Math.random() * 0x1_0000_0000)) | 0;
}

export function newFuzzProgress(): FuzzProgress {
  return { seed: null, runsStarted: 0, failingPath: null };
}

/** The command that replays a seed (and path). */
export function replayCommand(seed: number, path: string | null): string {
  return `FUZZ_SEED=${seed}${path ? ` FUZZ_PATH=${path}` : ''} npx vitest run tests/fuzz`;
}

/** What a failure outside the fuzzer's own report prints: the seed, and the failing run's path when there is one. */
export function describeProgress(progress: FuzzProgress): string {
  if (progress.seed === null) return 'ledger fuzzer: no run started';
  const where =
    progress.failingPath === null
      ? `during scenario ${progress.runsStarted} (path ${progress.runsStarted - 1}), none failed before`
      : `after scenario path ${progress.failingPath} had failed (it replays that failure unshrunk)`;
  return `ledger fuzzer stopped ${where}; seed ${progress.seed}\nreplay: ${replayCommand(progress.seed, progress.failingPath ?? String(Math.max(0, progress.runsStarted - 1)))}`;
}

/** A scenario that never ends (a lock never granted, a promise never settled) fails like any other. */
async function finishesWithin(run: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LedgerFuzzFailure(`the scenario did not finish within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([run, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one scenario (a printed counterexample, say); throws LedgerFuzzFailure when the database and model part. */
export async function runScenario(prisma: PrismaClient, s: Scenario, sabotage: Sabotage = {}): Promise<void> {
  await new ScenarioRun(prisma, s, sabotage, new Map(), 0).run();
}

/**
 * Runs the fuzzer: `runs` random scenarios (each from an empty database),
 * shrinking the first failing one to a small counterexample.
 */
export async function fuzzLedger(prisma: PrismaClient, options: FuzzOptions): Promise<FuzzReport> {
  const tally = new Map<string, number>();
  const seed = options.seed ?? randomSeed();
  const progress = options.progress ?? newFuzzProgress();
  Object.assign(progress, newFuzzProgress(), { seed });
  let runs = 0;
  let firstFailure: number | null = null;
  let shrinkingCut = false;
  const shrinkBudgetMs = options.shrinkBudgetMs ?? 60_000;
  const runTimeoutMs = options.runTimeoutMs ?? 60_000;
  const property = fc.asyncProperty(scenario(options.maxSteps ?? 30), async (s) => {
    if (firstFailure !== null && Date.now() - firstFailure > shrinkBudgetMs) {
      shrinkingCut = true;
      return;
    }
    // A replay path names one scenario: once it passed, fast-check would go on to its shrinks.
    if (options.path !== undefined && firstFailure === null && runs > 0) return;
    const run = runs++;
    progress.runsStarted = runs;
    try {
      await finishesWithin(new ScenarioRun(prisma, s, options.sabotage ?? {}, tally, run).run(), runTimeoutMs);
    } catch (error) {
      if (firstFailure === null) {
        firstFailure = Date.now();
        // Before shrinking, run number n is fast-check's path "n"; a given path is the run replayed.
        progress.failingPath = options.path ?? String(run);
      }
      throw error;
    }
  });
  let details: fc.RunDetails<[Scenario]>;
  try {
    details = await fc.check(property, {
      numRuns: options.runs,
      seed,
      ...(options.path === undefined ? {} : { path: options.path }),
      endOnFailure: options.endOnFailure ?? false,
    });
  } catch (error) {
    throw new Error(`${describeProgress(progress)}\n${error instanceof Error ? (error.stack ?? error.message) : String(error)}`, {
      cause: error,
    });
  }
  const counterexample = details.counterexample?.[0] ?? null;
  const replay = replayCommand(details.seed, details.counterexamplePath);
  const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  const message = details.failed
    ? [
        `ledger fuzzer failed after ${details.numRuns} run(s), shrunk ${details.numShrinks} time(s)${shrinkingCut ? ' (then the shrink budget ran out)' : ''}; seed ${details.seed}`,
        `replay: ${replay}`,
        error,
        `counterexample: ${JSON.stringify(counterexample)}`,
      ].join('\n')
    : `ledger fuzzer: ${details.numRuns} runs passed (seed ${details.seed}; replay: ${replay})`;
  return {
    failed: details.failed,
    seed: details.seed,
    path: details.counterexamplePath,
    numRuns: details.numRuns,
    numShrinks: details.numShrinks,
    counterexample,
    message,
    tally: Object.fromEntries([...tally.entries()].sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}
