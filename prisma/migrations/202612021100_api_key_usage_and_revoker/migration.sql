-- When an API key was last used (to the minute) and who revoked it, for the admins' key list.
ALTER TABLE "api_keys" ADD COLUMN "last_used_at" TIMESTAMPTZ(3),
                       ADD COLUMN "revoked_by" TEXT;
