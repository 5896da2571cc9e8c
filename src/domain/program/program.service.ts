import { Prisma, type ProgramChange } from '../../generated/prisma/client.js';
import { callerText, type Caller } from '../../auth/principal.js';
import type { RawSql } from '../../db/sql.js';
import { assertMayCall } from '../authorization.js';
import { nowOf, type ServiceDeps, type Tx } from '../deps.js';
import { ValidationError } from '../errors.js';
import * as check from '../validation.js';
import { writeTierRows } from '../tiers/tier-rows.js';
import { closedHoldersMove } from '../tiers/tiers.service.js';
import { reportProgramChange } from '../members/member-changes.js';
import { assertCurrencySwitchRestates } from './currency-switch.js';
import {
  DEFAULT_PROGRAM_SETTINGS,
  programSettingsSchema,
  storableProgramSettingsSchema,
  type ProgramSettings,
  type TierSettings,
} from './program-settings.js';

export interface ProgramView {
  settings: ProgramSettings;
  version: number;
  updatedAt: Date;
}

/**
 * The current program settings, for a service's own rules: checks no caller
 * (internal, as `settingsForHash` and `currentSettings`); what answers a caller
 * is `readProgram`, after its check. Read inside the caller's transaction, so a
 * rule always sees one consistent version and an `updateProgram` applies at once
 * on every instance, without restart. The row is created with defaults on first use.
 */
export async function loadProgram(db: Tx | ServiceDeps['prisma']): Promise<ProgramView> {
  const row = await db.program.findUnique({ where: { id: 1 } });
  if (row) {
    return { settings: programSettingsSchema.parse(row.settings), version: row.version, updatedAt: row.updatedAt };
  }
  // ON CONFLICT: many first requests may race to create the row.
  await db.$executeRaw`
    INSERT INTO program (id, settings) VALUES (1, ${JSON.stringify(DEFAULT_PROGRAM_SETTINGS)}::jsonb)
    ON CONFLICT (id) DO NOTHING`;
  return loadProgram(db);
}

/** Money as a client gives it: an amount and the currency it is in. */
export interface GivenMoney {
  amount: string;
  currency: string;
}

/**
 * The decimal amount of money a client gave with its currency, as the services take
 * amounts: at most two decimal places, in the program currency. Mistakes name
 * `<path>.amount` / `<path>.currency`. The range of the amount is each service's own
 * rule. (`updateProgram` holds its money settings against the currency it is about to
 * store, itself.)
 */
export async function amountInProgramCurrency(db: Tx | ServiceDeps['prisma'], path: string, given: GivenMoney): Promise<string> {
  check.money(`${path}.amount`, given.amount, { positive: false });
  assertProgramCurrency(`${path}.currency`, given.currency, (await loadProgram(db)).settings.currency);
  return given.amount;
}

/**
 * A currency a client gave with an amount, held against the program's (`expected`): a service checks it again with
 * the currency it reads after its locks, so that an amount given in a currency an admin replaced meanwhile is refused,
 * not taken as the same figure in the new one. Null: the client named none (a deprecated decimal string).
 */
export function assertProgramCurrency(field: string, given: string | null | undefined, expected: string): void {
  if (given != null && given !== expected) throw new ValidationError(field, `must be the program currency, ${expected}`);
}

/**
 * The program's currency for a change that stores money in it (a reward's voucher value, an agent's goodwill limit),
 * read under the program's row with KEY SHARE, held until the caller's transaction ends: a change of currency
 * (`updateProgram`, FOR UPDATE) waits for the caller to commit, or the caller waits for it and reads the new
 * currency (a locking read returns the row as committed). So what the caller stores is in the program's currency at
 * its commit, and `updateProgram` sees it when it checks what a change of currency would leave in the old one.
 * Take it after the caller's own row locks. Internal: checks no caller.
 */
export async function lockedProgramCurrency(tx: Tx): Promise<string> {
  const locked = () => tx.$queryRaw<{ currency: string }[]>`
    SELECT settings->>'currency' AS currency FROM program WHERE id = 1 FOR KEY SHARE`;
  const [row] = await locked();
  if (row) return row.currency;
  await loadProgram(tx); // creates the row on first use
  return (await locked())[0]!.currency;
}

