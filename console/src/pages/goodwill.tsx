import { useCallback, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import type { GoodwillKind, GoodwillReason, IssueGoodwillInput } from '../gql/graphql';
import { useDraft } from '../drafts';
import { retypeNumber, useI18n, useLanguageChange, type Locale } from '../i18n';
import { UserText } from '../user-text';
import { ApiError, Card, EnumSelect, errorOf, FieldError, FormError, newIdempotencyKey, type TypedError } from './parts';

const GoodwillContext = graphql(`
  query GoodwillContext($id: ID!) {
    member(id: $id) {
      id
      name
    }
    agentAuthority {
      perGestureLimit {
        amount
        currency
      }
      perGesturePointsLimit
      monthlyBudget {
        amount
        currency
      }
      spentThisMonth {
        amount
        currency
      }
      remainingThisMonth {
        amount
        currency
      }
    }
    program {
      currency
      pointValue {
        amount
        currency
      }
    }
  }
`);

const IssueGoodwill = graphql(`
  mutation IssueGoodwill($input: IssueGoodwillInput!) {
    issueGoodwill(input: $input) {
      __typename
      ... on IssueGoodwillPayload {
        status
        gesture {
          id
          status
        }
      }
      ...MutationError
    }
  }
`);

const REASONS: GoodwillReason[] = ['DELAYED_DELIVERY', 'DEFECTIVE_PRODUCT', 'BILLING_ERROR', 'POOR_EXPERIENCE', 'LONG_WAIT', 'OTHER'];
// A voucher's value goes out as `amountMoney` (IssueGoodwillInput's deprecated `amount` never): the API names its
// amount's errors `amountMoney.amount`, shown at the field; one of its currency (`amountMoney.currency`, the program's
// changed since the page was read) above the button.
const FIELDS = ['points', 'amountMoney.amount', 'reason', 'note', 'caseRef'];
/** The longest amount the API's Decimal scalar reads; a longer one would be refused before any field is named. */
const DECIMAL_MAX_LENGTH = 32;
/** A decimal string (the API's, or one `decimal` read) in cents. */
const cents = (amount: string) => Math.round(Number(amount) * 100);

/**
 * Issue a goodwill gesture: the agent's authority and what is left of the month's budget first, then
 * what will happen with the value entered — granted at once, or sent to a supervisor for approval (the
 * same rule the API applies; the API decides).
 */
export function GoodwillPage() {
  const { t, tx, money, points: formatPoints, wholeNumber, decimal } = useI18n();
  const id = useParams().id ?? '';
  const navigate = useNavigate();
  const [context] = useQuery({ query: GoodwillContext, variables: { id }, requestPolicy: 'network-only' });
  const [sending, issue] = useMutation(IssueGoodwill);
  // Drafts: a 401 does not lose what the agent typed, nor the key of the gesture they meant (drafts.ts).
  const [kind, setKind] = useDraft<GoodwillKind>('kind', 'POINTS');
  const [pointsText, setPointsText] = useDraft('points', '');
  const [amount, setAmount] = useDraft('amount', '');
  const [reason, setReason] = useDraft<GoodwillReason>('reason', 'DELAYED_DELIVERY');
  const [note, setNote] = useDraft('note', '');
  const [caseRef, setCaseRef] = useDraft('caseRef', '');
  const [error, setError] = useState<TypedError | undefined>();
  const [idempotencyKey] = useDraft('idempotencyKey', () => newIdempotencyKey('goodwill'));
  // The language switched with the form half filled: its numbers are rewritten in the new one ("12,50" → "12.50"),
  // never read by the other's rule (German "12,500" is 12.50, not 12 500).
  useLanguageChange(
    useCallback(
      (from: Locale, to: Locale) => {
        setPointsText((text) => retypeNumber(text, from, to));
        setAmount((text) => retypeNumber(text, from, to));
      },
      [setPointsText, setAmount],
    ),
  );

  if (context.fetching && !context.data) return <Loading />;
  if (!context.data) return <ApiError error={context.error} />;
  const { member, agentAuthority: authority, program } = context.data;
  if (!member) return <p>{t('member.notFound')}</p>;

  // Not parseInt: it reads German "1.000" as 1 and "1,5" as 1, and the member would get 1 point.
  const points = wholeNumber(pointsText);
  // Not Number(): it reads "1e3" as 1 000 and German "12,50" as no number, which the API was sent (decimalText).
  const exactAmount = decimal(amount);
  const valueCents =
    kind === 'POINTS'
      ? Number.isFinite(points)
        ? points * cents(program.pointValue.amount)
        : NaN
      : exactAmount !== undefined
        ? cents(exactAmount)
        : NaN;
  const known = Number.isFinite(valueCents) && valueCents > 0;
  const within =
    known &&
    valueCents <= cents(authority.perGestureLimit.amount) &&
    (kind !== 'POINTS' || points <= authority.perGesturePointsLimit) &&
    valueCents <= cents(authority.remainingThisMonth.amount);
  const value = { amount: (valueCents / 100).toFixed(2), currency: program.currency };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    let gesture: Pick<IssueGoodwillInput, 'points' | 'amountMoney'>;
    if (kind === 'POINTS') {
      if (!Number.isSafeInteger(points)) {
        setError({ __typename: 'ValidationError', field: 'points', message: t('goodwill.pointsInvalid') });
        return;
      }
      gesture = { points };
    } else {
      if (exactAmount === undefined || exactAmount.length > DECIMAL_MAX_LENGTH) {
        setError({ __typename: 'ValidationError', field: 'amountMoney.amount', message: t('goodwill.amountInvalid') });
        return;
      }
      // Money as the API gives it (`Money`): the amount with the program's currency, as this page read it.
      gesture = { amountMoney: { amount: exactAmount, currency: program.currency } };
    }
    const result = await issue({
      input: {
        memberId: member.id,
        kind,
        reason,
        note,
        idempotencyKey,
        ...(caseRef.trim() ? { caseRef: caseRef.trim() } : {}),
        ...gesture,
      },
    });
    const answer = result.data?.issueGoodwill;
    const failed = errorOf(answer, 'IssueGoodwillPayload');
    if (failed || !answer || answer.__typename !== 'IssueGoodwillPayload') {
      setError(failed ?? { __typename: 'Error', message: result.error?.message ?? t('error.unknown') });
      return;
    }
    navigate(`/members/${encodeURIComponent(member.id)}`, {
      state: { notice: answer.status === 'GRANTED' ? 'goodwill.granted' : 'goodwill.pending' },
    });
  };

  return (
    <section className="page">
      <p>
        <Link to={`/members/${encodeURIComponent(member.id)}`}>
          ← <UserText>{member.name}</UserText>
        </Link>
      </p>
      <h1>{tx('goodwill.title', { name: <UserText>{member.name}</UserText> })}</h1>
      <div className="grid">
        <Card title={t('goodwill.authority')}>
          <dl className="pairs" data-testid="authority">
            <dt>{t('goodwill.perGesture')}</dt>
            <dd>
              {money(authority.perGestureLimit)} / {formatPoints(authority.perGesturePointsLimit)}
            </dd>
            <dt>{t('goodwill.monthlyBudget')}</dt>
            <dd>{money(authority.monthlyBudget)}</dd>
            <dt>{t('goodwill.spent')}</dt>
            <dd>{money(authority.spentThisMonth)}</dd>
            <dt>{t('goodwill.remaining')}</dt>
            <dd>
              <strong>{money(authority.remainingThisMonth)}</strong>
            </dd>
            <dt>{t('goodwill.pointValue')}</dt>
            <dd>{money(program.pointValue)}</dd>
          </dl>
        </Card>
        <Card title={t('goodwill.gesture')}>
          <form className="form" onSubmit={(event) => void submit(event)} noValidate>
            <fieldset className="choice">
              <legend>{t('goodwill.kind')}</legend>
              {(['POINTS', 'VOUCHER'] as const).map((option) => (
                <label key={option}>
                  <input type="radio" name="kind" value={option} checked={kind === option} onChange={() => setKind(option)} />{' '}
                  {t(`goodwillKind.${option}`)}
                </label>
              ))}
            </fieldset>
            {kind === 'POINTS' ? (
              <label className="field">
                <span>{t('goodwill.points')}</span>
                <input
                  dir="auto"
                  inputMode="numeric"
                  value={pointsText}
                  onChange={(event) => setPointsText(event.target.value)}
                  aria-describedby="points-error"
                  required
                />
                <FieldError error={error} field="points" id="points-error" />
              </label>
            ) : (
              <label className="field">
                <span>{t('goodwill.amount', { currency: program.currency })}</span>
                <input
                  dir="auto"
                  inputMode="decimal"
                  value={amount}
                  onChange={(event) => setAmount(event.target.value)}
                  aria-describedby="amount-error"
                  required
                />
                <FieldError error={error} field="amountMoney.amount" id="amount-error" />
              </label>
            )}
            <EnumSelect label={t('goodwill.reason')} prefix="goodwillReason" options={REASONS} value={reason} onChange={setReason} />
            <label className="field">
              <span>{t('goodwill.note')}</span>
              <textarea
                dir="auto"
                value={note}
                onChange={(event) => setNote(event.target.value)}
                aria-describedby="note-error"
                required
                rows={3}
              />
              <FieldError error={error} field="note" id="note-error" />
            </label>
            <label className="field">
              <span>{t('goodwill.caseRef')}</span>
              <input dir="auto" value={caseRef} onChange={(event) => setCaseRef(event.target.value)} aria-describedby="caseRef-error" />
              <FieldError error={error} field="caseRef" id="caseRef-error" />
            </label>
            <p className={`outcome ${within ? 'outcome-now' : 'outcome-approval'}`} role="status" data-testid="outcome">
              {!known
                ? t('goodwill.outcomeUnknown')
                : within
                  ? t('goodwill.outcomeNow', { value: money(value) })
                  : t('goodwill.outcomeApproval', { value: money(value) })}
            </p>
            <FormError error={error} fields={FIELDS} />
            <button type="submit" className="button-primary" disabled={sending.fetching}>
              {within || !known ? t('goodwill.grant') : t('goodwill.sendForApproval')}
            </button>
          </form>
        </Card>
      </div>
    </section>
  );
}
