import type pg from 'pg';

/**
 * One year of the service side of a loyalty program on top of a seeded bench database
 * (bench/seed.ts: members `md5('m' || i)::uuid`, their ledger), entirely in SQL, at ratios a
 * program of that size would see in a year (per 1 000 members):
 *
 * | what | per 1 000 members | shape |
 * | --- | --- | --- |
 * | service cases | 250 | six channels; 85 % answered within 8 h, 90 % resolved (8 h–3 days), 70 % on first contact |
 * | feedback | 300 | 100 about a case (40 % of cases, its channel), 200 on their own (20 % without a channel); NPS in 80 % (20 % detractors, 30 % passives, 50 % promoters), CSAT in 70 % (25 % below 4) |
 * | service failures | 60 | among the first 5 % of members, so repeats happen; 85 % COMPENSATED (a voucher each), 5 % NEEDS_REVIEW, 5 % NOT_ELIGIBLE, 5 % RECORDED |
 * | goodwill gestures | 20 | voucher gestures by 200 agents: 85 % granted at once, 5 % approved a day later, 5 % pending, 5 % rejected |
 * | reward vouchers | 100 | 60 % redeemed |
 * | contracts | 300 | 12-month terms ending within the year; 75 % renewed 1–89 days before the end, 3 % of the rest cancelled |
 * | status changes | ~80 | 6 % of members turn PASSIVE, a quarter of them ACTIVE again, 1 % CLOSED, 0.2 % SUSPENDED |
 *
 * Compensation vouchers are redeemed in 40 %, goodwill vouchers in 50 %. Everything falls in
 * [from − 90 days, to), so the year [from, to) has previous answers and renewals made before it.
 * Pseudo-random but fixed: every choice is a hash of the row number (`hashtext`), so two seeds of
 * the same size are the same data.
 */

export interface MetricsYear {
  members: number;
  /** The year asked for: [from, to). */
  from: Date;
  to: Date;
  log?: (line: string) => void;
}

/** A fixed, uniform-looking number in [0, n) for (salt, row). */
const pick = (salt: string, row: string, n: number) => `(abs(hashtext('${salt}' || ${row})) % ${n})`;

