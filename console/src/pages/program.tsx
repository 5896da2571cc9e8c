import { Fragment, useCallback, useState, type FormEvent, type ReactNode } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import type { ProgramSettingsQuery, RestoredPointsExpiry, ServiceChannel, Severity, UpdateProgramInput } from '../gql/graphql';
import { retypeNumber, useI18n, useLanguageChange, type I18n, type Locale, type MessageKey } from '../i18n';
import { CHANNELS } from './case-feedback';
import { ApiError, Card, EnumSelect, errorOf, FieldError, FormError, type TypedError } from './parts';

const ProgramQuery = graphql(`
  query ProgramSettings {
    program {
      version
      updatedAt
      currency
      pointsPerCurrencyUnit
      pointValue {
        amount
      }
      returnWindowDays
      pointExpiryMonths
      voucherValidityDays
      passiveAfterMonths
      tierProtectionDays
      tierQualifyingMonths
      pointExpiryReminderDays
      voucherExpiryReminderDays
      restoredPointsExpiry
      goodwill {
        perGestureLimit {
          amount
        }
        perGesturePointsLimit
        monthlyBudget {
          amount
        }
      }
      compensation {
        baseBySeverity {
          low {
            amount
          }
          medium {
            amount
          }
          high {
            amount
          }
          critical {
            amount
          }
        }
        repeatWindowDays
        secondFailureFactor
        laterFailureFactor
        capWindowDays
        capAmount {
          amount
        }
      }
      renewal {
        pointsPer12Months
        consecutiveBonusPercent
        consecutiveBonusCapPercent
        windowDays
        clawbackDays
      }
      saveDesk {
        windowDays
        failurePoints
        repeatFailurePoints
        detractorPoints
        openCasePoints
        contractEndingDays
        contractEndingPoints
        driftAfterMonths
        driftPoints
      }
      metrics {
        csatBands {
          goodFrom
          excellentAbove
        }
        npsBands {
          goodFrom
          excellentAbove
        }
        followUpDays
      }
      sla {
        firstResponseBreachSeverity
        resolutionBreachSeverity
        targets {
          channel
          firstResponseMinutes
          resolutionMinutes
        }
      }
      tiers {
        key
        name
        threshold
        multiplier
        compensationFactor
        benefits
      }
    }
  }
`);

const UpdateProgram = graphql(`
  mutation UpdateProgram($input: UpdateProgramInput!) {
    updateProgram(input: $input) {
      __typename
      ... on UpdateProgramPayload {
        program {
          version
        }
      }
      ...MutationError
    }
  }
`);

type Program = ProgramSettingsQuery['program'];

/**
 * A number the form sends: its path is the input's path as the API names it in a ValidationError
 * (`renewal.windowDays`, `goodwill.perGestureLimitMoney.amount`, `sla.targets.PHONE.resolutionMinutes`).
 * A money amount's path ends in `Money.amount`; its currency is the program's.
 */
interface NumberSetting {
  path: string;
  label: MessageKey;
  kind: 'whole' | 'decimal' | 'money';
  read: (program: Program) => number | string;
}

const setting = (path: string, label: MessageKey, kind: NumberSetting['kind'], read: NumberSetting['read']): NumberSetting => ({
  path,
  label,
  kind,
  read,
});

const STATUS_SETTINGS = [
  setting('pointsPerCurrencyUnit', 'program.pointsPerCurrencyUnit', 'decimal', (p) => p.pointsPerCurrencyUnit),
  setting('pointValueMoney.amount', 'program.pointValue', 'money', (p) => p.pointValue.amount),
  setting('returnWindowDays', 'program.returnWindowDays', 'whole', (p) => p.returnWindowDays),
  setting('pointExpiryMonths', 'program.pointExpiryMonths', 'whole', (p) => p.pointExpiryMonths),
  setting('pointExpiryReminderDays', 'program.pointExpiryReminderDays', 'whole', (p) => p.pointExpiryReminderDays),
  setting('voucherValidityDays', 'program.voucherValidityDays', 'whole', (p) => p.voucherValidityDays),
  setting('voucherExpiryReminderDays', 'program.voucherExpiryReminderDays', 'whole', (p) => p.voucherExpiryReminderDays),
  setting('passiveAfterMonths', 'program.passiveAfterMonths', 'whole', (p) => p.passiveAfterMonths),
  setting('tierQualifyingMonths', 'program.tierQualifyingMonths', 'whole', (p) => p.tierQualifyingMonths),
  setting('tierProtectionDays', 'program.tierProtectionDays', 'whole', (p) => p.tierProtectionDays),
];

