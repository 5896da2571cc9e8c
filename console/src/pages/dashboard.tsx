import { useMemo } from 'react';
import { Bar, BarChart, CartesianGrid, Line, LineChart, ReferenceArea, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n, type MessageKey } from '../i18n';
import { IncidentTable } from './incident';
import { ApiError, Card } from './parts';

const Metrics = graphql(`
  query Dashboard($from: DateTime!, $to: DateTime!) {
    loyaltyMetrics(from: $from, to: $to, groupBy: MONTH) {
      __typename
      ... on LoyaltyMetrics {
        currency
        totals {
          ...Figures
        }
        buckets {
          from
          ...Figures
        }
      }
      ... on Error {
        message
      }
    }
  }
  fragment Figures on LoyaltyFigures {
    nps {
      value
      denominator
    }
    csat {
      value
      denominator
    }
    firstContactResolution {
      percent
      numerator
      denominator
    }
    renewalRate {
      percent
      numerator
      denominator
    }
    recovery {
      percent
      numerator
      denominator
    }
    churnAfterFailure {
      oneFailure {
        all {
          percent
        }
      }
      repeatedFailures {
        all {
          percent
        }
      }
    }
    compensation {
      value {
        amount
        currency
      }
    }
    goodwill {
      value {
        amount
        currency
      }
    }
  }
`);

const OpenIncidents = graphql(`
  query OpenIncidents {
    serviceIncidents(filter: { open: true }, first: 10) {
      edges {
        node {
          ...IncidentRow
        }
      }
    }
  }
`);

/** CSAT bands (docs/metrics.md): below 70 poor, 70–90 good, above 90 excellent. */
const CSAT_BANDS = [
  { from: 0, to: 70, fill: '#fdecea' },
  { from: 70, to: 90, fill: '#fff4d6' },
  { from: 90, to: 100, fill: '#e6f4ea' },
];

const PERCENT_TICKS = [0, 25, 50, 75, 100];
const NPS_TICKS = [-100, -50, 0, 50, 100];

interface Series {
  key: MessageKey;
  values: (number | null)[];
  domain: [number, number];
  ticks: number[];
  bands?: typeof CSAT_BANDS;
}