export async function seedMetricsYear(client: pg.Client, year: MetricsYear): Promise<Record<string, number>> {
  const log = year.log ?? (() => undefined);
  const n = year.members;
  const from = `'${year.from.toISOString()}'::timestamptz`;
  const start = `(${from} - interval '90 days')`;
  const seconds = Math.floor((year.to.getTime() - year.from.getTime()) / 1000) + 90 * 86_400;
  /** A fixed instant in [from − 90 days, to) for the row. */
  const when = (salt: string, row: string) => `${start} + ${pick(salt, row, seconds)} * interval '1 second'`;
  const member = (salt: string, row: string, of = n) => `md5('m' || (1 + ${pick(salt, row, of)}))::uuid`;
  const counts: Record<string, number> = {};
  const run = async (label: string, sql: string) => {
    const started = Date.now();
    const result = await client.query(sql);
    counts[label] = (counts[label] ?? 0) + (result.rowCount ?? 0);
    log(`${label}: ${result.rowCount} rows (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  };

  await client.query(`SET synchronous_commit = off`);
  await client.query('BEGIN');

  const cases = Math.round(n * 0.25);
  await run(
    'service cases',
    `INSERT INTO service_cases (id, member_id, channel, category, opened_at, first_response_at, resolved_at, contacts,
                                resolved_on_first_contact, created_by, created_at)
     SELECT md5('case' || j)::uuid, ${member('cm', 'j')},
            (ARRAY['PHONE','EMAIL','CHAT','SOCIAL','SELF_SERVICE','STORE'])[1 + ${pick('cc', 'j', 6)}]::"ServiceChannel",
            'bench', o,
            CASE WHEN ${pick('cf', 'j', 100)} < 85 THEN o + (1 + ${pick('cr', 'j', 480)}) * interval '1 minute' END,
            CASE WHEN resolved THEN o + interval '8 hours' + (1 + ${pick('cs', 'j', 4320)}) * interval '1 minute' END,
            contacts,
            CASE WHEN resolved THEN contacts = 1 END,
            'bench', o
     FROM generate_series(1, ${cases}) AS j,
          LATERAL (SELECT ${when('co', 'j')} AS o, ${pick('cz', 'j', 100)} < 90 AS resolved,
                          CASE WHEN ${pick('cn', 'j', 100)} < 70 THEN 1 ELSE 2 + ${pick('cx', 'j', 3)} END AS contacts) AS c`,
  );

  const nps = (row: string) =>
    `CASE WHEN ${pick('fa', row, 100)} >= 80 THEN NULL
          WHEN ${pick('fn', row, 100)} < 20 THEN ${pick('fd', row, 7)}
          WHEN ${pick('fn', row, 100)} < 50 THEN 7 + ${pick('fp', row, 2)}
          ELSE 9 + ${pick('fp', row, 2)} END`;
  // Every answer has an NPS or a CSAT (the table's check): CSAT whenever NPS is missing.
  const csat = (row: string) =>
    `CASE WHEN ${pick('fa', row, 100)} < 80 AND ${pick('fb', row, 100)} >= 70 THEN NULL
          WHEN ${pick('fs', row, 100)} < 25 THEN 1 + ${pick('fl', row, 3)}
          ELSE 4 + ${pick('fh', row, 2)} END`;
  await run(
    'feedback about cases',
    `INSERT INTO feedback (member_id, case_id, nps, csat, channel, created_at)
     SELECT c.member_id, c.id, ${nps('c.id::text')}, ${csat('c.id::text')}, NULL, c.opened_at + interval '1 day'
     FROM service_cases c WHERE c.created_by = 'bench' AND ${pick('fc', 'c.id::text', 100)} < 40`,
  );
  await run(
    'feedback on its own',
    `INSERT INTO feedback (member_id, nps, csat, channel, created_at)
     SELECT ${member('fm', 'j')}, ${nps("'f' || j")}, ${csat("'f' || j")},
            CASE WHEN ${pick('fk', 'j', 100)} >= 20
                 THEN (ARRAY['PHONE','EMAIL','CHAT','SOCIAL','SELF_SERVICE','STORE'])[1 + ${pick('fq', 'j', 6)}]::"ServiceChannel" END,
            ${when('ft', 'j')}
     FROM generate_series(1, ${Math.round(n * 0.2)}) AS j`,
  );

  // What submitFeedback keeps with each NPS answer: the member's answer before it.
  await run(
    'feedback: previous answers',
    `UPDATE feedback f SET previous_nps = ordered.previous
     FROM (SELECT id, lag(nps) OVER (PARTITION BY member_id ORDER BY created_at, id) AS previous FROM feedback WHERE nps IS NOT NULL) ordered
     WHERE ordered.id = f.id AND ordered.previous IS NOT NULL`,
  );

  const failures = Math.round(n * 0.06);
  await client.query(
    `CREATE TEMP TABLE bench_failures ON COMMIT DROP AS
     SELECT j, md5('failure' || j)::uuid AS id, ${member('xm', 'j', Math.max(1, Math.round(n * 0.05)))} AS member_id,
            (ARRAY['LATE_DELIVERY','DEFECTIVE_PRODUCT','WRONG_ITEM','UNRESOLVED_CONTACT','LONG_WAIT','BILLING_ERROR','OUTAGE','OTHER'])
              [1 + ${pick('xt', 'j', 8)}]::"ServiceFailureType" AS type,
            s.severity, (ARRAY[5, 10, 25, 50])[s.level]::numeric(12, 2) AS amount,
            CASE WHEN ${pick('xs', 'j', 100)} < 85 THEN 'COMPENSATED' WHEN ${pick('xs', 'j', 100)} < 90 THEN 'NEEDS_REVIEW'
                 WHEN ${pick('xs', 'j', 100)} < 95 THEN 'NOT_ELIGIBLE' ELSE 'RECORDED' END::"ServiceFailureStatus" AS status,
            ${when('xo', 'j')} AS occurred_at
     FROM generate_series(1, ${failures}) AS j,
          LATERAL (SELECT CASE WHEN ${pick('xv', 'j', 100)} < 50 THEN 1 WHEN ${pick('xv', 'j', 100)} < 80 THEN 2
                               WHEN ${pick('xv', 'j', 100)} < 95 THEN 3 ELSE 4 END AS level) AS l,
          LATERAL (SELECT (ARRAY['LOW','MEDIUM','HIGH','CRITICAL'])[l.level]::"Severity" AS severity, l.level) AS s`,
  );
  const voucher = (kind: string, cause: string) =>
    `INSERT INTO vouchers (id, code, member_id, kind, value_type, amount, currency, status, cause_type, cause_ref, issued_at,
                           expires_at, redeemed_at)
     SELECT v.id, v.code, v.member_id, '${kind}', 'FIXED', v.amount, 'EUR',
            CASE WHEN v.redeemed THEN 'REDEEMED' ELSE 'ISSUED' END::"VoucherStatus", '${cause}', v.cause_ref, v.issued_at,
            v.issued_at + interval '90 days', CASE WHEN v.redeemed THEN v.issued_at + interval '3 days' END`;
  await run(
    'compensation vouchers',
    `${voucher('COMPENSATION', 'FAILURE')}
     FROM (SELECT md5('vf' || j)::uuid AS id, 'BENCH-F-' || lpad(j::text, 9, '0') AS code, member_id, amount, id::text AS cause_ref,
                  occurred_at + interval '5 minutes' AS issued_at, ${pick('xr', 'j', 100)} < 40 AS redeemed
           FROM bench_failures WHERE status = 'COMPENSATED') AS v`,
  );
  await run(
    'service failures',
    `INSERT INTO service_failures (id, member_id, type, severity, occurred_at, order_ref, reporter_type, reporter_id, status,
                                   repeat_index, compensation_amount, compensation_currency, voucher_id, created_at)
     SELECT id, member_id, type, severity, occurred_at, 'bench-order-' || j, 'API_KEY', 'bench', status, 1,
            CASE WHEN status IN ('COMPENSATED', 'NEEDS_REVIEW') THEN amount END,
            CASE WHEN status IN ('COMPENSATED', 'NEEDS_REVIEW') THEN 'EUR' END,
            CASE WHEN status = 'COMPENSATED' THEN md5('vf' || j)::uuid END, occurred_at
     FROM bench_failures`,
  );

  const gestures = Math.round(n * 0.02);
  await client.query(
    `CREATE TEMP TABLE bench_gestures ON COMMIT DROP AS
     SELECT j, md5('gesture' || j)::uuid AS id, ${member('gm', 'j')} AS member_id, 'bench-agent-' || (j % 200) AS agent_id,
            (5 + ${pick('ga', 'j', 21)})::numeric(12, 2) AS amount,
            (ARRAY['DELAYED_DELIVERY','DEFECTIVE_PRODUCT','BILLING_ERROR','POOR_EXPERIENCE','LONG_WAIT','OTHER'])
              [1 + ${pick('gr', 'j', 6)}]::"GoodwillReason" AS reason,
            ${pick('gs', 'j', 100)} AS fate, ${when('gt', 'j')} AS created_at
     FROM generate_series(1, ${gestures}) AS j`,
  );
  await run(
    'goodwill vouchers',
    `${voucher('GOODWILL', 'GESTURE')}
     FROM (SELECT md5('vg' || j)::uuid AS id, 'BENCH-G-' || lpad(j::text, 9, '0') AS code, member_id, amount, id::text AS cause_ref,
                  created_at + CASE WHEN fate >= 85 THEN interval '1 day' ELSE interval '0' END AS issued_at,
                  ${pick('gv', 'j', 100)} < 50 AS redeemed
           FROM bench_gestures WHERE fate < 90) AS v`,
  );
  await run(
    'goodwill gestures',
    `INSERT INTO goodwill_gestures (id, member_id, agent_id, kind, amount, currency, money_value, reason, note, status,
                                    idempotency_key, voucher_id, decided_by, decided_at, created_at)
     SELECT id, member_id, agent_id, 'VOUCHER', amount, 'EUR', amount, reason, 'bench',
            CASE WHEN fate < 90 THEN 'GRANTED' WHEN fate < 95 THEN 'PENDING_APPROVAL' ELSE 'REJECTED' END::"GoodwillStatus",
            'bench-' || j, CASE WHEN fate < 90 THEN md5('vg' || j)::uuid END,
            CASE WHEN fate >= 85 AND fate < 90 OR fate >= 95 THEN 'bench-supervisor' END,
            CASE WHEN fate >= 85 AND fate < 90 OR fate >= 95 THEN created_at + interval '1 day' END,
            created_at
     FROM bench_gestures`,
  );

  await run(
    'reward vouchers',
    `${voucher('REWARD', 'REWARD')}
     FROM (SELECT md5('vr' || j)::uuid AS id, 'BENCH-R-' || lpad(j::text, 9, '0') AS code, ${member('rm', 'j')} AS member_id,
                  5.00::numeric(12, 2) AS amount, 'bench-reward-' || j AS cause_ref, ${when('rt', 'j')} AS issued_at,
                  ${pick('rr', 'j', 100)} < 60 AS redeemed
           FROM generate_series(1, ${Math.round(n * 0.1)}) AS j) AS v`,
  );

  // Contracts of every member with i % 10 < 3: a 12-month term ending within the year.
  const yearSeconds = Math.floor((year.to.getTime() - year.from.getTime()) / 1000);
  await client.query(
    `CREATE TEMP TABLE bench_contracts ON COMMIT DROP AS
     SELECT i, md5('contract' || i)::uuid AS id, md5('m' || i)::uuid AS member_id, s.starts_at, s.starts_at + interval '12 months' AS ends_at,
            ${pick('kr', 'i', 100)} < 75 AS renewed, ${pick('kc', 'i', 100)} < 3 AS cancelled
     FROM generate_series(1, ${n}) AS i,
          LATERAL (SELECT ${from} - interval '12 months' + ${pick('ks', 'i', yearSeconds)} * interval '1 second' AS starts_at) AS s
     WHERE i % 10 < 3`,
  );
  await run(
    'contracts',
    `INSERT INTO contracts (id, member_id, external_ref, plan, starts_at, ends_at, term_months, status, cancelled_at, created_at)
     SELECT id, member_id, 'bench-contract-' || i, 'mobile', starts_at,
            CASE WHEN renewed THEN ends_at + interval '12 months' ELSE ends_at END, 12,
            CASE WHEN cancelled AND NOT renewed THEN 'CANCELLED' ELSE 'ACTIVE' END::"ContractStatus",
            CASE WHEN cancelled AND NOT renewed THEN starts_at + (1 + ${pick('kd', 'i', 300)}) * interval '1 day' END,
            starts_at
     FROM bench_contracts`,
  );
  await run(
    'contract renewals',
    `INSERT INTO contract_renewals (id, contract_id, sequence, term_months, previous_ends_at, new_ends_at, requested_type,
                                    requested_by, created_at)
     SELECT md5('renewal' || i)::uuid, id, 1, 12, ends_at, ends_at + interval '12 months', 'API_KEY', 'bench',
            ends_at - (1 + ${pick('kw', 'i', 89)}) * interval '1 day'
     FROM bench_contracts WHERE renewed`,
  );

  // Status changes, each at its own time (the status history's triggers record them at updated_at):
  // PASSIVE, then for a quarter of those ACTIVE again; CLOSED and SUSPENDED among the others.
  const statusUpdate = (status: string, where: string, at: string) =>
    `UPDATE members m SET status = '${status}', updated_at = ${at}
     FROM generate_series(1, ${n}) AS i WHERE ${where} AND m.id = md5('m' || i)::uuid`;
  const passive = `${pick('sp', 'i', 100)} < 6`;
  const passiveAt = `${start} + ${pick('spt', 'i', seconds - 60 * 86_400)} * interval '1 second'`;
  await run('status: PASSIVE', statusUpdate('PASSIVE', passive, passiveAt));
  await run(
    'status: ACTIVE again',
    statusUpdate('ACTIVE', `${passive} AND ${pick('sa', 'i', 4)} = 0`, `${passiveAt} + (1 + ${pick('sat', 'i', 59)}) * interval '1 day'`),
  );
  await run('status: CLOSED', statusUpdate('CLOSED', `NOT (${passive}) AND ${pick('sc', 'i', 1000)} < 10`, when('sct', 'i')));
  await run(
    'status: SUSPENDED',
    statusUpdate('SUSPENDED', `NOT (${passive}) AND ${pick('sc', 'i', 1000)} BETWEEN 10 AND 11`, when('sst', 'i')),
  );
  await client.query('COMMIT');

  log('vacuum analyze');
  await client.query(
    `VACUUM (ANALYZE) service_cases, feedback, service_failures, vouchers, goodwill_gestures, contracts, contract_renewals,
       members, member_status_changes`,
  );
  return counts;
}
