import { useEffect, useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n, type MessageKey } from '../i18n';
import { ApiError, Card, errorOf, FieldError, FormError, type TypedError } from './parts';

const ProgramQuery = graphql(`
  query ProgramSettings {
    program {
      version
      updatedAt
      currency
      pointsPerCurrencyUnit
      pointValue {
        amount
        currency
      }
      returnWindowDays
      pointExpiryMonths
      voucherValidityDays
      passiveAfterMonths
      tierProtectionDays
      goodwill {
        perGestureLimit {
          amount
          currency
        }
        perGesturePointsLimit
        monthlyBudget {
          amount
          currency
        }
      }
      tiers {
        key
        name
        threshold
        multiplier
        compensationFactor
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

/** The settings this page edits: whole numbers of days or months, and two decimals. */
const INTEGER_FIELDS = [
  'returnWindowDays',
  'pointExpiryMonths',
  'voucherValidityDays',
  'passiveAfterMonths',
  'tierProtectionDays',
] as const;
type IntegerField = (typeof INTEGER_FIELDS)[number];
const FIELDS = [...INTEGER_FIELDS, 'pointsPerCurrencyUnit', 'pointValue', 'expectedVersion'];

/** Admins: the program's settings, read, and the common ones edited (the API validates; its errors show at their field). */
export function ProgramPage() {
  const { t, money, number, points, dateTime, tierName } = useI18n();
  const [result, refetch] = useQuery({ query: ProgramQuery, requestPolicy: 'network-only' });
  const [saving, update] = useMutation(UpdateProgram);
  const [form, setForm] = useState<Record<string, string>>({});
  const [error, setError] = useState<TypedError | undefined>();
  const [saved, setSaved] = useState(false);
  const program = result.data?.program;

  useEffect(() => {
    if (!program) return;
    setForm({
      ...Object.fromEntries(INTEGER_FIELDS.map((field) => [field, String(program[field])])),
      pointsPerCurrencyUnit: String(program.pointsPerCurrencyUnit),
      pointValue: program.pointValue.amount,
    });
  }, [program]);

  if (result.fetching && !program) return <Loading />;
  if (!program) return <ApiError error={result.error} />;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setSaved(false);
    const integers = Object.fromEntries(INTEGER_FIELDS.map((field) => [field, Number(form[field])])) as Record<IntegerField, number>;
    const answer = (
      await update({
        input: {
          ...integers,
          pointsPerCurrencyUnit: Number(form.pointsPerCurrencyUnit),
          pointValue: form.pointValue ?? '',
          expectedVersion: program.version,
        },
      })
    ).data?.updateProgram;
    const failed = errorOf(answer, 'UpdateProgramPayload') ?? (answer ? undefined : { __typename: 'Error', message: t('error.unknown') });
    if (failed) return setError(failed);
    setSaved(true);
    refetch({ requestPolicy: 'network-only' });
  };

  const input = (field: string, label: MessageKey, inputMode: 'numeric' | 'decimal') => (
    <label className="field" key={field}>
      <span>{t(label)}</span>
      <input
        inputMode={inputMode}
        value={form[field] ?? ''}
        onChange={(event) => setForm((current) => ({ ...current, [field]: event.target.value }))}
        aria-describedby={`${field}-error`}
      />
      <FieldError error={error} field={field} id={`${field}-error`} />
    </label>
  );

  return (
    <section className="page">
      <h1>{t('program.title')}</h1>
      <p className="meta">{t('program.version', { version: program.version, date: dateTime(program.updatedAt) })}</p>
      <div className="grid">
        <Card title={t('program.edit')}>
          <form className="form" onSubmit={(event) => void submit(event)} noValidate>
            {input('pointsPerCurrencyUnit', 'program.pointsPerCurrencyUnit', 'decimal')}
            {input('pointValue', 'program.pointValue', 'decimal')}
            {input('returnWindowDays', 'program.returnWindowDays', 'numeric')}
            {input('pointExpiryMonths', 'program.pointExpiryMonths', 'numeric')}
            {input('voucherValidityDays', 'program.voucherValidityDays', 'numeric')}
            {input('passiveAfterMonths', 'program.passiveAfterMonths', 'numeric')}
            {input('tierProtectionDays', 'program.tierProtectionDays', 'numeric')}
            <FormError error={error} fields={FIELDS.filter((field) => field !== 'expectedVersion')} />
            {saved && (
              <p className="notice" role="status" data-testid="notice">
                {t('program.saved')}
              </p>
            )}
            <button type="submit" className="button-primary" disabled={saving.fetching}>
              {t('program.save')}
            </button>
          </form>
        </Card>
        <Card title={t('program.goodwill')}>
          <dl className="pairs">
            <dt>{t('goodwill.perGesture')}</dt>
            <dd>
              {money(program.goodwill.perGestureLimit)} / {points(program.goodwill.perGesturePointsLimit)}
            </dd>
            <dt>{t('goodwill.monthlyBudget')}</dt>
            <dd>{money(program.goodwill.monthlyBudget)}</dd>
          </dl>
          <h3>{t('program.tiers')}</h3>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('member.tier')}</th>
                  <th scope="col" className="num">
                    {t('program.threshold')}
                  </th>
                  <th scope="col" className="num">
                    {t('program.multiplier')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {program.tiers.map((tier) => (
                  <tr key={tier.key}>
                    <td>{tierName(tier)}</td>
                    <td className="num">{number(tier.threshold)}</td>
                    <td className="num">{number(tier.multiplier)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </Card>
      </div>
    </section>
  );
}
