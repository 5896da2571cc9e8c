-- Whether an idempotency key is taken, as committed when the calling statement reaches this call.
--
-- The ledger kernel's first statement locks the member row (FOR UPDATE) and asks, in its select list,
-- whether the request's key is taken. Under READ COMMITTED that statement's own snapshot was taken
-- before it waited for the lock, so it would miss a key that the transaction it waited for had just
-- committed. A VOLATILE function takes a fresh snapshot for each query it runs: called in the select
-- list, after the locked row came out, it sees every request that held the lock before. The kernel
-- then writes the key once, with its answer, in the effect's last statement; the primary key of
-- idempotency_records stays the last line of defence against a second effect.
CREATE FUNCTION "idempotency_key_taken"(p_operation TEXT, p_key TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RETURN EXISTS (SELECT 1 FROM idempotency_records WHERE operation = p_operation AND key = p_key);
END $$;
