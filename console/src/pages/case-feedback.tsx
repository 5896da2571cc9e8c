import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation } from 'urql';
import { graphql } from '../gql';
import type { ServiceChannel } from '../gql/graphql';
import { useDraft } from '../drafts';
import { useI18n, type MessageKey } from '../i18n';
import { Card, EnumSelect, errorOf, FieldError, FormError, newIdempotencyKey, type TypedError } from './parts';

const RecordCase = graphql(`
  mutation RecordServiceCase($input: RecordServiceCaseInput!) {
    recordServiceCase(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const SubmitFeedback = graphql(`
  mutation SubmitFeedback($input: SubmitFeedbackInput!) {
    submitFeedback(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

export const CHANNELS: ServiceChannel[] = ['PHONE', 'EMAIL', 'CHAT', 'SOCIAL', 'SELF_SERVICE', 'STORE'];
const CASE_FIELDS = ['channel', 'category', 'contacts', 'externalRef'];
const FEEDBACK_FIELDS = ['channel', 'nps', 'csat', 'comment'];

/**
 * An optional whole number from a text field, read as `wholeNumber` reads it in the page's language: null when empty,
 * undefined when it is not a whole number from `min` to `max` ("9,5", "11"), which the form refuses at the field.
 * Not Number(): "9,5" is NaN, which JSON sends as null, and the member's answer would be recorded as none.
 */
function optionalWhole(text: string, min: number, max: number, wholeNumber: (text: string) => number): number | null | undefined {
  if (text.trim() === '') return null;
  const value = wholeNumber(text);
  return Number.isSafeInteger(value) && value >= min && value <= max ? value : undefined;
}

/** Record a service case for the member, and record the member's feedback (NPS, CSAT, comment). */
export function CaseFeedbackPage() {
  const { t, wholeNumber } = useI18n();
  const memberId = useParams().id ?? '';
  const navigate = useNavigate();
  const [casing, recordCase] = useMutation(RecordCase);
  const [sending, submitFeedback] = useMutation(SubmitFeedback);
  // Drafts: a 401 does not lose what the agent typed (drafts.ts).
  const [channel, setChannel] = useDraft<ServiceChannel>('case.channel', 'PHONE');
  const [category, setCategory] = useDraft('case.category', '');
  const [contacts, setContacts] = useDraft('case.contacts', '1');
  const [externalRef, setExternalRef] = useDraft('case.externalRef', '');
  const [caseError, setCaseError] = useState<TypedError | undefined>();
  const [feedbackChannel, setFeedbackChannel] = useDraft<ServiceChannel>('feedback.channel', 'PHONE');
  const [nps, setNps] = useDraft('feedback.nps', '');
  const [csat, setCsat] = useDraft('feedback.csat', '');
  const [comment, setComment] = useDraft('feedback.comment', '');
  const [feedbackError, setFeedbackError] = useState<TypedError | undefined>();
  // One key per form, kept across retries: a case or an answer sent twice (double click, network) is recorded once.
  const [caseKey] = useDraft('case.idempotencyKey', () => newIdempotencyKey('case'));
  const [feedbackKey] = useDraft('feedback.idempotencyKey', () => newIdempotencyKey('feedback'));
  const refused = (field: string, message: MessageKey): TypedError => ({ __typename: 'ValidationError', field, message: t(message) });
  const back = `/members/${encodeURIComponent(memberId)}`;

  const submitCase = async (event: FormEvent) => {
    event.preventDefault();
    setCaseError(undefined);
    const contactCount = optionalWhole(contacts, 1, Number.MAX_SAFE_INTEGER, wholeNumber);
    if (contactCount === undefined) return setCaseError(refused('contacts', 'case.contactsInvalid'));
    const result = await recordCase({
      input: {
        memberId,
        channel,
        category,
        contacts: contactCount,
        externalRef: externalRef.trim() || null,
        idempotencyKey: caseKey,
      },
    });
    const answer = result.data?.recordServiceCase;
    const failed =
      errorOf(answer, 'RecordServiceCasePayload') ?? (answer ? undefined : { __typename: 'Error', message: t('error.unknown') });
    if (failed) return setCaseError(failed);
    navigate(back, { state: { notice: 'case.recorded' } });
  };

  const sendFeedback = async (event: FormEvent) => {
    event.preventDefault();
    setFeedbackError(undefined);
    const npsScore = optionalWhole(nps, 0, 10, wholeNumber);
    if (npsScore === undefined) return setFeedbackError(refused('nps', 'feedback.npsInvalid'));
    const csatScore = optionalWhole(csat, 1, 5, wholeNumber);
    if (csatScore === undefined) return setFeedbackError(refused('csat', 'feedback.csatInvalid'));
    const result = await submitFeedback({
      input: {
        memberId,
        channel: feedbackChannel,
        nps: npsScore,
        csat: csatScore,
        comment: comment.trim() || null,
        idempotencyKey: feedbackKey,
      },
    });
    const answer = result.data?.submitFeedback;
    const failed = errorOf(answer, 'SubmitFeedbackPayload') ?? (answer ? undefined : { __typename: 'Error', message: t('error.unknown') });
    if (failed) return setFeedbackError(failed);
    navigate(back, { state: { notice: 'feedback.recorded' } });
  };

  const channelSelect = (value: ServiceChannel, onChange: (channel: ServiceChannel) => void) => (
    <EnumSelect label={t('case.channel')} prefix="channel" options={CHANNELS} value={value} onChange={onChange} />
  );

  return (
    <section className="page">
      <p>
        <Link to={back}>← {t('failure.backToMember')}</Link>
      </p>
      <h1>{t('case.title')}</h1>
      <div className="grid">
        <Card title={t('case.record')}>
          <form className="form" onSubmit={(event) => void submitCase(event)} noValidate>
            {channelSelect(channel, setChannel)}
            <label className="field">
              <span>{t('case.category')}</span>
              <input
                dir="auto"
                value={category}
                onChange={(event) => setCategory(event.target.value)}
                aria-describedby="category-error"
                required
              />
              <FieldError error={caseError} field="category" id="category-error" />
            </label>
            <label className="field">
              <span>{t('case.contacts')}</span>
              <input
                dir="auto"
                inputMode="numeric"
                value={contacts}
                onChange={(event) => setContacts(event.target.value)}
                aria-describedby="contacts-error"
              />
              <FieldError error={caseError} field="contacts" id="contacts-error" />
            </label>
            <label className="field">
              <span>{t('case.externalRef')}</span>
              <input
                dir="auto"
                value={externalRef}
                onChange={(event) => setExternalRef(event.target.value)}
                aria-describedby="externalRef-error"
              />
              <FieldError error={caseError} field="externalRef" id="externalRef-error" />
            </label>
            <FormError error={caseError} fields={CASE_FIELDS} />
            <button type="submit" className="button-primary" disabled={casing.fetching}>
              {t('case.submit')}
            </button>
          </form>
        </Card>
        <Card title={t('feedback.record')}>
          <form className="form" onSubmit={(event) => void sendFeedback(event)} noValidate>
            {channelSelect(feedbackChannel, setFeedbackChannel)}
            <label className="field">
              <span>{t('feedback.npsLabel')}</span>
              <input
                dir="auto"
                inputMode="numeric"
                value={nps}
                onChange={(event) => setNps(event.target.value)}
                aria-describedby="nps-error"
              />
              <FieldError error={feedbackError} field="nps" id="nps-error" />
            </label>
            <label className="field">
              <span>{t('feedback.csatLabel')}</span>
              <input
                dir="auto"
                inputMode="numeric"
                value={csat}
                onChange={(event) => setCsat(event.target.value)}
                aria-describedby="csat-error"
              />
              <FieldError error={feedbackError} field="csat" id="csat-error" />
            </label>
            <label className="field">
              <span>{t('feedback.comment')}</span>
              <textarea
                dir="auto"
                value={comment}
                onChange={(event) => setComment(event.target.value)}
                rows={3}
                aria-describedby="comment-error"
              />
              <FieldError error={feedbackError} field="comment" id="comment-error" />
            </label>
            <FormError error={feedbackError} fields={FEEDBACK_FIELDS} />
            <button type="submit" className="button-primary" disabled={sending.fetching}>
              {t('feedback.submit')}
            </button>
          </form>
        </Card>
      </div>
    </section>
  );
}