const GOODWILL_SETTINGS = [
  setting('goodwill.perGestureLimitMoney.amount', 'program.perGestureLimit', 'money', (p) => p.goodwill?.perGestureLimit.amount ?? ''),
  setting('goodwill.perGesturePointsLimit', 'program.perGesturePointsLimit', 'whole', (p) => p.goodwill?.perGesturePointsLimit ?? ''),
  setting('goodwill.monthlyBudgetMoney.amount', 'program.monthlyBudget', 'money', (p) => p.goodwill?.monthlyBudget.amount ?? ''),
];

const COMPENSATION_SETTINGS = [
  ...(['low', 'medium', 'high', 'critical'] as const).map((severity) =>
    setting(
      `compensation.baseBySeverityMoney.${severity}.amount`,
      `program.base.${severity}`,
      'money',
      (p) => p.compensation.baseBySeverity[severity].amount,
    ),
  ),
  setting('compensation.repeatWindowDays', 'program.repeatWindowDays', 'whole', (p) => p.compensation.repeatWindowDays),
  setting('compensation.secondFailureFactor', 'program.secondFailureFactor', 'decimal', (p) => p.compensation.secondFailureFactor),
  setting('compensation.laterFailureFactor', 'program.laterFailureFactor', 'decimal', (p) => p.compensation.laterFailureFactor),
  setting('compensation.capWindowDays', 'program.capWindowDays', 'whole', (p) => p.compensation.capWindowDays),
  setting('compensation.capAmountMoney.amount', 'program.capAmount', 'money', (p) => p.compensation.capAmount.amount),
];

const RENEWAL_SETTINGS = (
  ['pointsPer12Months', 'consecutiveBonusPercent', 'consecutiveBonusCapPercent', 'windowDays', 'clawbackDays'] as const
).map((field) => setting(`renewal.${field}`, `program.renewal.${field}`, 'whole', (p) => p.renewal[field]));

const SAVE_DESK_SETTINGS = (
  [
    'windowDays',
    'failurePoints',
    'repeatFailurePoints',
    'detractorPoints',
    'openCasePoints',
    'contractEndingDays',
    'contractEndingPoints',
    'driftAfterMonths',
    'driftPoints',
  ] as const
).map((field) => setting(`saveDesk.${field}`, `program.saveDesk.${field}`, 'whole', (p) => p.saveDesk?.[field] ?? ''));

const METRICS_SETTINGS = [
  ...(['csatBands', 'npsBands'] as const).flatMap((bands) =>
    (['goodFrom', 'excellentAbove'] as const).map((bound) =>
      setting(`metrics.${bands}.${bound}`, `program.metrics.${bands}.${bound}`, 'decimal', (p) => p.metrics[bands][bound]),
    ),
  ),
  setting('metrics.followUpDays', 'program.metrics.followUpDays', 'whole', (p) => p.metrics.followUpDays),
];

const SLA_SETTINGS = CHANNELS.flatMap((channel) =>
  (['firstResponseMinutes', 'resolutionMinutes'] as const).map((field) =>
    setting(`sla.targets.${channel}.${field}`, `program.sla.${field}`, 'whole', (p) => {
      const target = p.sla.targets.find((entry) => entry.channel === channel);
      return target ? target[field] : '';
    }),
  ),
);

const SEVERITIES: Severity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
const RESTORED_POINTS_EXPIRY: RestoredPointsExpiry[] = ['FRESH', 'ORIGINAL'];

/** A field's element id: the path with dots as dashes (`tiers-2-threshold-error`). */
const idOf = (path: string) => path.replaceAll('.', '-');

/** A ValidationError of the form itself (a value that is no number), before anything is sent. */
const invalid = (field: string, message: string): TypedError => ({ __typename: 'ValidationError', field, message });

/** What reading a number field needs: the page's words and its language's rule for numbers. */
type NumberReading = Pick<I18n, 't' | 'decimal'>;

