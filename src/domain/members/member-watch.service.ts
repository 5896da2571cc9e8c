import type { Caller } from '../../auth/principal.js';
import { assertMayCall } from '../authorization.js';
import type { ServiceDeps } from '../deps.js';
import { NotFoundError, ValidationError } from '../errors.js';
import * as check from '../validation.js';

export interface WatchMemberStatusInput {
  /** The member to watch; a member token may leave it out (their own). */
  memberId?: string | null;
}

/**
 * Which member's live status a caller may watch (`memberStatusChanged`): staff
 * (AGENT and above) and API keys with `members:read` any member, a member token
 * only its own member — another member's id is a NotFoundError exactly like an
 * id nobody has, so a member cannot learn who else exists. Checked when the
 * stream opens and again whenever the stream re-checks its caller. Reads one row.
 */
export async function memberToWatch(deps: ServiceDeps, input: WatchMemberStatusInput, caller: Caller): Promise<string> {
  assertMayCall(caller, 'watchMemberStatus');
  let memberId: string;
  if (caller.actor.type === 'MEMBER') {
    memberId = caller.actor.id;
    const asked = input.memberId == null ? memberId : check.uuid('memberId', input.memberId);
    if (asked !== memberId) throw new NotFoundError('Member', asked);
  } else {
    if (input.memberId == null) throw new ValidationError('memberId', 'name the member to watch');
    memberId = check.uuid('memberId', input.memberId);
  }
  const member = await deps.prisma.member.findUnique({ where: { id: memberId }, select: { id: true } });
  if (!member) throw new NotFoundError('Member', memberId);
  return memberId;
}
