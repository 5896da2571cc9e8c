-- Each NPS answer carries the member's NPS answer before it (by time, then id), written with it in
-- submitFeedback under the member's lock: detractor → promoter conversion (loyaltyMetrics) reads it
-- from the answer instead of searching every member's history. NULL: no NPS answer before (and
-- always for answers without an NPS).
ALTER TABLE "feedback" ADD COLUMN "previous_nps" INTEGER;
ALTER TABLE "feedback" ADD CONSTRAINT "feedback_previous_nps_range" CHECK ("previous_nps" IS NULL OR ("nps" IS NOT NULL AND "previous_nps" BETWEEN 0 AND 10));

UPDATE "feedback" f SET "previous_nps" = ordered."previous"
FROM (SELECT "id", lag("nps") OVER (PARTITION BY "member_id" ORDER BY "created_at", "id") AS "previous"
      FROM "feedback" WHERE "nps" IS NOT NULL) ordered
WHERE ordered."id" = f."id" AND ordered."previous" IS NOT NULL;
