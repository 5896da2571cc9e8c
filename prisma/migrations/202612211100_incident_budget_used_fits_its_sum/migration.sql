-- What an incident's batches issued (budget_used) is a sum of compensation vouchers, each of which fits a
-- numeric(12,2) (updateProgram holds every voucher the policy can compute to 9 999 999 999.99). An incident
-- without a budget adds them up without a bound: a few such vouchers — or some thousand ordinary ones in a
-- currency of small units — overflowed the column, and the incident's batch failed (numeric field overflow)
-- on every retry, its members never compensated. numeric(20,2) holds 10^8 of the largest vouchers.
-- A lock not granted within 5 s stops the script; it is rolled back and tried again at the next start.
SET LOCAL lock_timeout = '5s';
ALTER TABLE "service_incidents" ALTER COLUMN "budget_used" TYPE DECIMAL(20,2);
