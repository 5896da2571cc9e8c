import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { builder } from './builder.js';
import './errors.type.js';
import './members/members.graphql.js';
import './members/member-status.subscription.js';
import './approvals/approval-queue.subscription.js';
import './points/points.graphql.js';
import './orders/orders.graphql.js';
import './program/program.graphql.js';
import './tiers/tiers.graphql.js';
import './api-keys/api-keys.graphql.js';
import './vouchers/vouchers.graphql.js';
import './rewards/rewards.graphql.js';
import './goodwill/goodwill.graphql.js';
import './feedback/feedback.graphql.js';
import './contracts/contracts.graphql.js';
import './service-failures/service-failures.graphql.js';
import './service-failures/incidents.graphql.js';
import './metrics/loyalty-metrics.graphql.js';
import './save-desk/save-desk.graphql.js';
import './webhooks/webhooks.graphql.js';
import './earning/earning.graphql.js';

let schema: GraphQLSchema | undefined;

/** The executable schema, built once per process. */
export function getSchema(): GraphQLSchema {
  schema ??= builder.toSchema({ sortSchema: true });
  return schema;
}

/** The SDL checked in as schema.graphql. */
export function printSortedSchema(): string {
  return `${printSchema(lexicographicSortSchema(getSchema()))}\n`;
}
