-- Every change of a member's status, so that the members ACTIVE / PASSIVE / SUSPENDED / CLOSED at
-- any past moment can be counted exactly (loyaltyMetrics). Written by triggers on `members`, in the
-- transaction of the change itself, whatever wrote it: enrolment (from_status NULL), updateMember,
-- the maintenance job marking members PASSIVE, reactivation by activity in the ledger kernel.
CREATE TABLE "member_status_changes" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "member_id" UUID NOT NULL,
    "from_status" "MemberStatus",
    "to_status" "MemberStatus" NOT NULL,
    "changed_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "member_status_changes_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "member_status_changes_member_id_changed_at_idx" ON "member_status_changes"("member_id", "changed_at");
-- Counting statuses at a moment reads (changed_at, from_status, to_status) only: an index-only scan.
CREATE INDEX "member_status_changes_changed_at_idx" ON "member_status_changes"("changed_at") INCLUDE ("from_status", "to_status");

ALTER TABLE "member_status_changes" ADD CONSTRAINT "member_status_changes_member_id_fkey"
  FOREIGN KEY ("member_id") REFERENCES "members"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
ALTER TABLE "member_status_changes" ADD CONSTRAINT "member_status_changes_is_change"
  CHECK ("from_status" IS DISTINCT FROM "to_status");

-- The history is appended, never edited.
CREATE FUNCTION "member_status_changes_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'member_status_changes is append-only' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER "member_status_changes_no_update_or_delete"
  BEFORE UPDATE OR DELETE ON "member_status_changes"
  FOR EACH ROW EXECUTE FUNCTION "member_status_changes_append_only"();

-- When a change happened: the time the writer put on the row. Every writer of a status sets
-- updated_at to its own clock (the services' injectable `now`); a writer that did not falls back
-- to the statement's time. An enrolment happens at enrolled_at.
CREATE FUNCTION "members_record_status_change"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
    VALUES (NEW."id", NULL, NEW."status", NEW."enrolled_at");
  ELSE
    INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
    VALUES (NEW."id", OLD."status", NEW."status",
            CASE WHEN NEW."updated_at" IS DISTINCT FROM OLD."updated_at" THEN NEW."updated_at" ELSE statement_timestamp() END);
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER "members_status_enrolled"
  AFTER INSERT ON "members"
  FOR EACH ROW EXECUTE FUNCTION "members_record_status_change"();
CREATE TRIGGER "members_status_changed"
  AFTER UPDATE OF "status" ON "members"
  FOR EACH ROW WHEN (OLD."status" IS DISTINCT FROM NEW."status") EXECUTE FUNCTION "members_record_status_change"();

-- Members enrolled before this history existed: their enrolment, and, when they are no longer
-- ACTIVE, one change at the row's last update (the best the rows still tell).
INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
SELECT "id", NULL, 'ACTIVE', "enrolled_at" FROM "members";
INSERT INTO "member_status_changes" ("member_id", "from_status", "to_status", "changed_at")
SELECT "id", 'ACTIVE', "status", GREATEST("updated_at", "enrolled_at") FROM "members" WHERE "status" <> 'ACTIVE';
