-- A contract is extended once per term: a term is named by the end it had before the extension.
CREATE UNIQUE INDEX "contract_renewals_contract_id_previous_ends_at_key" ON "contract_renewals"("contract_id", "previous_ends_at");

-- An extension moves the end at most a renewal window plus a term ahead; the database refuses anything
-- beyond 3 years. NOT VALID: renewals recorded before this rule existed stay readable as they are.
ALTER TABLE "contract_renewals" ADD CONSTRAINT "contract_renewals_horizon"
  CHECK ("new_ends_at" > "previous_ends_at" AND "new_ends_at" <= "created_at" + interval '3 years') NOT VALID;
