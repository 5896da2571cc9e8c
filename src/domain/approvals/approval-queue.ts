import type { Caller } from '../../auth/principal.js';
import { assertMayCall } from '../authorization.js';
import type { ApprovalQueueChange, ApprovalQueueChangeKind, ServiceDeps } from '../deps.js';

export type { ApprovalQueueChange, ApprovalQueueChangeKind };

/** Every kind of change, in the order the GraphQL enum lists them. */
export const APPROVAL_QUEUE_CHANGE_KINDS = [
  'GESTURE_PENDING',
  'GESTURE_DECIDED',
  'FAILURE_WAITING',
  'FAILURE_DECIDED',
  'INCIDENT_WAITING',
  'INCIDENT_DECIDED',
  'RENEWAL_BONUS_HELD',
  'RENEWAL_BONUS_DECIDED',
  'MEMBER_STATUS_CHANGED',
] as const satisfies readonly ApprovalQueueChangeKind[];

/**
 * Reports committed changes of the supervisors' approval queue: a gesture sent
 * for approval or decided, a failure held for review (over the cap, or the
 * member suspended) or decided, an incident's failures held (over its budget)
 * or decided, a renewal bonus held for a decision (the member suspended, or
 * the balance limit) or decided (or forfeited by a cancellation), a member's
 * status change releasing or declining what waited.
 * Call it only after the transaction committed. Never throws and never waits.
 */
export function reportApprovalQueueChanges(deps: ServiceDeps, changes: readonly ApprovalQueueChange[]): void {
  if (!deps.approvalQueue || changes.length === 0) return;
  try {
    deps.approvalQueue.changed(changes);
  } catch (error) {
    deps.logger.warn({ err: error }, 'could not report approval queue changes');
  }
}

/**
 * Who may watch the approval queue live (`approvalQueueChanged`): those who
 * decide what it holds, supervisors and admins. Checked when the stream opens
 * and again whenever it re-checks its caller.
 */
export function assertMayWatchApprovalQueue(caller: Caller): void {
  assertMayCall(caller, 'watchApprovalQueue');
}
