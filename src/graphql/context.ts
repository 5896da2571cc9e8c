import type { Principal } from '../auth/principal.js';
import type { ServiceDeps } from '../domain/deps.js';
import type { ApprovalQueueBus } from '../live/approval-queue-bus.js';
import type { LiveStatus } from '../live/member-status-stream.js';
import type { Logger } from '../logger.js';

/** Per-request context: who is calling and what the services need. */
export interface GraphQLContext {
  principal: Principal;
  deps: ServiceDeps;
  logger: Logger;
  requestId: string;
  /** The live member status streams of this process (the HTTP handler has them). */
  live?: LiveStatus;
  /** The approval queue changes this process hears (the HTTP handler has them). */
  approvalQueue?: ApprovalQueueBus;
  /** The HTTP request's signal: aborted once its client has gone (a live stream set up for it ends). */
  signal?: AbortSignal;
  /** How often a live stream checks its caller's credentials again. */
  liveRecheckMs?: number;
  /** Resolves once the members this request changed have had their cached answers made stale (src/cache). */
  memberChangesSettled?: () => Promise<void>;
  /** Checks the request's credentials again, as at its start (throws AuthenticationError when they no longer hold). */
  reauthenticate?: () => Promise<Principal>;
  /**
   * When the request's credentials stop holding by their age alone (a token's expiry, ms since the epoch); undefined
   * for API keys and anonymous requests. Asked for by live streams only (it decodes the token). A live stream re-checks its caller at this instant (src/auth/authenticate.ts).
   */
  credentialsExpireAt?: () => number | undefined;
  /**
   * Tells that the answer being computed changes with the clock alone at this instant (a listed voucher expires, the
   * oldest qualifying entry leaves the tier window): the earliest one told is kept. Set by the response cache on a
   * read whose answer it stores, which it serves only before that instant (src/graphql/response-cache.ts); absent
   * otherwise.
   */
  answerChangesAt?: (instant: Date) => void;
}
