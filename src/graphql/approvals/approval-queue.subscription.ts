import { Repeater } from 'graphql-yoga';
import { AuthenticationError } from '../../auth/jwt.js';
import { callerKeyOf, callerOf } from '../../auth/principal.js';
import { SERVICE_CALLERS } from '../../domain/authorization.js';
import {
  APPROVAL_QUEUE_CHANGE_KINDS,
  assertMayWatchApprovalQueue,
  type ApprovalQueueChange,
} from '../../domain/approvals/approval-queue.js';
import { DomainError } from '../../domain/errors.js';
import { atInstant } from '../../live/member-status-stream.js';
import { builder } from '../builder.js';

/** A change as a stream tells it: `CURRENT` is the first event (also after the channel was lost and is back). */
interface QueueChange {
  kind: ApprovalQueueChange['kind'] | 'CURRENT';
  reference: string | null;
}

/** One event of the live approval queue: the changes since the previous event. */
interface ApprovalQueueEvent {
  changes: QueueChange[];
}

/** At most this many changes are kept for one event; older ones of a burst are dropped (the screen reads the queue anyway). */
const MAX_CHANGES_PER_EVENT = 100;

const ApprovalQueueChangeKindEnum = builder.enumType('ApprovalQueueChangeKind', {
  description: 'Why a live approval queue event was sent.',
  values: {
    CURRENT: { description: 'The first event of a stream (also after a reconnect): read the queue as it is now.' },
    GESTURE_PENDING: { description: 'A goodwill gesture above its agent’s authority waits for approval (reference: the gesture id).' },
    GESTURE_DECIDED: { description: 'A waiting goodwill gesture was approved or rejected (reference: the gesture id).' },
    FAILURE_WAITING: {
      description:
        'A service failure’s compensation waits for a supervisor: over the member’s cap, or the member is suspended (reference: the failure id).',
    },
    FAILURE_DECIDED: { description: 'A waiting failure was granted or declined (reference: the failure id).' },
    INCIDENT_WAITING: {
      description:
        'Failures of a service incident wait for a supervisor: over its budget, a member’s cap, or suspended members (reference: the incident id).',
    },
    INCIDENT_DECIDED: { description: 'The remainder of an incident held over its budget was decided (reference: the incident id).' },
    RENEWAL_BONUS_HELD: {
      description:
        'A renewal bonus was held for a supervisor: the member is suspended, or it would pass the balance limit (reference: the contract renewal id).',
    },
    RENEWAL_BONUS_DECIDED: {
      description:
        'A held renewal bonus was approved or declined, or forfeited by the contract’s cancellation (reference: the contract renewal id).',
    },
    MEMBER_STATUS_CHANGED: {
      description: "A member's status changed: reactivation releases, closing declines, what waited for them (reference: the member id).",
    },
  } satisfies Record<(typeof APPROVAL_QUEUE_CHANGE_KINDS)[number] | 'CURRENT', { description: string }>,
});

