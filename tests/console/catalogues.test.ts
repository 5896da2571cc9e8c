// No useTestApp(): it compares the console's catalogues and lists with the API's; no database.
import { describe, expect, it } from 'vitest';
import { WEBHOOK_EVENT_TYPES } from '../../src/domain/webhooks/webhook-events.js';

// The console's catalogues (console/src/i18n): the German one has exactly the English keys, every text is
// filled, and both use the same placeholders. Paths the root tsconfig does not follow (console/tsconfig.json checks them).
const load = async (file: string): Promise<Record<string, string>> => {
  const module = (await import(file)) as Record<string, Record<string, string>>;
  return Object.values(module)[0]!;
};

describe('console catalogues', () => {
  it('German and English have the same keys, no empty text and the same placeholders per key', async () => {
    const en = await load('../../console/src/i18n/en.ts' as string);
    const de = await load('../../console/src/i18n/de.ts' as string);
    expect(Object.keys(de).sort()).toEqual(Object.keys(en).sort());
    expect(Object.keys(en).length).toBeGreaterThan(100);
    const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]).sort();
    for (const key of Object.keys(en)) {
      expect(en[key]!.trim(), key).not.toBe('');
      expect(de[key]!.trim(), key).not.toBe('');
      expect(placeholders(de[key]!), key).toEqual(placeholders(en[key]!));
    }
  });

  it('the webhook page offers exactly the event types the API accepts', async () => {
    const module = (await import('../../console/src/webhook-event-types.ts' as string)) as { WEBHOOK_EVENT_TYPES: string[] };
    expect([...module.WEBHOOK_EVENT_TYPES].sort()).toEqual([...WEBHOOK_EVENT_TYPES].sort());
  });
});
