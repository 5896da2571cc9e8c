import { Decimal } from 'decimal.js';
import { z } from 'zod';
import { isCurrencyCode, textFault } from '../validation.js';

/** The most a money column (Decimal(12,2): vouchers, compensations, budgets) holds. */
export const MAX_MONEY = '9999999999.99';

/** Money in the program currency, as a decimal string with at most two places. */
const moneyAmount = z.string().regex(/^\d{1,10}(\.\d{1,2})?$/, 'must be a non-negative decimal with at most two places');

/**
 * Where a score turns from poor to good and from good to excellent: below `goodFrom` is POOR,
 * above `excellentAbove` EXCELLENT, anything between (both ends included) GOOD.
 */
const scoreBands = (min: number, max: number) =>
  z
    .object({ goodFrom: z.number().min(min).max(max), excellentAbove: z.number().min(min).max(max) })
    .refine((bands) => bands.goodFrom <= bands.excellentAbove, {
      path: ['excellentAbove'],
      message: 'must not be below goodFrom',
    });

export const DEFAULT_METRICS_SETTINGS = {
  csatBands: { goodFrom: 70, excellentAbove: 90 },
  npsBands: { goodFrom: 0, excellentAbove: 50 },
  followUpDays: 90,
};

/** A tier's key: its stable identifier (in members' rows, tier history, webhooks and filters). */
export const TIER_KEY_PATTERN = /^[A-Z][A-Z0-9_]{0,31}$/;

/** Fewest and most tiers a program has. */
export const MIN_TIERS = 2;
export const MAX_TIERS = 10;

const tierSettings = z.object({
  key: z.string().regex(TIER_KEY_PATTERN, 'must be 1–32 capital letters, digits or _, starting with a letter'),
  name: z.string().trim().min(1, 'must not be empty').max(60),
  threshold: z.number().int().min(0).max(1_000_000_000),
  multiplier: z.number().min(0.1).max(10),
  compensationFactor: z.number().min(0.1).max(10),
  benefits: z.string().max(2000).default(''),
});

/** One tier of the program, as stored in the settings; its position is its place in the list. */
export type TierSettings = z.infer<typeof tierSettings>;

const MINUTES_PER_DAY = 1440;

/** Service-level targets of one channel, in minutes from the case being opened. */
const slaTarget = z
  .object({
    /** The first answer to the customer (or the resolution, whichever comes first) is due this long after opening. */
    firstResponseMinutes: z
      .number()
      .int()
      .min(1)
      .max(30 * MINUTES_PER_DAY),
    /** The resolution is due this long after opening. */
    resolutionMinutes: z
      .number()
      .int()
      .min(1)
      .max(180 * MINUTES_PER_DAY),
  })
  .refine((target) => target.resolutionMinutes >= target.firstResponseMinutes, {
    path: ['resolutionMinutes'],
    message: 'must not be shorter than the first-response target',
  });

const severity = z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);

const slaSettings = z.object({
  targets: z.object({
    PHONE: slaTarget,
    EMAIL: slaTarget,
    CHAT: slaTarget,
    SOCIAL: slaTarget,
    SELF_SERVICE: slaTarget,
    STORE: slaTarget,
  }),
  /** Severity of the LONG_WAIT failure a missed first-response target files. */
  firstResponseBreachSeverity: severity,
  /** Severity of the UNRESOLVED_CONTACT failure a missed resolution target files. */
  resolutionBreachSeverity: severity,
});

export type SlaSettings = z.infer<typeof slaSettings>;

export const DEFAULT_SLA_SETTINGS: SlaSettings = {
  targets: {
    PHONE: { firstResponseMinutes: 5, resolutionMinutes: MINUTES_PER_DAY },
    EMAIL: { firstResponseMinutes: 24 * 60, resolutionMinutes: 3 * MINUTES_PER_DAY },
    CHAT: { firstResponseMinutes: 2, resolutionMinutes: MINUTES_PER_DAY },
    SOCIAL: { firstResponseMinutes: 4 * 60, resolutionMinutes: 3 * MINUTES_PER_DAY },
    SELF_SERVICE: { firstResponseMinutes: 48 * 60, resolutionMinutes: 5 * MINUTES_PER_DAY },
    STORE: { firstResponseMinutes: 15, resolutionMinutes: MINUTES_PER_DAY },
  },
  firstResponseBreachSeverity: 'LOW',
  resolutionBreachSeverity: 'MEDIUM',
};

