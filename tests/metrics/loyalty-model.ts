import {
  GoodwillReason,
  ServiceFailureType,
  VoucherKind,
  type MemberStatus,
  type ServiceChannel,
} from '../../src/generated/prisma/enums.js';
import type { World } from './loyalty-data-set.js';

/**
 * loyaltyMetrics computed again, independently: plain TypeScript over the world the data set
 * recorded while it made its events (never the database), each figure as docs/metrics.md defines
 * it. The result has the shape of the GraphQL selection `FIGURES` in loyalty-metrics.test.ts.
 */

const DAY_MS = 86_400_000;
const CSAT_BANDS = { goodFrom: 70, excellentAbove: 90 };
const NPS_BANDS = { goodFrom: 0, excellentAbove: 50 };

const inside = (at: Date | null, from: Date, to: Date): at is Date => at !== null && at >= from && at < to;
const ratio = (numerator: number, denominator: number) => ({
  numerator,
  denominator,
  value: denominator === 0 ? null : numerator / denominator,
});
const withPercent = (numerator: number, denominator: number) => ({
  ...ratio(numerator, denominator),
  percent: denominator === 0 ? null : (100 * numerator) / denominator,
});
const band = (score: number | null, bands: { goodFrom: number; excellentAbove: number }) =>
  score === null ? null : score < bands.goodFrom ? 'POOR' : score > bands.excellentAbove ? 'EXCELLENT' : 'GOOD';