/** Parsed settings by the md5 of their JSON text: a few versions at most per process. */
const settingsByHash = new Map<string, ProgramSettings>();
const SETTINGS_CACHE_SIZE = 8;

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * The settings whose JSON text has md5 `hash`, as the caller read it in its own
 * transaction (`SELECT settings_hash FROM program WHERE id = 1`, folded into a
 * statement it sends anyway; the column is generated from the settings, so no
 * writer can leave it stale). Each version is read and validated once
 * per process, then served from memory (frozen: shared by every request). No
 * staleness: the hash comes from the caller's transaction, so an
 * `updateProgram` that committed before it applies to it, on every instance,
 * without restart. `hash` null: the row does not exist yet and is created with
 * the defaults. Internal: checks no caller (see `loadProgram`).
 */
export async function settingsForHash(tx: RawSql, hash: string | null): Promise<ProgramSettings> {
  const cached = hash === null ? undefined : settingsByHash.get(hash);
  if (cached) return cached;
  if (hash === null) {
    await tx.$executeRaw`
      INSERT INTO program (id, settings) VALUES (1, ${JSON.stringify(DEFAULT_PROGRAM_SETTINGS)}::jsonb)
      ON CONFLICT (id) DO NOTHING`;
  }
  const [row] = await tx.$queryRaw<{ settings: unknown; hash: string }[]>`
    SELECT settings, settings_hash AS hash FROM program WHERE id = 1`;
  const settings = deepFreeze(programSettingsSchema.parse(row!.settings));
  if (settingsByHash.size >= SETTINGS_CACHE_SIZE) settingsByHash.clear();
  settingsByHash.set(row!.hash, settings);
  return settings;
}

/**
 * SQL for the settings' version (`settings_hash`, for `settingsForHash`; null before the program row exists) as
 * committed once every row of `locked` is locked: `locked` names the statement's CTE that locks rows (FOR UPDATE,
 * FOR NO KEY UPDATE), and the expression goes in a select list over it. For a decision that waits for those
 * locks: `(SELECT settings_hash FROM program WHERE id = 1)` reads the statement's snapshot, taken before it
 * waited, and would decide on the settings of before, though the transactions it waited for had committed with
 * newer ones (an admin's change of currency, tiers or policy meanwhile). program_cache_keys() (migration
 * 202612171000, VOLATILE: a fresh snapshot) is called once, in a scalar subquery evaluated when the first row is
 * projected, and only after its count has read every row of `locked`: a call per row (as the ledger kernel's one
 * locked member affords) could run before the next row's lock was granted, the rows then on different settings.
 */
export function settingsHashAfterLocksSql(locked: string): Prisma.Sql {
  return Prisma.sql`(SELECT (program_cache_keys()).settings_hash FROM (SELECT count(*) FROM ${Prisma.raw(locked)}) every_row_locked)`;
}

/** The program settings as of the caller's transaction, in one statement of its own (see `settingsForHash`; internal, no caller). */
export async function currentSettings(tx: RawSql): Promise<ProgramSettings> {
  const [row] = await tx.$queryRaw<{ hash: string | null }[]>`
    SELECT (SELECT settings_hash FROM program WHERE id = 1) AS hash`;
  return settingsForHash(tx, row?.hash ?? null);
}

/**
 * The program's currency: what every amount the API shows or takes is in, so no secret of any caller's, and read
 * without a check (internal, as `loadProgram`; the settings themselves are `readProgram`'s). Money values in answers
 * and inputs name it (src/graphql/money.type.ts).
 */
export async function programCurrencyOf(db: Tx | ServiceDeps['prisma']): Promise<string> {
  return (await loadProgram(db)).settings.currency;
}

/**
 * The program settings for a caller (`program`): SERVICE_CALLERS.readProgram
 * (staff, keys with `members:read`, members); anyone else is refused before
 * anything is read or the row created. Services that need the settings for
 * their rules use `loadProgram` (no caller).
 */
export async function readProgram(deps: ServiceDeps, caller: Caller): Promise<ProgramView> {
  assertMayCall(caller, 'readProgram');
  return loadProgram(deps.prisma);
}

/**
 * The Prisma condition of the settings' audit trail (`Program.changes`): every
 * change. Decides who may read it, SERVICE_CALLERS.readProgramChanges (admins);
 * anyone else is refused, nothing read.
 */
export function programChangeListWhere(caller: Caller): Prisma.ProgramChangeWhereInput {
  assertMayCall(caller, 'readProgramChanges');
  return {};
}

