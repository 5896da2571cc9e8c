/**
 * The `idempotencyKey` argument of the mutations that change money-like state (points, vouchers, orders, contracts,
 * service failures, incidents): required, one description for all. `submitFeedback` has its own (optional, for the
 * integrations written before it had one).
 */
export const IDEMPOTENCY_KEY = {
  required: true,
  description: 'Unique per request: repeating it returns the first result without a second effect.',
} as const;
