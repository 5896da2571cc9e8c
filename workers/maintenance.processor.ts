import { fileOverdueSlaBreaches, type SlaSweepReport } from '../src/domain/feedback/sla.service.js';
import { runPointsMaintenance, type MaintenanceReport } from '../src/domain/points/maintenance.service.js';
import { expireDueVouchers } from '../src/domain/vouchers/vouchers.service.js';
import type { ServiceDeps } from '../src/domain/deps.js';

export const MAINTENANCE_QUEUE = 'maintenance';

/** Plain function: the BullMQ wiring in workers/index.ts calls it; tests call it directly. */
export async function processMaintenance(
  deps: ServiceDeps,
): Promise<MaintenanceReport & { vouchersExpired: number; slaBreaches: SlaSweepReport }> {
  const points = await runPointsMaintenance(deps);
  const vouchersExpired = await expireDueVouchers(deps);
  const slaBreaches = await fileOverdueSlaBreaches(deps);
  return { ...points, vouchersExpired, slaBreaches };
}
