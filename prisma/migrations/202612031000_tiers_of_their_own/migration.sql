-- Tiers of their own (issue 13): the tiers become program data instead of the fixed enum
-- "Tier" (BRONZE, SILVER, GOLD, PLATINUM). The ordered list lives in the program settings
-- (`settings.tiers`, validated by updateProgram) and is mirrored here, in the same transaction,
-- so that PostgreSQL guards it: a member's tier must be one of these rows, and a tier that
-- members still hold cannot be removed. Tier history keeps plain keys (a removed tier stays
-- readable in it).

CREATE TABLE "tiers" (
    "key" TEXT NOT NULL,
    "position" INTEGER NOT NULL,
    "name" TEXT NOT NULL,
    "threshold" INTEGER NOT NULL,
    "multiplier" DOUBLE PRECISION NOT NULL,
    "compensation_factor" DOUBLE PRECISION NOT NULL,
    "benefits" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "tiers_pkey" PRIMARY KEY ("key"),
    CONSTRAINT "tiers_key_format" CHECK ("key" ~ '^[A-Z][A-Z0-9_]{0,31}$'),
    -- 1 is the lowest tier. No upper bound here: updateProgram moves every row up by 100
    -- before it writes the new order, so that the unique position never collides mid-way.
    CONSTRAINT "tiers_position_positive" CHECK ("position" >= 1),
    CONSTRAINT "tiers_threshold_non_negative" CHECK ("threshold" >= 0),
    CONSTRAINT "tiers_name_not_blank" CHECK (btrim("name") <> '')
);

CREATE UNIQUE INDEX "tiers_position_key" ON "tiers"("position");

-- The program row, when it exists, holds the tiers as an object keyed by the enum names: it
-- becomes the ordered list, with each tier's own threshold, multiplier and compensation factor
-- as an admin last set them.
UPDATE "program" p
SET "settings" = jsonb_set(p."settings", '{tiers}', (
    SELECT jsonb_agg(jsonb_build_object(
               'key', d.key,
               'name', d.name,
               'threshold', p."settings" -> 'tiers' -> d.key -> 'threshold',
               'multiplier', p."settings" -> 'tiers' -> d.key -> 'multiplier',
               'compensationFactor', p."settings" -> 'tiers' -> d.key -> 'compensationFactor',
               'benefits', d.benefits) ORDER BY d.position)
    FROM (VALUES (1, 'BRONZE', 'Bronze', 'Points on every order.'),
                 (2, 'SILVER', 'Silver', '1.25 × points on orders; compensation vouchers × 1.2.'),
                 (3, 'GOLD', 'Gold', '1.5 × points on orders; compensation vouchers × 1.5.'),
                 (4, 'PLATINUM', 'Platinum', '2 × points on orders; compensation vouchers × 2.'))
         AS d(position, key, name, benefits)))
WHERE jsonb_typeof(p."settings" -> 'tiers') = 'object';

INSERT INTO "tiers" ("key", "position", "name", "threshold", "multiplier", "compensation_factor", "benefits")
SELECT t ->> 'key', e.position, t ->> 'name', (t ->> 'threshold')::int, (t ->> 'multiplier')::float8,
       (t ->> 'compensationFactor')::float8, COALESCE(t ->> 'benefits', '')
FROM "program" p, jsonb_array_elements(p."settings" -> 'tiers') WITH ORDINALITY AS e(t, position)
WHERE p."id" = 1;

-- No program row yet (it is created with the defaults on first use): the default tiers.
INSERT INTO "tiers" ("key", "position", "name", "threshold", "multiplier", "compensation_factor", "benefits")
SELECT * FROM (VALUES ('BRONZE', 1, 'Bronze', 0, 1.0::float8, 1.0::float8, 'Points on every order.'),
                      ('SILVER', 2, 'Silver', 1000, 1.25, 1.2, '1.25 × points on orders; compensation vouchers × 1.2.'),
                      ('GOLD', 3, 'Gold', 5000, 1.5, 1.5, '1.5 × points on orders; compensation vouchers × 1.5.'),
                      ('PLATINUM', 4, 'Platinum', 15000, 2.0, 2.0, '2 × points on orders; compensation vouchers × 2.'))
     AS d(key, position, name, threshold, multiplier, compensation_factor, benefits)
WHERE NOT EXISTS (SELECT 1 FROM "tiers");

-- A new member starts in the lowest tier, whatever it is called.
CREATE FUNCTION lowest_tier() RETURNS TEXT LANGUAGE sql STABLE AS $$
    SELECT "key" FROM "tiers" ORDER BY "position" LIMIT 1
$$;

ALTER TABLE "members" ALTER COLUMN "tier" DROP DEFAULT;
ALTER TABLE "members" ALTER COLUMN "tier" TYPE TEXT USING "tier"::text;
ALTER TABLE "members" ALTER COLUMN "tier" SET DEFAULT lowest_tier();
ALTER TABLE "members" ADD CONSTRAINT "members_tier_fkey"
    FOREIGN KEY ("tier") REFERENCES "tiers"("key") ON DELETE RESTRICT ON UPDATE CASCADE;

ALTER TABLE "tier_changes"
    ALTER COLUMN "from_tier" TYPE TEXT USING "from_tier"::text,
    ALTER COLUMN "to_tier" TYPE TEXT USING "to_tier"::text;

DROP TYPE "Tier";