/** What a read loads with the change: plugin-prisma's plan of a GraphQL selection, say. */
export type ProgramChangeReadShape = Pick<Prisma.ProgramChangeFindUniqueArgs, 'select'>;

/**
 * One change of the settings by its id (`node(id)`), with what `shape` loads with it, or null when there is none.
 * Who may read it is who may read the audit trail (SERVICE_CALLERS.readProgramChanges, the ProgramChange type's
 * visibility): anyone else is refused before the id is looked at, nothing read. The id must be a UUID
 * (ValidationError).
 */
export async function readProgramChange(
  deps: Pick<ServiceDeps, 'prisma'>,
  id: string,
  shape: ProgramChangeReadShape,
  caller: Caller,
): Promise<ProgramChange | null> {
  assertMayCall(caller, 'readProgramChanges');
  return deps.prisma.programChange.findUnique({ ...shape, where: { id: check.uuid('id', id) } });
}

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** One tier of a new tier list: a key the program has keeps its values for the fields left out. */
export type TierPatch = Pick<TierSettings, 'key'> & Partial<Omit<TierSettings, 'key'>>;

/**
 * A money setting as a patch gives it: a decimal string in the currency the program has after the
 * change, or an amount with the currency it was decided in, which must be that one.
 */
export type MoneySettingPatch = string | GivenMoney;

type Compensation = ProgramSettings['compensation'];

/**
 * A change of the settings: fields left out keep their value; `tiers` is the whole new list, lowest
 * first; money settings as `MoneySettingPatch`.
 */
export type ProgramPatch = DeepPartial<Omit<ProgramSettings, 'tiers' | 'pointValue' | 'compensation' | 'goodwill'>> & {
  tiers?: TierPatch[];
  pointValue?: MoneySettingPatch;
  compensation?: DeepPartial<Omit<Compensation, 'baseBySeverity' | 'capAmount'>> & {
    baseBySeverity?: { [S in keyof Compensation['baseBySeverity']]?: MoneySettingPatch };
    capAmount?: MoneySettingPatch;
  };
  goodwill?: DeepPartial<Omit<ProgramSettings['goodwill'], 'perGestureLimit' | 'monthlyBudget'>> & {
    perGestureLimit?: MoneySettingPatch;
    monthlyBudget?: MoneySettingPatch;
  };
};

type SettingsPatch = DeepPartial<Omit<ProgramSettings, 'tiers'>>;

/**
 * The patch with its money settings as decimal strings, each one given with a currency held against
 * `currency`, the program's after the change: a ValidationError on `<setting>.currency` for another.
 */
function inCurrency(patch: Omit<ProgramPatch, 'tiers'>, currency: string): SettingsPatch {
  const amount = (path: string, value: MoneySettingPatch | undefined): string | undefined => {
    if (value == null || typeof value === 'string') return value;
    if (value.currency !== currency) throw new ValidationError(`${path}.currency`, `must be the program currency, ${currency}`);
    return value.amount;
  };
  const { pointValue, compensation, goodwill, ...rest } = patch;
  const resolved: SettingsPatch = { ...rest, pointValue: amount('pointValue', pointValue) };
  if (compensation != null) {
    const { baseBySeverity: base, capAmount, ...factors } = compensation;
    resolved.compensation = { ...factors, capAmount: amount('compensation.capAmount', capAmount) };
    if (base != null) {
      resolved.compensation.baseBySeverity = Object.fromEntries(
        Object.entries(base).map(([severity, value]) => [severity, amount(`compensation.baseBySeverity.${severity}`, value)]),
      );
    }
  }
  if (goodwill != null) {
    resolved.goodwill = {
      ...goodwill,
      perGestureLimit: amount('goodwill.perGestureLimit', goodwill.perGestureLimit),
      monthlyBudget: amount('goodwill.monthlyBudget', goodwill.monthlyBudget),
    };
  }
  return resolved;
}

const TIER_FIELDS = ['name', 'threshold', 'multiplier', 'compensationFactor'] as const;

/**
 * The new tier list: each entry over the current tier of the same key, so that
 * renaming a tier or moving a threshold does not need the rest restated; a new
 * key needs every field but `benefits`.
 */
