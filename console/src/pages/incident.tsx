import { Fragment, useEffect, useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import type { IncidentRowFragment } from '../gql/graphql';
import { useI18n } from '../i18n';
import { UserText } from '../user-text';
import { ApiError, Card, Table } from './parts';

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

const IncidentsQuery = graphql(`
  query Incidents($first: Int!, $after: String, $filter: ServiceIncidentFilter) {
    serviceIncidents(first: $first, after: $after, filter: $filter) {
      edges {
        node {
          ...IncidentRow
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
  fragment IncidentRow on ServiceIncident {
    id
    type
    severity
    createdAt
    affected
    pending
    recorded
    compensated
  }
`);

/** Incidents shown per page of the list. */
const PAGE_SIZE = 20;

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

/**
 * Without an id: the service incidents, newest first, a page at a time, each linking to its detail.
 * With one (`/incidents?id=…`, as its report answered it): what it is and how far the worker has got.
 */
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
      <h1>{t(id === '' ? 'incidents.title' : 'incident.title')}</h1>
      <form role="search" onSubmit={submit} className="search-form">
        <label className="field grow">
          <span>{t('incident.id')}</span>
          <input dir="auto" value={text} onChange={(event) => setText(event.target.value)} />
        </label>
        <button type="submit" className="button-primary">
          {t('incident.show')}
        </button>
      </form>
      {id === '' && <IncidentList />}
      {result.fetching && !result.data && <Loading />}
      <ApiError error={result.error} />
      {id !== '' && result.data && !incident && <p role="status">{t('incident.notFound')}</p>}
      {incident && (
        <Card title={t('incident.summary', { type: t(`failureType.${incident.type}`), severity: t(`severity.${incident.severity}`) })}>
          <p className="meta">
            {dateTime(incident.occurredAt)}
            {incident.description && (
              <>
                {' · '}
                <UserText>{incident.description}</UserText>
              </>
            )}
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

/** The list of all incidents, newest first: older and newer pages by cursor. */
function IncidentList() {
  const { t } = useI18n();
  // The cursors of the pages before the one shown (null: the first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1] ?? null;
  const [result] = useQuery({ query: IncidentsQuery, variables: { first: PAGE_SIZE, after }, requestPolicy: 'cache-and-network' });
  const page = result.data?.serviceIncidents;
  return (
    <Card title={t('incidents.all')}>
      {result.fetching && !page && <Loading />}
      <ApiError error={result.error} />
      {page && (
        <>
          <IncidentTable testId="incidents" incidents={page.edges.map((edge) => edge.node)} empty={t('incidents.none')} />
          {(cursors.length > 1 || page.pageInfo.hasNextPage) && (
            <nav className="pager" aria-label={t('incidents.pages')}>
              <button type="button" className="button" disabled={cursors.length === 1} onClick={() => setCursors(cursors.slice(0, -1))}>
                {t('incidents.newer')}
              </button>
              <button
                type="button"
                className="button"
                disabled={!page.pageInfo.hasNextPage}
                onClick={() => setCursors([...cursors, page.pageInfo.endCursor ?? null])}
              >
                {t('incidents.older')}
              </button>
            </nav>
          )}
        </>
      )}
    </Card>
  );
}

/** Incidents as table rows: what, when, how many members, how far compensated; each links to its detail. */
export function IncidentTable({ incidents, testId, empty }: { incidents: IncidentRowFragment[]; testId: string; empty: string }) {
  const { t, number, dateTime } = useI18n();
  return (
    <Table
      testId={testId}
      empty={empty}
      heads={[
        t('failure.type'),
        t('failure.severity'),
        t('incidents.reportedAt'),
        { label: t('incident.affected'), num: true },
        { label: t('incident.compensated'), num: true },
        { label: t('incident.pending'), num: true },
        t('incidents.progress'),
      ]}
    >
      {incidents.map((incident) => {
        // Failures there will be: those recorded and the members still to expand (some may turn out duplicates).
        const total = incident.recorded + incident.pending;
        const type = t(`failureType.${incident.type}`);
        const done = t('incidents.compensatedOf', { done: number(incident.compensated), total: number(total) });
        return (
          <tr key={incident.id}>
            <td>
              <Link to={`/incidents?id=${encodeURIComponent(incident.id)}`}>{type}</Link>
            </td>
            <td>{t(`severity.${incident.severity}`)}</td>
            <td>{dateTime(incident.createdAt)}</td>
            <td className="num">{number(incident.affected)}</td>
            <td className="num">{number(incident.compensated)}</td>
            <td className="num">{number(incident.pending)}</td>
            <td className="progress-cell">
              <progress max={Math.max(1, total)} value={incident.compensated} aria-label={`${type}: ${done}`} />
              <span className="meta">{done}</span>
            </td>
          </tr>
        );
      })}
    </Table>
  );
}