/** The head of service's view: a year by month from loyaltyMetrics, as charts with their bands. Loaded lazily with its chart library. */
export default function DashboardPage() {
  const { t, locale, money, percent } = useI18n();
  const period = useMemo(() => {
    const now = new Date();
    const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
    const from = new Date(Date.UTC(to.getUTCFullYear() - 1, to.getUTCMonth(), 1));
    return { from: from.toISOString(), to: to.toISOString() };
  }, []);
  const [result] = useQuery({ query: Metrics, variables: period });
  const monthFormat = useMemo(
    () => new Intl.DateTimeFormat(locale === 'de' ? 'de-DE' : 'en-GB', { month: 'short', timeZone: 'UTC' }),
    [locale],
  );

  if (result.fetching && !result.data) return <Loading />;
  const metrics = result.data?.loyaltyMetrics;
  if (!metrics) return <ApiError error={result.error} />;
  if (metrics.__typename !== 'LoyaltyMetrics') return <p role="alert">{metrics.message}</p>;

  const months = metrics.buckets.map((bucket) => monthFormat.format(new Date(bucket.from)));
  const series: Series[] = [
    { key: 'dashboard.nps', values: metrics.buckets.map((b) => b.nps.value ?? null), domain: [-100, 100], ticks: NPS_TICKS },
    {
      key: 'dashboard.csat',
      values: metrics.buckets.map((b) => b.csat.value ?? null),
      domain: [0, 100],
      ticks: PERCENT_TICKS,
      bands: CSAT_BANDS,
    },
    {
      key: 'dashboard.fcr',
      values: metrics.buckets.map((b) => b.firstContactResolution.percent ?? null),
      domain: [0, 100],
      ticks: PERCENT_TICKS,
    },
    { key: 'dashboard.renewal', values: metrics.buckets.map((b) => b.renewalRate.percent ?? null), domain: [0, 100], ticks: PERCENT_TICKS },
    { key: 'dashboard.recovery', values: metrics.buckets.map((b) => b.recovery.percent ?? null), domain: [0, 100], ticks: PERCENT_TICKS },
    {
      key: 'dashboard.churnOne',
      values: metrics.buckets.map((b) => b.churnAfterFailure.oneFailure.all.percent ?? null),
      domain: [0, 100],
      ticks: PERCENT_TICKS,
    },
  ];
  const totals = metrics.totals;
  const spend = metrics.buckets.map((bucket, index) => ({
    month: months[index],
    compensation: Number(bucket.compensation.value.amount),
    goodwill: Number(bucket.goodwill.value.amount),
  }));

  return (
    <section className="page">
      <h1>{t('dashboard.title')}</h1>
      <dl className="totals" data-testid="totals">
        <div>
          <dt>{t('dashboard.nps')}</dt>
          <dd>{totals.nps.value === null || totals.nps.value === undefined ? '–' : Math.round(totals.nps.value)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.csat')}</dt>
          <dd>{percent(totals.csat.value)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.fcr')}</dt>
          <dd>{percent(totals.firstContactResolution.percent)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.renewal')}</dt>
          <dd>{percent(totals.renewalRate.percent)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.recovery')}</dt>
          <dd>{percent(totals.recovery.percent)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.compensation')}</dt>
          <dd>{money(totals.compensation.value)}</dd>
        </div>
        <div>
          <dt>{t('dashboard.goodwill')}</dt>
          <dd>{money(totals.goodwill.value)}</dd>
        </div>
      </dl>
      <IncidentsInProgress />
      <div className="grid">
        {series.map((chart) => (
          <Card key={chart.key} title={t(chart.key)}>
            <div className="chart" role="img" aria-label={t('dashboard.chartLabel', { name: t(chart.key) })}>
              <ResponsiveContainer width="100%" height={200}>
                <LineChart data={chart.values.map((value, index) => ({ month: months[index], value }))}>
                  {chart.bands?.map((band) => (
                    <ReferenceArea key={band.from} y1={band.from} y2={band.to} fill={band.fill} fillOpacity={1} ifOverflow="hidden" />
                  ))}
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="month" />
                  <YAxis type="number" domain={chart.domain} ticks={chart.ticks} allowDataOverflow width={40} />
                  <Tooltip />
                  <Line type="monotone" dataKey="value" name={t(chart.key)} className="chart-line" connectNulls isAnimationActive={false} />
                </LineChart>
              </ResponsiveContainer>
            </div>
          </Card>
        ))}
        <Card title={t('dashboard.spend')}>
          <div className="chart" role="img" aria-label={t('dashboard.chartLabel', { name: t('dashboard.spend') })}>
            <ResponsiveContainer width="100%" height={200}>
              <BarChart data={spend}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="month" />
                <YAxis width={48} />
                <Tooltip />
                <Bar dataKey="compensation" name={t('dashboard.compensation')} className="bar-compensation" isAnimationActive={false} />
                <Bar dataKey="goodwill" name={t('dashboard.goodwill')} className="bar-goodwill" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
        </Card>
      </div>
    </section>
  );
}

/** Incidents with work left (members to expand, failures still to compensate or to decide), newest first. */
function IncidentsInProgress() {
  const { t } = useI18n();
  const [result] = useQuery({ query: OpenIncidents, requestPolicy: 'cache-and-network' });
  return (
    <Card title={t('dashboard.incidents')}>
      {result.fetching && !result.data && <Loading />}
      <ApiError error={result.error} />
      {result.data && (
        <IncidentTable
          testId="incidents-in-progress"
          incidents={result.data.serviceIncidents.edges.map((edge) => edge.node)}
          empty={t('dashboard.noIncidents')}
        />
      )}
    </Card>
  );
}
