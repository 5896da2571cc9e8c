import { runPointsMaintenance, type MaintenanceReport } from '../src/domain/points/maintenance.service.js';
import type { ServiceDeps } from '../src/domain/deps.js';

export const MAINTENANCE_QUEUE = 'maintenance';

/** Plain function: the BullMQ wiring in workers/index.ts calls it; tests call it directly. */
export async function processMaintenance(deps: ServiceDeps): Promise<MaintenanceReport> {
  return runPointsMaintenance(deps);
}
