import { attached } from '../../attached.js';
import type { ProgramSettings } from '../../domain/program/program-settings.js';

/**
 * Program settings a mutation already read with a member row (the ledger
 * kernel's answer), kept with that row object so that its `tier` field needs
 * no statement of its own: the hot paths keep their statement counts.
 */
const settingsByRow = attached<object, ProgramSettings>('program settings');

export function rememberSettings(row: object, settings: ProgramSettings): void {
  settingsByRow.set(row, settings);
}

export function knownSettings(row: object): ProgramSettings | undefined {
  return settingsByRow.get(row);
}