const amount = (cents: number) => `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
const sum = <T>(items: T[], of: (item: T) => number) => items.reduce((total, item) => total + of(item), 0);
const ms = (later: Date, earlier: Date) => later.getTime() - earlier.getTime();

export function expectedFigures(world: World, from: Date, to: Date, channel: ServiceChannel | null, followUpDays = 90) {
  const followUp = followUpDays * DAY_MS;
  const onChannel = (c: ServiceChannel | null) => channel === null || c === channel;

  // NPS and CSAT: answers given in the period.
  const answers = world.feedback.filter((f) => inside(f.at, from, to) && onChannel(f.channel));
  const nps = answers.filter((f) => f.nps !== null).map((f) => f.nps!);
  const promoters = nps.filter((n) => n >= 9).length;
  const detractors = nps.filter((n) => n <= 6).length;
  const npsValue = nps.length === 0 ? null : (100 * (promoters - detractors)) / nps.length;
  const csat = answers.filter((f) => f.csat !== null).map((f) => f.csat!);
  const satisfied = csat.filter((c) => c >= 4).length;
  const csatValue = csat.length === 0 ? null : (100 * satisfied) / csat.length;

  // Detractor → promoter: answers in the period whose member's previous answer (any channel) was 0–6.
  const followUps = world.feedback.filter((f) => {
    if (f.nps === null || !inside(f.at, from, to) || !onChannel(f.channel)) return false;
    const earlier = world.feedback.filter((p) => p.member === f.member && p.nps !== null && p.at < f.at);
    const previous = earlier.sort((a, b) => b.at.getTime() - a.at.getTime())[0];
    return previous !== undefined && previous.nps! <= 6;
  });

  // Cases: resolved in the period (FCR, time to resolution), first answered in it (time to first response).
  const cases = [...world.cases.values()].filter((c) => onChannel(c.channel));
  const resolved = cases.filter((c) => inside(c.resolvedAt, from, to));
  // A case's first response: the one recorded, or its resolution when none was.
  const firstResponse = (c: (typeof cases)[number]) => c.firstResponseAt ?? c.resolvedAt;
  const responded = cases.filter((c) => inside(firstResponse(c), from, to));
  const resolutionMs = sum(resolved, (c) => ms(c.resolvedAt!, c.openedAt));
  const responseMs = sum(responded, (c) => ms(firstResponse(c)!, c.openedAt));

  // Renewal rate: every term end of every contract; renewed when a renewal followed it.
  const terms = [...world.contracts.values()].flatMap((c) => [
    ...c.renewals.map((r) => ({ endsAt: r.previousEndsAt, renewed: true })),
    { endsAt: c.endsAt, renewed: false },
  ]);
  const cameUp = terms.filter((term) => inside(term.endsAt, from, to));

  // Members by status at the end of the period: each member's last change before it.
  const counts: Record<MemberStatus, number> = { ACTIVE: 0, PASSIVE: 0, SUSPENDED: 0, CLOSED: 0 };
  for (const member of world.members.values()) {
    const before = member.changes.filter((change) => change.at < to);
    if (before.length > 0) counts[before[before.length - 1]!.to] += 1;
  }

  // Spend: compensation vouchers issued, goodwill granted, in the period. A voided voucher gave nothing
  // (none can be voided once redeemed): not spend, not compensation, whenever it was voided.
  const voided = (voucher: string | null) => voucher !== null && world.vouchers.get(voucher)!.voidedAt !== null;
  const vouchers = [...world.vouchers.values()].filter((v) => inside(v.issuedAt, from, to) && v.voidedAt === null);
  const compensations = vouchers.filter((v) => v.kind === 'COMPENSATION');
  const gestures = [...world.gestures.values()].filter((g) => inside(g.grantedAt, from, to) && !voided(g.voucher));

  // Churn after failure: per member with failures in the period.
  const churnRows = [...new Set([...world.failures.values()].filter((f) => inside(f.at, from, to)).map((f) => f.member))].map((member) => {
    const failures = [...world.failures.values()].filter((f) => f.member === member && inside(f.at, from, to));
    const first = Math.min(...failures.map((f) => f.at.getTime()));
    const until = Math.max(...failures.map((f) => f.at.getTime())) + followUp;
    const within = (at: Date | null) => at !== null && at.getTime() > first && at.getTime() <= until;
    const turned = world.members.get(member)!.changes.some((c) => (c.to === 'PASSIVE' || c.to === 'CLOSED') && within(c.at));
    const cancelled = [...world.contracts.values()].some((c) => c.member === member && within(c.cancelledAt));
    const compensated = failures.some((f) => f.compensated && !voided(f.voucher));
    return { repeated: failures.length >= 2, compensated, churned: turned || cancelled };
  });
  const churnGroup = (repeated: boolean) => {
    const group = churnRows.filter((row) => row.repeated === repeated);
    const share = (rows: typeof group) => ratio(rows.filter((row) => row.churned).length, rows.length);
    return {
      all: share(group),
      compensated: share(group.filter((row) => row.compensated)),
      notCompensated: share(group.filter((row) => !row.compensated)),
    };
  };

  // Recovery: members compensated in the period, with an earn or a renewal after their first compensation in it,
  // and still ACTIVE when the follow-up ends (their last status change up to then).
  const compensatedMembers = [...new Set(compensations.map((v) => v.member))];
  const recovered = compensatedMembers.filter((member) => {
    const anchor = Math.min(...compensations.filter((v) => v.member === member).map((v) => v.issuedAt.getTime()));
    const within = (at: Date) => at.getTime() > anchor && at.getTime() <= anchor + followUp;
    const earned = world.earns.some((e) => e.member === member && within(e.at));
    const renewed = [...world.contracts.values()].some((c) => c.member === member && c.renewals.some((r) => within(r.at)));
    const changes = world.members.get(member)!.changes.filter((c) => c.at.getTime() <= anchor + followUp);
    return (earned || renewed) && changes[changes.length - 1]?.to === 'ACTIVE';
  });

  const byKind = Object.values(VoucherKind).map((kind) => {
    const issued = vouchers.filter((v) => v.kind === kind);
    return { kind, rate: ratio(issued.filter((v) => v.redeemed).length, issued.length) };
  });

  return {
    from: from.toISOString(),
    to: to.toISOString(),
    nps: {
      numerator: promoters - detractors,
      denominator: nps.length,
      value: npsValue,
      band: band(npsValue, NPS_BANDS),
      promoters,
      passives: nps.length - promoters - detractors,
      detractors,
    },
    csat: {
      numerator: satisfied,
      denominator: csat.length,
      value: csatValue,
      band: band(csatValue, CSAT_BANDS),
      mean: ratio(
        sum(csat, (c) => c),
        csat.length,
      ),
    },
    firstContactResolution: withPercent(resolved.filter((c) => c.firstContact).length, resolved.length),
    timeToFirstResponse: ratio(responseMs / 1000, responded.length),
    timeToResolution: ratio(resolutionMs / 1000, resolved.length),
    renewalRate: withPercent(cameUp.filter((term) => term.renewed).length, cameUp.length),
    members: {
      at: to.toISOString(),
      active: counts.ACTIVE,
      passive: counts.PASSIVE,
      suspended: counts.SUSPENDED,
      closed: counts.CLOSED,
      total: counts.ACTIVE + counts.PASSIVE + counts.SUSPENDED + counts.CLOSED,
      activeShare: ratio(counts.ACTIVE, counts.ACTIVE + counts.PASSIVE),
    },
    compensation: {
      count: compensations.length,
      value: { amount: amount(sum(compensations, (v) => v.cents)), currency: 'EUR' },
      byFailureType: Object.values(ServiceFailureType).map((type) => {
        const mine = compensations.filter((v) => v.failureType === type);
        return { type, count: mine.length, value: { amount: amount(sum(mine, (v) => v.cents)) } };
      }),
    },
    goodwill: {
      count: gestures.length,
      value: { amount: amount(sum(gestures, (g) => g.cents)) },
      byReason: Object.values(GoodwillReason).map((reason) => {
        const mine = gestures.filter((g) => g.reason === reason);
        return { reason, count: mine.length, value: { amount: amount(sum(mine, (g) => g.cents)) } };
      }),
    },
    voucherRedemption: {
      all: ratio(
        sum(byKind, (k) => k.rate.numerator),
        sum(byKind, (k) => k.rate.denominator),
      ),
      byKind,
    },
    churnAfterFailure: { oneFailure: churnGroup(false), repeatedFailures: churnGroup(true) },
    recovery: ratio(recovered.length, compensatedMembers.length),
    detractorConversion: ratio(followUps.filter((f) => f.nps! >= 9).length, followUps.length),
  };
}

/** Calendar months (UTC) from `from` to `to`, both on a month's first day. */
export function months(from: Date, to: Date): [Date, Date][] {
  const result: [Date, Date][] = [];
  for (let start = from; start < to;) {
    const end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
    result.push([start, end]);
    start = end;
  }
  return result;
}
