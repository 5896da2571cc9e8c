import type { Principal } from '../auth/principal.js';
import type { ServiceDeps } from '../domain/deps.js';
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
  /** Checks the request's credentials again, as at its start (throws AuthenticationError when they no longer hold). */
  reauthenticate?: () => Promise<Principal>;
}
