import { useEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery, useSubscription } from 'urql';
import { Loading } from '../app';
import { useDraft } from '../drafts';
import { graphql } from '../gql';
import { useI18n, type I18n, type MessageKey } from '../i18n';
import { useSignedIn } from '../session';
import { isolated, UserText } from '../user-text';
import { ApiError, Card, Empty, errorOf, FormError, newIdempotencyKey, type TypedError } from './parts';

const QueueQuery = graphql(`
  query SupervisorQueue {
    goodwillGestures(filter: { status: PENDING_APPROVAL }, first: 50) {
      edges {
        node {
          id
          kind
          points
          value {
            amount
            currency
          }
          reason
          note
          agentId
          createdAt
          member {
            id
            name
          }
        }
      }
    }
    review: serviceFailures(filter: { status: NEEDS_REVIEW }, first: 50) {
      edges {
        node {
          ...HeldFailure
        }
      }
    }
    held: serviceFailures(filter: { status: HELD }, first: 50) {
      edges {
        node {
          ...HeldFailure
        }
      }
    }
    heldRenewalBonuses(first: 50) {
      edges {
        node {
          id
          sequence
          bonusPoints
          bonusHeldReason
          bonusHeldAt
          contract {
            externalRef
            member {
              id
              name
            }
          }
        }
      }
    }
  }
  fragment HeldFailure on ServiceFailure {
    id
    type
    severity
    status
    occurredAt
    compensation {
      amount
      currency
    }
    member {
      id
      name
    }
  }
`);

/** One event per committed change to the queue, from any API process or worker (docs/live-status.md). */
const QueueChanged = graphql(`
  subscription ApprovalQueueChanged {
    approvalQueueChanged {
      change {
        kind
      }
    }
  }
`);

const Approve = graphql(`
  mutation ApproveGoodwill($input: ApproveGoodwillInput!) {
    approveGoodwill(input: $input) {
      __typename
      ... on ApproveGoodwillPayload {
        status
      }
      ...MutationError
    }
  }
`);

