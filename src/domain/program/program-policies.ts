import type { Caller } from '../../auth/principal.js';
import { assertMayCall } from '../authorization.js';
import type { ProgramSettings } from './program-settings.js';
import type { ProgramView } from './program.service.js';

/**
 * The program's internal policies, out of settings a caller has read (`readProgram`): SERVICE_CALLERS.readProgramPolicies
 * (staff, admin keys). A member or a storefront key reads the program's public part, never these: the refusal
 * (ForbiddenError) comes before anything of them is handed out, whoever calls.
 */

/** The agents' default goodwill authority (`Program.goodwill`): what an agent grants without a supervisor's approval. */
export function goodwillDefaultsFor(program: ProgramView, caller: Caller): ProgramSettings['goodwill'] {
  assertMayCall(caller, 'readProgramPolicies');
  return program.settings.goodwill;
}

/** The save desk's weights (`Program.saveDesk`): how `atRiskMembers` scores members at risk. */
export function saveDeskWeightsFor(program: ProgramView, caller: Caller): ProgramSettings['saveDesk'] {
  assertMayCall(caller, 'readProgramPolicies');
  return program.settings.saveDesk;
}
