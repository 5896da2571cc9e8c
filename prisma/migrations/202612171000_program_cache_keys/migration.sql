-- The keys under which each process caches the program's parsed settings (settings_hash) and its earning
-- rules (earning_rules_stamp), as committed when the calling statement reaches this call; NULLs while the
-- program row does not exist yet (the first transaction that needs it writes it with the defaults).
--
-- The ledger kernel's opening statement locks the member row (FOR UPDATE) and read both columns in a
-- LEFT JOIN on program. Under READ COMMITTED that statement's own snapshot was taken before it waited for
-- the lock: an operation that waited ran on the settings and rules of before, though the transaction it
-- waited for had committed with newer ones (the member in a tier those settings do not have: "the program
-- has no tier X"; a rule or a setting an admin changed meanwhile ignored). A VOLATILE function takes a fresh
-- snapshot for each query it runs, as idempotency_key_taken and member_has_due_lots do. The kernel calls it
-- once, in the select list of a subquery over the locked member row (a volatile select list keeps the
-- subquery from being flattened, so its two fields come from one call: one snapshot for both keys).
CREATE FUNCTION "program_cache_keys"(OUT settings_hash TEXT, OUT earning_rules_stamp UUID)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  SELECT p.settings_hash, p.earning_rules_stamp INTO settings_hash, earning_rules_stamp FROM program p WHERE p.id = 1;
END $$;
