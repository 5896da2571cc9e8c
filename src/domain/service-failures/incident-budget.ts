import type { RawSql } from '../../db/sql.js';

/**
 * Gives an incident's budget back what a voided COMPENSATION voucher took of it, in the void's transaction (which
 * holds the voucher's row lock and has just marked it VOIDED): when the voucher's failure was compensated by its
 * incident's batch (`counted_in_budget`, set by `expandIncidentPage`), its amount leaves the incident's `budget_used`
 * and the mark is cleared, so `budget_used` stays what the batches issued that stands. A voucher the batch did not
 * count — a supervisor's grant of the remainder or after review, a hold released by the reactivation, a failure
 * reported alone, a batch's of before stop 53 — gives nothing back. Whoever voids: the budget bounds what the incident
 * costs, and is set by its reporter, not a limit on an agent (who may report an incident with no budget at all).
 *
 * One statement, the incident's row first and then the failure's: the order of the batches, which lock the incident
 * and only then write failures, so a void waits for a running batch (and a batch for the void) — the batch measures
 * its budget either before the void or after it, never over it. `over_budget_at` stays: once a batch found the budget
 * spent, the rest waits for one decision.
 */
export async function returnVoidedToBudget(tx: RawSql, voucherId: string): Promise<void> {
  await tx.$executeRaw`
    WITH counted AS (
      SELECT id, incident_id, compensation_amount FROM service_failures
      WHERE voucher_id = ${voucherId}::uuid AND counted_in_budget),
    returned AS (
      UPDATE service_incidents i SET budget_used = i.budget_used - counted.compensation_amount
      FROM counted WHERE i.id = counted.incident_id
      RETURNING counted.id)
    UPDATE service_failures f SET counted_in_budget = false FROM returned WHERE f.id = returned.id`;
}
