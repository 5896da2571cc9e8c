import { useEffect, useState } from 'react';
import { Link, useLocation, useParams } from 'react-router';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n, type MessageKey } from '../i18n';
import { compensationPollDelay } from '../poll';
import { isolated, UserText } from '../user-text';
import { ApiError, Card, Empty, newIdempotencyKey } from './parts';

export const MemberPageQuery = graphql(`
  query MemberPage($id: ID!) {
    member(id: $id) {
      id
      name
      email
      externalId
      status
      tier {
        key
        name
      }
      tierSince
      atRisk
      enrolledAt
      lastActivityAt
      balance {
        available
        pending
        lifetime
      }
      tierProgress {
        current {
          key
          name
          threshold
        }
        next {
          key
          name
          threshold
        }
        qualifyingPoints
        pointsToNext
        reviewAt
      }
      expiringPoints {
        expiresAt
        points
      }
      vouchers(first: 20) {
        edges {
          node {
            id
            code
            kind
            status
            valueType
            value {
              amount
              currency
            }
            percent
            expiresAt
          }
        }
      }
      ledger(first: 20) {
        edges {
          node {
            id
            kind
            amount
            balanceAfter
            causeType
            createdAt
            note
          }
        }
      }
      serviceFailures(first: 20) {
        edges {
          node {
            id
            type
            severity
            status
            occurredAt
            compensation {
              amount
              currency
            }
            voucher {
              id
              code
            }
          }
        }
      }
      serviceCases(first: 20) {
        edges {
          node {
            id
            channel
            category
            openedAt
            resolvedAt
            contacts
          }
        }
      }
      feedback(first: 20) {
        edges {
          node {
            id
            nps
            csat
            comment
            createdAt
          }
        }
      }
      contracts(first: 10) {
        edges {
          node {
            id
            externalRef
            plan
            status
            endsAt
            renewals(first: 5) {
              edges {
                node {
                  id
                  newEndsAt
                  bonusStatus
                  bonusPoints
                }
              }
            }
          }
        }
      }
      goodwillGestures(first: 20) {
        edges {
          node {
            id
            kind
            points
            amount {
              amount
              currency
            }
            reason
            status
            createdAt
          }
        }
      }
    }
  }
`);

