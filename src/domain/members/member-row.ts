import { Prisma } from '../../generated/prisma/client.js';

/**
 * Every column of `members` under Prisma's field names, cast so that Prisma's
 * raw queries and node-postgres read them alike (db/sql.ts): a row selected or
 * returned with these is what `prisma.member.findUnique` gives for it, so a
 * statement that writes or reads a member can answer with it directly
 * (`lifetimePoints` a bigint in both, as Prisma's field is).
 * Unqualified: use it where `members` is the only table with these names.
 */
export const MEMBER_COLUMNS = Prisma.sql`id::text, external_id AS "externalId", email, name, locale, status::text,
  tier::text, tier_since AS "tierSince", enrolled_at AS "enrolledAt", last_activity_at AS "lastActivityAt",
  available_points AS "availablePoints", pending_points AS "pendingPoints", lifetime_points AS "lifetimePoints",
  at_risk AS "atRisk", at_risk_since AS "atRiskSince", created_at AS "createdAt", updated_at AS "updatedAt"`;
