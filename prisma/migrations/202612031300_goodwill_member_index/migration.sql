-- A member's goodwill gestures, newest first, and their count (Member.goodwillGestures and its
-- totalCount) read one index range instead of every gesture of the program.
CREATE INDEX "goodwill_gestures_member_id_created_at_idx" ON "goodwill_gestures"("member_id", "created_at" DESC);