const weight = z.number().int().min(0).max(1000);

/**
 * The save desk's score: points per reason a member may be about to leave
 * (docs/metrics.md, the save desk). Each reason's points are shown with the member.
 */
const saveDeskSettings = z.object({
  /** Service failures and detractor answers count when they are at most this many days old. */
  windowDays: z.number().int().min(1).max(365),
  /** Per service failure in the window. */
  failurePoints: weight,
  /** Per failure in the window after the first: repeats weigh more. */
  repeatFailurePoints: weight,
  /** Per NPS answer of 0–6 in the window. */
  detractorPoints: weight,
  /** Per case still open. */
  openCasePoints: weight,
  /** An active contract ends within this many days … */
  contractEndingDays: z.number().int().min(1).max(365),
  /** … adds this once. */
  contractEndingPoints: weight,
  /** An ACTIVE member without activity for this many months is drifting towards PASSIVE … */
  driftAfterMonths: z.number().int().min(1).max(120),
  /** … which adds this. */
  driftPoints: weight,
});

export type SaveDeskSettings = z.infer<typeof saveDeskSettings>;

export const DEFAULT_SAVE_DESK_SETTINGS: SaveDeskSettings = {
  windowDays: 90,
  failurePoints: 10,
  repeatFailurePoints: 10,
  detractorPoints: 15,
  openCasePoints: 10,
  contractEndingDays: 60,
  contractEndingPoints: 20,
  driftAfterMonths: 6,
  driftPoints: 15,
};

/**
 * Every tunable rule of the program. Stored as one JSON document in the `program`
 * row and validated here on every write, so a bad setting never reaches a rule.
 */
export const programSettingsSchema = z
  .object({
    currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code'),
    /** Points per 1.00 of order value, before the tier multiplier. */
    pointsPerCurrencyUnit: z.number().min(0).max(1000),
    /** Money value of one point, used to compare points with money limits. */
    pointValue: moneyAmount,
    returnWindowDays: z.number().int().min(0).max(365),
    pointExpiryMonths: z.number().int().min(1).max(120),
    passiveAfterMonths: z.number().int().min(1).max(120),
    /** The tiers, lowest first: 2–10, the first at threshold 0, thresholds strictly ascending, keys unique. */
    tiers: z.array(tierSettings).min(MIN_TIERS).max(MAX_TIERS),
    tierQualifyingMonths: z.number().int().min(1).max(36),
    tierProtectionDays: z.number().int().min(0).max(365),
    voucherValidityDays: z.number().int().min(1).max(3650),
    /** Days before a lot expires that its `points.expiring` webhook event goes out (settings stored before it existed read 30). */
    pointExpiryReminderDays: z.number().int().min(1).max(365).default(30),
    /** Days before a voucher expires that its `voucher.expiring` webhook event goes out (stored before it existed: 7). */
    voucherExpiryReminderDays: z.number().int().min(1).max(365).default(7),
    /**
     * When points given back by a cancel or return (docs/orders.md) expire: FRESH, a full
     * `pointExpiryMonths` from the restore; ORIGINAL, when the first lot the redemption spent would have.
     */
    restoredPointsExpiry: z.enum(['FRESH', 'ORIGINAL']).default('FRESH'),
    compensation: z.object({
      baseBySeverity: z.object({ LOW: moneyAmount, MEDIUM: moneyAmount, HIGH: moneyAmount, CRITICAL: moneyAmount }),
      repeatWindowDays: z.number().int().min(1).max(365),
      secondFailureFactor: z.number().min(1).max(10),
      laterFailureFactor: z.number().min(1).max(10),
      capWindowDays: z.number().int().min(1).max(365),
      capAmount: moneyAmount,
    }),
    renewal: z.object({
      pointsPer12Months: z.number().int().min(0).max(1_000_000),
      consecutiveBonusPercent: z.number().int().min(0).max(100),
      consecutiveBonusCapPercent: z.number().int().min(0).max(500),
      clawbackDays: z.number().int().min(0).max(365),
      /** Days before a contract's end from which it can be extended (once per term). Settings stored before it existed read 90. */
      windowDays: z.number().int().min(1).max(180).default(90),
    }),
    goodwill: z.object({
      perGestureLimit: moneyAmount,
      perGesturePointsLimit: z.number().int().min(0).max(10_000_000),
      monthlyBudget: moneyAmount,
    }),
    /** Service-level targets per channel. Settings stored before they existed read the defaults. */
    sla: slaSettings.default(() => structuredClone(DEFAULT_SLA_SETTINGS)),
    /** How loyaltyMetrics grades and follows up (docs/metrics.md). Settings stored before it existed read the defaults. */
    metrics: z
      .object({
        /** Bands of the CSAT (percent satisfied, 0–100). */
        csatBands: scoreBands(0, 100),
        /** Bands of the NPS (−100 to 100). */
        npsBands: scoreBands(-100, 100),
        /** Days after a failure or a compensation in which churn and recovery are looked for. */
        followUpDays: z.number().int().min(1).max(365),
      })
      .default(() => structuredClone(DEFAULT_METRICS_SETTINGS)),
    /** The save desk's score weights. Settings stored before they existed read the defaults. */
    saveDesk: saveDeskSettings.default(() => ({ ...DEFAULT_SAVE_DESK_SETTINGS })),
  })
  .superRefine((settings, ctx) => {
    const tiers = settings.tiers;
    if (tiers[0] && tiers[0].threshold !== 0) {
      ctx.addIssue({ code: 'custom', path: ['tiers', 0, 'threshold'], message: 'the lowest tier must start at 0' });
    }
    for (let i = 1; i < tiers.length; i++) {
      if (tiers[i]!.threshold <= tiers[i - 1]!.threshold) {
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', i, 'threshold'],
          message: `must be above the threshold of ${tiers[i - 1]!.key} (${tiers[i - 1]!.threshold})`,
        });
      }
    }
    const seen = new Set<string>();
    tiers.forEach((tier, i) => {
      if (seen.has(tier.key)) ctx.addIssue({ code: 'custom', path: ['tiers', i, 'key'], message: `${tier.key} is listed more than once` });
      seen.add(tier.key);
    });
  });

