import type { Principal } from '../auth/principal.js';
import type { ServiceDeps } from '../domain/deps.js';
import type { Logger } from '../logger.js';

/** Per-request context: who is calling and what the services need. */
export interface GraphQLContext {
  principal: Principal;
  deps: ServiceDeps;
  logger: Logger;
  requestId: string;
}
