import { Fragment, useEffect, useState, type FormEvent } from 'react';
import { useSearchParams } from 'react-router';
import { useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import { ApiError, Card } from './parts';

const IncidentQuery = graphql(`
  query Incident($id: ID!) {
    serviceIncident(id: $id) {
      id
      type
      severity
      occurredAt
      description
      affected
      pending
      recorded
      duplicates
      unresolved
      compensated
      needsReview
      held
      notEligible
      inProgress
      budget {
        amount
        currency
      }
      spent {
        amount
        currency
      }
    }
  }
`);

/** How often an incident still being expanded by the worker is asked for again. */
const PROGRESS_POLL_MS = 2_000;

const COUNTS = [
  'affected',
  'pending',
  'recorded',
  'compensated',
  'needsReview',
  'held',
  'notEligible',
  'duplicates',
  'unresolved',
] as const;

/** A service incident by its id (as its report answered it): what it is and how far the worker has got. */
export function IncidentPage() {
  const { t, number, money, dateTime } = useI18n();
  const [params, setParams] = useSearchParams();
  const id = params.get('id') ?? '';
  const [text, setText] = useState(id);
  const [result, refetch] = useQuery({ query: IncidentQuery, variables: { id }, pause: id === '', requestPolicy: 'network-only' });
  const incident = result.data?.serviceIncident;
  const running = (incident?.inProgress ?? 0) > 0;

  // While the worker expands the incident, its progress is asked for again.
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => refetch({ requestPolicy: 'network-only' }), PROGRESS_POLL_MS);
    return () => clearInterval(timer);
  }, [running, refetch]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(text.trim() ? { id: text.trim() } : {});
  };

  return (
    <section className="page">
      <h1>{t('incident.title')}</h1>
      <form role="search" onSubmit={submit} className="search-form">
        <label className="field grow">
          <span>{t('incident.id')}</span>
          <input value={text} onChange={(event) => setText(event.target.value)} />
        </label>
        <button type="submit" className="button-primary">
          {t('incident.show')}
        </button>
      </form>
      {result.fetching && !result.data && <Loading />}
      <ApiError error={result.error} />
      {id !== '' && result.data && !incident && <p role="status">{t('incident.notFound')}</p>}
      {incident && (
        <Card title={t('incident.summary', { type: t(`failureType.${incident.type}`), severity: t(`severity.${incident.severity}`) })}>
          <p className="meta">
            {dateTime(incident.occurredAt)}
            {incident.description ? ` · ${incident.description}` : ''}
          </p>
          <progress max={Math.max(1, incident.affected)} value={incident.affected - incident.pending} aria-label={t('incident.progress')} />
          <dl className="pairs" data-testid="incident-counts">
            {COUNTS.map((count) => (
              <Fragment key={count}>
                <dt>{t(`incident.${count}`)}</dt>
                <dd>{number(incident[count])}</dd>
              </Fragment>
            ))}
            <dt>{t('incident.budget')}</dt>
            <dd>{money(incident.budget)}</dd>
            <dt>{t('incident.spent')}</dt>
            <dd>{money(incident.spent)}</dd>
          </dl>
        </Card>
      )}
    </section>
  );
}
