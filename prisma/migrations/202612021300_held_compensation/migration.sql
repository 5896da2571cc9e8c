-- A SUSPENDED member's compensation is held, never lost: issued when the suspension ends, or decided
-- by a supervisor before (src/domain/members/eligibility.ts).
ALTER TYPE "ServiceFailureStatus" ADD VALUE 'HELD';
