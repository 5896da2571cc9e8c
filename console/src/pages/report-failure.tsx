import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation } from 'urql';
import { graphql } from '../gql';
import type { ServiceFailureType, Severity } from '../gql/graphql';
import { useDraft } from '../drafts';
import { useI18n } from '../i18n';
import { Card, EnumSelect, errorOf, FieldError, FormError, newIdempotencyKey, type TypedError } from './parts';

const ReportFailure = graphql(`
  mutation ReportServiceFailure($input: ReportServiceFailureInput!) {
    reportServiceFailure(input: $input) {
      __typename
      ... on ReportServiceFailurePayload {
        failure {
          id
          status
        }
      }
      ...MutationError
    }
  }
`);

const TYPES: ServiceFailureType[] = [
  'LATE_DELIVERY',
  'DEFECTIVE_PRODUCT',
  'WRONG_ITEM',
  'UNRESOLVED_CONTACT',
  'LONG_WAIT',
  'BILLING_ERROR',
  'OUTAGE',
  'OTHER',
];
const SEVERITIES: Severity[] = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
const FIELDS = ['type', 'severity', 'orderRef', 'caseRef', 'description'];

/** Report a service failure; the worker compensates it and the member page shows the voucher when it is issued. */
export function ReportFailurePage() {
  const { t } = useI18n();
  const memberId = useParams().id ?? '';
  const navigate = useNavigate();
  const [sending, report] = useMutation(ReportFailure);
  // Drafts: a 401 does not lose what the agent typed (drafts.ts).
  const [type, setType] = useDraft<ServiceFailureType>('type', 'LATE_DELIVERY');
  const [severity, setSeverity] = useDraft<Severity>('severity', 'MEDIUM');
  const [orderRef, setOrderRef] = useDraft('orderRef', '');
  const [caseRef, setCaseRef] = useDraft('caseRef', '');
  const [description, setDescription] = useDraft('description', '');
  const [error, setError] = useState<TypedError | undefined>();
  const [idempotencyKey] = useDraft('idempotencyKey', () => newIdempotencyKey('failure'));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    const optional = (value: string) => (value.trim() ? value.trim() : null);
    const result = await report({
      input: {
        memberId,
        type,
        severity,
        idempotencyKey,
        orderRef: optional(orderRef),
        caseRef: optional(caseRef),
        description: optional(description),
      },
    });
    const answer = result.data?.reportServiceFailure;
    const failed = errorOf(answer, 'ReportServiceFailurePayload');
    if (failed || !answer) {
      setError(failed ?? { __typename: 'Error', message: result.error?.message ?? t('error.unknown') });
      return;
    }
    navigate(`/members/${encodeURIComponent(memberId)}`, { state: { notice: 'failure.reported' } });
  };

  return (
    <section className="page">
      <p>
        <Link to={`/members/${encodeURIComponent(memberId)}`}>← {t('failure.backToMember')}</Link>
      </p>
      <h1>{t('failure.title')}</h1>
      <Card title={t('failure.details')}>
        <form className="form" onSubmit={(event) => void submit(event)} noValidate>
          <EnumSelect label={t('failure.type')} prefix="failureType" options={TYPES} value={type} onChange={setType} />
          <EnumSelect label={t('failure.severity')} prefix="severity" options={SEVERITIES} value={severity} onChange={setSeverity} />
          <label className="field">
            <span>{t('failure.orderRef')}</span>
            <input dir="auto" value={orderRef} onChange={(event) => setOrderRef(event.target.value)} aria-describedby="orderRef-error" />
            <FieldError error={error} field="orderRef" id="orderRef-error" />
          </label>
          <label className="field">
            <span>{t('failure.caseRef')}</span>
            <input dir="auto" value={caseRef} onChange={(event) => setCaseRef(event.target.value)} aria-describedby="caseRef-error" />
            <FieldError error={error} field="caseRef" id="caseRef-error" />
          </label>
          <label className="field">
            <span>{t('failure.description')}</span>
            <textarea
              dir="auto"
              value={description}
              onChange={(event) => setDescription(event.target.value)}
              rows={3}
              aria-describedby="description-error"
            />
            <FieldError error={error} field="description" id="description-error" />
          </label>
          <FormError error={error} fields={FIELDS} />
          <button type="submit" className="button-primary" disabled={sending.fetching}>
            {t('failure.submit')}
          </button>
        </form>
      </Card>
    </section>
  );
}
