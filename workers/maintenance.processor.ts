import { fileOverdueSlaBreaches, type SlaSweepReport } from '../src/domain/feedback/sla.service.js';
import { remindExpiringPoints } from '../src/domain/points/expiry-reminders.service.js';
import { runPointsMaintenance, type MaintenanceReport } from '../src/domain/points/maintenance.service.js';
import { expireDueVouchers, remindExpiringVouchers } from '../src/domain/vouchers/vouchers.service.js';
import type { ServiceDeps } from '../src/domain/deps.js';

export const MAINTENANCE_QUEUE = 'maintenance';

/** Plain function: the BullMQ wiring in workers/index.ts calls it; tests call it directly. */
export async function processMaintenance(
  deps: ServiceDeps,
): Promise<MaintenanceReport & { vouchersExpired: number; slaBreaches: SlaSweepReport; lotsReminded: number; vouchersReminded: number }> {
  const points = await runPointsMaintenance(deps);
  const vouchersExpired = await expireDueVouchers(deps);
  const slaBreaches = await fileOverdueSlaBreaches(deps);
  // Reminders of what expires soon (points.expiring, voucher.expiring): once each, whatever runs concurrently.
  const lotsReminded = await remindExpiringPoints(deps);
  const vouchersReminded = await remindExpiringVouchers(deps);
  return { ...points, vouchersExpired, slaBreaches, lotsReminded, vouchersReminded };
}