const Reject = graphql(`
  mutation RejectGoodwill($input: RejectGoodwillInput!) {
    rejectGoodwill(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const DecideBonus = graphql(`
  mutation DecideRenewalBonus($input: DecideRenewalBonusInput!) {
    decideRenewalBonus(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

const Review = graphql(`
  mutation ReviewServiceFailure($input: ReviewServiceFailureInput!) {
    reviewServiceFailure(input: $input) {
      __typename
      ...MutationError
    }
  }
`);

/**
 * What a queue row's buttons and note field are named for: its amount, its member's name, and what tells it from
 * another row of that member and amount, as the row shows it: for a gesture the agent who asked and when, for a
 * failure its type and date, for a held renewal bonus its contract and when it was held ("Approve €40.00 for … (requested by …, 2 Mar 2026, 10:15)"). The user's strings are
 * isolated (user-text.tsx). Each name starts with the control's visible label, which is what a voice user says.
 */
type Row = Record<'amount' | 'name' | 'date', string> & ({ agent: string } | { failure: string } | { contract: string });

/**
 * Each row's controls named (`keys`: control → catalogue key), so that no two controls on the page share a name: rows
 * alike in everything their names say (a gesture asked for twice in one minute, two failures of a type on one day) are
 * numbered among themselves in the page's order, top to bottom ("…, 1 of 2", "…, 2 of 2").
 */
function controlNames<Control extends string>(
  { t, number }: Pick<I18n, 't' | 'number'>,
  rows: Row[],
  keys: Record<Control, MessageKey>,
): Record<Control, string>[] {
  const identities = rows.map((row) => JSON.stringify(row));
  const alike = new Map<string, number>();
  for (const identity of identities) alike.set(identity, (alike.get(identity) ?? 0) + 1);
  const seen = new Map<string, number>();
  return rows.map((row, index) => {
    const identity = identities[index]!;
    const count = alike.get(identity)!;
    const ordinal = (seen.get(identity) ?? 0) + 1;
    seen.set(identity, ordinal);
    const entries = (Object.entries(keys) as [Control, MessageKey][]).map(([control, key]): [Control, string] => {
      const label = t(key, row);
      return [control, count === 1 ? label : t('queue.alikeNamed', { label, ordinal: number(ordinal), count: number(count) })];
    });
    return Object.fromEntries(entries) as Record<Control, string>;
  });
}

/**
 * The supervisor's queue: gestures waiting for approval, failures held for review and renewal bonuses
 * held for a decision (the member suspended, or past the balance limit), each decided with a note. It follows the queue live: on each approvalQueueChanged event (another supervisor's decision,
 * an agent's gesture, the worker holding a failure) it reads the queue again. A gesture the signed-in
 * supervisor issued is shown without Approve/Reject: the API refuses the issuing agent's decision.
 */
export function QueuePage() {
  const { t, tx, money, points, number, dateTime, date } = useI18n();
  const { staffId } = useSignedIn();
  const [result, refetch] = useQuery({ query: QueueQuery, requestPolicy: 'network-only' });
  // Counts the events heard; each one (the first, CURRENT, included) reads the whole queue again.
  const [events] = useSubscription({ query: QueueChanged }, (heard: number | undefined) => (heard ?? 0) + 1);
  const heard = events.data ?? 0;
  useEffect(() => {
    if (heard > 0) refetch({ requestPolicy: 'network-only' });
  }, [heard, refetch]);
  const [, approve] = useMutation(Approve);
  const [, reject] = useMutation(Reject);
  const [, review] = useMutation(Review);
  const [, decideBonus] = useMutation(DecideBonus);
  const [notes, setNotes] = useDraft<Record<string, string>>('notes', {});
  const [errors, setErrors] = useState<Record<string, TypedError | undefined>>({});
  const [keys] = useState(() => new Map<string, string>());
  // The items whose decision is on its way: one request per item at a time, whichever of its buttons was pressed, so a
  // double click on Reject or Approve decides with one request, not a second one racing it.
  const inFlight = useRef(new Set<string>());
  const [deciding, setDeciding] = useState<ReadonlySet<string>>(() => new Set());

  if (result.fetching && !result.data) return <Loading />;
  if (!result.data) return <ApiError error={result.error} />;
  const gestures = result.data.goodwillGestures.edges.map((edge) => edge.node);
  const failures = [...result.data.review.edges, ...result.data.held.edges].map((edge) => edge.node);
  const bonuses = result.data.heldRenewalBonuses.edges.map((edge) => edge.node);

  // One key per decision on one item, kept across retries of that decision.
  const keyFor = (action: string) => {
    if (!keys.has(action)) keys.set(action, newIdempotencyKey(action.split('-')[0]!));
    return keys.get(action)!;
  };
  const decide = (id: string, send: () => Promise<void>) => {
    if (inFlight.current.has(id)) return;
    inFlight.current.add(id);
    setDeciding(new Set(inFlight.current));
    void send().finally(() => {
      inFlight.current.delete(id);
      setDeciding(new Set(inFlight.current));
    });
  };
  const decided = (id: string, answer: { __typename: string } | undefined, payload: string, fallback: string | undefined) => {
    const error = errorOf(answer, payload) ?? (answer ? undefined : { __typename: 'Error', message: fallback ?? t('error.unknown') });
    setErrors((current) => ({ ...current, [id]: error }));
    if (!error) refetch({ requestPolicy: 'network-only' });
  };
  const gestureAmount = (gesture: (typeof gestures)[number]) =>
    gesture.kind === 'POINTS' ? points(gesture.points ?? 0) : money(gesture.value);
  const gestureNames = controlNames(
    { t, number },
    gestures.map((gesture) => ({
      amount: gestureAmount(gesture),
      name: isolated(gesture.member.name),
      agent: isolated(gesture.agentId ?? '–'),
      date: dateTime(gesture.createdAt),
    })),
    { note: 'queue.gestureNoteNamed', approve: 'queue.approveNamed', reject: 'queue.rejectNamed' },
  );
  const failureNames = controlNames(
    { t, number },
    failures.map((failure) => ({
      amount: money(failure.compensation),
      name: isolated(failure.member.name),
      failure: t(`failureType.${failure.type}`),
      date: date(failure.occurredAt),
    })),
    { note: 'queue.failureNoteNamed', GRANT: 'queue.grantNamed', DECLINE: 'queue.declineNamed' },
  );
  const bonusNames = controlNames(
    { t, number },
    bonuses.map((bonus) => ({
      amount: points(bonus.bonusPoints ?? 0),
      name: isolated(bonus.contract.member.name),
      contract: isolated(bonus.contract.externalRef),
      date: dateTime(bonus.bonusHeldAt!),
    })),
    { note: 'queue.bonusNoteNamed', approve: 'queue.approveBonusNamed', decline: 'queue.declineBonusNamed' },
  );
  const noteInput = (id: string, name: string) => (
    <label className="field">
      <span>{t('queue.note')}</span>
      <input
        dir="auto"
        aria-label={name}
        value={notes[id] ?? ''}
        onChange={(event) => setNotes((current) => ({ ...current, [id]: event.target.value }))}
      />
    </label>
  );

  return (
    <section className="page">
      <h1>{t('queue.title')}</h1>
      <Card title={t('queue.gestures', { count: gestures.length })}>
        {gestures.length === 0 ? (
          <Empty>{t('queue.noGestures')}</Empty>
        ) : (
          <ul className="queue" data-testid="pending-gestures">
            {gestures.map((gesture, index) => (
              <li key={gesture.id} className="queue-item">
                <div>
                  <p>
                    <Link to={`/members/${encodeURIComponent(gesture.member.id)}`}>
                      <UserText>{gesture.member.name}</UserText>
                    </Link>{' '}
                    — <strong>{gestureAmount(gesture)}</strong>
                    {gesture.kind === 'POINTS' && ` (${money(gesture.value)})`}
                  </p>
                  <p className="meta">
                    {tx('queue.gestureBy', { agent: <UserText>{gesture.agentId ?? '–'}</UserText>, date: dateTime(gesture.createdAt) })} ·{' '}
                    {t(`goodwillReason.${gesture.reason}`)} · <UserText>{gesture.note}</UserText>
                  </p>
                </div>
                {gesture.agentId === staffId ? (
                  <p className="meta" data-testid="own-gesture">
                    {t('queue.ownGesture')}
                  </p>
                ) : (
                  <>
                    {noteInput(gesture.id, gestureNames[index]!.note)}
                    <div className="actions">
                      <button
                        type="button"
                        className="button-primary"
                        aria-label={gestureNames[index]!.approve}
                        disabled={deciding.has(gesture.id)}
                        onClick={() =>
                          decide(gesture.id, () =>
                            approve({
                              input: {
                                gestureId: gesture.id,
                                note: notes[gesture.id] || null,
                                idempotencyKey: keyFor(`approve-${gesture.id}`),
                              },
                            }).then((r) => decided(gesture.id, r.data?.approveGoodwill, 'ApproveGoodwillPayload', r.error?.message)),
                          )
                        }
                      >
                        {t('queue.approve')}
                      </button>
                      <button
                        type="button"
                        className="button"
                        aria-label={gestureNames[index]!.reject}
                        disabled={deciding.has(gesture.id)}
                        onClick={() =>
                          decide(gesture.id, () =>
                            reject({
                              input: {
                                gestureId: gesture.id,
                                note: notes[gesture.id] ?? '',
                                idempotencyKey: keyFor(`reject-${gesture.id}`),
                              },
                            }).then((r) => decided(gesture.id, r.data?.rejectGoodwill, 'RejectGoodwillPayload', r.error?.message)),
                          )
                        }
                      >
                        {t('queue.reject')}
                      </button>
                    </div>
                  </>
                )}
                <FormError error={errors[gesture.id]} fields={[]} />
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title={t('queue.failures', { count: failures.length })}>
        {failures.length === 0 ? (
          <Empty>{t('queue.noFailures')}</Empty>
        ) : (
          <ul className="queue">
            {failures.map((failure, index) => (
              <li key={failure.id} className="queue-item">
                <div>
                  <p>
                    <Link to={`/members/${encodeURIComponent(failure.member.id)}`}>
                      <UserText>{failure.member.name}</UserText>
                    </Link>{' '}
                    — {t(`failureType.${failure.type}`)}, {t(`severity.${failure.severity}`)}:{' '}
                    <strong>{money(failure.compensation)}</strong>
                  </p>
                  <p className="meta">
                    {t(`failureStatus.${failure.status}`)} · {date(failure.occurredAt)}
                  </p>
                </div>
                {noteInput(failure.id, failureNames[index]!.note)}
                <div className="actions">
                  {(['GRANT', 'DECLINE'] as const).map((decision) => (
                    <button
                      key={decision}
                      type="button"
                      className={decision === 'GRANT' ? 'button-primary' : 'button'}
                      aria-label={failureNames[index]![decision]}
                      disabled={deciding.has(failure.id)}
                      onClick={() =>
                        decide(failure.id, () =>
                          review({
                            input: {
                              failureId: failure.id,
                              decision,
                              note: notes[failure.id] ?? '',
                              idempotencyKey: keyFor(`review-${failure.id}-${decision}`),
                            },
                          }).then((r) =>
                            decided(failure.id, r.data?.reviewServiceFailure, 'ReviewServiceFailurePayload', r.error?.message),
                          ),
                        )
                      }
                    >
                      {t(decision === 'GRANT' ? 'queue.grant' : 'queue.decline')}
                    </button>
                  ))}
                </div>
                <FormError error={errors[failure.id]} fields={[]} />
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title={t('queue.bonuses', { count: bonuses.length })}>
        {bonuses.length === 0 ? (
          <Empty>{t('queue.noBonuses')}</Empty>
        ) : (
          <ul className="queue" data-testid="held-bonuses">
            {bonuses.map((bonus, index) => (
              <li key={bonus.id} className="queue-item">
                <div>
                  <p>
                    <Link to={`/members/${encodeURIComponent(bonus.contract.member.id)}`}>
                      <UserText>{bonus.contract.member.name}</UserText>
                    </Link>{' '}
                    — <strong>{points(bonus.bonusPoints ?? 0)}</strong>
                  </p>
                  <p className="meta">
                    {tx('queue.bonusOf', {
                      contract: <UserText>{bonus.contract.externalRef}</UserText>,
                      sequence: number(bonus.sequence),
                      date: dateTime(bonus.bonusHeldAt!),
                    })}{' '}
                    · {t(`bonusHeldReason.${bonus.bonusHeldReason!}`)}
                  </p>
                </div>
                {noteInput(bonus.id, bonusNames[index]!.note)}
                <div className="actions">
                  {([true, false] as const).map((approve) => (
                    <button
                      key={String(approve)}
                      type="button"
                      className={approve ? 'button-primary' : 'button'}
                      aria-label={bonusNames[index]![approve ? 'approve' : 'decline']}
                      disabled={deciding.has(bonus.id)}
                      onClick={() =>
                        decide(bonus.id, () =>
                          decideBonus({
                            input: {
                              renewalId: bonus.id,
                              approve,
                              note: notes[bonus.id] ?? '',
                              idempotencyKey: keyFor(`bonus-${bonus.id}-${approve ? 'approve' : 'decline'}`),
                            },
                          }).then((r) => decided(bonus.id, r.data?.decideRenewalBonus, 'DecideRenewalBonusPayload', r.error?.message)),
                        )
                      }
                    >
                      {t(approve ? 'queue.approve' : 'queue.decline')}
                    </button>
                  ))}
                </div>
                <FormError error={errors[bonus.id]} fields={[]} />
              </li>
            ))}
          </ul>
        )}
      </Card>
    </section>
  );
}