const ResolveCase = graphql(`
  mutation ResolveServiceCase($input: ResolveServiceCaseInput!) {
    resolveServiceCase(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

/** Everything about one member an agent needs on a call, in one request. */
export function MemberPage() {
  const { t, tx, date, dateTime, money, number, points, tierName } = useI18n();
  const id = useParams().id ?? '';
  const notice = (useLocation().state as { notice?: MessageKey } | null)?.notice;
  const [result, refetch] = useQuery({ query: MemberPageQuery, variables: { id }, requestPolicy: 'cache-and-network' });
  const member = result.data?.member;
  const [, resolveCase] = useMutation(ResolveCase);
  // One key per case's resolution, kept across retries of that click: a resolution the network lost resolves once.
  const [resolveKeys] = useState(() => new Map<string, string>());
  const resolveKeyFor = (caseId: string) => {
    if (!resolveKeys.has(caseId)) resolveKeys.set(caseId, newIdempotencyKey('resolve'));
    return resolveKeys.get(caseId)!;
  };
  const waiting = member?.serviceFailures.edges.some((edge) => edge.node.status === 'RECORDED') ?? false;

  // A reported failure is compensated by the worker a moment later: ask again until it is decided,
  // less and less often while it is not (compensationPollDelay).
  useEffect(() => {
    if (!waiting) return;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout>;
    const schedule = () => {
      timer = setTimeout(() => {
        refetch({ requestPolicy: 'network-only' });
        attempt += 1;
        schedule();
      }, compensationPollDelay(attempt));
    };
    schedule();
    return () => clearTimeout(timer);
  }, [waiting, refetch]);

  if (!result.data && result.fetching) return <Loading />;
  if (result.error) return <ApiError error={result.error} />;
  if (!member) {
    return (
      <section className="page">
        <h1>{t('member.notFound')}</h1>
      </section>
    );
  }
  const progress = member.tierProgress;
  const progressShare = progress.next
    ? Math.min(
        1,
        (progress.qualifyingPoints - progress.current.threshold) / Math.max(1, progress.next.threshold - progress.current.threshold),
      )
    : 1;

  return (
    <section className="page">
      <div className="page-head">
        <div>
          <h1 data-testid="member-name">
            <UserText>{member.name}</UserText>
          </h1>
          <p className="meta" data-testid="member-meta">
            <UserText>{member.email}</UserText> · {t('member.externalId')} <UserText>{member.externalId}</UserText> ·{' '}
            {t('member.enrolled', { date: date(member.enrolledAt) })}
          </p>
          <p className="badges">
            <span className={`badge status-${member.status.toLowerCase()}`}>{t(`memberStatus.${member.status}`)}</span>
            <span className="badge">
              <UserText>{tierName(member.tier)}</UserText>
            </span>
            {member.atRisk && <span className="badge badge-warn">{t('member.atRisk')}</span>}
          </p>
        </div>
        <div className="actions">
          <Link className="button-primary" to={`/members/${encodeURIComponent(member.id)}/goodwill`}>
            {t('member.issueGoodwill')}
          </Link>
          <Link className="button" to={`/members/${encodeURIComponent(member.id)}/failure`}>
            {t('member.reportFailure')}
          </Link>
          <Link className="button" to={`/members/${encodeURIComponent(member.id)}/case`}>
            {t('member.caseOrFeedback')}
          </Link>
        </div>
      </div>

      {notice && (
        <p className="notice" role="status" data-testid="notice">
          {t(notice)}
        </p>
      )}
      <div className="grid">
        <Card title={t('member.balance')}>
          <p className="figure" data-testid="balance-available">
            {points(member.balance.available)}
          </p>
          <dl className="pairs">
            <dt>{t('member.pending')}</dt>
            <dd>{points(member.balance.pending)}</dd>
            <dt>{t('member.lifetime')}</dt>
            <dd>{points(member.balance.lifetime)}</dd>
          </dl>
          <h3>{t('member.expiries')}</h3>
          {member.expiringPoints.length === 0 ? (
            <Empty>{t('member.noExpiries')}</Empty>
          ) : (
            <ul className="plain">
              {member.expiringPoints.map((expiry) => (
                <li key={expiry.expiresAt}>{t('member.expiry', { points: points(expiry.points), date: date(expiry.expiresAt) })}</li>
              ))}
            </ul>
          )}
        </Card>

        <Card title={t('member.tierProgress')}>
          <p className="figure">
            <UserText>{tierName(member.tier)}</UserText>
          </p>
          <progress
            max={1}
            value={progressShare}
            aria-label={t('member.tierProgress')}
            aria-valuetext={
              progress.next
                ? t('member.toNext', { points: number(progress.pointsToNext ?? 0), tier: isolated(tierName(progress.next)) })
                : t('member.topTier')
            }
          />
          <p>
            {progress.next
              ? tx('member.toNext', {
                  points: number(progress.pointsToNext ?? 0),
                  tier: <UserText>{tierName(progress.next)}</UserText>,
                })
              : t('member.topTier')}
          </p>
          <dl className="pairs">
            <dt>{t('member.qualifying')}</dt>
            <dd>{number(progress.qualifyingPoints)}</dd>
            <dt>{t('member.tierSince')}</dt>
            <dd>{date(member.tierSince)}</dd>
            <dt>{t('member.review')}</dt>
            <dd>{date(progress.reviewAt)}</dd>
          </dl>
        </Card>
      </div>

      <Card title={t('member.vouchers')}>
        {member.vouchers.edges.length === 0 ? (
          <Empty>{t('member.noVouchers')}</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="vouchers">
              <thead>
                <tr>
                  <th scope="col">{t('voucher.code')}</th>
                  <th scope="col">{t('voucher.kind')}</th>
                  <th scope="col">{t('voucher.value')}</th>
                  <th scope="col">{t('voucher.status')}</th>
                  <th scope="col">{t('voucher.expires')}</th>
                </tr>
              </thead>
              <tbody>
                {member.vouchers.edges.map(({ node: voucher }) => (
                  <tr key={voucher.id}>
                    <td className="code">
                      <UserText>{voucher.code}</UserText>
                    </td>
                    <td>{t(`voucherKind.${voucher.kind}`)}</td>
                    <td>{voucher.valueType === 'PERCENT' ? `${number(voucher.percent ?? 0)} %` : money(voucher.value)}</td>
                    <td>{t(`voucherStatus.${voucher.status}`)}</td>
                    <td>{date(voucher.expiresAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <Card title={t('member.gestures')}>
        {!member.goodwillGestures || member.goodwillGestures.edges.length === 0 ? (
          <Empty>{t('member.noGestures')}</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('common.when')}</th>
                  <th scope="col">{t('goodwill.what')}</th>
                  <th scope="col">{t('goodwill.reason')}</th>
                  <th scope="col">{t('common.status')}</th>
                </tr>
              </thead>
              <tbody>
                {member.goodwillGestures.edges.map(({ node: gesture }) => (
                  <tr key={gesture.id}>
                    <td>{dateTime(gesture.createdAt)}</td>
                    <td>{gesture.kind === 'POINTS' ? points(gesture.points ?? 0) : money(gesture.amount)}</td>
                    <td>{t(`goodwillReason.${gesture.reason}`)}</td>
                    <td>{t(`goodwillStatus.${gesture.status}`)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <Card title={t('member.failures')}>
        {member.serviceFailures.edges.length === 0 ? (
          <Empty>{t('member.noFailures')}</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="failures">
              <thead>
                <tr>
                  <th scope="col">{t('common.when')}</th>
                  <th scope="col">{t('failure.type')}</th>
                  <th scope="col">{t('failure.severity')}</th>
                  <th scope="col">{t('common.status')}</th>
                  <th scope="col">{t('failure.compensation')}</th>
                </tr>
              </thead>
              <tbody>
                {member.serviceFailures.edges.map(({ node: failure }) => (
                  <tr key={failure.id}>
                    <td>{date(failure.occurredAt)}</td>
                    <td>{t(`failureType.${failure.type}`)}</td>
                    <td>{t(`severity.${failure.severity}`)}</td>
                    <td>{t(`failureStatus.${failure.status}`)}</td>
                    <td>
                      {money(failure.compensation)}
                      {failure.voucher && (
                        <span className="code">
                          {' '}
                          <UserText>{failure.voucher.code}</UserText>
                        </span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <Card title={t('member.ledger')}>
        {member.ledger.edges.length === 0 ? (
          <Empty>{t('member.noLedger')}</Empty>
        ) : (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('common.when')}</th>
                  <th scope="col">{t('ledger.kind')}</th>
                  <th scope="col" className="num">
                    {t('ledger.amount')}
                  </th>
                  <th scope="col" className="num">
                    {t('ledger.balanceAfter')}
                  </th>
                </tr>
              </thead>
              <tbody>
                {member.ledger.edges.map(({ node: entry }) => (
                  <tr key={entry.id}>
                    <td>{dateTime(entry.createdAt)}</td>
                    <td>{t(`ledgerKind.${entry.kind}`)}</td>
                    <td className="num">{number(entry.amount)}</td>
                    <td className="num">{number(entry.balanceAfter)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>

      <div className="grid">
        <Card title={t('member.cases')}>
          {member.serviceCases.edges.length === 0 ? (
            <Empty>{t('member.noCases')}</Empty>
          ) : (
            <ul className="plain">
              {member.serviceCases.edges.map(({ node: serviceCase }) => (
                <li key={serviceCase.id}>
                  {tx('case.line', {
                    channel: t(`channel.${serviceCase.channel}`),
                    category: <UserText>{serviceCase.category}</UserText>,
                    opened: date(serviceCase.openedAt),
                  })}{' '}
                  — {serviceCase.resolvedAt ? t('case.resolved', { date: date(serviceCase.resolvedAt) }) : t('case.open')}{' '}
                  {!serviceCase.resolvedAt && (
                    <button
                      type="button"
                      className="button-quiet"
                      onClick={() =>
                        void resolveCase({
                          input: { caseId: serviceCase.id, contacts: serviceCase.contacts, idempotencyKey: resolveKeyFor(serviceCase.id) },
                        }).then(() => refetch({ requestPolicy: 'network-only' }))
                      }
                    >
                      {t('case.resolve')}
                    </button>
                  )}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title={t('member.feedback')}>
          {member.feedback.edges.length === 0 ? (
            <Empty>{t('member.noFeedback')}</Empty>
          ) : (
            <ul className="plain">
              {member.feedback.edges.map(({ node: feedback }) => (
                <li key={feedback.id}>
                  {date(feedback.createdAt)}:{' '}
                  {feedback.nps !== null && feedback.nps !== undefined && t('feedback.nps', { score: feedback.nps })}{' '}
                  {feedback.csat !== null && feedback.csat !== undefined && t('feedback.csat', { score: feedback.csat })}{' '}
                  <UserText>{feedback.comment}</UserText>
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title={t('member.contracts')}>
          {member.contracts.edges.length === 0 ? (
            <Empty>{t('member.noContracts')}</Empty>
          ) : (
            <ul className="plain">
              {member.contracts.edges.map(({ node: contract }) => (
                <li key={contract.id}>
                  {tx('contract.line', {
                    plan: <UserText>{contract.plan}</UserText>,
                    ref: <UserText>{contract.externalRef}</UserText>,
                    status: t(`contractStatus.${contract.status}`),
                    ends: date(contract.endsAt),
                  })}
                  {contract.renewals.edges.length > 0 && (
                    <ul>
                      {contract.renewals.edges.map(({ node: renewal }) => (
                        <li key={renewal.id}>
                          {t('contract.renewal', {
                            ends: date(renewal.newEndsAt),
                            bonus: renewal.bonusPoints === null || renewal.bonusPoints === undefined ? '–' : points(renewal.bonusPoints),
                          })}
                        </li>
                      ))}
                    </ul>
                  )}
                </li>
              ))}
            </ul>
          )}
        </Card>
      </div>
      <p className="meta">{t('member.lastActivity', { date: dateTime(member.lastActivityAt) })}</p>
    </section>
  );
}
