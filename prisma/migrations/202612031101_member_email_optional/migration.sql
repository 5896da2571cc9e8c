-- E-mail is optional at enrolment (shop floor, phone-only customers); still unique when given
-- (NULLs are distinct in a unique index).
ALTER TABLE "members" ALTER COLUMN "email" DROP NOT NULL;
