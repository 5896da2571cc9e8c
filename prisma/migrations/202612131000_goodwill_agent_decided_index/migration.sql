-- An agent's spending this month counts a gesture approved this month (its decided_at), not only one
-- granted at once this month (created_at, no decision): the agent's gestures by decision date.
CREATE INDEX "goodwill_gestures_agent_id_decided_at_idx" ON "goodwill_gestures"("agent_id", "decided_at");
