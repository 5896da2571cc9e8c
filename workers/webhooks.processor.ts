import { PermanentJobError } from '../src/domain/errors.js';
import { deliverWebhook, type DeliveryOutcome, type WebhookDeliveryDeps } from '../src/domain/webhooks/webhook-delivery.service.js';

export interface WebhookJob {
  deliveryId: string;
}

/**
 * Plain function, no BullMQ: one delivery of one event to one endpoint (job id
 * = delivery id). Its outcome may carry `retryAt`: the wiring then puts the job
 * back until then (a retry after a failed attempt, or the endpoint gate said
 * not now) without spending a BullMQ attempt. Throws PermanentJobError when the
 * payload is malformed or the delivery does not exist.
 */
export async function processWebhookDelivery(payload: WebhookJob, deps: WebhookDeliveryDeps): Promise<DeliveryOutcome> {
  const deliveryId = (payload as Partial<WebhookJob> | null)?.deliveryId;
  if (typeof deliveryId !== 'string') throw new PermanentJobError('webhook job without a deliveryId');
  return deliverWebhook(deps, deliveryId);
}
