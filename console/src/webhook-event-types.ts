/** The event types an endpoint can subscribe to (docs/webhooks.md); a plain module, so that
 * tests/console/catalogues.test.ts can hold it equal to the API's list. */
export const WEBHOOK_EVENT_TYPES = [
  'member.enrolled',
  'member.tier_changed',
  'member.status_changed',
  'points.earned',
  'points.expiring',
  'voucher.issued',
  'voucher.redeemed',
  'voucher.expiring',
  'goodwill.pending_approval',
  'service_failure.compensated',
  'contract.renewal_bonus_granted',
  'contract.renewal_bonus_held',
  'webhook_endpoint.disabled',
  'order.cancelled',
  'order.returned',
];
