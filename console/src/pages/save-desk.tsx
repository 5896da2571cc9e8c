import { Link } from 'react-router';
import { useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import { UserText } from '../user-text';
import { ApiError, Card, Empty } from './parts';

const SaveDesk = graphql(`
  query SaveDesk {
    atRiskMembers(first: 25) {
      edges {
        node {
          score
          member {
            id
            name
            externalId
            status
          }
          reasons {
            kind
            count
            points
          }
        }
      }
    }
  }
`);

/** The save desk: members most likely to leave, highest score first, with the reasons behind the score. */
export function SaveDeskPage() {
  const { t, number } = useI18n();
  const [result] = useQuery({ query: SaveDesk, requestPolicy: 'cache-and-network' });
  if (result.fetching && !result.data) return <Loading />;
  if (!result.data) return <ApiError error={result.error} />;
  const rows = result.data.atRiskMembers.edges.map((edge) => edge.node);
  return (
    <section className="page">
      <h1>{t('saveDesk.title')}</h1>
      <Card title={t('saveDesk.list')}>
        {rows.length === 0 ? (
          <Empty>{t('saveDesk.empty')}</Empty>
        ) : (
          <div className="table-wrap">
            <table data-testid="save-desk">
              <thead>
                <tr>
                  <th scope="col">{t('member.name')}</th>
                  <th scope="col" className="num">
                    {t('saveDesk.score')}
                  </th>
                  <th scope="col">{t('saveDesk.reasons')}</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.member.id}>
                    <td>
                      <Link to={`/members/${encodeURIComponent(row.member.id)}`}>
                        <UserText>{row.member.name}</UserText>
                      </Link>
                      <span className="meta">
                        {' · '}
                        <UserText>{row.member.externalId}</UserText>
                      </span>
                    </td>
                    <td className="num">{number(row.score)}</td>
                    <td>
                      <ul className="plain">
                        {row.reasons.map((reason) => (
                          <li key={reason.kind}>
                            {t(`atRisk.${reason.kind}`, { count: number(reason.count) })} (+{number(reason.points)})
                          </li>
                        ))}
                      </ul>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </section>
  );
}
