import { randomUUID } from 'node:crypto';
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';
import { earnWithServiceRows } from './earn-rows.js';
import { inTransaction } from './support.js';

/**
 * The baselines' server: the same stack as the service without the service —
 * node:http + graphql-yoga, `processes` node:cluster workers on one port, a
 * `pg` pool of `pool` connections per process on the bench database. Three
 * root fields, one per baseline:
 *
 * - `ping`: a bare yoga endpoint (no database);
 * - `member(id)`: one raw primary-key lookup of a member;
 * - `earn(memberId, points)`: the minimal raw earn transaction — BEGIN, update
 *   the member's balance, insert one ledger row, COMMIT — with prepared
 *   statements. It moves pending and lifetime points and the ledger together,
 *   so balances stay what the ledger says (it writes no lot: the bench
 *   database is thrown away);
 * - `earnRows(memberId, points)`: the raw earn with the service's rows — the
 *   statements earnPoints sends, with the raw earn's JavaScript (bench/earn-rows.ts).
 *
 * Usage: node --import tsx bench/baseline-server.ts --database-url URL --port P --processes N --pool 20
 */

const { values } = parseArgs({
  options: {
    'database-url': { type: 'string' },
    port: { type: 'string', default: '4790' },
    processes: { type: 'string', default: '1' },
    pool: { type: 'string', default: '20' },
  },
});

const processes = Number(values.processes);

if (cluster.isPrimary && processes > 1) {
  for (let i = 0; i < processes; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === processes) console.log(`baseline listening on ${values.port} (${processes} processes)`);
  });
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} else {
  serve();
}

function serve(): void {
  const pool = new pg.Pool({ connectionString: values['database-url'], max: Number(values.pool) });
  const schema = createSchema({
    typeDefs: /* GraphQL */ `
      type Member {
        id: ID!
        tier: String!
        available: Int!
        pending: Int!
      }
      type Earned {
        entryId: ID!
        balanceAfter: Int!
      }
      type Query {
        ping: String!
        member(id: ID!): Member
      }
      type Mutation {
        earn(memberId: ID!, points: Int!): Earned!
        earnRows(memberId: ID!, points: Int!): Earned!
      }
    `,
    resolvers: {
      Query: {
        ping: () => 'pong',
        member: async (_root: unknown, { id }: { id: string }) => {
          const { rows } = await pool.query({
            name: 'member',
            text: 'SELECT id::text, tier::text, available_points AS available, pending_points AS pending FROM members WHERE id = $1',
            values: [id],
          });
          return rows[0] ?? null;
        },
      },
      Mutation: {
        earn: (_root: unknown, { memberId, points }: { memberId: string; points: number }) =>
          inTransaction(pool, async (client) => {
            const { rows } = await client.query<{ balance: number }>({
              name: 'earn-balance',
              text: `UPDATE members SET pending_points = pending_points + $2, lifetime_points = lifetime_points + $2, updated_at = now()
                     WHERE id = $1 RETURNING available_points + pending_points AS balance`,
              values: [memberId, points],
            });
            const balance = rows[0]?.balance;
            if (balance === undefined) throw new Error('no such member');
            const entry = await client.query<{ id: string }>({
              name: 'earn-entry',
              text: `INSERT INTO ledger_entries (member_id, kind, amount, balance_after, cause_type, cause_ref, actor_type, actor_id, idempotency_key)
                     VALUES ($1, 'EARN', $2, $3, 'ORDER', $4, 'API_KEY', 'bench-baseline', $4) RETURNING id::text`,
              values: [memberId, points, balance, `raw:${randomUUID()}`],
            });
            return { entryId: entry.rows[0]!.id, balanceAfter: balance };
          }),
        earnRows: (_root: unknown, { memberId, points }: { memberId: string; points: number }) =>
          inTransaction(pool, (client) => earnWithServiceRows(client, memberId, points)),
      },
    },
  });
  const yoga = createYoga({ schema, graphqlEndpoint: '/graphql', logging: false, landingPage: false, graphiql: false });
  const server = createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200).end('ok');
      return;
    }
    void yoga.handle(req, res);
  });
  server.listen(Number(values.port), '127.0.0.1', () => {
    if (cluster.isPrimary) console.log(`baseline listening on ${values.port} (1 process)`);
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