export type ProgramSettings = z.infer<typeof programSettingsSchema>;

const SEVERITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;

/**
 * The settings `updateProgram` stores: readable settings that also meet the rules a new version must
 * (a program stored before a rule existed still loads, and its next change must meet them, whatever it
 * touches). The currency is one ISO 4217 knows. Every voucher the compensation policy can compute — a
 * severity's base × the largest tier compensationFactor × the largest repeat factor, as
 * `compensationFor` computes it — fits a money column, so no recorded failure is left that its job
 * can never compensate; so does the cap. No two tiers share a name as a member reads it (`tierNameKey`).
 * These rules are checked only once the settings meet the readable schema (a pipe): on settings that do
 * not (no tiers, a base value that is no decimal) they would have failed as an unexpected error, not as
 * the ValidationError the readable schema names.
 */
export const storableProgramSettingsSchema = programSettingsSchema.pipe(
  z.custom<ProgramSettings>().superRefine((settings, ctx) => {
    if (!isCurrencyCode(settings.currency)) {
      ctx.addIssue({ code: 'custom', path: ['currency'], message: 'must be an ISO 4217 currency code' });
    }
    // A tier's name names something and its benefits are free text, shown to members, in the console and in
    // webhooks: the rules of every other name and note (docs/domain-rules.md, "Text").
    settings.tiers.forEach((tier, index) => {
      const name = textFault(tier.name, 'naming');
      if (name) ctx.addIssue({ code: 'custom', path: ['tiers', index, 'name'], message: `must not contain ${name}` });
      const benefits = textFault(tier.benefits, 'free');
      if (benefits) ctx.addIssue({ code: 'custom', path: ['tiers', index, 'benefits'], message: `must not contain ${benefits}` });
    });
    // Members tell tiers apart by name: "Gold" and "GOLD", or "Bronzé" composed and decomposed, would be one name twice.
    const named = new Map<string, string>();
    settings.tiers.forEach((tier, index) => {
      const same = named.get(tierNameKey(tier.name));
      if (same !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['tiers', index, 'name'],
          message: `must differ from the name of ${same}: "${tier.name}" reads as the same name`,
        });
      }
      named.set(tierNameKey(tier.name), tier.key);
    });
    const policy = settings.compensation;
    const tier = settings.tiers.reduce((top, next) => (next.compensationFactor > top.compensationFactor ? next : top));
    const repeat = Math.max(1, policy.secondFailureFactor, policy.laterFailureFactor);
    for (const severity of SEVERITIES) {
      const largest = new Decimal(policy.baseBySeverity[severity])
        .mul(tier.compensationFactor)
        .mul(repeat)
        .toDecimalPlaces(2, Decimal.ROUND_HALF_UP);
      if (largest.gt(MAX_MONEY)) {
        ctx.addIssue({
          code: 'custom',
          path: ['compensation', 'baseBySeverity', severity],
          message:
            `is too large: with the compensationFactor of ${tier.key} (${tier.compensationFactor}) and the repeat factor ${repeat}, ` +
            `a voucher would be ${largest.toFixed(2)}, above the most one holds (${MAX_MONEY})`,
        });
      }
    }
    if (new Decimal(policy.capAmount).gt(MAX_MONEY)) {
      ctx.addIssue({ code: 'custom', path: ['compensation', 'capAmount'], message: `must not be above ${MAX_MONEY}` });
    }
  }),
);