/**
 * The text of a number field as the number to send, or the error that keeps it from being sent: read in the page's
 * language (`decimalText`), so "1e3", "12abc", English "9,5" or German "9.5" are refused at the field, never read as
 * another number; a whole number's field refuses a fraction ("9,5" in German) rather than cut it to 9.
 */
function parsed(
  text: string,
  kind: NumberSetting['kind'],
  path: string,
  { t, decimal }: NumberReading,
): { value: number | string } | { error: TypedError } {
  const exact = decimal(text);
  if (exact === undefined) return { error: invalid(path, t('program.notANumber')) };
  if (kind === 'money') return { value: exact };
  const value = Number(exact);
  if (kind === 'whole' && !Number.isSafeInteger(value)) return { error: invalid(path, t('program.notWhole')) };
  if (!Number.isFinite(value)) return { error: invalid(path, t('program.notANumber')) };
  return { value };
}

/** Sets `value` at a dotted path of `target`, making the objects on the way. */
function setAt(target: Record<string, unknown>, path: string, value: unknown) {
  const keys = path.split('.');
  let at = target;
  for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
  at[keys.at(-1)!] = value;
}

/**
 * The input of `updateProgram` from the form's texts by path: money amounts with the program currency,
 * the SLA targets (by channel in the form) as the list the input takes.
 */
function inputOf(
  settings: NumberSetting[],
  texts: Record<string, string>,
  program: Program,
  reading: NumberReading,
): { input: Record<string, unknown> } | { error: TypedError } {
  const input: Record<string, unknown> = {};
  for (const entry of settings) {
    const result = parsed(texts[entry.path] ?? '', entry.kind, entry.path, reading);
    if ('error' in result) return result;
    setAt(input, entry.path, result.value);
    if (entry.kind === 'money') setAt(input, entry.path.replace(/\.amount$/, '.currency'), program.currency);
  }
  const sla = input.sla as { targets?: Record<ServiceChannel, object> } | undefined;
  if (sla?.targets) {
    (sla as { targets: unknown }).targets = Object.entries(sla.targets).map(([channel, target]) => ({ channel, ...target }));
  }
  return { input };
}

/** One part of the settings as its own form: sent alone, with the version it was read at. */
function SettingsSection({
  title,
  save,
  program,
  basedOn,
  settings,
  extra,
  extraInput,
  extraFields = [],
  children,
}: {
  title: string;
  save: string;
  program: Program;
  basedOn: BasedOn;
  settings: NumberSetting[];
  /** Fields other than numbers (selects), rendered after the numbers. */
  extra?: ReactNode;
  /** The input with what the extra fields send. */
  extraInput?: (input: Record<string, unknown>) => Record<string, unknown>;
  extraFields?: string[];
  /** Instead of the plain list of number fields, a layout of them (the SLA's table). */
  children?: (field: (path: string, label?: string) => ReactNode) => ReactNode;
}) {
  const { t, decimal, numberText } = useI18n();
  const [texts, setTexts] = useState<Record<string, string>>(() =>
    Object.fromEntries(settings.map((entry) => [entry.path, numberText(entry.read(program))])),
  );
  // The language switched with the form open: its numbers are rewritten in the new one ("1,5" → "1.5").
  useLanguageChange(
    useCallback(
      (from: Locale, to: Locale) =>
        setTexts((current) => Object.fromEntries(Object.entries(current).map(([path, text]) => [path, retypeNumber(text, from, to)]))),
      [],
    ),
  );
  const { error, saved, saving, submit } = useProgramUpdate(basedOn);
  const paths = [...settings.map((entry) => entry.path), ...extraFields];

  const field = (path: string, label?: string) => {
    const entry = settings.find((candidate) => candidate.path === path)!;
    return (
      <label className="field" key={path}>
        <span>{label ?? t(entry.label)}</span>
        <input
          dir="auto"
          inputMode={entry.kind === 'whole' ? 'numeric' : 'decimal'}
          value={texts[path] ?? ''}
          onChange={(event) => setTexts((current) => ({ ...current, [path]: event.target.value }))}
          aria-describedby={`${idOf(path)}-error`}
        />
        <FieldError error={error} field={path} id={`${idOf(path)}-error`} />
      </label>
    );
  };

  const send = (event: FormEvent) => {
    event.preventDefault();
    const built = inputOf(settings, texts, program, { t, decimal });
    void submit('error' in built || !extraInput ? built : { input: extraInput(built.input) });
  };

  return (
    <Card title={title}>
      <form className="form" onSubmit={send} noValidate>
        {children ? children(field) : <div className="settings">{settings.map((entry) => field(entry.path))}</div>}
        {extra}
        <Outcome error={error} saved={saved} fields={paths} />
        <button type="submit" className="button-primary" disabled={saving}>
          {save}
        </button>
      </form>
    </Card>
  );
}

