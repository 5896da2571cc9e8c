import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery } from 'urql';
import { Loading } from '../app';
import { graphql } from '../gql';
import type { WebhookDeliveryStatus } from '../gql/graphql';
import { useI18n } from '../i18n';
import { isolated, UserText } from '../user-text';
import { WEBHOOK_EVENT_TYPES } from '../webhook-event-types';
import { ApiError, Card, EnumSelect, errorOf, FieldError, FormError, newIdempotencyKey, Table, type TypedError } from './parts';

/** The longest overlap of a rotated secret the API accepts, in hours (src/domain/webhooks). */
const MAX_OVERLAP_HOURS = 168;

/** The status filter: every delivery, or those in one status. */
const STATUS_FILTER: (WebhookDeliveryStatus | 'ALL')[] = ['ALL', 'PENDING', 'FAILED', 'SUCCEEDED', 'DEAD'];
const ENDPOINT_FIELDS = ['url', 'description', 'eventTypes'];

const WebhookEndpoints = graphql(`
  query WebhookEndpoints {
    webhookEndpoints(first: 100) {
      edges {
        node {
          ...WebhookEndpointFields
        }
      }
    }
  }

  fragment WebhookEndpointFields on WebhookEndpoint {
    id
    url
    description
    eventTypes
    enabled
    disabledAt
    disabledReason
    failingSince
    previousSecretValidUntil
    createdAt
  }
`);

const WebhookDeliveries = graphql(`
  query WebhookDeliveries($endpoint: ID!, $status: WebhookDeliveryStatus) {
    webhookDeliveries(endpoint: $endpoint, status: $status, first: 50) {
      edges {
        node {
          id
          eventType
          status
          attempts
          createdAt
          lastAttemptAt
          lastStatusCode
          lastError
          nextAttemptAt
        }
      }
    }
  }
`);

const CreateWebhookEndpoint = graphql(`
  mutation CreateWebhookEndpoint($input: CreateWebhookEndpointInput!) {
    createWebhookEndpoint(input: $input) {
      __typename
      ... on CreateWebhookEndpointPayload {
        secret
        endpoint {
          id
          url
        }
      }
      ...MutationError
    }
  }
`);

const UpdateWebhookEndpoint = graphql(`
  mutation UpdateWebhookEndpoint($input: UpdateWebhookEndpointInput!) {
    updateWebhookEndpoint(input: $input) {
      __typename
      ... on UpdateWebhookEndpointPayload {
        secret
        endpoint {
          ...WebhookEndpointFields
        }
      }
      ...MutationError
    }
  }
`);