/**
 * A tier's name as members tell names apart: in Unicode compatibility form (NFKC: full-width "Ｇｏｌｄ" is "Gold", a
 * composed "é" is e + U+0301), without the characters that show nothing (zero-width space, soft hyphen, …), white
 * space trimmed and collapsed, and case-folded (upper, then lower: "ß" and "SS" are one).
 */
export function tierNameKey(name: string): string {
  return name
    .normalize('NFKC')
    .replace(/\p{Default_Ignorable_Code_Point}/gu, '')
    .replace(/\s+/gu, ' ')
    .trim()
    .toUpperCase()
    .toLowerCase()
    .normalize('NFKC');
}

export const DEFAULT_PROGRAM_SETTINGS: ProgramSettings = {
  currency: 'EUR',
  pointsPerCurrencyUnit: 1,
  pointValue: '0.01',
  returnWindowDays: 14,
  pointExpiryMonths: 24,
  passiveAfterMonths: 12,
  // The same four as the migration that made tiers program data (202612031000_tiers_of_their_own).
  tiers: [
    { key: 'BRONZE', name: 'Bronze', threshold: 0, multiplier: 1, compensationFactor: 1, benefits: 'Points on every order.' },
    {
      key: 'SILVER',
      name: 'Silver',
      threshold: 1000,
      multiplier: 1.25,
      compensationFactor: 1.2,
      benefits: '1.25 × points on orders; compensation vouchers × 1.2.',
    },
    {
      key: 'GOLD',
      name: 'Gold',
      threshold: 5000,
      multiplier: 1.5,
      compensationFactor: 1.5,
      benefits: '1.5 × points on orders; compensation vouchers × 1.5.',
    },
    {
      key: 'PLATINUM',
      name: 'Platinum',
      threshold: 15000,
      multiplier: 2,
      compensationFactor: 2,
      benefits: '2 × points on orders; compensation vouchers × 2.',
    },
  ],
  tierQualifyingMonths: 12,
  tierProtectionDays: 90,
  voucherValidityDays: 90,
  pointExpiryReminderDays: 30,
  voucherExpiryReminderDays: 7,
  restoredPointsExpiry: 'FRESH',
  compensation: {
    baseBySeverity: { LOW: '5.00', MEDIUM: '10.00', HIGH: '25.00', CRITICAL: '50.00' },
    repeatWindowDays: 90,
    secondFailureFactor: 1.5,
    laterFailureFactor: 2,
    capWindowDays: 30,
    capAmount: '100.00',
  },
  renewal: {
    pointsPer12Months: 500,
    consecutiveBonusPercent: 10,
    consecutiveBonusCapPercent: 50,
    clawbackDays: 30,
    windowDays: 90,
  },
  goodwill: { perGestureLimit: '25.00', perGesturePointsLimit: 2500, monthlyBudget: '500.00' },
  sla: DEFAULT_SLA_SETTINGS,
  metrics: DEFAULT_METRICS_SETTINGS,
  saveDesk: DEFAULT_SAVE_DESK_SETTINGS,
};
