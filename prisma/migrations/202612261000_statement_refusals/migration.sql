-- A refusal a statement decides itself: `treue_refuse('<refusal>')` fails the statement with SQLSTATE TR001 and the
-- refusal as its DETAIL (src/db/sql.ts, `refusalSql` and `refusalOf`). A statement that writes and would otherwise
-- return a flag for JavaScript to refuse on (and roll back) fails instead, so that the transaction's COMMIT can go out
-- with it (`lastStatement`): after a failure PostgreSQL answers that COMMIT with ROLLBACK and nothing is kept.
-- Called as `CASE WHEN <allowed> THEN true ELSE treue_refuse(<why>) END`: CASE evaluates it only when refused, and
-- VOLATILE keeps the planner from calling it ahead of time.
CREATE FUNCTION "treue_refuse"(refusal TEXT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'refused: %', refusal USING ERRCODE = 'TR001', DETAIL = refusal;
END $$;
