-- Member e-mail addresses in Unicode NFC (docs/domain-rules.md, "Member e-mail addresses and
-- external ids"): the service now normalises an address to NFC before lower-casing it, so that
-- "josé" typed precomposed (é, U+00E9) and decomposed (e + U+0301) are one address under the unique
-- index. This brings the addresses stored before into the same form.
--
-- An address is rewritten only when no other member's address has the same NFC form: two members
-- whose addresses differ only in their Unicode form (or one already in NFC and one not) are left as
-- they are, untouched, for support to merge or correct — rewriting either would break the unique
-- index, and this migration must not fail on real data. One pass over the members, grouped by the
-- NFC form (no per-row lookup). normalize() needs a UTF8 database; on any other encoding there is
-- nothing this migration can do, and it leaves the addresses alone.
DO $$
BEGIN
  IF current_setting('server_encoding') = 'UTF8' THEN
    WITH normalised AS (
      SELECT "id", "email", normalize("email", NFC) AS "nfc" FROM "members" WHERE "email" IS NOT NULL),
    alone AS (
      SELECT "nfc" FROM normalised GROUP BY "nfc" HAVING count(*) = 1)
    UPDATE "members" m SET "email" = n."nfc"
    FROM normalised n JOIN alone a ON a."nfc" = n."nfc"
    WHERE m."id" = n."id" AND n."email" IS DISTINCT FROM n."nfc";
  END IF;
END $$;
