-- The minimal earn transaction, straight from pgbench: the same statements as the
-- raw-pg earn endpoint of bench/baseline-server.ts (update the balance, insert one
-- ledger row). Run by bench/run.ts with -M prepared -D members=<seeded members>.
\set i random(1, :members)
BEGIN;
UPDATE members SET pending_points = pending_points + 25, lifetime_points = lifetime_points + 25, updated_at = now()
  WHERE id = md5('m' || :i)::uuid RETURNING available_points + pending_points AS balance \gset
INSERT INTO ledger_entries (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key)
  VALUES (md5('m' || :i)::uuid, 'EARN', 25, :balance, 'ORDER', 'pgbench', 'API_KEY', 'pgbench', 'pgb:' || gen_random_uuid());
END;