/**
 * The version the page's forms were read at: the one loaded, then the one each of the page's own saves
 * answered. Never a refetch's: a change another admin made meanwhile must be refused (expectedVersion),
 * not overwritten with what this page read before it.
 */
interface BasedOn {
  version: number;
  saved: (version: number) => void;
}

/** Sends a change with the version the page's forms are based on; the answer's error, or that it was saved. */
function useProgramUpdate(basedOn: BasedOn) {
  const { t } = useI18n();
  const [saving, update] = useMutation(UpdateProgram);
  const [error, setError] = useState<TypedError | undefined>();
  const [saved, setSaved] = useState(false);
  const submit = async (built: { input: Record<string, unknown> } | { error: TypedError }) => {
    setSaved(false);
    if ('error' in built) return setError(built.error);
    setError(undefined);
    const input = { ...built.input, expectedVersion: basedOn.version } as UpdateProgramInput;
    const answer = (await update({ input })).data?.updateProgram;
    const failed = errorOf(answer, 'UpdateProgramPayload') ?? (answer ? undefined : { __typename: 'Error', message: t('error.unknown') });
    if (failed || answer?.__typename !== 'UpdateProgramPayload') return setError(failed);
    basedOn.saved(answer.program.version);
    setSaved(true);
  };
  return { error, saved, saving: saving.fetching, submit };
}

/** Under a section's fields: an error no field shows (another's version, a refusal), or that it was saved. */
function Outcome({ error, saved, fields }: { error: TypedError | undefined; saved: boolean; fields: string[] }) {
  const { t } = useI18n();
  return (
    <>
      <FormError error={error} fields={fields} />
      {saved && (
        <p className="notice" role="status" data-testid="notice">
          {t('program.saved')}
        </p>
      )}
    </>
  );
}

interface TierDraft {
  /** Stable across reordering (the key itself is editable). */
  row: number;
  key: string;
  name: string;
  threshold: string;
  multiplier: string;
  compensationFactor: string;
  benefits: string;
}

const MIN_TIERS = 2;
const MAX_TIERS = 10;
const TIER_NUMBERS = [
  ['threshold', 'program.threshold', 'whole'],
  ['multiplier', 'program.multiplier', 'decimal'],
  ['compensationFactor', 'program.compensationFactor', 'decimal'],
] as const;