const ApprovalQueueChangeRef = builder.objectRef<QueueChange>('ApprovalQueueChange').implement({
  description: 'One change of the approval queue.',
  fields: (t) => ({
    kind: t.field({ type: ApprovalQueueChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    reference: t.id({
      nullable: true,
      description: 'The raw id of the gesture, failure, incident, contract renewal or member it concerns (see the kind); null for CURRENT.',
      resolve: (change) => change.reference,
    }),
  }),
});

const ApprovalQueueEventRef = builder.objectRef<ApprovalQueueEvent>('ApprovalQueueEvent').implement({
  description: 'One event of the live approval queue: what changed since the previous event. Read the queue again to show it.',
  fields: (t) => ({
    change: t.field({
      type: ApprovalQueueChangeRef,
      description: 'The latest change this event reports (CURRENT for the first event).',
      resolve: (event) => event.changes.at(-1)!,
    }),
    changes: t.field({
      type: [ApprovalQueueChangeRef],
      description: 'Every change since the previous event, oldest first (a burst becomes one event; at most the last 100).',
      resolve: (event) => event.changes,
    }),
  }),
});

/** A stream that ends before its first event: for a client already gone, or a process that stops. */
const endedQueue = () => new Repeater<ApprovalQueueEvent>((_push, stop) => stop());

builder.subscriptionFields((t) => ({
  approvalQueueChanged: t.field({
    type: ApprovalQueueEventRef,
    description:
      "The supervisors' approval queue, live: the first event says to read it now, then one event after every committed change — a gesture sent for approval or decided, a failure held for review or decided, an incident's failures held over its budget or decided, a renewal bonus held or decided — from any API process or worker (bursts coalesced). Supervisors and admins. The stream ends when the caller's credentials no longer hold.",
    authScopes: { caller: SERVICE_CALLERS.watchApprovalQueue },
    subscribe: async (_root, _args, ctx) => {
      const { principal, approvalQueue, reauthenticate, liveRecheckMs, signal } = ctx;
      const expiresAt = ctx.credentialsExpireAt?.();
      assertMayWatchApprovalQueue(callerOf(principal));
      if (!approvalQueue || !reauthenticate) throw new Error('the live approval queue needs the HTTP handler’s bus');
      // A client gone while its key was checked gets no stream: nothing would read it, so nothing would return it.
      if (signal?.aborted) return endedQueue();
      // Ended by the client leaving (the request's signal) or the process stopping (endStreams).
      const end = () => void stream.return();
      const admitted = await approvalQueue.admit(callerKeyOf(principal), end);
      if (!admitted) return endedQueue();
      // Gone while its place was taken: freed at once, as above.
      if (signal?.aborted) {
        admitted();
        return endedQueue();
      }
      signal?.addEventListener('abort', end, { once: true });
      const release = () => {
        signal?.removeEventListener('abort', end);
        admitted();
      };
      let started = false;
      const stream = new Repeater<ApprovalQueueEvent>(async (push, stop) => {
        started = true;
        // Changes that arrive while the previous event is being sent wait here and become one event.
        let pending: QueueChange[] = [{ kind: 'CURRENT', reference: null }];
        let sending = false;
        const send = async () => {
          if (sending) return;
          sending = true;
          while (pending.length > 0) {
            const changes = pending;
            pending = [];
            await push({ changes });
          }
          sending = false;
        };
        const add = (changes: readonly QueueChange[]) => {
          pending.push(...changes);
          if (pending.length > MAX_CHANGES_PER_EVENT) pending.splice(0, pending.length - MAX_CHANGES_PER_EVENT);
          void send();
        };
        const stopListening = approvalQueue.listen((changes) => add(changes));
        const stopResync = approvalQueue.onResync(() => add([{ kind: 'CURRENT', reference: null }]));
        const recheckNow = () => {
          reauthenticate()
            .then((principal) => assertMayWatchApprovalQueue(callerOf(principal)))
            .catch((error: unknown) => {
              // Refused now (token expired, role gone, key revoked): the stream ends. Anything else is a real failure.
              if (error instanceof DomainError || error instanceof AuthenticationError) stop();
              else stop(error);
            });
        };
        const recheck = setInterval(recheckNow, liveRecheckMs ?? 60_000);
        recheck.unref();
        // A token's stream ends when the token does, not at the next periodic re-check.
        const stopExpiry = expiresAt === undefined ? undefined : atInstant(expiresAt, recheckNow);
        // An API key revoked anywhere is re-checked at once, as the member status streams do.
        const stopCredential = principal.kind === 'apiKey' ? approvalQueue.onCredentialChanged(principal.apiKeyId, recheckNow) : undefined;
        void send();
        await stop;
        clearInterval(recheck);
        stopExpiry?.();
        stopCredential?.();
        stopListening();
        stopResync();
        release();
      });
      // A client that leaves before the first event never starts the stream: its place is freed here.
      const leave = stream.return.bind(stream);
      stream.return = (value) => {
        if (!started) release();
        return leave(value);
      };
      return stream;
    },
    resolve: (event: ApprovalQueueEvent) => event,
  }),
}));
