import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import { UserText } from '../user-text';
import { ApiError } from './parts';

const SearchMembers = graphql(`
  query SearchMembers($search: String!) {
    members(filter: { search: $search }, first: 25) {
      edges {
        node {
          ...MemberRow
        }
      }
    }
    memberByExternalId(externalId: $search) {
      ...MemberRow
    }
  }
  fragment MemberRow on Member {
    id
    name
    email
    externalId
    status
    tier {
      key
      name
    }
  }
`);

/**
 * Member search: name or e-mail (members' search filter) and the storefront's customer id, in one request.
 * The URL's `q` is the search: sending the form pushes it, and whenever it changes (a link, back or forward)
 * the field shows it again and the results follow.
 */
export function SearchPage() {
  const { t, tierName } = useI18n();
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const [text, setText] = useState(search);
  // The `q` the field last took: set during render, not in an effect, so no frame shows the old text.
  const [shown, setShown] = useState(search);
  if (shown !== search) {
    setShown(search);
    setText(search);
  }
  const [result] = useQuery({ query: SearchMembers, variables: { search }, pause: search === '' });

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setParams(text.trim() ? { q: text.trim() } : {});
  };

  const byExternalId = result.data?.memberByExternalId;
  const members = [...(byExternalId ? [byExternalId] : []), ...(result.data?.members.edges.map((edge) => edge.node) ?? [])].filter(
    (member, index, all) => all.findIndex((other) => other.id === member.id) === index,
  );

  return (
    <section className="page">
      <h1>{t('search.title')}</h1>
      <form role="search" onSubmit={submit} className="search-form">
        <label className="field grow">
          <span>{t('search.label')}</span>
          <input
            type="search"
            dir="auto"
            value={text}
            onChange={(event) => setText(event.target.value)}
            placeholder={t('search.placeholder')}
          />
        </label>
        <button type="submit" className="button-primary">
          {t('search.submit')}
        </button>
      </form>
      {result.fetching && !result.data && <Loading />}
      <ApiError error={result.error} />
      {search !== '' && result.data && (
        <>
          <p role="status">{t('search.found', { count: members.length })}</p>
          {members.length > 0 && (
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">{t('member.name')}</th>
                    <th scope="col">{t('member.email')}</th>
                    <th scope="col">{t('member.externalId')}</th>
                    <th scope="col">{t('member.status')}</th>
                    <th scope="col">{t('member.tier')}</th>
                  </tr>
                </thead>
                <tbody>
                  {members.map((member) => (
                    <tr key={member.id}>
                      <td>
                        <Link to={`/members/${encodeURIComponent(member.id)}`}>
                          <UserText>{member.name}</UserText>
                        </Link>
                      </td>
                      <td>
                        <UserText>{member.email}</UserText>
                      </td>
                      <td>
                        <UserText>{member.externalId}</UserText>
                      </td>
                      <td>{t(`memberStatus.${member.status}`)}</td>
                      <td>
                        <UserText>{tierName(member.tier)}</UserText>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