/** The tier list, edited as a whole (2–10 rows, lowest first): add, remove, move, and each field's error at its row. */
function TiersSection({ program, basedOn }: { program: Program; basedOn: BasedOn }) {
  const { t, decimal, numberText } = useI18n();
  const [rows, setRows] = useState<TierDraft[]>(() =>
    program.tiers.map((tier, row) => ({
      row,
      key: tier.key,
      name: tier.name,
      threshold: numberText(tier.threshold),
      multiplier: numberText(tier.multiplier),
      compensationFactor: numberText(tier.compensationFactor),
      benefits: tier.benefits,
    })),
  );
  useLanguageChange(
    useCallback(
      (from: Locale, to: Locale) =>
        setRows((current) =>
          current.map((row) => ({
            ...row,
            threshold: retypeNumber(row.threshold, from, to),
            multiplier: retypeNumber(row.multiplier, from, to),
            compensationFactor: retypeNumber(row.compensationFactor, from, to),
          })),
        ),
      [],
    ),
  );
  const [nextRow, setNextRow] = useState(program.tiers.length);
  const { error, saved, saving, submit } = useProgramUpdate(basedOn);

  const change = (index: number, patch: Partial<TierDraft>) =>
    setRows((current) => current.map((row, at) => (at === index ? { ...row, ...patch } : row)));
  const move = (index: number, by: number) =>
    setRows((current) => {
      const next = [...current];
      [next[index], next[index + by]] = [next[index + by]!, next[index]!];
      return next;
    });

  const send = (event: FormEvent) => {
    event.preventDefault();
    const tiers: Record<string, unknown>[] = [];
    for (const [index, row] of rows.entries()) {
      const tier: Record<string, unknown> = { key: row.key.trim(), name: row.name, benefits: row.benefits };
      for (const [field, , kind] of TIER_NUMBERS) {
        const result = parsed(row[field], kind, `tiers.${index}.${field}`, { t, decimal });
        if ('error' in result) return void submit(result);
        tier[field] = result.value;
      }
      tiers.push(tier);
    }
    void submit({ input: { tiers } });
  };

  const text = (index: number, field: keyof Omit<TierDraft, 'row'>, label: string, inputMode?: 'numeric' | 'decimal') => {
    const path = `tiers.${index}.${field}`;
    return (
      <label className="field">
        <span>{label}</span>
        <input
          dir="auto"
          inputMode={inputMode}
          value={rows[index]![field]}
          onChange={(event) => change(index, { [field]: event.target.value })}
          aria-describedby={`${idOf(path)}-error`}
        />
        <FieldError error={error} field={path} id={`${idOf(path)}-error`} />
      </label>
    );
  };

  return (
    <Card title={t('program.tiers')} className="wide">
      <form className="form" onSubmit={send} noValidate>
        <p className="hint">{t('program.tiersHint')}</p>
        {rows.map((row, index) => (
          <fieldset key={row.row} className="tier" data-testid="tier">
            <legend>{t('program.tierNumbered', { number: index + 1 })}</legend>
            <div className="settings">
              {text(index, 'key', t('program.tierKey'))}
              {text(index, 'name', t('program.tierName'))}
              {TIER_NUMBERS.map(([field, label, kind]) => (
                <Fragment key={field}>{text(index, field, t(label), kind === 'whole' ? 'numeric' : 'decimal')}</Fragment>
              ))}
            </div>
            <label className="field">
              <span>{t('program.benefits')}</span>
              <textarea
                dir="auto"
                rows={2}
                value={row.benefits}
                onChange={(event) => change(index, { benefits: event.target.value })}
                aria-describedby={`tiers-${index}-benefits-error`}
              />
              <FieldError error={error} field={`tiers.${index}.benefits`} id={`tiers-${index}-benefits-error`} />
            </label>
            <div className="actions">
              <button
                type="button"
                className="button-quiet"
                disabled={index === 0}
                onClick={() => move(index, -1)}
                aria-label={t('program.tierUp', { number: index + 1 })}
              >
                ↑
              </button>
              <button
                type="button"
                className="button-quiet"
                disabled={index === rows.length - 1}
                onClick={() => move(index, 1)}
                aria-label={t('program.tierDown', { number: index + 1 })}
              >
                ↓
              </button>
              <button
                type="button"
                className="button-quiet"
                disabled={rows.length <= MIN_TIERS}
                onClick={() => setRows((current) => current.filter((_, at) => at !== index))}
              >
                {t('program.tierRemove', { number: index + 1 })}
              </button>
            </div>
          </fieldset>
        ))}
        <div className="actions">
          <button
            type="button"
            className="button"
            disabled={rows.length >= MAX_TIERS}
            onClick={() => {
              setRows((current) => [
                ...current,
                { row: nextRow, key: '', name: '', threshold: '', multiplier: '1', compensationFactor: '1', benefits: '' },
              ]);
              setNextRow((row) => row + 1);
            }}
          >
            {t('program.tierAdd')}
          </button>
        </div>
        <Outcome
          error={error}
          saved={saved}
          fields={rows.flatMap((_, index) =>
            ['key', 'name', 'threshold', 'multiplier', 'compensationFactor', 'benefits'].map((field) => `tiers.${index}.${field}`),
          )}
        />
        <button type="submit" className="button-primary" disabled={saving}>
          {t('program.saveTiers')}
        </button>
      </form>
    </Card>
  );
}

/**
 * Admins: every program setting, each part in its own form sent with the version it was read at; an error at its field.
 * A part the API withholds from the caller (the staff-only policies, null with an error) is left out, not shown empty.
 */
