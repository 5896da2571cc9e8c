// No useTestApp(): it reads the schema printed from code and the services' source; no database or Redis is involved.
import { readFileSync } from 'node:fs';
import { buildSchema, getNamedType, isInputObjectType, type GraphQLInputField, type GraphQLInputObjectType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { IDEMPOTENCY_KEY_KEPT, idempotencyKeyScopeText, type IdempotencyKeyScope } from '../../src/graphql/idempotency-key.js';
import { printSortedSchema } from '../../src/graphql/schema.js';

/**
 * Whose each mutation's `idempotencyKey` is, as its service reserves it: the scope its description must name, and
 * the service's own words for that scope (the expression that builds the key's scope in `src/domain/**`). A service
 * that reserves its key otherwise fails here until its description and this table say what it does now.
 */
const SCOPES: Record<string, { scope: IdempotencyKeyScope; service: string; reserves: string[] }> = {
  // The ledger's operations and a single failure report: per member, whoever calls.
  earnPoints: { scope: { of: 'member' }, service: 'points/points.service.ts', reserves: ['scope: `earnPoints:${memberId}`'] },
  redeemPoints: { scope: { of: 'member' }, service: 'points/points.service.ts', reserves: ['scope: `redeemPoints:${memberId}`'] },
  adjustPoints: { scope: { of: 'member' }, service: 'points/points.service.ts', reserves: ['scope: `adjustPoints:${memberId}`'] },
  refundOrder: { scope: { of: 'member' }, service: 'points/points.service.ts', reserves: ['scope: `refundOrder:${memberId}`'] },
  cancelOrder: { scope: { of: 'member' }, service: 'orders/orders.service.ts', reserves: ['scope: `cancelOrder:${memberId}`'] },
  returnOrderItems: { scope: { of: 'member' }, service: 'orders/orders.service.ts', reserves: ['scope: `returnOrderItems:${memberId}`'] },
  redeemReward: { scope: { of: 'member' }, service: 'rewards/rewards.service.ts', reserves: ['scope: `redeemReward:${memberId}`'] },
  trackEvent: { scope: { of: 'member' }, service: 'earning/events.service.ts', reserves: ['scope: `trackEvent:${memberId}`'] },
  reportServiceFailure: {
    scope: { of: 'member' },
    service: 'service-failures/service-failures.service.ts',
    reserves: ['const scope = `reportServiceFailure:${memberId}`'],
  },
  // Per voucher code, whoever calls.
  redeemVoucher: { scope: { of: 'voucher' }, service: 'vouchers/vouchers.service.ts', reserves: ['const scope = `redeemVoucher:${code}`'] },
  voidVoucher: { scope: { of: 'voucher' }, service: 'vouchers/vouchers.service.ts', reserves: ['once(tx, `voidVoucher:${code}`, key'] },
  // The caller's own.
  issueGoodwill: { scope: { of: 'caller' }, service: 'goodwill/goodwill.service.ts', reserves: ['scope: `issueGoodwill:${staff.id}`'] },
  extendContract: { scope: { of: 'caller' }, service: 'contracts/contracts.service.ts', reserves: ["scopeOf('extendContract', caller)"] },
  cancelContract: { scope: { of: 'caller' }, service: 'contracts/contracts.service.ts', reserves: ["scopeOf('cancelContract', caller)"] },
  recordServiceCase: {
    scope: { of: 'caller' },
    service: 'feedback/service-cases.service.ts',
    reserves: ["scopeOf('recordServiceCase', caller)"],
  },
  resolveServiceCase: {
    scope: { of: 'caller' },
    service: 'feedback/service-cases.service.ts',
    reserves: ["scopeOf('resolveServiceCase', caller)"],
  },
  submitFeedback: { scope: { of: 'caller' }, service: 'feedback/feedback.service.ts', reserves: ["scopeOf('submitFeedback', caller)"] },
  createApiKey: { scope: { of: 'caller' }, service: 'api-keys/api-keys.service.ts', reserves: ["scopeOf('createApiKey', caller)"] },
  createReward: { scope: { of: 'caller' }, service: 'rewards/rewards.service.ts', reserves: ["scopeOf('createReward', caller)"] },
  createEarningRule: {
    scope: { of: 'caller' },
    service: 'earning/earning-rules.service.ts',
    reserves: ["scopeOf('createEarningRule', caller)"],
  },
  createWebhookEndpoint: {
    scope: { of: 'caller' },
    service: 'webhooks/webhook-endpoints.service.ts',
    reserves: ["scopeOf('createWebhookEndpoint', caller)"],
  },
  reportServiceIncident: {
    scope: { of: 'callerAndIncident' },
    service: 'service-failures/incidents.service.ts',
    reserves: ["incidentId === null ? 'reportServiceIncident' : `reportServiceIncident:${incidentId}`", 'scopeOf(operation, caller)'],
  },
  // A supervisor's decision: the decider's own, within the object.
  approveGoodwill: {
    scope: { of: 'decider', object: 'gesture' },
    service: 'goodwill/goodwill.service.ts',
    reserves: ['scopeOf(`approveGoodwill:${id}`, caller)'],
  },
  rejectGoodwill: {
    scope: { of: 'decider', object: 'gesture' },
    service: 'goodwill/goodwill.service.ts',
    reserves: ['scopeOf(`rejectGoodwill:${id}`, caller)'],
  },
  reviewServiceFailure: {
    scope: { of: 'decider', object: 'failure' },
    service: 'service-failures/service-failures.service.ts',
    reserves: ['scopeOf(`reviewServiceFailure:${failureId}`, caller)'],
  },
  decideRenewalBonus: {
    scope: { of: 'decider', object: 'renewal' },
    service: 'contracts/contracts.service.ts',
    reserves: ['scopeOf(`decideRenewalBonus:${renewalId}`, caller)'],
  },
  decideServiceIncident: {
    scope: { of: 'decider', object: 'incident' },
    service: 'service-failures/incidents.service.ts',
    reserves: ['const operation = `decideServiceIncident:${incidentId}`;\n  const scope = scopeOf(operation, caller);'],
  },
};

const schema = buildSchema(printSortedSchema());

/** Every `idempotencyKey` a mutation takes — an argument of its own, or a field of an input (nested too) — by mutation. */
function keysByMutation(): Map<string, (GraphQLInputField | { description?: string | null })[]> {
  const found = new Map<string, { description?: string | null }[]>();
  const inputKeys = (type: GraphQLInputObjectType, seen: Set<string>): GraphQLInputField[] => {
    if (seen.has(type.name)) return [];
    seen.add(type.name);
    return Object.values(type.getFields()).flatMap((field) => {
      const named = getNamedType(field.type);
      return [...(field.name === 'idempotencyKey' ? [field] : []), ...(isInputObjectType(named) ? inputKeys(named, seen) : [])];
    });
  };
  for (const mutation of Object.values(schema.getMutationType()!.getFields())) {
    const keys = mutation.args.flatMap((arg) => {
      const named = getNamedType(arg.type);
      return [...(arg.name === 'idempotencyKey' ? [arg] : []), ...(isInputObjectType(named) ? inputKeys(named, new Set()) : [])];
    });
    if (keys.length > 0) found.set(mutation.name, keys);
  }
  return found;
}

describe('every idempotencyKey says whose it is', () => {
  const keys = keysByMutation();

  it('knows the scope of every mutation that takes a key, and of no other', () => {
    expect([...keys.keys()].sort()).toEqual(Object.keys(SCOPES).sort());
  });

  it.each(Object.keys(SCOPES))(
    '%s: its description names the scope its service reserves the key under, and how long it is kept',
    (name) => {
      const { scope } = SCOPES[name]!;
      for (const key of keys.get(name) ?? []) {
        const description = key.description ?? '';
        expect(description.match(/Scope: /g), `${name}: one scope, named once`).toHaveLength(1);
        expect(description).toContain(idempotencyKeyScopeText(scope));
        expect(description).toContain(IDEMPOTENCY_KEY_KEPT);
      }
      expect(keys.get(name)?.length ?? 0).toBeGreaterThan(0);
    },
  );

  it.each(Object.keys(SCOPES))('%s: its service reserves the key as the table says', (name) => {
    const { service, reserves } = SCOPES[name]!;
    const source = readFileSync(new URL(`../../src/domain/${service}`, import.meta.url), 'utf8');
    for (const expression of reserves) expect(source, `${service} reserves the key of ${name} so`).toContain(expression);
  });

  it('names different scopes in different words', () => {
    const texts = new Set(Object.values(SCOPES).map(({ scope }) => idempotencyKeyScopeText(scope)));
    const kinds = new Set(Object.values(SCOPES).map(({ scope }) => JSON.stringify(scope)));
    expect(texts.size).toBe(kinds.size);
  });
});
