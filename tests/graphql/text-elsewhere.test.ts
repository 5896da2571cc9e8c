import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/domain/errors.js';
import { updateProgram, type TierPatch } from '../../src/domain/program/program.service.js';
import { createWebhookEndpoint, updateWebhookEndpoint } from '../../src/domain/webhooks/webhook-endpoints.service.js';
import { testLogger, useTestApp } from '../support/app.js';
import { staffCaller } from '../support/callers.js';

/**
 * Text that names something or is free text outside the members' and orders' own inputs (docs/domain-rules.md,
 * "Text"): a tier's name and benefits (updateProgram's settings) and a webhook endpoint's description passed no
 * character check at all until a review found them.
 */
const { prisma, app } = useTestApp();
const admin = staffCaller('ADMIN');
const deps = { prisma, logger: testLogger };

const outcome = async (run: () => Promise<unknown>) => {
  try {
    await run();
    return 'accepted';
  } catch (error) {
    return error instanceof ValidationError ? 'ValidationError' : String(error);
  }
};

const tiers = (name: string, benefits = ''): TierPatch[] => [
  { key: 'STANDARD', name: 'Standard', threshold: 0, multiplier: 1, compensationFactor: 1 },
  { key: 'PLUS', name, threshold: 500, multiplier: 1.5, compensationFactor: 1.25, benefits },
];

describe("a tier's name (updateProgram settings) is text that names something", () => {
  it('a tier name with RIGHT-TO-LEFT OVERRIDE (U+202E) is refused as a member name is (ValidationError)', async () => {
    const result = await outcome(() => updateProgram(app.deps, { patch: { tiers: tiers('\u202EDLOG') } }, admin));
    const stored = await prisma.programTier.findMany({ select: { key: true, name: true } }).catch(() => []);
    expect(result, `stored tiers: ${JSON.stringify(stored)}`).toBe('ValidationError');
  });

  it('a tier name with a C1 control (U+009B CSI) or a line separator (U+2028) is refused (ValidationError)', async () => {
    expect(await outcome(() => updateProgram(app.deps, { patch: { tiers: tiers('Plus\u009B31m') } }, admin))).toBe('ValidationError');
    expect(await outcome(() => updateProgram(app.deps, { patch: { tiers: tiers('Plus\u2028Gold') } }, admin))).toBe('ValidationError');
  });

  it("a tier's benefits (free text) with ESC (U+001B) or an override (U+202E) are refused as a note's are (ValidationError)", async () => {
    expect(await outcome(() => updateProgram(app.deps, { patch: { tiers: tiers('Plus', 'Free \u001b[2Jshipping') } }, admin))).toBe(
      'ValidationError',
    );
    expect(await outcome(() => updateProgram(app.deps, { patch: { tiers: tiers('Plus', 'refund \u202E001 stniop') } }, admin))).toBe(
      'ValidationError',
    );
  });
});

describe("a webhook endpoint's description is free text", () => {
  it('a description with RIGHT-TO-LEFT OVERRIDE (U+202E) or ESC (U+001B) is refused on create (ValidationError), as a note is', async () => {
    const url = 'https://crm.example.com/hooks';
    expect(
      await outcome(() => createWebhookEndpoint(deps, { url, eventTypes: ['member.enrolled'], description: 'CRM \u202Eliam' }, admin)),
    ).toBe('ValidationError');
    expect(
      await outcome(() => createWebhookEndpoint(deps, { url, eventTypes: ['member.enrolled'], description: 'CRM \u001b[2J' }, admin)),
    ).toBe('ValidationError');
  });

  it('a description with NUL or a lone surrogate is refused on update (ValidationError), not stored or an unexpected error', async () => {
    const { endpoint } = await createWebhookEndpoint(
      deps,
      { url: 'https://crm.example.com/hooks', eventTypes: ['member.enrolled'] },
      admin,
    );
    expect(await outcome(() => updateWebhookEndpoint(deps, { id: endpoint.id, description: 'CRM \uD800 x' }, admin))).toBe(
      'ValidationError',
    );
    expect(await outcome(() => updateWebhookEndpoint(deps, { id: endpoint.id, description: 'CRM \u0000 x' }, admin))).toBe(
      'ValidationError',
    );
  });
});