const DeleteWebhookEndpoint = graphql(`
  mutation DeleteWebhookEndpoint($input: DeleteWebhookEndpointInput!) {
    deleteWebhookEndpoint(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const ReplayWebhookDelivery = graphql(`
  mutation ReplayWebhookDelivery($input: ReplayWebhookDeliveryInput!) {
    replayWebhookDelivery(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const ReplayWebhookDeliveries = graphql(`
  mutation ReplayWebhookDeliveries($input: ReplayWebhookDeliveriesInput!) {
    replayWebhookDeliveries(input: $input) {
      __typename
      ... on ReplayWebhookDeliveriesPayload {
        replayed
      }
      ...MutationError
    }
  }
`);

interface EndpointDraft {
  url: string;
  description: string;
  eventTypes: string[];
}

/** A failed request or an answer that is not the payload, as the error to show. */
function failure(answer: { __typename: string } | undefined, payload: string, unknown: string): TypedError | undefined {
  return errorOf(answer, payload) ?? (answer ? undefined : { __typename: 'Error', message: unknown });
}

/** URL, description and event types: the fields an endpoint is created and changed with, each error at its field. */
function EndpointFields({
  draft,
  onChange,
  error,
}: {
  draft: EndpointDraft;
  onChange: (draft: EndpointDraft) => void;
  error: TypedError | undefined;
}) {
  const { t } = useI18n();
  return (
    <>
      <label className="field">
        <span>{t('webhooks.url')}</span>
        <input
          type="url"
          dir="auto"
          value={draft.url}
          onChange={(event) => onChange({ ...draft, url: event.target.value })}
          aria-describedby="url-error"
        />
        <FieldError error={error} field="url" id="url-error" />
      </label>
      <label className="field">
        <span>{t('webhooks.description')}</span>
        <input
          dir="auto"
          value={draft.description}
          onChange={(event) => onChange({ ...draft, description: event.target.value })}
          aria-describedby="description-error"
        />
        <FieldError error={error} field="description" id="description-error" />
      </label>
      <fieldset className="choice" aria-describedby="eventTypes-error">
        <legend>{t('webhooks.eventTypes')}</legend>
        {WEBHOOK_EVENT_TYPES.map((type) => (
          <label key={type}>
            <input
              type="checkbox"
              checked={draft.eventTypes.includes(type)}
              onChange={(event) =>
                onChange({
                  ...draft,
                  eventTypes: event.target.checked ? [...draft.eventTypes, type] : draft.eventTypes.filter((t) => t !== type),
                })
              }
            />{' '}
            <span className="code">{type}</span>
          </label>
        ))}
        <FieldError error={error} field="eventTypes" id="eventTypes-error" />
      </fieldset>
    </>
  );
}

/** The signing secret, shown once after it was made. */
function Secret({ secret }: { secret: string | undefined }) {
  const { t } = useI18n();
  if (!secret) return null;
  return (
    <p className="notice" role="status">
      {t('webhooks.secretOnce')}{' '}
      <span className="code token" data-testid="new-secret">
        {secret}
      </span>
    </p>
  );
}

/** Admins: the webhook endpoints — list, register (the signing secret shown once), enable or disable, delete. */
export function WebhooksPage() {
  const { t, tx } = useI18n();
  const [result, refetch] = useQuery({ query: WebhookEndpoints, requestPolicy: 'network-only' });
  const [creating, create] = useMutation(CreateWebhookEndpoint);
  const [, update] = useMutation(UpdateWebhookEndpoint);
  const [, remove] = useMutation(DeleteWebhookEndpoint);
  const [draft, setDraft] = useState<EndpointDraft>({ url: '', description: '', eventTypes: [] });
  const [error, setError] = useState<TypedError | undefined>();
  const [rowError, setRowError] = useState<TypedError | undefined>();
  const [secret, setSecret] = useState<string | undefined>();
  // An endpoint registered by an earlier attempt whose answer was lost: its secret cannot be shown again.
  const [secretLost, setSecretLost] = useState<{ id: string; url: string } | undefined>();
  // One idempotency key per endpoint to register, kept across retries of that registration (a lost answer, a second
  // press): the API then registers it once and answers the retry with it. A new one once an answer names the endpoint.
  const [idempotencyKey, setIdempotencyKey] = useState(() => newIdempotencyKey('webhook'));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(undefined);
    setSecret(undefined);
    setSecretLost(undefined);
    const input = { url: draft.url.trim(), description: draft.description.trim() || null, eventTypes: draft.eventTypes, idempotencyKey };
    const answer = (await create({ input })).data?.createWebhookEndpoint;
    const failed = failure(answer, 'CreateWebhookEndpointPayload', t('error.unknown'));
    if (failed?.__typename === 'IdempotencyConflictError') {
      // The key already registered another endpoint (an attempt with other values, whose answer was lost): a new key
      // makes the next press register this one.
      setIdempotencyKey(newIdempotencyKey('webhook'));
      refetch({ requestPolicy: 'network-only' });
      return setError({ __typename: 'IdempotencyConflictError', message: t('webhooks.conflict') });
    }
    if (failed || answer?.__typename !== 'CreateWebhookEndpointPayload') return setError(failed);
    if (answer.secret) setSecret(answer.secret);
    else setSecretLost(answer.endpoint);
    setIdempotencyKey(newIdempotencyKey('webhook'));
    setDraft({ url: '', description: '', eventTypes: [] });
    refetch({ requestPolicy: 'network-only' });
  };

  const act = async (run: () => Promise<{ __typename: string } | undefined>, payload: string) => {
    setRowError(undefined);
    const failed = failure(await run(), payload, t('error.unknown'));
    if (failed) setRowError(failed);
    refetch({ requestPolicy: 'network-only' });
  };

  if (result.fetching && !result.data) return <Loading />;
  if (!result.data) return <ApiError error={result.error} />;
  const endpoints = result.data.webhookEndpoints.edges.map((edge) => edge.node);

  return (
    <section className="page">
      <h1>{t('webhooks.title')}</h1>
      <p className="hint">{t('webhooks.intro')}</p>
      <div className="grid">
        <Card title={t('webhooks.create')}>
          <form className="form" onSubmit={(event) => void submit(event)} noValidate>
            <EndpointFields draft={draft} onChange={setDraft} error={error} />
            <FormError error={error} fields={ENDPOINT_FIELDS} />
            <button type="submit" className="button-primary" disabled={creating.fetching}>
              {t('webhooks.submit')}
            </button>
            <Secret secret={secret} />
            {secretLost && (
              <p className="notice" role="status" data-testid="secret-lost">
                {tx('webhooks.createdWithoutSecret', {
                  url: (
                    <Link to={`/admin/webhooks/${secretLost.id}`} className="code">
                      <UserText>{secretLost.url}</UserText>
                    </Link>
                  ),
                })}
              </p>
            )}
          </form>
        </Card>
      </div>
      <Card title={t('webhooks.list')}>
        <FormError error={rowError} fields={[]} />
        <Table
          testId="webhook-endpoints"
          heads={[t('webhooks.url'), t('webhooks.eventTypes'), t('common.status'), t('webhooks.actions')]}
          empty={t('webhooks.empty')}
        >
          {endpoints.map((endpoint) => (
            <tr key={endpoint.id}>
              <td>
                <Link to={`/admin/webhooks/${endpoint.id}`} className="code">
                  <UserText>{endpoint.url}</UserText>
                </Link>
                {endpoint.description && (
                  <div className="meta">
                    <UserText>{endpoint.description}</UserText>
                  </div>
                )}
              </td>
              <td className="code">{endpoint.eventTypes.join(', ')}</td>
              <td>
                <EndpointState endpoint={endpoint} />
              </td>
              <td>
                <div className="actions">
                  <button
                    type="button"
                    className="button"
                    aria-label={t(endpoint.enabled ? 'webhooks.disableNamed' : 'webhooks.enableNamed', { url: isolated(endpoint.url) })}
                    onClick={() =>
                      void act(
                        async () => (await update({ input: { id: endpoint.id, enabled: !endpoint.enabled } })).data?.updateWebhookEndpoint,
                        'UpdateWebhookEndpointPayload',
                      )
                    }
                  >
                    {t(endpoint.enabled ? 'webhooks.disable' : 'webhooks.enable')}
                  </button>
                  <button
                    type="button"
                    className="button"
                    aria-label={t('webhooks.deleteNamed', { url: isolated(endpoint.url) })}
                    onClick={() => {
                      if (!window.confirm(t('webhooks.confirmDelete', { url: isolated(endpoint.url) }))) return;
                      void act(
                        async () => (await remove({ input: { id: endpoint.id } })).data?.deleteWebhookEndpoint,
                        'DeleteWebhookEndpointPayload',
                      );
                    }}
                  >
                    {t('webhooks.delete')}
                  </button>
                </div>
              </td>
            </tr>
          ))}
        </Table>
      </Card>
    </section>
  );
}

/** Enabled, failing since …, or disabled with its reason. */
function EndpointState({
  endpoint,
}: {
  endpoint: { enabled: boolean; failingSince?: string | null; disabledAt?: string | null; disabledReason?: string | null };
}) {
  const { t, dateTime } = useI18n();
  if (!endpoint.enabled) {
    return (
      <>
        {t('webhooks.disabledAt', { date: dateTime(endpoint.disabledAt) })}
        {endpoint.disabledReason && (
          <div className="meta">
            <UserText>{endpoint.disabledReason}</UserText>
          </div>
        )}
      </>
    );
  }
  return <>{endpoint.failingSince ? t('webhooks.failingSince', { date: dateTime(endpoint.failingSince) }) : t('webhooks.enabled')}</>;
}

/** Admins: one endpoint — change it, rotate its secret, and its deliveries with their attempts, replayable. */
export function WebhookEndpointPage() {
  const { id = '' } = useParams();
  const { t, dateTime, wholeNumber } = useI18n();
  // The API lists endpoints but has no field for one: the list (newest first, at most 100) holds it.
  const [endpoints, refetchEndpoints] = useQuery({ query: WebhookEndpoints, requestPolicy: 'network-only' });
  const [status, setStatus] = useState<WebhookDeliveryStatus | 'ALL'>('ALL');
  const [deliveries, refetchDeliveries] = useQuery({
    query: WebhookDeliveries,
    variables: { endpoint: id, status: status === 'ALL' ? null : status },
    requestPolicy: 'network-only',
  });
  const [saving, update] = useMutation(UpdateWebhookEndpoint);
  const [, replay] = useMutation(ReplayWebhookDelivery);
  const [, replayAll] = useMutation(ReplayWebhookDeliveries);
  const [draft, setDraft] = useState<EndpointDraft | undefined>();
  const [overlapHours, setOverlapHours] = useState('24');
  const [error, setError] = useState<TypedError | undefined>();
  const [deliveryError, setDeliveryError] = useState<TypedError | undefined>();
  const [notice, setNotice] = useState<string | undefined>();
  const [secret, setSecret] = useState<string | undefined>();

  if (endpoints.fetching && !endpoints.data) return <Loading />;
  if (!endpoints.data) return <ApiError error={endpoints.error} />;
  const endpoint = endpoints.data.webhookEndpoints.edges.map((edge) => edge.node).find((node) => node.id === id);
  if (!endpoint) {
    return (
      <section className="page">
        <h1>{t('webhooks.notFound')}</h1>
        <p>
          <Link to="/admin/webhooks">{t('webhooks.back')}</Link>
        </p>
      </section>
    );
  }
  const shown = draft ?? { url: endpoint.url, description: endpoint.description ?? '', eventTypes: endpoint.eventTypes };
  const refresh = () => {
    refetchEndpoints({ requestPolicy: 'network-only' });
    refetchDeliveries({ requestPolicy: 'network-only' });
  };

  const change = async (input: Omit<Parameters<typeof update>[0]['input'], 'id'>, saved: string) => {
    setError(undefined);
    setNotice(undefined);
    setSecret(undefined);
    const answer = (await update({ input: { id: endpoint.id, ...input } })).data?.updateWebhookEndpoint;
    const failed = failure(answer, 'UpdateWebhookEndpointPayload', t('error.unknown'));
    if (failed || answer?.__typename !== 'UpdateWebhookEndpointPayload') return setError(failed);
    setSecret(answer.secret ?? undefined);
    setDraft(undefined);
    setNotice(saved);
    refresh();
  };

  const save = (event: FormEvent) => {
    event.preventDefault();
    void change({ url: shown.url.trim(), description: shown.description.trim(), eventTypes: shown.eventTypes }, t('webhooks.saved'));
  };

  const resend = async (run: () => Promise<{ __typename: string } | undefined>, payload: string) => {
    setDeliveryError(undefined);
    const failed = failure(await run(), payload, t('error.unknown'));
    if (failed) setDeliveryError(failed);
    refresh();
  };

  const rows = deliveries.data?.webhookDeliveries.edges.map((edge) => edge.node) ?? [];

  return (
    <section className="page">
      <p>
        <Link to="/admin/webhooks">{t('webhooks.back')}</Link>
      </p>
      <h1 className="code token">
        <UserText>{endpoint.url}</UserText>
      </h1>
      <p className="meta">
        <EndpointState endpoint={endpoint} />
        {endpoint.previousSecretValidUntil && <> · {t('webhooks.previousSecret', { date: dateTime(endpoint.previousSecretValidUntil) })}</>}
      </p>
      <div className="grid">
        <Card title={t('webhooks.edit')}>
          <form className="form" onSubmit={save} noValidate>
            <EndpointFields draft={shown} onChange={setDraft} error={error} />
            <FormError error={error} fields={[...ENDPOINT_FIELDS, 'rotationOverlapHours']} />
            {notice && (
              <p className="notice" role="status" data-testid="notice">
                {notice}
              </p>
            )}
            <Secret secret={secret} />
            <div className="actions">
              <button type="submit" className="button-primary" disabled={saving.fetching}>
                {t('webhooks.save')}
              </button>
              <button
                type="button"
                className="button"
                onClick={() =>
                  void change({ enabled: !endpoint.enabled }, t(endpoint.enabled ? 'webhooks.disabled' : 'webhooks.enabledNotice'))
                }
              >
                {t(endpoint.enabled ? 'webhooks.disable' : 'webhooks.enable')}
              </button>
            </div>
          </form>
        </Card>
        <Card title={t('webhooks.rotate')}>
          <form
            className="form"
            noValidate
            onSubmit={(event) => {
              event.preventDefault();
              // Read as the page's language reads a whole number: Number("9,5") is NaN, which JSON sends as null, and
              // the secret was rotated with the default 24 hours' overlap; "1e3" was 1 000.
              const hours = wholeNumber(overlapHours);
              if (!Number.isSafeInteger(hours) || hours > MAX_OVERLAP_HOURS) {
                setNotice(undefined);
                setSecret(undefined);
                return setError({ __typename: 'ValidationError', field: 'rotationOverlapHours', message: t('webhooks.overlapInvalid') });
              }
              void change({ rotateSecret: true, rotationOverlapHours: hours }, t('webhooks.rotated'));
            }}
          >
            <p className="hint">{t('webhooks.rotateHint')}</p>
            <label className="field">
              <span>{t('webhooks.overlapHours')}</span>
              <input
                dir="auto"
                inputMode="numeric"
                value={overlapHours}
                onChange={(event) => setOverlapHours(event.target.value)}
                aria-describedby="rotationOverlapHours-error"
              />
              <FieldError error={error} field="rotationOverlapHours" id="rotationOverlapHours-error" />
            </label>
            <button type="submit" className="button">
              {t('webhooks.rotateSubmit')}
            </button>
          </form>
        </Card>
      </div>
      <Card title={t('webhooks.deliveries')}>
        <div className="actions">
          <EnumSelect
            label={t('webhooks.statusFilter')}
            prefix="webhookStatus"
            options={STATUS_FILTER}
            value={status}
            onChange={setStatus}
          />
          <button
            type="button"
            className="button"
            onClick={() =>
              void resend(
                async () =>
                  (await replayAll({ input: { endpointId: endpoint.id, since: endpoint.createdAt } })).data?.replayWebhookDeliveries,
                'ReplayWebhookDeliveriesPayload',
              )
            }
          >
            {t('webhooks.replayDead')}
          </button>
        </div>
        <FormError error={deliveryError} fields={[]} />
        <ApiError error={deliveries.error} />
        <Table
          testId="webhook-deliveries"
          heads={[
            t('webhooks.event'),
            t('common.status'),
            { label: t('webhooks.attempts'), num: true },
            { label: t('webhooks.responseCode'), num: true },
            t('webhooks.lastError'),
            t('common.when'),
            t('webhooks.actions'),
          ]}
          empty={deliveries.fetching ? t('common.loading') : t('webhooks.noDeliveries')}
        >
          {rows.map((delivery) => (
            <tr key={delivery.id}>
              <td className="code">{delivery.eventType}</td>
              <td>
                {t(`webhookStatus.${delivery.status}`)}
                {delivery.nextAttemptAt && (
                  <div className="meta">{t('webhooks.nextAttempt', { date: dateTime(delivery.nextAttemptAt) })}</div>
                )}
              </td>
              <td className="num">{delivery.attempts}</td>
              <td className="num">{delivery.lastStatusCode ?? '–'}</td>
              <td>
                <UserText>{delivery.lastError ?? '–'}</UserText>
              </td>
              <td>
                {dateTime(delivery.createdAt)}
                {delivery.lastAttemptAt && (
                  <div className="meta">{t('webhooks.lastAttempt', { date: dateTime(delivery.lastAttemptAt) })}</div>
                )}
              </td>
              <td>
                {(delivery.status === 'DEAD' || delivery.status === 'SUCCEEDED') && (
                  <button
                    type="button"
                    className="button"
                    aria-label={t('webhooks.replayNamed', { event: delivery.eventType, date: dateTime(delivery.createdAt) })}
                    onClick={() =>
                      void resend(
                        async () => (await replay({ input: { deliveryId: delivery.id } })).data?.replayWebhookDelivery,
                        'ReplayWebhookDeliveryPayload',
                      )
                    }
                  >
                    {t('webhooks.replay')}
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
