import type { PrismaClient } from '../../src/db/prisma.js';

/**
 * An enabled webhook endpoint subscribed to `eventTypes`, written straight into its table (no URL check, nothing
 * delivered unless a test runs the webhook worker): from then on, changes of those types write their events and a
 * delivery each, as they do for a customer's endpoint. Its id.
 */
export async function subscribedEndpoint(prisma: PrismaClient, eventTypes: string[]): Promise<string> {
  const { id } = await prisma.webhookEndpoint.create({
    data: { url: 'https://hooks.example.com/x', eventTypes, secret: 'whsec_dGVzdA==', createdBy: 'test' },
    select: { id: true },
  });
  return id;
}
