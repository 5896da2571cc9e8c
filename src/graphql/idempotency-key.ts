/**
 * Whose an `idempotencyKey` is: the scope the mutation's service reserves it under (src/domain/idempotency.ts), which
 * its description names, so that a client knows which requests one key can meet.
 * - `caller`: the caller's own (`scopeOf(operation, caller)`, or the staff member's goodwill id for `issueGoodwill`).
 * - `callerAndIncident`: `reportServiceIncident` — the caller's own, and a later page's within its incident too.
 * - `decider`: a supervisor's decision on one object — the deciding caller's own, within that object
 *   (`scopeOf(`<operation>:<object>`, caller)`).
 * - `member`: shared by every caller, per member (`<operation>:<memberId>`): the ledger's operations and
 *   `reportServiceFailure`.
 * - `voucher`: shared by every caller, per voucher code (`<operation>:<code>`).
 */
export type IdempotencyKeyScope =
  | { of: 'caller' }
  | { of: 'callerAndIncident' }
  | { of: 'decider'; object: 'gesture' | 'failure' | 'renewal' | 'incident' }
  | { of: 'member' }
  | { of: 'voucher' };

/** The sentence naming a key's scope, as every description states it (tests/graphql/idempotency-key-scope.test.ts). */
export function idempotencyKeyScopeText(scope: IdempotencyKeyScope): string {
  switch (scope.of) {
    case 'caller':
      return (
        'Scope: the caller’s own — each API key, staff member and member token has keys of its own, so another ' +
        'caller’s same key is another key and never meets this one.'
      );
    case 'callerAndIncident':
      return (
        'Scope: the caller’s own, and for a later page its incident’s (`incidentId`) too — another caller’s same key ' +
        '(another API key, another agent) records that caller’s own incident or page and never meets this one; the ' +
        'caller’s same key on a page of another incident is another key.'
      );
    case 'decider':
      return (
        `Scope: the deciding supervisor’s own (each staff member or admin API key), within this ${scope.object} — ` +
        `another supervisor’s same key is a request of their own, never answered with this one’s decision; the same ` +
        `key on another ${scope.object} is another key.`
      );
    case 'member':
      return (
        'Scope: this mutation and the member (`memberId`), shared by every caller — the same key for the same member ' +
        'on this mutation, from any caller (another API key or staff member too), meets this one (replays its answer, ' +
        'or IdempotencyConflictError for another input); on another mutation or for another member it is another key.'
      );
    case 'voucher':
      return (
        'Scope: this mutation and the voucher (`code`), shared by every caller — the same key on the same code on ' +
        'this mutation, from any caller (another API key or staff member too), meets this one (replays its answer, or ' +
        'IdempotencyConflictError for another input); on another mutation or another code it is another key.'
      );
  }
}

/** How long a key is remembered (docs/scaling.md, "Retention": not built), as every description states it. */
export const IDEMPOTENCY_KEY_KEPT =
  'Remembered without expiry (nothing prunes idempotency records yet): however late, a retry with it is known as one.';

/** What repeating the key does, for the mutations that say nothing more particular. */
const REPEAT = 'Unique per request: repeating it returns the first result without a second effect.';

/**
 * The `idempotencyKey` argument of a mutation, described by what a repeat does (`repeat`), its scope and how long it
 * is remembered: required unless `required: false` (a key added to a mutation that had none, optional for the
 * clients of before).
 */
export function idempotencyKeyArg(scope: IdempotencyKeyScope, options?: { repeat?: string }): { required: true; description: string };
export function idempotencyKeyArg(
  scope: IdempotencyKeyScope,
  options: { required: false; repeat?: string },
): { required: false; description: string };
export function idempotencyKeyArg(
  scope: IdempotencyKeyScope,
  { required = true, repeat = REPEAT }: { required?: boolean; repeat?: string } = {},
): { required: boolean; description: string } {
  return { required, description: `${repeat} ${idempotencyKeyScopeText(scope)} ${IDEMPOTENCY_KEY_KEPT}` };
}