function tierList(current: readonly TierSettings[], patch: readonly TierPatch[]): TierSettings[] {
  return patch.map((entry, index) => {
    const known = current.find((tier) => tier.key === entry.key);
    const given = Object.fromEntries(Object.entries(entry).filter(([, value]) => value != null)) as TierPatch;
    if (!known) {
      const missing = TIER_FIELDS.find((field) => given[field] === undefined);
      if (missing) throw new ValidationError(`tiers.${index}.${missing}`, `is required for a new tier (${entry.key})`);
    }
    return { benefits: '', ...known, ...given } as TierSettings;
  });
}

function merge<T>(base: T, patch: DeepPartial<T> | undefined): T {
  if (patch === undefined || patch === null) return base;
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return patch as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === undefined || value === null) continue;
    out[key] = merge((base as Record<string, unknown>)[key], value as never);
  }
  return out as T;
}

/**
 * Applies a partial change to the program settings. The whole result is
 * validated before it is stored; the change is audited with before/after.
 * Optimistic: `expectedVersion`, when given, must match, so two admins editing
 * at once do not silently overwrite each other. A money setting given with its
 * currency is held against the currency of the result under the program's row
 * lock, so an amount decided in a currency another admin has just replaced is
 * refused, not stored as the same figure in the new one. A change of the currency
 * restates every setting whose figure is in it, in the same change, and is refused
 * while figures outside the settings are still in the old one
 * (`assertCurrencySwitchRestates`): nothing is read in a currency it was not decided in. A change that
 * leaves every setting as stored writes nothing and answers the current version (a retry answers the same).
 */
export async function updateProgram(
  deps: ServiceDeps,
  input: { patch: ProgramPatch; expectedVersion?: number | null },
  caller: Caller,
): Promise<ProgramView> {
  assertMayCall(caller, 'updateProgram');
  const { actor } = caller;
  const { view, changed } = await deps.prisma.$transaction(async (tx) => {
    await loadProgram(tx);
    const row = await tx.$queryRaw<{ settings: unknown; version: number; updated_at: Date }[]>`
      SELECT settings, version, updated_at FROM program WHERE id = 1 FOR UPDATE`;
    const current = row[0]!;
    if (input.expectedVersion != null && input.expectedVersion !== current.version) {
      throw new ValidationError('expectedVersion', `program is at version ${current.version}`);
    }
    const before = programSettingsSchema.parse(current.settings);
    const { tiers, ...rest } = input.patch;
    const currency = rest.currency == null ? before.currency : check.currency('currency', rest.currency);
    await assertCurrencySwitchRestates(tx, before, input.patch, currency);
    const merged = merge<Omit<ProgramSettings, 'tiers'>>(before, inCurrency(rest, currency));
    const parsed = storableProgramSettingsSchema.safeParse({ ...merged, tiers: tiers ? tierList(before.tiers, tiers) : before.tiers });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ValidationError(issue.path.join('.'), issue.message);
    }
    // A change that changes nothing (no field, or every value as stored: an admin's retry, a form sent back as read)
    // answers the program as it is: no version, no audit row, no write, nothing to invalidate.
    if (changedSettings(before, parsed.data).length === 0) {
      return { view: { settings: before, version: current.version, updatedAt: current.updated_at }, changed: false };
    }
    // The `tiers` table follows the settings in this transaction: members' tiers are checked against it. Closed
    // members on a removed tier move to one of the new ones (`closedHoldersMove`); any other holder refuses it.
    if (tiers) await writeTierRows(tx, parsed.data.tiers, closedHoldersMove(parsed.data, nowOf(deps)));
    const version = current.version + 1;
    const updated = await tx.program.update({
      where: { id: 1 },
      data: { settings: parsed.data as unknown as Prisma.InputJsonValue, version, updatedBy: callerText(caller) },
    });
    await tx.programChange.create({
      data: {
        version,
        before: before as unknown as Prisma.InputJsonValue,
        after: parsed.data as unknown as Prisma.InputJsonValue,
        actorType: actor.type,
        actorId: actor.id,
      },
    });
    return { view: { settings: parsed.data, version, updatedAt: updated.updatedAt }, changed: true };
  });
  if (changed) reportProgramChange(deps);
  return view;
}

/** Dotted paths of the settings that differ between two versions (for the audit trail); list entries by index. */
export function changedSettings(before: unknown, after: unknown, path = ''): string[] {
  // Lists (the tiers) compare by index: `tiers.3.threshold`.
  const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
  if (!isRecord(before) || !isRecord(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? [] : [path];
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) => changedSettings(before[key], after[key], path ? `${path}.${key}` : key));
}
