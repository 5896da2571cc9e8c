-- Why a closed member's tier changed when the program removed the tier they held (updateProgram moves each to the
-- tier their qualifying points reach): neither an upgrade nor a review's downgrade.
ALTER TYPE "TierChangeReason" ADD VALUE 'TIER_REMOVED';