export function ProgramPage() {
  const { t, dateTime } = useI18n();
  // Fresh, not from the cache: the forms take their values from this first answer.
  const [result] = useQuery({ query: ProgramQuery, requestPolicy: 'network-only' });
  const program = result.data?.program;
  const [savedVersion, setSavedVersion] = useState<number | undefined>();
  const [restoredPointsExpiry, setRestoredPointsExpiry] = useState<RestoredPointsExpiry | undefined>();
  const [breach, setBreach] = useState<{ firstResponse?: Severity; resolution?: Severity }>({});

  if (result.fetching && !program) return <Loading />;
  if (!program) return <ApiError error={result.error} />;
  const restored = restoredPointsExpiry ?? program.restoredPointsExpiry;
  const firstResponse = breach.firstResponse ?? program.sla.firstResponseBreachSeverity;
  const resolution = breach.resolution ?? program.sla.resolutionBreachSeverity;
  const basedOn: BasedOn = { version: savedVersion ?? program.version, saved: setSavedVersion };

  return (
    <section className="page">
      <h1>{t('program.title')}</h1>
      <p className="meta">{t('program.version', { version: program.version, date: dateTime(program.updatedAt) })}</p>
      <p className="hint">{t('program.intro', { currency: program.currency })}</p>
      <div className="grid">
        <SettingsSection
          title={t('program.edit')}
          save={t('program.save')}
          program={program}
          basedOn={basedOn}
          settings={STATUS_SETTINGS}
          extra={
            <EnumSelect
              label={t('program.restoredPointsExpiry')}
              prefix="restoredPointsExpiry"
              options={RESTORED_POINTS_EXPIRY}
              value={restored}
              onChange={setRestoredPointsExpiry}
            />
          }
          extraInput={(input) => ({ ...input, restoredPointsExpiry: restored })}
          extraFields={['restoredPointsExpiry']}
        />
        {program.goodwill && (
          <SettingsSection
            title={t('program.goodwill')}
            save={t('program.saveGoodwill')}
            program={program}
            basedOn={basedOn}
            settings={GOODWILL_SETTINGS}
          />
        )}
        <SettingsSection
          title={t('program.compensation')}
          save={t('program.saveCompensation')}
          program={program}
          basedOn={basedOn}
          settings={COMPENSATION_SETTINGS}
        />
        <SettingsSection
          title={t('program.renewal')}
          save={t('program.saveRenewal')}
          program={program}
          basedOn={basedOn}
          settings={RENEWAL_SETTINGS}
        />
      </div>
      <TiersSection program={program} basedOn={basedOn} />
      <div className="grid">
        {program.saveDesk && (
          <SettingsSection
            title={t('program.saveDesk')}
            save={t('program.saveSaveDesk')}
            program={program}
            basedOn={basedOn}
            settings={SAVE_DESK_SETTINGS}
          />
        )}
        <SettingsSection
          title={t('program.metrics')}
          save={t('program.saveMetrics')}
          program={program}
          basedOn={basedOn}
          settings={METRICS_SETTINGS}
        />
      </div>
      <SettingsSection
        title={t('program.sla')}
        save={t('program.saveSla')}
        program={program}
        basedOn={basedOn}
        settings={SLA_SETTINGS}
        extra={
          <div className="settings">
            <EnumSelect
              label={t('program.sla.firstResponseBreachSeverity')}
              prefix="severity"
              options={SEVERITIES}
              value={firstResponse}
              onChange={(severity) => setBreach((current) => ({ ...current, firstResponse: severity }))}
            />
            <EnumSelect
              label={t('program.sla.resolutionBreachSeverity')}
              prefix="severity"
              options={SEVERITIES}
              value={resolution}
              onChange={(severity) => setBreach((current) => ({ ...current, resolution: severity }))}
            />
          </div>
        }
        extraInput={(input) => ({
          ...input,
          sla: { ...(input.sla as object), firstResponseBreachSeverity: firstResponse, resolutionBreachSeverity: resolution },
        })}
        extraFields={['sla.firstResponseBreachSeverity', 'sla.resolutionBreachSeverity']}
      >
        {(field) =>
          CHANNELS.map((channel) => (
            <fieldset key={channel} className="settings">
              <legend>{t(`channel.${channel}`)}</legend>
              {field(`sla.targets.${channel}.firstResponseMinutes`)}
              {field(`sla.targets.${channel}.resolutionMinutes`)}
            </fieldset>
          ))
        }
      </SettingsSection>
    </section>
  );
}
