-- A member's status history in the order its changes were made.
--
-- A change is dated by its writer's clock (`updated_at`), read before the writer queued for the member's row
-- lock. A writer that read its clock first but got the lock last (updateMember behind another updateMember, the
-- maintenance job marking a member PASSIVE behind a supervisor's suspension, reactivation by activity behind
-- either) was dated before the change it followed: the history in time order then disagreed with the order
-- of the changes, and members by status at a moment in between counted the member out of a status they were
-- not in yet (loyaltyMetrics' SUSPENDED -1). Every status change holds the member's row lock (the UPDATE takes
-- it), so the latest change committed before is the one it follows; this trigger's query runs in a snapshot
-- of its own (a plpgsql statement under READ COMMITTED), taken after the lock, and sees it. A change is dated
-- at the writer's time, or 1 ms after the change it follows when that one is dated at or after it.
-- Served by member_status_changes_member_id_changed_at_idx; runs only when a status changes.
CREATE OR REPLACE FUNCTION "members_record_status_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
    VALUES (NEW."id", NULL, NEW."status", NEW."enrolled_at");
  ELSE
    INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
    VALUES (NEW."id", OLD."status", NEW."status",
            GREATEST(
              CASE WHEN NEW."updated_at" IS DISTINCT FROM OLD."updated_at" THEN NEW."updated_at" ELSE statement_timestamp() END,
              (SELECT max("changed_at") + interval '1 millisecond' FROM "member_status_changes" WHERE "member_id" = NEW."id")));
  END IF;
  RETURN NULL;
END $$;
