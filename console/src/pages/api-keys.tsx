import { useState, type FormEvent } from 'react';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import { useI18n } from '../i18n';
import { isolated, UserText } from '../user-text';
import { ApiError, Card, errorOf, FieldError, FormError, newIdempotencyKey, Table, type TypedError } from './parts';

const ApiKeys = graphql(`
  query ApiKeys {
    apiKeys(first: 50) {
      edges {
        node {
          id
          name
          prefix
          scopes
          createdAt
          createdBy
          lastUsedAt
          revokedAt
        }
      }
    }
  }
`);

const CreateApiKey = graphql(`
  mutation CreateApiKey($input: CreateApiKeyInput!) {
    createApiKey(input: $input) {
      __typename
      ... on CreateApiKeyPayload {
        token
        apiKey {
          id
          name
        }
      }
      ...MutationError
    }
  }
`);

const RevokeApiKey = graphql(`
  mutation RevokeApiKey($input: RevokeApiKeyInput!) {
    revokeApiKey(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const SCOPES = [
  'members:read',
  'members:write',
  'points:earn',
  'points:redeem',
  'vouchers:redeem',
  'failures:report',
  'contracts:write',
  'admin',
];

/** Admins: the storefronts' API keys — list, create (the token shown once) and revoke. */
export function ApiKeysPage() {
  const { t, tx, dateTime } = useI18n();
  const [result, refetch] = useQuery({ query: ApiKeys, requestPolicy: 'network-only' });
  const [creating, create] = useMutation(CreateApiKey);
  const [, revoke] = useMutation(RevokeApiKey);
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [error, setError] = useState<TypedError | undefined>();
  const [token, setToken] = useState<string | undefined>();
  // A key created by an earlier attempt whose answer was lost: its token cannot be shown again.
  const [tokenLost, setTokenLost] = useState<string | undefined>();
  // One idempotency key per API key to create, kept across retries of that creation (a lost answer, a second press):
  // the API then creates it once and answers the retry with it. A new one once an answer names the key created.
  const [idempotencyKey, setIdempotencyKey] = useState(() => newIdempotencyKey('api-key'));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setToken(undefined);
    setTokenLost(undefined);
    const answer = (await create({ input: { name, scopes, idempotencyKey } })).data?.createApiKey;
    const failed = errorOf(answer, 'CreateApiKeyPayload') ?? (answer ? undefined : { __typename: 'Error', message: t('error.unknown') });
    if (failed?.__typename === 'IdempotencyConflictError') {
      // The key already created another API key (an attempt with other values, whose answer was lost): a new key
      // makes the next press create this one.
      setIdempotencyKey(newIdempotencyKey('api-key'));
      refetch({ requestPolicy: 'network-only' });
      return setError({ __typename: 'IdempotencyConflictError', message: t('apiKeys.conflict') });
    }
    if (failed || answer?.__typename !== 'CreateApiKeyPayload') return setError(failed);
    if (answer.token) setToken(answer.token);
    else setTokenLost(answer.apiKey.name);
    setIdempotencyKey(newIdempotencyKey('api-key'));
    setName('');
    setScopes([]);
    refetch({ requestPolicy: 'network-only' });
  };

  if (result.fetching && !result.data) return <Loading />;
  if (!result.data) return <ApiError error={result.error} />;
  const keys = result.data.apiKeys.edges.map((edge) => edge.node);

  return (
    <section className="page">
      <h1>{t('apiKeys.title')}</h1>
      <div className="grid">
        <Card title={t('apiKeys.create')}>
          <form className="form" onSubmit={(event) => void submit(event)} noValidate>
            <label className="field">
              <span>{t('apiKeys.name')}</span>
              <input dir="auto" value={name} onChange={(event) => setName(event.target.value)} aria-describedby="name-error" required />
              <FieldError error={error} field="name" id="name-error" />
            </label>
            <fieldset className="choice" aria-describedby="scopes-error">
              <legend>{t('apiKeys.scopes')}</legend>
              {SCOPES.map((scope) => (
                <label key={scope}>
                  <input
                    type="checkbox"
                    checked={scopes.includes(scope)}
                    onChange={(event) =>
                      setScopes((current) => (event.target.checked ? [...current, scope] : current.filter((s) => s !== scope)))
                    }
                  />{' '}
                  <span className="code">{scope}</span>
                </label>
              ))}
              <FieldError error={error} field="scopes" id="scopes-error" />
            </fieldset>
            <FormError error={error} fields={['name', 'scopes']} />
            <button type="submit" className="button-primary" disabled={creating.fetching}>
              {t('apiKeys.submit')}
            </button>
            {token && (
              <p className="notice" role="status">
                {t('apiKeys.created')}{' '}
                <span className="code token" data-testid="new-token">
                  {token}
                </span>
              </p>
            )}
            {tokenLost !== undefined && (
              <p className="notice" role="status" data-testid="token-lost">
                {tx('apiKeys.createdWithoutToken', { name: <UserText>{tokenLost}</UserText> })}
              </p>
            )}
          </form>
        </Card>
      </div>
      <Card title={t('apiKeys.list')}>
        <Table
          testId="api-keys"
          heads={[t('apiKeys.name'), t('apiKeys.prefix'), t('apiKeys.scopes'), t('apiKeys.lastUsed'), t('common.status')]}
          empty={t('apiKeys.empty')}
        >
          {keys.map((key) => (
            <tr key={key.id}>
              <td>
                <UserText>{key.name}</UserText>
              </td>
              <td className="code">{key.prefix}</td>
              <td>{key.scopes.join(', ')}</td>
              <td>{dateTime(key.lastUsedAt)}</td>
              <td>
                {key.revokedAt ? (
                  t('apiKeys.revokedAt', { date: dateTime(key.revokedAt) })
                ) : (
                  <button
                    type="button"
                    className="button"
                    aria-label={t('apiKeys.revokeNamed', { name: isolated(key.name) })}
                    onClick={() => void revoke({ input: { id: key.id } }).then(() => refetch({ requestPolicy: 'network-only' }))}
                  >
                    {t('apiKeys.revoke')}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </Table>
      </Card>
    </section>
  );
}
