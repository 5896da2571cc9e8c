import { fileOverdueSlaBreaches, type SlaSweepReport } from '../src/domain/feedback/sla.service.js';
import { remindExpiringPoints } from '../src/domain/points/expiry-reminders.service.js';
import { markPassiveMembers, runPointsMaintenance, type MaintenanceReport } from '../src/domain/points/maintenance.service.js';
import { pruneRetainedLogs, type RetentionReport, type RetentionSettings } from '../src/domain/outbox/retention.service.js';
import { expireDueVouchers, remindExpiringVouchers } from '../src/domain/vouchers/vouchers.service.js';
import type { ServiceDeps } from '../src/domain/deps.js';

export const MAINTENANCE_QUEUE = 'maintenance';
/** The five-minute job: lots, tiers, vouchers, service levels, reminders. */
export const MAINTENANCE_JOB = 'points-maintenance';
/** The hourly job: members without activity become PASSIVE (it reads every member). */
export const PASSIVE_SWEEP_JOB = 'members-passive';
/** The hourly job: completed outbox events and delivered webhook deliveries past their retention are deleted. */
export const RETENTION_JOB = 'retention';

export type MaintenanceJobReport = MaintenanceReport & {
  vouchersExpired: number;
  slaBreaches: SlaSweepReport;
  lotsReminded: number;
  vouchersReminded: number;
};

/**
 * Plain function: the BullMQ wiring in workers/index.ts calls it; tests call it directly.
 * `passive: false` leaves the passive sweep to its own hourly job (`processPassiveSweep`).
 */
export async function processMaintenance(deps: ServiceDeps, { passive = true }: { passive?: boolean } = {}): Promise<MaintenanceJobReport> {
  const points = await runPointsMaintenance(deps, { passive });
  const vouchersExpired = await expireDueVouchers(deps);
  const slaBreaches = await fileOverdueSlaBreaches(deps);
  // Reminders of what expires soon (points.expiring, voucher.expiring): once each, whatever runs concurrently.
  const lotsReminded = await remindExpiringPoints(deps);
  const vouchersReminded = await remindExpiringVouchers(deps);
  return { ...points, vouchersExpired, slaBreaches, lotsReminded, vouchersReminded };
}

/** The hourly passive sweep: the program's months without activity are not missed by an hour. */
export async function processPassiveSweep(deps: ServiceDeps): Promise<{ membersMarkedPassive: number }> {
  return { membersMarkedPassive: await markPassiveMembers(deps) };
}

/**
 * The hourly retention run (OUTBOX_RETENTION_DAYS, WEBHOOK_RETENTION_DAYS): what it deleted, by table. Bounded per run
 * (`pruneRetainedLogs`), so it never holds the maintenance worker long; a backlog drains over the next runs.
 */
export async function processRetention(deps: ServiceDeps, settings: RetentionSettings): Promise<{ retentionDeleted: RetentionReport }> {
  return { retentionDeleted: await pruneRetainedLogs(deps, settings) };
}

/**
 * The maintenance queue's job by its name: the passive sweep and retention hourly, each on its own; anything else is
 * the five-minute run, without the passive sweep (an unknown name too: a job an older or newer worker scheduled).
 */
export function processMaintenanceJob(
  name: string,
  deps: ServiceDeps,
  retention: RetentionSettings,
): Promise<MaintenanceJobReport | { membersMarkedPassive: number } | { retentionDeleted: RetentionReport }> {
  if (name === PASSIVE_SWEEP_JOB) return processPassiveSweep(deps);
  if (name === RETENTION_JOB) return processRetention(deps, retention);
  return processMaintenance(deps, { passive: false });
}
